"""Sequential, Dropout, Flatten, activations; train()/eval(); names; files; vs PyTorch."""

import random
from collections import Counter

import pytest

from engine import Value
from engine import sum as vsum
from nn.containers import Dropout, Flatten, Identity, ReLU, Sequential, Sigmoid, Tanh, layer_of
from nn.conv import Conv2d
from nn.layers import MLP, Layer
from nn.norm import BatchNorm1d, BatchNorm2d, LayerNorm
from nn.pool import AvgPool2d, MaxPool2d
from nn.rnn import GRU
from nn.utils import flatten_values, shape, to_data, to_values


def small_convnet(rng=0):
    return Sequential(Conv2d(1, 2, 3, rng=rng), BatchNorm2d(2), ReLU(), MaxPool2d(2),
                      Flatten(), Dropout(0.25, rng=rng))


def test_names_start_with_the_layer_index_as_pytorch():
    model = Sequential(Conv2d(1, 2, 3, rng=0), ReLU(), LayerNorm(4), Layer(4, 2, rng=0))
    names = [n for n, _ in model.named_parameters()]
    assert names[0] == "0.weight.0.0.0.0" and "0.bias.1" in names
    assert "2.weight.3" in names and names[-1] == "3.neurons.1.b"
    assert list(dict.fromkeys(layer_of(n) for n in names)) == ["0", "2", "3"]
    assert [n.split(".")[0] for n in names] == [layer_of(n) for n in names]
    counts = Counter(layer_of(n) for n in names)
    assert counts == {"0": 2 * 9 + 2, "2": 8, "3": 10}


def test_layer_of_groups_an_mlp_by_layer_too():
    names = [n for n, _ in MLP(2, [3, 1], rng=0).named_parameters()]
    assert sorted(set(layer_of(n) for n in names)) == ["layers.0", "layers.1"]


def test_named_layers_and_indexing():
    conv, relu = Conv2d(1, 1, 2, rng=0), ReLU()
    model = Sequential({"conv": conv, "act": relu})
    assert model["conv"] is conv and model[1] is relu and model[-1] is relu
    assert [n for n, _ in model.named_parameters()][-1] == "conv.bias.0"
    assert list(model) == [conv, relu] and len(model) == 2
    head = model[:1]
    assert isinstance(head, Sequential) and head[0] is conv
    model.append(Flatten(0))
    assert len(model) == 3 and isinstance(model[2], Flatten)
    with pytest.raises(TypeError, match="layer '0' is a function, not a Module"):
        Sequential(lambda x: x)
    with pytest.raises(ValueError, match="unusable layer name '_hidden'"):
        Sequential({"_hidden": relu})
    with pytest.raises(KeyError, match="no layer named 'nope'"):
        model["nope"]


def test_repr_is_pytorch_like():
    model = Sequential(Conv2d(1, 2, 3, rng=0), ReLU(), MaxPool2d(2), Flatten(0))
    assert repr(model) == (
        "Sequential(\n"
        "  (0): Conv2d(1, 2, kernel_size=(3, 3), stride=(1, 1))\n"
        "  (1): ReLU()\n"
        "  (2): MaxPool2d(kernel_size=(2, 2), stride=(2, 2), padding=(0, 0), dilation=(1, 1))\n"
        "  (3): Flatten(start_dim=0, end_dim=-1)\n"
        ")")


def test_train_and_eval_reach_every_submodule():
    inner = Sequential(Dropout(0.5, rng=0), BatchNorm1d(3))
    model = Sequential(inner, Sequential(GRU(3, 2, rng=0)), Dropout(0.1, rng=0))
    modules = model.modules()
    assert len(modules) == 8  # 3 Sequentials, 2 Dropouts, BatchNorm, GRU, its cell
    assert all(m.training for m in modules)
    assert model.eval() is model
    assert not any(m.training for m in modules)
    model.train()
    assert all(m.training for m in modules)


def test_dropout_is_deterministic_with_a_seeded_rng_and_scales_survivors():
    x = [[float(i + 1) for i in range(5)] for _ in range(4)]
    a = Dropout(0.4, rng=random.Random(7))(x)
    b = Dropout(0.4, rng=random.Random(7))(x)
    assert to_data(a) == to_data(b)
    c = Dropout(0.4, rng=random.Random(8))(x)
    assert to_data(a) != to_data(c)
    rng = random.Random(7)
    expected = [[0.0 if rng.random() < 0.4 else v / 0.6 for v in row] for row in x]
    assert flatten_values(to_data(a)) == pytest.approx(flatten_values(expected), rel=1e-15)


