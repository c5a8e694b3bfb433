"""Every layer of nn on the compiled path (issue 14): nested inputs as numpy arrays,
values and every gradient equal to the dynamic engine (1e-12 relative) and to PyTorch
float64 where installed; BatchNorm and training-mode Dropout fall back to the dynamic
engine with a message that says why."""

from __future__ import annotations

import random
import warnings

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import nn
from nn.compiled import CompiledLoss, FallbackWarning, compilable, not_compilable_reason
from nn.losses import REGISTRY
from nn.train import fit
from nn.utils import flatten_values

np = pytest.importorskip("numpy")


def _seq(*layers):
    return nn.Sequential(*layers)


class _Last(nn.Module):
    """A recurrent layer's whole result (output and final state), as one flat list."""

    def __init__(self, rnn: nn.Module) -> None:
        super().__init__()
        self.rnn = rnn

    def forward(self, x):
        return flatten_values(self.rnn(x))


# name -> (model factory(rng), one sample's shape)
CASES = {
    "conv1d": (lambda r: nn.Conv1d(2, 3, 3, rng=r), (2, 7)),
    "conv1d_stride_pad_dil": (lambda r: nn.Conv1d(2, 4, 2, stride=2, padding=2, dilation=2,
                                                   rng=r), (2, 9)),
    # windows that read only the zero padding: a dot of no terms, its bias alone
    "conv1d_window_over_padding_only": (lambda r: nn.Conv1d(1, 2, 1, padding=1, rng=r), (1, 3)),
    "conv1d_groups": (lambda r: nn.Conv1d(4, 2, 3, groups=2, bias=False, rng=r), (4, 6)),
    "conv2d": (lambda r: nn.Conv2d(1, 3, 3, rng=r), (1, 5, 5)),
    "conv2d_stride": (lambda r: nn.Conv2d(2, 2, 2, stride=2, rng=r), (2, 6, 5)),
    "conv2d_padding": (lambda r: nn.Conv2d(1, 2, 3, padding=1, rng=r), (1, 4, 4)),
    "conv2d_dilation": (lambda r: nn.Conv2d(1, 2, 2, dilation=2, rng=r), (1, 5, 5)),
    "conv2d_groups": (lambda r: nn.Conv2d(4, 4, (2, 3), stride=(1, 2), padding=(1, 0),
                                          groups=2, rng=r), (4, 4, 5)),
    "maxpool1d": (lambda r: _seq(nn.Conv1d(1, 2, 2, rng=r), nn.MaxPool1d(2)), (1, 7)),
    "maxpool2d": (lambda r: _seq(nn.Conv2d(1, 2, 2, rng=r), nn.MaxPool2d(2, stride=1,
                                                                        padding=1)), (1, 4, 4)),
    "avgpool1d": (lambda r: _seq(nn.Conv1d(1, 2, 2, rng=r), nn.AvgPool1d(3, stride=2,
                                                                        padding=1)), (1, 8)),
    "avgpool2d": (lambda r: _seq(nn.Conv2d(1, 2, 2, rng=r), nn.AvgPool2d(2)), (1, 5, 5)),
    "adaptive_avg1d": (lambda r: _seq(nn.Conv1d(1, 2, 2, rng=r), nn.AdaptiveAvgPool1d(3)),
                       (1, 8)),
    "adaptive_max1d": (lambda r: _seq(nn.Conv1d(1, 2, 2, rng=r), nn.AdaptiveMaxPool1d(3)),
                       (1, 8)),
    "adaptive_avg2d": (lambda r: _seq(nn.Conv2d(1, 2, 2, rng=r), nn.AdaptiveAvgPool2d((2, 3))),
                       (1, 6, 6)),
    "adaptive_max2d": (lambda r: _seq(nn.Conv2d(1, 2, 2, rng=r), nn.AdaptiveMaxPool2d(2)),
                       (1, 5, 5)),
    "layernorm": (lambda r: _seq(nn.Linear(4, 5, rng=r), nn.LayerNorm(5)), (4,)),
    "layernorm_2d": (lambda r: _seq(nn.Conv1d(1, 2, 2, rng=r), nn.LayerNorm((2, 4))), (1, 5)),
    "rnn": (lambda r: _Last(nn.RNN(3, 4, rng=r)), (5, 3)),
    "rnn_relu_2layers": (lambda r: _Last(nn.RNN(2, 3, num_layers=2, nonlinearity="relu",
                                                rng=r)), (4, 2)),
    "gru": (lambda r: _Last(nn.GRU(3, 4, rng=r)), (5, 3)),
    "lstm": (lambda r: _Last(nn.LSTM(2, 3, rng=r)), (4, 2)),
    "dropout_eval": (lambda r: _seq(nn.Linear(4, 5, rng=r), nn.Dropout(0.5, rng=r)), (4,)),
    "conv_stack": (lambda r: _seq(nn.Conv2d(1, 2, 3, padding=1, rng=r), nn.Tanh(),
                                  nn.Conv2d(2, 3, 2, stride=2, rng=r), nn.AvgPool2d(2, padding=1,
                                                                                    count_include_pad=False)),
                   (1, 5, 5)),
    "sequential_cnn": (lambda r: _seq(nn.Conv2d(1, 2, 3, rng=r), nn.ReLU(), nn.MaxPool2d(2),
                                      nn.Flatten(0), nn.Linear(2 * 2 * 2, 3, rng=r)),
                       (1, 6, 6)),
}


