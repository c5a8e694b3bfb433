"""Neuron, Layer, MLP: micrograd parity, the fused dot node, init schemes, gradients vs torch."""

import math
import random

import pytest

from engine import Value, gradcheck, no_grad, topological_order
from nn import MLP, Layer, Neuron


def test_micrograd_weights_port_one_to_one():
    mg = pytest.importorskip("micrograd.nn")
    random.seed(1337)
    theirs = mg.MLP(2, [16, 16, 1])
    random.seed(1337)
    ours = MLP(2, [16, 16, 1])
    assert [p.data for p in ours.parameters()] == [p.data for p in theirs.parameters()]
    assert MLP(2, [16, 16, 1], rng=random.Random(1337)).state_dict() == ours.state_dict()
    x = [0.3, -1.2]
    assert ours(x).data == pytest.approx(theirs(x).data, rel=1e-14, abs=1e-14)
    theirs_out = theirs(x)
    theirs_out.backward()
    ours_out = ours(x)
    ours_out.backward()
    for p, q in zip(ours.parameters(), theirs.parameters(), strict=True):
        assert p.grad == pytest.approx(q.grad, rel=1e-12, abs=1e-14)


def test_uniform_init_is_micrograds_and_biases_start_at_zero():
    rng = random.Random(5)
    expected = [random.Random(5).uniform(-1, 1) for _ in range(1)]
    n = Neuron(3, rng=rng)
    assert n.w[0].data == expected[0]
    assert all(-1 <= w.data <= 1 for w in n.w) and n.b.data == 0.0


def test_a_neuron_is_one_dot_node_plus_its_activation():
    n = Neuron(3, activation="tanh", rng=0)
    out = n([1.0, 2.0, 3.0])
    assert out.op.name == "tanh"
    (dot,) = out.parents
    assert dot.op.name == "dot"
    assert dot.parents[:3] == tuple(n.w) and dot.parents[-1] is n.b
    assert [p.data for p in dot.parents[3:6]] == [1.0, 2.0, 3.0]
    expected = math.tanh(sum(w.data * x for w, x in zip(n.w, [1, 2, 3], strict=True)))
    assert out.data == pytest.approx(expected, rel=1e-15)
    lin = Neuron(2, activation="linear", rng=0)([1.0, 1.0])
    assert lin.op.name == "dot"


def test_raw_inputs_are_lifted_once_per_call():
    model = MLP(2, [3, 1], rng=0)
    out = model([0.5, -0.5])
    dots = [n for n in topological_order(out, include_constants=True)
            if n.op is not None and n.op.name == "dot"]
    first_layer = [d for d in dots if len(d.parents) == 5]
    assert len(first_layer) == 3
    xs = {id(p) for d in first_layer for p in d.parents[2:4]}
    assert len(xs) == 2  # the same two constants feed every neuron
    consts = [n for n in topological_order(out, include_constants=True)
              if n.is_leaf and not n.requires_grad]
    assert len(consts) == 2


def test_output_is_a_value_for_one_output_and_a_list_otherwise():
    assert isinstance(MLP(2, [3, 1], rng=0)([1.0, 2.0]), Value)
    out = MLP(2, [3, 2], rng=0)([1.0, 2.0])
    assert isinstance(out, list) and len(out) == 2
    assert isinstance(Layer(2, 1, rng=0)([1.0, 2.0]), Value)
    assert isinstance(MLP(1, [2, 1], rng=0)(0.5), Value)  # one input may be a number
    v = [Value(1.0), Value(2.0)]
    MLP(2, [3, 1], rng=0)(v).backward()
    assert v[0].grad is not None


def test_parameter_order_is_layer_neuron_weights_then_bias():
    model = MLP(2, [3, 1], rng=0)
    expected = []
    for layer in model.layers:
        for n in layer.neurons:
            expected += [*n.w, n.b]
    assert all(a is b for a, b in zip(model.parameters(), expected, strict=True))
    assert model.num_parameters() == 3 * 3 + 4


@pytest.mark.parametrize("activation,f", [
    ("relu", lambda z: max(z, 0.0)), ("tanh", math.tanh),
    ("sigmoid", lambda z: 1 / (1 + math.exp(-z))), ("linear", lambda z: z),
    (None, lambda z: z)])
def test_activations(activation, f):
    n = Neuron(2, activation=activation, rng=3)
    n.b.data = 0.1
    for x in ([1.0, -2.0], [-0.3, 0.4]):
        z = n.w[0].data * x[0] + n.w[1].data * x[1] + 0.1
        assert n(x).data == pytest.approx(f(z), rel=1e-15, abs=1e-15)


def test_hidden_and_output_activations():
    model = MLP(2, [4, 4, 3], activation="tanh", output_activation="sigmoid", rng=0)
    assert [layer.activation for layer in model.layers] == ["tanh", "tanh", "sigmoid"]
    assert all(0 < v.data < 1 for v in model([1.0, 1.0]))
    assert MLP(2, [4, 1], rng=0).layers[-1].activation == "linear"


