"""to_torch/from_torch for every layer of nn (issue 14): round trips, PyTorch float64 as the
oracle for outputs and every gradient, and the errors for modules without a counterpart.

Each case builds a dagrad module with random parameters (non-trivial norms and biases,
random running statistics), runs it on random inputs in dagrad and, converted, in torch,
and compares the outputs, the gradient of the inputs and the gradient of every parameter
(matched by :func:`nn.interop.torch_parameters`) for the loss ``sum(c * output)`` with
random coefficients ``c``. "Equal" is ``max|ours - torch| <= 1e-12 * max(1, max|torch|)`` per
tensor (max-norm relative error, with a 1e-12 floor for tensors that are zero in exact arithmetic).
"""

import random
from collections import OrderedDict

import pytest

import nn
from engine import Value
from nn import (
    GRU,
    LSTM,
    MLP,
    RNN,
    AdaptiveAvgPool1d,
    AdaptiveAvgPool2d,
    AdaptiveMaxPool1d,
    AdaptiveMaxPool2d,
    AvgPool1d,
    AvgPool2d,
    BatchNorm1d,
    BatchNorm2d,
    Conv1d,
    Conv2d,
    Dropout,
    Flatten,
    GRUCell,
    Identity,
    Layer,
    LayerNorm,
    Linear,
    LSTMCell,
    MaxPool1d,
    MaxPool2d,
    Module,
    Neuron,
    ReLU,
    RNNCell,
    Sequential,
    Sigmoid,
    Tanh,
)
from nn.interop import MARK, ConversionError, from_torch, to_torch, torch_parameters
from nn.tasks import ParityRNN
from nn.utils import flatten_values, to_values

torch = pytest.importorskip("torch")
tnn = torch.nn

RTOL = 1e-12


def randomized(model, seed=0, eval_mode=False):
    """Random parameters (BatchNorm: random running statistics too), then the mode."""
    rng = random.Random(seed)
    for p in model.parameters():
        p.data = rng.uniform(-1.0, 1.0)
    for m in model.modules():
        if isinstance(m, (BatchNorm1d, BatchNorm2d)) and m.track_running_stats:
            m.running_mean = [rng.uniform(-1, 1) for _ in m.running_mean]
            m.running_var = [rng.uniform(0.5, 2.0) for _ in m.running_var]
            m.num_batches_tracked = 3.0
    return model.eval() if eval_mode else model


def random_input(dims, seed=1):
    rng = random.Random(seed)

    def make(d):
        if not d:
            return rng.uniform(-2.0, 2.0)
        return [make(d[1:]) for _ in range(d[0])]

    return make(tuple(dims))


def shared_stack():
    """One Linear used twice (tied weights, gradients summed over both uses)."""
    lin = Linear(3, 3, rng=0)
    return Sequential(lin, Tanh(), lin)


def tied_stack():
    """Two Linear layers whose weight is one list of Values (PyTorch's b.weight = a.weight)."""
    a, b = Linear(3, 3, rng=0), Linear(3, 3, rng=1)
    b.weight = a.weight
    return Sequential(a, Sigmoid(), b)