def _setup(name: str, batch: int = 5):
    factory, sample = CASES[name]
    model = factory(random.Random(7))
    if name == "dropout_eval":
        model.eval()
    gen = np.random.default_rng(3)
    X = gen.normal(size=(batch, *sample))
    n_out = len(flatten_values(model(X[0].tolist())))
    Y = gen.normal(size=(batch, n_out))
    return model, X, Y


def _dynamic(model, X, Y):
    for p in model.parameters():
        p.grad = None
    outs = [flatten_values(model(x)) for x in X.tolist()]
    loss = REGISTRY["mse"].fn(outs, Y.tolist())
    if loss.requires_grad:  # else no output reads a parameter (windows over padding only)
        loss.backward()
    return loss.data, [p.grad for p in model.parameters()]


def _compiled(model, X, Y):
    for p in model.parameters():
        p.grad = None
    value = CompiledLoss(model, "mse").backward(X, Y)
    return value, [p.grad for p in model.parameters()]


def _close(a: float | None, b: float | None, rel: float = 1e-12) -> bool:
    if a is None or b is None:  # a parameter no output reads: grad None on both paths
        return a is b
    return abs(a - b) <= rel * max(abs(a), abs(b), 1e-300)


@pytest.mark.parametrize("name", list(CASES))
def test_layer_compiled_equals_dynamic(name):
    model, X, Y = _setup(name)
    assert compilable(model, X)
    value, grads = _compiled(model, X, Y)
    ref, ref_grads = _dynamic(model, X, Y)
    assert _close(value, ref), (value, ref)
    assert len(grads) == len(ref_grads) > 0
    bad = [(i, a, b) for i, (a, b) in enumerate(zip(grads, ref_grads, strict=True))
           if not _close(a, b)]
    assert not bad, bad[:5]


@pytest.mark.parametrize("name", list(CASES))
def test_layer_compiled_equals_torch(name):
    torch = pytest.importorskip("torch")
    from nn.interop import to_torch, torch_parameters

    model, X, Y = _setup(name)
    value, _ = _compiled(model, X, Y)
    inner = model.rnn if isinstance(model, _Last) else model
    tmodel = to_torch(inner)
    outs = []
    for x in X:
        out = tmodel(torch.tensor(x, dtype=torch.float64))
        if isinstance(out, tuple):
            out = torch.cat([out[0].flatten(), *(t.flatten() for t in (
                out[1] if isinstance(out[1], tuple) else (out[1],)))])
        outs.append(out.flatten())
    loss = torch.nn.functional.mse_loss(torch.stack(outs), torch.tensor(Y))
    loss.backward()
    assert abs(loss.item() - value) <= 1e-12 * abs(value)
    for tname, values in torch_parameters(inner).items():
        ours = np.array([v.grad for v in flatten_values(values)])
        theirs = tmodel.get_parameter(tname).grad.flatten().numpy()
        np.testing.assert_allclose(ours, theirs, rtol=1e-10, atol=1e-13, err_msg=tname)


def test_nested_inputs_of_the_wrong_shape_are_refused_by_name():
    model, X, Y = _setup("conv2d")
    loss = CompiledLoss(model, "mse")
    loss.backward(X, Y)
    with pytest.raises(ValueError, match=r"samples of shape \[1, 4, 6\].*compiled for \[1, 5, 5\]"):
        loss.backward(np.zeros((5, 1, 4, 6)), Y)