@pytest.mark.parametrize("init,bound", [
    ("uniform", lambda fi, fo: 1.0),
    ("xavier", lambda fi, fo: math.sqrt(6 / (fi + fo))),
    ("he", lambda fi, fo: math.sqrt(6 / fi)),
])
def test_uniform_init_schemes_respect_their_bounds(init, bound):
    layer = Layer(50, 30, init=init, rng=1)
    ws = [w.data for n in layer.neurons for w in n.w]
    a = bound(50, 30)
    assert all(-a <= w <= a for w in ws)
    assert max(map(abs, ws)) > 0.95 * a  # the whole range is used
    var = sum(w * w for w in ws) / len(ws)
    assert var == pytest.approx(a * a / 3, rel=0.1)  # U(-a, a) has variance a^2 / 3


@pytest.mark.parametrize("init,std", [
    ("xavier_normal", math.sqrt(2 / 80)), ("he_normal", math.sqrt(2 / 50))])
def test_normal_init_schemes_have_their_std(init, std):
    ws = [w.data for n in Layer(50, 30, init=init, rng=2).neurons for w in n.w]
    mean = sum(ws) / len(ws)
    sd = math.sqrt(sum((w - mean) ** 2 for w in ws) / len(ws))
    assert abs(mean) < 0.1 * std and sd == pytest.approx(std, rel=0.05)


def test_init_is_reproducible_from_a_seed_and_differs_across_seeds():
    a, b, c = (MLP(2, [8, 1], init="he", rng=s).state_dict() for s in (7, 7, 8))
    assert a == b and a != c


def test_bad_arguments_get_clear_errors():
    with pytest.raises(ValueError, match="unknown activation 'gelu'"):
        MLP(2, [3, 1], activation="gelu")
    with pytest.raises(ValueError, match="unknown init 'zeros'"):
        MLP(2, [3, 1], init="zeros")
    with pytest.raises(ValueError, match="sizes must be a non-empty list"):
        MLP(2, 3)
    with pytest.raises(ValueError, match=r"sizes\[1\]: expected a positive int, got 0"):
        MLP(2, [3, 0])
    with pytest.raises(TypeError, match="rng"):
        MLP(2, [3], rng="seed")
    with pytest.raises(ValueError, match="MLP: expects 2 inputs, got 3"):
        MLP(2, [3, 1], rng=0)([1.0, 2.0, 3.0])
    with pytest.raises(TypeError, match="real number"):
        MLP(2, [3, 1], rng=0)([1.0, "2"])


def test_config_rebuilds_the_architecture():
    model = MLP(3, [5, 2], activation="tanh", output_activation="sigmoid", init="xavier", rng=0)
    assert model.config() == {"nin": 3, "sizes": [5, 2], "activation": "tanh",
                              "output_activation": "sigmoid", "init": "xavier"}
    clone = MLP.from_config(model.config())
    clone.load_state_dict(model.state_dict())
    x = [0.1, 0.2, 0.3]
    assert [v.data for v in clone(x)] == [v.data for v in model(x)]
    assert Layer(2, 3, "tanh", rng=0).config() == {"nin": 2, "nout": 3, "activation": "tanh",
                                                    "init": "uniform"}
    assert Neuron(4, None, rng=0).config() == {"nin": 4, "activation": "linear",
                                               "init": "uniform"}


def _with_parameters(model, values):
    """Put ``values`` (Values) in the model's parameter slots, in parameter order."""
    it = iter(values)
    for layer in model.layers:
        for n in layer.neurons:
            n.w = [next(it) for _ in n.w]
            n.b = next(it)


def test_mlp_gradients_match_finite_differences():
    model = MLP(2, [3, 2], activation="tanh", rng=4)
    point = [p.data + 0.05 for p in model.parameters()]

    def f(*ws):
        _with_parameters(model, ws)
        out = model([0.7, -0.4])
        return out[0] * out[1] + out[1]

    assert gradcheck(f, point)
    assert gradcheck(lambda a, b: MLP(2, [4, 1], activation="sigmoid", rng=2)([a, b]),
                     [0.3, -0.8])


def test_mlp_gradients_match_torch():
    torch = pytest.importorskip("torch")
    from nn.io import to_torch

    model = MLP(3, [5, 4, 2], activation="tanh", output_activation="sigmoid", rng=9)
    for p in model.parameters():
        p.data += 0.01  # non-zero biases
    tmodel = to_torch(model)
    xs = [[0.5, -1.0, 2.0], [0.1, 0.2, -0.3]]
    loss = sum((sum(model(x)) for x in xs), Value(0.0, requires_grad=False))
    loss.backward()
    tloss = tmodel(torch.tensor(xs, dtype=torch.float64)).sum()
    tloss.backward()
    assert loss.data == pytest.approx(tloss.item(), rel=1e-13)
    tgrads = []
    for m in tmodel:
        if isinstance(m, torch.nn.Linear):
            for row, b in zip(m.weight.grad.tolist(), m.bias.grad.tolist(), strict=True):
                tgrads += [*row, b]
    ours = [p.grad for p in model.parameters()]
    assert ours == pytest.approx(tgrads, rel=1e-12, abs=1e-14)


def test_no_grad_forward_builds_no_graph():
    model = MLP(2, [4, 1], rng=0)
    with no_grad():
        out = model([1.0, 2.0])
    assert out.parents == () and not out.requires_grad