# name -> (model factory, input shapes, per_sample): per_sample models (Neuron, Layer, MLP)
# take one sample at a time in dagrad; torch gets the whole batch and row n is sample n.
CASES = {
    "Linear": (lambda: Linear(4, 3, rng=0), [(4,), (5, 4)], False),
    "Linear-nobias": (lambda: Linear(4, 3, bias=False, rng=0), [(2, 4)], False),
    "Neuron": (lambda: Neuron(4, "tanh", rng=0), [(3, 4)], True),
    "Neuron-linear": (lambda: Neuron(4, "linear", rng=0), [(3, 4)], True),
    "Layer": (lambda: Layer(4, 3, "sigmoid", rng=0), [(3, 4)], True),
    "Layer-one-neuron": (lambda: Layer(4, 1, "relu", rng=0), [(3, 4)], True),
    "MLP": (lambda: MLP(3, [5, 4, 2], activation="tanh", output_activation="sigmoid", rng=0),
            [(3, 3)], True),
    "MLP-linear": (lambda: MLP(3, [4, 1], activation="linear", rng=0), [(2, 3)], True),
    "Conv1d": (lambda: Conv1d(4, 6, 3, stride=2, padding=2, dilation=2, groups=2, rng=0),
               [(4, 11), (2, 4, 11)], False),
    "Conv1d-same": (lambda: Conv1d(2, 3, 4, padding="same", bias=False, rng=0),
                    [(2, 7)], False),
    "Conv2d": (lambda: Conv2d(4, 6, (3, 2), stride=(2, 1), padding=(1, 2), dilation=(1, 2),
                              groups=2, rng=0), [(4, 7, 8), (2, 4, 7, 8)], False),
    "Conv2d-depthwise": (lambda: Conv2d(3, 3, 3, padding=1, groups=3, bias=False, rng=0),
                         [(3, 5, 5)], False),
    "Conv2d-same": (lambda: Conv2d(2, 2, (2, 3), padding="same", dilation=(2, 1), rng=0),
                    [(2, 6, 5)], False),
    "MaxPool1d": (lambda: MaxPool1d(3, stride=2, padding=1, dilation=2, ceil_mode=True),
                  [(2, 11), (2, 2, 10)], False),
    "MaxPool2d": (lambda: MaxPool2d((3, 2), stride=(2, 1), padding=1, dilation=(1, 2),
                                    ceil_mode=True), [(2, 7, 8), (2, 2, 7, 8)], False),
    "AvgPool1d": (lambda: AvgPool1d(3, stride=2, padding=1, ceil_mode=True,
                                    count_include_pad=False), [(2, 10)], False),
    "AvgPool2d": (lambda: AvgPool2d(3, stride=2, padding=1, ceil_mode=True),
                  [(2, 7, 6), (2, 2, 7, 6)], False),
    "AvgPool2d-divisor": (lambda: AvgPool2d(2, divisor_override=3), [(2, 4, 6)], False),
    "AdaptiveAvgPool1d": (lambda: AdaptiveAvgPool1d(3), [(2, 7), (2, 2, 8)], False),
    "AdaptiveMaxPool1d": (lambda: AdaptiveMaxPool1d(4), [(2, 9)], False),
    "AdaptiveAvgPool2d": (lambda: AdaptiveAvgPool2d((3, None)), [(2, 7, 5)], False),
    "AdaptiveAvgPool2d-global": (lambda: AdaptiveAvgPool2d(1), [(2, 2, 4, 5)], False),
    "AdaptiveMaxPool2d": (lambda: AdaptiveMaxPool2d((3, 2)), [(2, 7, 5), (2, 2, 5, 4)],
                          False),
    "LayerNorm": (lambda: LayerNorm((3, 4)), [(3, 4), (2, 3, 4)], False),
    "LayerNorm-noaffine": (lambda: LayerNorm(5, eps=1e-3, elementwise_affine=False),
                           [(3, 5)], False),
    "LayerNorm-nobias": (lambda: LayerNorm(5, bias=False), [(3, 5)], False),
    "BatchNorm1d-train": (lambda: BatchNorm1d(3, momentum=0.3), [(4, 3), (3, 3, 5)], False),
    "BatchNorm1d-eval": (lambda: randomized(BatchNorm1d(3), eval_mode=True), [(4, 3)], False),
    "BatchNorm1d-cumulative": (lambda: BatchNorm1d(3, momentum=None), [(4, 3)], False),
    "BatchNorm1d-untracked": (lambda: BatchNorm1d(3, track_running_stats=False).eval(),
                              [(4, 3)], False),
    "BatchNorm2d-train": (lambda: BatchNorm2d(2), [(3, 2, 3, 4)], False),
    "BatchNorm2d-eval": (lambda: randomized(BatchNorm2d(2, affine=False), eval_mode=True),
                         [(3, 2, 3, 4)], False),
    "RNN": (lambda: RNN(3, 4, num_layers=2, nonlinearity="relu", rng=0),
            [(5, 3), (5, 2, 3)], False),
    "RNN-batch-first-nobias": (lambda: RNN(3, 4, bias=False, batch_first=True, rng=0),
                               [(2, 5, 3)], False),
    "GRU": (lambda: GRU(3, 4, num_layers=2, rng=0), [(5, 3), (5, 2, 3)], False),
    "GRU-batch-first": (lambda: GRU(3, 4, batch_first=True, rng=0), [(2, 4, 3)], False),
    "LSTM": (lambda: LSTM(3, 4, num_layers=2, rng=0), [(5, 3), (5, 2, 3)], False),
    "LSTM-batch-first-nobias": (lambda: LSTM(3, 2, bias=False, batch_first=True, rng=0),
                                [(2, 4, 3)], False),
    "RNNCell": (lambda: RNNCell(3, 4, rng=0), [(3,), (2, 3)], False),
    "RNNCell-relu": (lambda: RNNCell(3, 4, nonlinearity="relu", rng=0), [(2, 3)], False),
    "GRUCell": (lambda: GRUCell(3, 4, rng=0), [(3,), (2, 3)], False),
    "LSTMCell": (lambda: LSTMCell(3, 4, rng=0), [(3,), (2, 3)], False),
    "Dropout-eval": (lambda: Dropout(0.4, rng=0).eval(), [(2, 3)], False),
    "Dropout-p0": (lambda: Dropout(0.0, rng=0), [(2, 3)], False),
    "Dropout-p1": (lambda: Dropout(1.0, rng=0), [(2, 3)], False),
    "Flatten": (lambda: Flatten(), [(2, 3, 4)], False),
    "Flatten-0": (lambda: Flatten(0), [(3, 2, 2)], False),
    "Flatten-1-2": (lambda: Flatten(1, 2), [(2, 3, 2, 2)], False),
    "ReLU": (lambda: ReLU(), [(2, 3, 4)], False),
    "Tanh": (lambda: Tanh(), [(2, 3)], False),
    "Sigmoid": (lambda: Sigmoid(), [(2, 3)], False),
    "Identity": (lambda: Identity(), [(2, 3)], False),
    "Sequential-cnn": (lambda: Sequential(
        Conv2d(1, 4, 3, padding=1, rng=0), ReLU(), MaxPool2d(2), Conv2d(4, 4, 3, groups=2, rng=1),
        Tanh(), Flatten(0), Linear(16, 5, rng=2), Sigmoid()), [(1, 8, 8)], False),
    "Sequential-batchnorm": (lambda: Sequential(
        Conv2d(1, 3, 3, rng=0), BatchNorm2d(3), ReLU(), AdaptiveAvgPool2d(1), Flatten(),
        Linear(3, 2, rng=1), Dropout(0.5).eval()), [(3, 1, 6, 6)], False),
    "Sequential-nested": (lambda: Sequential({
        "features": Sequential(Conv1d(2, 3, 3, rng=0), Tanh(), AvgPool1d(2)),
        "norm": LayerNorm(3),
        "head": Sequential(Flatten(0), MLP(9, [4, 2], rng=1))}), [(2, 8)], False),
    "Sequential-mlp-like": (lambda: Sequential(Linear(3, 4, rng=0), ReLU(), Linear(4, 2, rng=1)),
                            [(3,), (5, 3)], False),
    "Sequential-shared": (lambda: shared_stack(), [(3,), (2, 3)], False),
    "Sequential-tied": (lambda: tied_stack(), [(2, 3)], False),
    "Sequential-recurrent-last": (lambda: Sequential(Linear(3, 4, rng=0), Tanh(),
                                                     LSTM(4, 5, rng=1)), [(6, 3)], False),
}