def test_batchnorm_says_why_it_does_not_compile():
    model = nn.Sequential(nn.Linear(3, 4, rng=0), nn.BatchNorm1d(4), nn.Linear(4, 1, rng=1))
    X = [[0.1 * i, -0.2 * i, 0.3] for i in range(8)]
    why = not_compilable_reason(model, X)
    assert why is not None and why.startswith("BatchNorm1d normalises with the statistics "
                                              "of the whole batch")
    assert not compilable(model, X)


def _dropout_net() -> nn.Module:
    return nn.Sequential(nn.Linear(3, 6, rng=0), nn.ReLU(), nn.Dropout(0.4, rng=5),
                         nn.Linear(6, 2, rng=1), nn.Dropout(0.3, rng=6))


def test_dropout_draws_fresh_masks_from_its_rng_as_the_dynamic_engine():
    """Same seeds, same batches: each compiled step drops the units the dynamic engine
    drops (masks drawn per sample, per Dropout call, per element in row-major order)."""
    X = np.random.default_rng(0).normal(size=(7, 3))
    Y = np.random.default_rng(1).normal(size=(7, 2))
    compiled_model, dynamic_model = _dropout_net(), _dropout_net()
    values = []
    for _ in range(3):
        value, grads = _compiled(compiled_model, X, Y)
        ref, ref_grads = _dynamic(dynamic_model, X, Y)
        assert _close(value, ref)
        assert all(_close(a, b) for a, b in zip(grads, ref_grads, strict=True))
        values.append(value)
    assert len(set(values)) == 3  # a fresh mask every step, not one frozen at trace time