def test_dropout_drops_about_p_and_keeps_the_mean():
    n = 20000
    out = Dropout(0.3, rng=random.Random(1))([1.0] * n)
    dropped = sum(1 for v in out if v.data == 0.0)
    assert abs(dropped / n - 0.3) < 0.02
    assert abs(sum(v.data for v in out) / n - 1.0) < 0.03


def test_dropout_gradient_flows_only_through_survivors():
    x = to_values([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    out = Dropout(0.5, rng=random.Random(3))(x)
    vsum(out).backward()
    for xi, yi in zip(x, out, strict=True):
        assert xi.grad == (None if yi.data == 0.0 else 2.0)


def test_dropout_modes_and_extremes():
    x = [1.0, 2.0]
    drop = Dropout(0.5, rng=0)
    assert drop.eval()(x) is x
    assert Dropout(0.0, rng=0)(x) is x
    assert [v.data for v in Dropout(1.0, rng=0)(x)] == [0.0, 0.0]
    with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\], got 1.5"):
        Dropout(1.5)


def test_flatten_matches_torch_semantics():
    x = [[[[i * 100 + c * 10 + j for j in range(3)] for c in range(2)] for _ in range(2)]
         for i in range(4)]  # [4][2][2][3]
    assert shape(Flatten()(x)) == (4, 12)
    assert shape(Flatten(0)(x)) == (48,)
    assert shape(Flatten(1, 2)(x)) == (4, 4, 3)
    assert shape(Flatten(-2)(x)) == (4, 2, 6)
    assert Flatten()(x)[1][:4] == [100, 101, 102, 110]
    with pytest.raises(ValueError, match=r"Flatten\(start_dim=1, end_dim=-1\): cannot merge "
                       r"dimensions 1..-1 of an input of shape \[8\] \(for one sample use "
                       r"Flatten\(0\)\)"):
        Flatten()([0.0] * 8)


def test_activations_and_identity():
    x = [[-1.0, 0.5]]
    assert to_data(ReLU()(x)) == [[0.0, 0.5]]
    assert to_data(Tanh()(x))[0][1] == pytest.approx(0.46211715726000974)
    assert to_data(Sigmoid()(x))[0][0] == pytest.approx(0.2689414213699951)
    assert Identity()(x) is x


def test_file_round_trip_rebuilds_a_convnet_with_buffers():
    io = pytest.importorskip("nn.io")
    model = small_convnet()
    batch = [[[[random.Random(i).uniform(-1, 1) for _ in range(6)] for _ in range(6)]]
             for i in range(3)]
    model(batch)  # moves BatchNorm's running statistics
    model.eval()
    twin = io.from_json(io.to_json(model))
    twin.eval()
    assert repr(twin) == repr(model)
    assert twin.state_dict() == model.state_dict()
    assert to_data(twin(batch)) == to_data(model(batch))
    named = Sequential({"conv": Conv2d(1, 1, 2, rng=0), "pool": AvgPool2d(2)})
    assert repr(io.from_json(io.to_json(named))) == repr(named)


def test_convnet_matches_torch_in_both_modes():
    """A whole stack, batched: conv -> batchnorm -> relu -> pool -> flatten, vs PyTorch."""
    torch = pytest.importorskip("torch")
    model = small_convnet(rng=3)
    model[-1].p = 0.0  # dropout off so both sides agree
    ref = torch.nn.Sequential(torch.nn.Conv2d(1, 2, 3), torch.nn.BatchNorm2d(2),
                              torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten()).double()
    with torch.no_grad():
        ref[0].weight.copy_(torch.tensor(to_data(model[0].weight), dtype=torch.float64))
        ref[0].bias.copy_(torch.tensor(to_data(model[0].bias), dtype=torch.float64))
    rng = random.Random(4)
    for mode in ("train", "eval"):
        getattr(model, mode)()
        getattr(ref, mode)()
        model.zero_grad()
        ref.zero_grad()
        xdata = [[[[rng.uniform(-1, 1) for _ in range(6)] for _ in range(6)]] for _ in range(3)]
        x = to_values(xdata)
        out = model(x)
        tx = torch.tensor(xdata, dtype=torch.float64, requires_grad=True)
        tout = ref(tx)
        assert list(shape(out)) == list(tout.shape) == [3, 8]
        assert flatten_values(to_data(out)) == pytest.approx(tout.flatten().tolist(), rel=1e-10,
                                                             abs=1e-12)
        coeffs = [[rng.uniform(-1, 1) for _ in range(8)] for _ in range(3)]
        vsum([o * c for o, c in zip(flatten_values(out), flatten_values(coeffs),
                                     strict=True)]).backward()
        (tout * torch.tensor(coeffs, dtype=torch.float64)).sum().backward()
        assert [v.grad for v in flatten_values(x)] == pytest.approx(
            tx.grad.flatten().tolist(), rel=1e-9, abs=1e-12)
        assert [p.grad for p in flatten_values(model[0].weight)] == pytest.approx(
            ref[0].weight.grad.flatten().tolist(), rel=1e-9, abs=1e-12)
        assert [p.grad for p in model[1].weight] == pytest.approx(
            ref[1].weight.grad.tolist(), rel=1e-9, abs=1e-12)
        assert model[1].running_var == pytest.approx(ref[1].running_var.tolist(), rel=1e-12)


def test_sequential_state_dict_keys_look_like_pytorch():
    keys = list(small_convnet().state_dict())
    assert keys[:2] == ["0.weight.0.0.0.0", "0.weight.0.0.0.1"]
    assert keys[-3:] == ["1.running_mean", "1.running_var", "1.num_batches_tracked"]


def test_parameters_shared_between_layers_are_reported_once():
    conv = Conv2d(1, 1, 2, rng=0)
    model = Sequential(conv, ReLU(), conv)
    assert model.num_parameters() == 5
    assert isinstance(model.parameters()[0], Value)


def test_viz_layer_groups_agree_with_layer_of():
    viz = pytest.importorskip("viz")
    model = Sequential(Conv2d(1, 2, 3, rng=0), BatchNorm2d(2), ReLU(), Flatten(), Layer(8, 2))
    for name, _ in model.named_parameters():
        assert viz.group_of_name(name, "layer") == layer_of(name)


def every_layer():
    from nn.conv import Conv1d
    from nn.pool import (
        AdaptiveAvgPool1d,
        AdaptiveAvgPool2d,
        AdaptiveMaxPool1d,
        AdaptiveMaxPool2d,
        AvgPool1d,
        MaxPool1d,
    )
    from nn.rnn import LSTM, RNN, GRUCell, LSTMCell, RNNCell
    from nn.tasks import ParityRNN
    return [
        Conv1d(2, 3, 2, stride=2, padding=1, dilation=1, bias=False, rng=0),
        Conv2d(1, 2, (3, 2), padding="same", dilation=(2, 1), rng=0),
        MaxPool1d(3, 2, 1, ceil_mode=True), MaxPool2d(2, 1, dilation=2),
        AvgPool1d(2, count_include_pad=False), AvgPool2d(3, 2, 1, divisor_override=5),
        AdaptiveAvgPool1d(3), AdaptiveMaxPool1d(2), AdaptiveAvgPool2d((2, None)),
        AdaptiveMaxPool2d(1), LayerNorm((2, 3), eps=1e-3, bias=False),
        LayerNorm(4, elementwise_affine=False), BatchNorm1d(3, momentum=None),
        BatchNorm2d(2, affine=False, track_running_stats=False), Dropout(0.3, rng=0),
        RNNCell(2, 3, nonlinearity="relu", rng=0), GRUCell(2, 2, bias=False, rng=0),
        LSTMCell(1, 2, rng=0), RNN(2, 3, num_layers=2, batch_first=True, rng=0),
        GRU(1, 2, rng=0), LSTM(2, 2, num_layers=2, bias=False, rng=0), Flatten(1, 2),
        ReLU(), Tanh(), Sigmoid(), Identity(), ParityRNN(3, cell="gru", rng=0),
        Sequential({"a": Conv2d(1, 1, 2, rng=0), "b": Sequential(ReLU(), Flatten(0))}),
    ]


@pytest.mark.parametrize("layer", every_layer(), ids=lambda m: type(m).__name__)
def test_every_layer_rebuilds_from_its_file_entry(layer):
    io = pytest.importorskip("nn.io")
    for p in layer.parameters():
        p.data += 0.125  # state that differs from a fresh module's
    twin = io.from_json(io.to_json(layer))
    assert type(twin) is type(layer)
    assert repr(twin) == repr(layer)
    assert twin.state_dict() == layer.state_dict()