def flat_floats(x):
    """Every float of a nested output (lists, tuples, Values), row-major."""
    return [v.data if isinstance(v, Value) else float(v) for v in flatten_values(x)]


def torch_flat(y):
    if isinstance(y, (tuple, list)):
        return torch.cat([torch_flat(t) for t in y])
    return y.reshape(-1)


def assert_close(ours, theirs, what):
    theirs = [float(t) for t in theirs]
    assert len(ours) == len(theirs), what
    scale = max((abs(t) for t in theirs), default=0.0)
    err = max((abs(a - b) for a, b in zip(ours, theirs, strict=True)), default=0.0)
    # relative to the tensor's scale, and never below 1e-12 absolute: a gradient that is zero
    # in exact arithmetic (a bias before a training-mode BatchNorm) is rounding noise in both
    assert err <= RTOL * max(scale, 1.0), f"{what}: max error {err:.3g} at scale {scale:.3g}"


def run_both(model, dims, per_sample, seed=1):
    """Forward and backward of ``sum(c * output)`` in dagrad and, converted first (before
    BatchNorm updates its statistics), in torch: (inputs, outputs) of each."""
    data = random_input(dims, seed)
    tmodel = to_torch(model)
    x = to_values(data)
    y = [model(row) for row in x] if per_sample else model(x)
    outs = flatten_values(y)
    rng = random.Random(seed + 100)
    coefs = [rng.uniform(-1.0, 1.0) for _ in outs]
    loss = sum((c * o for c, o in zip(coefs, outs, strict=True)), Value(0.0))
    loss.backward()

    tx = torch.tensor(data, dtype=torch.float64, requires_grad=True)
    ty = torch_flat(tmodel(tx))
    (ty * torch.tensor(coefs, dtype=torch.float64)).sum().backward()
    return x, outs, tx, ty, tmodel