def test_dropout_fit_compiled_equals_dynamic_and_says_nothing():
    X = np.random.default_rng(2).normal(size=(24, 3))
    y = np.random.default_rng(3).normal(size=(24, 2)).tolist()
    runs = {}
    for backend in ("auto", "compiled", "dynamic"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", FallbackWarning)
            runs[backend] = fit(_dropout_net(), X, y, loss="mse", optimizer="adam", epochs=4,
                                batch_size=8, backend=backend, verbose=False, rng=0)
    ref = runs["dynamic"].train_loss
    for backend in ("auto", "compiled"):
        got = runs[backend].train_loss
        assert len(got) == 4 and all(_close(a, b, 1e-9) for a, b in zip(got, ref, strict=True))


class _GRUHead(nn.Module):
    """A GRU over a [T][features] sequence, a logit from its last hidden state."""

    def __init__(self, rng: int) -> None:
        super().__init__()
        self.gru = nn.GRU(2, 3, rng=rng)
        self.head = nn.Linear(3, 1, rng=rng + 1)

    def forward(self, x):
        return self.head(self.gru(x)[1][0])[0]


@pytest.mark.parametrize("kind", ["cnn", "gru"])
def test_fit_compiled_on_nested_inputs_equals_dynamic(kind):
    gen = np.random.default_rng(5)
    if kind == "cnn":
        X = gen.normal(size=(24, 1, 6, 6))
        y = [int(i % 3) for i in range(24)]
        loss = "cross_entropy"

        def build():
            r = random.Random(2)
            return nn.Sequential(nn.Conv2d(1, 2, 3, rng=r), nn.ReLU(), nn.MaxPool2d(2),
                                 nn.Flatten(0), nn.Linear(8, 3, rng=r))
    else:
        X = gen.normal(size=(24, 5, 2))
        y = [float(x[:, 0].sum() > 0) for x in X]
        loss = "bce_logits"

        def build():
            return _GRUHead(3)

    runs = {}
    for backend in ("compiled", "dynamic"):
        with warnings.catch_warnings():
            warnings.simplefilter("error", FallbackWarning)
            runs[backend] = fit(build(), X, y, loss=loss, optimizer="adam", epochs=3,
                                batch_size=8, backend=backend, verbose=False, rng=0)
    a, b = runs["compiled"].train_loss, runs["dynamic"].train_loss
    assert len(a) == 3
    assert all(abs(u - v) <= 1e-9 * abs(v) for u, v in zip(a, b, strict=True)), (a, b)


def test_conv_and_pool_become_one_gather_and_one_product_each():
    model, X, Y = _setup("sequential_cnn")
    loss = CompiledLoss(model, "mse")
    loss.backward(X, Y)
    forward = loss.source.split("def forward_backward")[0]
    assert forward.count("windows of 9, gathered") == 1  # the convolution's im2col
    assert forward.count("16 windows x 2 weight rows") == 1  # one product for 2 x 4 x 4 dots
    assert forward.count("windows of 4, gathered") == 1  # the pooling's windows
    assert forward.count("x max") == 1
    assert forward.count("# dot") == 1  # the loss's sum of squares; no dot per window


def test_maxpool_ties_send_the_gradient_to_the_first_maximum_on_both_paths():
    conv = nn.Conv2d(2, 1, 1, rng=0)
    conv.weight[0][0][0][0].data = conv.weight[0][1][0][0].data = 1.0
    conv.bias[0].data = 0.0
    model = nn.Sequential(conv, nn.MaxPool2d(2))
    X = np.array([[[[1.0, 0.0], [0.0, 0.0]], [[0.0, 1.0], [0.0, 0.0]]]])  # window [1, 1, 0, 0]
    Y = np.array([[0.0]])
    value, grads = _compiled(model, X, Y)
    ref, ref_grads = _dynamic(model, X, Y)
    assert value == ref == 1.0
    assert grads == ref_grads == [2.0, 0.0, 2.0]  # d/dw1 (the first maximum's), d/dw2, d/db


def _small_cnn(classes: int) -> nn.Module:
    r = random.Random(0)
    return nn.Sequential(nn.Conv2d(1, 8, 3, rng=r), nn.ReLU(), nn.MaxPool2d(2), nn.Flatten(0),
                         nn.Linear(8 * 3 * 3, classes, rng=r))


@pytest.mark.parametrize("data", ["digits", "bars_and_crosses"])
def test_small_cnn_trains_compiled_to_95_percent(data):
    """Conv2d(1, 8, 3) -> relu -> MaxPool2d(2) -> Linear on 8x8 images, on the compiled
    path (backend='compiled' refuses anything else): scikit-learn's digits (10 classes,
    about 4 s), or nn.tasks' generated bars and crosses (2 classes) without scikit-learn."""
    if data == "digits":
        datasets = pytest.importorskip("sklearn.datasets")
        selection = pytest.importorskip("sklearn.model_selection")
        digits = datasets.load_digits()
        X, y = (digits.images / 16.0)[:, None], digits.target.tolist()
        Xtr, Xte, ytr, yte = selection.train_test_split(X, y, test_size=0.25, random_state=0,
                                                        stratify=y)
        classes, epochs = 10, 15
    else:
        from nn.tasks import bars_and_crosses

        Xtr, ytr = bars_and_crosses(400, rng=1)
        Xte, yte = bars_and_crosses(200, rng=2)
        classes, epochs = 2, 10
    model = _small_cnn(classes)
    history = fit(model, Xtr, ytr, loss="cross_entropy", optimizer="adam", lr=0.01,
                  epochs=epochs, batch_size=32, X_test=Xte, y_test=yte, backend="compiled",
                  verbose=False, rng=0)
    assert history.test_acc[-1] >= 0.95, history.test_acc
    predicted = model.predict(np.asarray(Xte))
    assert np.mean(np.asarray(predicted) == np.asarray(yte)) == pytest.approx(
        history.test_acc[-1], abs=1e-12)


@pytest.mark.parametrize("cell", ["rnn", "gru"])
def test_parity_rnn_compiled_equals_dynamic(cell):
    """nn.tasks.ParityRNN once read its bits with float(), which baked the first traced
    sample's bits into the compiled code as constants (a silently different loss)."""
    from nn.tasks import ParityRNN, parity_sequences

    bits, parity = parity_sequences(16, length=7, rng=3)
    model = ParityRNN(4, cell=cell, rng=1)
    value = CompiledLoss(model, "bce_logits").backward(bits, parity)
    grads = [p.grad for p in model.parameters()]
    for p in model.parameters():
        p.grad = None
    loss = REGISTRY["bce_logits"].fn([model(b) for b in bits], parity)
    loss.backward()
    assert _close(value, loss.data)
    assert all(_close(a, p.grad) for a, p in zip(grads, model.parameters(), strict=True))


@pytest.mark.parametrize("cell", ["RNN", "GRU", "LSTM"])
def test_recurrent_layers_become_products_per_time_step(cell):
    """Unrolled over T steps, a recurrent layer is a few matrix products per step: the
    dot nodes left one by one (the zero initial state's, the loss's) do not grow with T."""
    def forward_source(length: int) -> str:
        model = _Last(getattr(nn, cell)(3, 4, rng=0))
        X = np.random.default_rng(0).normal(size=(4, length, 3))
        Y = np.zeros((4, len(flatten_values(model(X[0].tolist())))))
        loss = CompiledLoss(model, "mse")
        loss.backward(X, Y)
        return loss.source.split("def forward_backward")[0]

    short, long = forward_source(5), forward_source(10)
    assert short.count("# dot") == long.count("# dot") <= 9
    assert long.count("x dot") > short.count("x dot") >= 5


@pytest.mark.parametrize("task", ["bars", "parity_rnn", "parity_gru"])
def test_tasks_train_on_the_compiled_path_with_the_dynamic_losses(task):
    from nn.tasks import train_bars_and_crosses, train_parity

    def run(backend):
        if task == "bars":
            return train_bars_and_crosses(epochs=2, n_train=30, n_test=10, backend=backend)
        return train_parity(epochs=2, n_train=20, n_test=10, cell=task[-3:],
                            hidden_size=4, backend=backend)

    compiled, dynamic = run("compiled"), run("dynamic")
    assert len(compiled.losses) == 2
    assert all(_close(a, b, 1e-9) for a, b in zip(compiled.losses, dynamic.losses, strict=True))
    assert compiled.test_accuracy == dynamic.test_accuracy


def test_tasks_refuse_an_unknown_backend():
    from nn.tasks import train_parity

    with pytest.raises(ValueError, match="backend must be .auto., .compiled. or .dynamic.,"):
        train_parity(epochs=1, n_train=2, n_test=2, backend="gpu")


@settings(max_examples=30, deadline=None)
@given(st.data())
def test_random_convolutions_compiled_equal_dynamic(data):
    """Random geometries (1-D and 2-D, stride, padding, dilation, groups, bias) followed by
    a random pool: the window grouping computes the dynamic engine's numbers."""
    spatial = data.draw(st.sampled_from([1, 2]))
    groups = data.draw(st.sampled_from([1, 2]))
    cin, cout = groups * data.draw(st.integers(1, 2)), groups * data.draw(st.integers(1, 2))
    kernel, stride = data.draw(st.integers(1, 3)), data.draw(st.integers(1, 2))
    padding, dilation = data.draw(st.integers(0, 1)), data.draw(st.integers(1, 2))
    size = data.draw(st.integers((kernel - 1) * dilation + 2, 7))
    conv = (nn.Conv1d if spatial == 1 else nn.Conv2d)(
        cin, cout, kernel, stride=stride, padding=padding, dilation=dilation, groups=groups,
        bias=data.draw(st.booleans()), rng=data.draw(st.integers(0, 99)))
    sample = (cin, size) if spatial == 1 else (cin, size, size - 1)
    gen = np.random.default_rng(data.draw(st.integers(0, 99)))
    X = gen.normal(size=(3, *sample))
    out_shape = np.shape(nn.utils.to_data(conv(X[0].tolist())))
    pool = data.draw(st.sampled_from(["max", "avg", "none"]))
    layers = [conv, nn.ReLU()]
    if pool != "none":
        kernel = 2 if min(out_shape[1:]) >= 2 else 1
        layers.append(getattr(nn, f"{pool.capitalize()}Pool{spatial}d")(kernel))
    model = nn.Sequential(*layers)
    Y = gen.normal(size=(3, len(flatten_values(model(X[0].tolist())))))
    value, grads = _compiled(model, X, Y)
    ref, ref_grads = _dynamic(model, X, Y)
    assert _close(value, ref)
    # a gradient is a sum over windows and rows, added in another order by numpy's products:
    # where its terms cancel (3.7e-7 beside gradients of 0.14), its rounding is relative to the
    # largest gradient, not to itself
    scale = max((abs(b) for b in ref_grads if b is not None), default=0.0)
    assert all(_close(a, b) or a is not None and b is not None and abs(a - b) <= 1e-12 * scale
               for a, b in zip(grads, ref_grads, strict=True))