@pytest.mark.filterwarnings("ignore:Using padding='same'")  # torch's note on even kernels
@pytest.mark.parametrize("name", sorted(CASES))
def test_outputs_and_every_gradient_equal_torch(name):
    factory, shapes, per_sample = CASES[name]
    for i, dims in enumerate(shapes):
        model = factory()
        if not name.endswith("-eval"):
            randomized(model, seed=i, eval_mode=not model.training)
        x, outs, tx, ty, tmodel = run_both(model, dims, per_sample, seed=i + 1)
        where = f"{name} on {list(dims)}"
        assert_close(flat_floats(outs), ty.tolist(), f"{where}: outputs")
        assert_close([v.grad or 0.0 for v in flatten_values(x)], tx.grad.reshape(-1).tolist(),
                     f"{where}: input gradient")
        tparams = dict(tmodel.named_parameters())
        ours = torch_parameters(model)
        assert list(ours) == list(tparams), where
        for pname, values in ours.items():
            grad = tparams[pname].grad
            theirs = [0.0] * len(flatten_values(values)) if grad is None else \
                grad.reshape(-1).tolist()
            assert_close([v.grad or 0.0 for v in flatten_values(values)], theirs,
                         f"{where}: gradient of {pname}")
        # BatchNorm in training mode updated its running statistics on both sides alike
        tbuffers = dict(tmodel.named_buffers())
        for bname, value in model.named_buffers():  # paths agree: no MLP holds a buffer
            assert_close(flatten_values(value), tbuffers[bname].reshape(-1).tolist(),
                         f"{where}: buffer {bname}")


def spec(m):
    """A module's class and configuration, its submodules' specs in place of the modules."""
    def walk(v):
        if isinstance(v, Module):
            return spec(v)
        if isinstance(v, dict):
            return {k: walk(x) for k, x in v.items()}
        return [walk(x) for x in v] if isinstance(v, (list, tuple)) else v

    return type(m).__name__, walk(m.config())


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_dagrad_torch_dagrad(name):
    model = randomized(CASES[name][0](), seed=5)
    model.train(not model.training)  # a non-default mode travels too
    back = from_torch(to_torch(model))
    assert type(back) is type(model)
    assert spec(back) == spec(model)
    assert back.state_dict() == model.state_dict()  # exact: float64 both ways
    assert [m.training for m in back.modules()] == [m.training for m in model.modules()]
    assert [type(m) for m in back.modules()] == [type(m) for m in model.modules()]


@pytest.mark.parametrize("name", sorted(CASES))
def test_round_trip_torch_dagrad_torch(name):
    tmodel = to_torch(randomized(CASES[name][0](), seed=6))
    again = to_torch(from_torch(tmodel))
    assert str(again) == str(tmodel)
    one, two = tmodel.state_dict(), again.state_dict()
    assert list(one) == list(two)
    assert all(torch.equal(one[k], two[k]) for k in one)


def test_every_layer_of_nn_has_a_case():
    layers = {cls for cls in vars(nn).values()
              if isinstance(cls, type) and issubclass(cls, Module) and cls is not Module}
    covered = {type(m) for factory, _, _ in CASES.values() for m in factory().modules()}
    assert layers - covered == set()


def test_parameters_are_float64_and_keep_requires_grad():
    model = Linear(3, 2, rng=0)
    for v in model.bias:
        v.requires_grad = False  # frozen
    tmodel = to_torch(model)
    assert tmodel.weight.dtype == torch.float64 and tmodel.weight.requires_grad
    assert not tmodel.bias.requires_grad
    back = from_torch(tmodel)
    assert [v.requires_grad for v in back.bias] == [False, False]


def test_float32_torch_weights_are_read_exactly():
    torch.manual_seed(0)
    conv = tnn.Conv2d(2, 3, 3)  # float32
    model = from_torch(conv)
    assert model.weight[1][0][2][1].data == conv.weight[1, 0, 2, 1].item()
    assert to_torch(model).weight.dtype == torch.float64


def test_to_torch_draws_no_torch_random_numbers():
    torch.manual_seed(3)
    expected = torch.rand(1)
    torch.manual_seed(3)
    to_torch(Sequential(Conv2d(1, 2, 3, rng=0), LSTM(2, 2, rng=0), Linear(2, 2, rng=0)))
    assert torch.equal(torch.rand(1), expected)


def test_batchnorm_running_statistics_and_mode_travel():
    bn = BatchNorm1d(2, momentum=None)
    bn([[1.0, 2.0], [3.0, -1.0], [0.5, 0.0]])
    tbn = to_torch(bn.eval())
    assert not tbn.training and tbn.momentum is None
    assert tbn.running_mean.tolist() == bn.running_mean
    assert tbn.running_var.tolist() == bn.running_var
    assert tbn.num_batches_tracked.item() == 1
    tbn.train()
    tbn(torch.tensor([[0.0, 1.0], [2.0, 2.0]], dtype=torch.float64))
    back = from_torch(tbn)
    assert back.training and back.num_batches_tracked == 2.0
    assert back.running_mean == tbn.running_mean.tolist()


def test_dropout_keeps_p_and_mode_and_takes_an_rng():
    tdrop = to_torch(Dropout(0.25))
    assert type(tdrop) is tnn.Dropout and tdrop.p == 0.25 and tdrop.training
    back = from_torch(tnn.Dropout(0.5), rng=7)
    again = from_torch(tnn.Dropout(0.5), rng=7)
    assert [v.data for v in back([1.0] * 20)] == [v.data for v in again([1.0] * 20)]
    x = torch.ones(1000, dtype=torch.float64)
    assert set(tdrop(x).tolist()) == {0.0, 1.0 / 0.75}  # training mode: inverted dropout


def test_recurrent_outputs_have_the_same_structure():
    lstm = LSTM(2, 3, num_layers=2, rng=0)
    out, (h_n, c_n) = lstm([[0.5, -1.0], [1.0, 0.0]])
    tout, (th, tc) = to_torch(lstm)(torch.tensor([[0.5, -1.0], [1.0, 0.0]], dtype=torch.float64))
    assert (len(out), len(out[0])) == tuple(tout.shape)
    assert (len(h_n), len(h_n[0])) == tuple(th.shape) == tuple(tc.shape)
    assert_close(flat_floats(c_n), tc.reshape(-1).tolist(), "c_n")


def test_initial_states_have_the_same_layout():
    gru = randomized(GRU(2, 3, num_layers=2, batch_first=True, rng=0))
    x = random_input((4, 5, 2), seed=2)  # [N][L][I] (batch_first)
    h0 = random_input((2, 4, 3), seed=3)  # [num_layers][N][H], batch_first or not
    out, h_n = gru(x, h0)
    tout, th = to_torch(gru)(torch.tensor(x, dtype=torch.float64),
                             torch.tensor(h0, dtype=torch.float64))
    assert_close(flat_floats(out), tout.reshape(-1).tolist(), "GRU output from h0")
    assert_close(flat_floats(h_n), th.reshape(-1).tolist(), "GRU h_n from h0")
    lstm = randomized(LSTMCell(2, 3, rng=0))
    h, c = random_input((5, 3), seed=4), random_input((5, 3), seed=5)  # x[0]: a batch of 5
    h1, c1 = lstm(x[0], (h, c))
    th1, tc1 = to_torch(lstm)(torch.tensor(x[0], dtype=torch.float64),
                              (torch.tensor(h, dtype=torch.float64),
                               torch.tensor(c, dtype=torch.float64)))
    assert_close(flat_floats([h1, c1]), torch.cat([th1, tc1]).reshape(-1).tolist(), "LSTMCell")


# -- Sequential marks and the MLP rule -------------------------------------------------------


def test_unmarked_linear_stack_becomes_an_mlp_unless_asked():
    seq = tnn.Sequential(tnn.Linear(2, 4), tnn.Tanh(), tnn.Linear(4, 1), tnn.Sigmoid()).double()
    assert type(from_torch(seq)) is MLP
    plain = from_torch(seq, mlp=False)
    assert type(plain) is Sequential
    assert [type(m) for m in plain] == [Linear, Tanh, Linear, Sigmoid]
    x = [[0.3, -0.2], [1.0, 2.0]]
    theirs = seq(torch.tensor(x, dtype=torch.float64)).reshape(-1).tolist()
    assert_close(flat_floats(plain(x)), theirs, "Sequential of Linear")  # it takes batches


def test_a_layer_used_twice_stays_shared_both_ways():
    tmodel = to_torch(shared_stack())
    assert tmodel[0] is tmodel[2]
    back = from_torch(tmodel)
    assert back[0] is back[2]
    plain = tnn.Sequential(OrderedDict(a=tnn.Linear(2, 2), b=tnn.ReLU()))
    plain.add_module("c", plain.a)  # shared: no MLP (it could not share), a Sequential
    back = from_torch(plain)
    assert type(back) is Sequential and back["a"] is back["c"]


def test_tied_weights_stay_tied_both_ways():
    tmodel = to_torch(tied_stack())
    assert tmodel[2].weight is tmodel[0].weight and tmodel[2].bias is not tmodel[0].bias
    assert list(torch_parameters(tied_stack())) == [n for n, _ in tmodel.named_parameters()]
    back = from_torch(tmodel)
    assert back[2].weight[1][2] is back[0].weight[1][2]
    seq = tnn.Sequential(tnn.Linear(2, 2), tnn.Tanh(), tnn.Linear(2, 2)).double()
    seq[2].weight = seq[0].weight  # tied: no MLP (it could not keep the tie), a Sequential
    back = from_torch(seq)
    assert type(back) is Sequential
    assert all(v is w for v, w in zip(back[2].weight[0], back[0].weight[0], strict=True))


def test_a_partly_shared_weight_has_no_torch_form():
    a, b = Linear(2, 2, rng=0), Linear(2, 2, rng=1)
    b.weight[1] = a.weight[0]  # one row tied, not the tensor
    with pytest.raises(ConversionError, match="parameter '1.weight' shares some of its Values "
                       "with '0.weight'; PyTorch ties whole tensors"):
        to_torch(Sequential(a, b))
    c = Linear(2, 2, rng=0)
    c.weight[1] = c.weight[0]
    with pytest.raises(ConversionError, match="'weight' shares some of its Values with itself"):
        to_torch(c)


def test_marks_bring_back_the_dagrad_class():
    for model in (Neuron(3, rng=0), Layer(3, 2, rng=0), MLP(3, [2, 2], rng=0),
                  Sequential(Linear(3, 2, rng=0), ReLU())):
        tmodel = to_torch(model)
        assert getattr(tmodel, MARK) == type(model).__name__
        assert type(from_torch(tmodel)) is type(model)
    nested = Sequential(Sequential(Linear(2, 2, rng=0)), MLP(2, [1], rng=0))
    back = from_torch(to_torch(nested))
    assert [type(m) for m in back] == [Sequential, MLP]


def test_an_edited_marked_stack_falls_back_to_sequential():
    tmodel = to_torch(Layer(3, 2, rng=0))
    tmodel.append(tnn.Linear(2, 2, dtype=torch.float64))  # no longer one Layer
    back = from_torch(tmodel)
    assert type(back) is Sequential and [type(m) for m in back] == [Linear, ReLU, Linear]


# -- errors ----------------------------------------------------------------------------------


class Custom(Module):
    def forward(self, x):
        return x


class MyLinear(Linear):
    pass


@pytest.mark.parametrize("model,message", [
    (Custom(), r"the model is a Custom from .*test_interop, which has no PyTorch counterpart"),
    (Sequential(Linear(2, 2, rng=0), Custom()), r"module '1' is a Custom"),
    (Sequential({"body": Sequential(ReLU(), Custom())}), r"module 'body\.1' is a Custom"),
    (Sequential(MyLinear(2, 2, rng=0)), r"module '0' is a MyLinear .*a subclass of Linear"),
    (ParityRNN(rng=0), r"the model is a ParityRNN from nn.tasks, which has no PyTorch "
     r"counterpart; to_torch converts "
     r"AdaptiveAvgPool1d, .*Sequential, .*Neuron, Layer and MLP"),
    ([Linear(2, 2, rng=0)], r"expected a dagrad nn.Module, got list"),
    (Sequential({"forward": ReLU()}), r"the model \(Sequential\): .*'forward' already exists"),
])
def test_to_torch_names_the_module_without_counterpart(model, message):
    with pytest.raises(ConversionError, match=message):
        to_torch(model)


@pytest.mark.parametrize("make,message", [
    (lambda: tnn.GELU(), r"the model is a torch.nn.GELU, which has no dagrad counterpart"),
    (lambda: tnn.Sequential(tnn.Linear(2, 2), tnn.Softmax(dim=0)),
     r"module '1' is a torch.nn.Softmax"),
    (lambda: tnn.Sequential(OrderedDict(a=tnn.Sequential(tnn.ReLU(), tnn.LeakyReLU()))),
     r"module 'a\.1' is a torch.nn.LeakyReLU.*from_torch converts torch.nn.\{Adaptive"),
    (lambda: tnn.LSTM(2, 3, bidirectional=True), r"the model \(torch.nn.LSTM\) uses "
     r"bidirectional=True, which dagrad's LSTM does not have"),
    (lambda: tnn.LSTM(2, 3, proj_size=2), r"proj_size=2"),
    (lambda: tnn.Sequential(tnn.GRU(2, 3, num_layers=2, dropout=0.5)),
     r"module '0' \(torch.nn.GRU\) uses dropout=0.5"),
    (lambda: tnn.Conv2d(1, 1, 3, padding=1, padding_mode="reflect"),
     r"padding_mode='reflect', which dagrad's Conv2d does not have"),
    (lambda: tnn.MaxPool2d(2, return_indices=True), r"return_indices=True"),
    (lambda: tnn.AdaptiveMaxPool1d(2, return_indices=True), r"return_indices=True"),
    (lambda: tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(4, 1)),
     r"module '2' \(Linear\) takes 4 inputs but the previous layer gives 3"),
    (lambda: tnn.AvgPool2d(2, padding=2), r"the model \(torch.nn.AvgPool2d\): AvgPool2d: "
     r"padding should be at most half of the kernel size"),
    (lambda: "Linear", r"expected a torch.nn.Module, got str"),
    (lambda: tnn.Sequential(OrderedDict(_x=tnn.ReLU())),
     r"the model \(torch.nn.Sequential\): Sequential: unusable layer name '_x'"),
])
def test_from_torch_names_the_module_without_counterpart(make, message):
    with pytest.raises(ConversionError, match=message):
        from_torch(make())


def test_a_swapped_in_part_is_named():
    class MyCell(GRUCell):
        pass

    gru = GRU(2, 3, num_layers=2, rng=0)
    gru.cells[1] = MyCell(3, 3, rng=0)
    with pytest.raises(ConversionError, match="module '0.cells.1' is a .*MyCell where GRU "
                       "needs its own GRUCell; only that converts to PyTorch's GRU"):
        to_torch(Sequential(gru))
    mlp = MLP(2, [3, 1], rng=0)
    mlp.layers[1] = Linear(3, 1, rng=0)
    with pytest.raises(ConversionError, match="module 'layers.1' is a Linear where MLP "
                       "needs its own Layer; only that converts to PyTorch's Sequential"):
        to_torch(mlp)


def test_conversion_errors_are_type_and_value_errors():
    # the MLP-only versions raised TypeError (to_torch) and ValueError (from_torch)
    with pytest.raises(TypeError):
        to_torch(Custom())
    with pytest.raises(ValueError):
        from_torch(tnn.GELU())


def test_missing_torch_is_a_clear_import_error(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "torch", None)
    with pytest.raises(ImportError, match="PyTorch is not installed; to_torch/from_torch"):
        to_torch(Linear(2, 2, rng=0))
    with pytest.raises(ImportError, match="PyTorch is not installed"):
        from_torch(object())


def test_old_import_paths_still_work():
    import nn.io

    assert nn.io.to_torch is to_torch and nn.io.from_torch is from_torch
    assert nn.to_torch is to_torch and nn.from_torch is from_torch
