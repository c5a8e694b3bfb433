"""Module: parameter walking and names, buffers, modes, state dicts and their errors, repr."""

import pytest

from engine import Value
from nn import MLP, Module, StateDictError
from nn.module import REGISTRY


class Pair(Module):
    def __init__(self):
        super().__init__()
        self.w = [Value(1.0), Value(2.0)]
        self.b = Value(3.0)
        self.const = Value(9.0, requires_grad=False)
        self._hidden = Value(7.0)
        self.register_buffer("running", [0.0, 0.0])
        self.register_buffer("count", 0.0)

    def forward(self, x):
        return self.w[0] * x[0] + self.w[1] * x[1] + self.b

    def config(self):
        return {}


class Net(Module):
    def __init__(self):
        super().__init__()
        self.first = Pair()
        self.blocks = [Pair(), Pair()]
        self.table = {"a": Pair()}
        self.scale = Value(0.5)

    def forward(self, x):
        return self.scale * self.first(x)


def test_named_parameters_walk_attributes_in_order_with_dotted_names():
    names = [n for n, _ in Net().named_parameters()]
    assert names == [
        "first.w.0", "first.w.1", "first.b",
        "blocks.0.w.0", "blocks.0.w.1", "blocks.0.b",
        "blocks.1.w.0", "blocks.1.w.1", "blocks.1.b",
        "table.a.w.0", "table.a.w.1", "table.a.b",
        "scale",
    ]


def test_constants_private_attributes_and_buffers_are_not_parameters():
    p = Pair()
    assert [n for n, _ in p.named_parameters()] == ["w.0", "w.1", "b"]
    assert p.num_parameters() == 3


def test_shared_parameter_is_reported_once():
    class Tied(Module):
        def __init__(self):
            self.a = Value(1.0)
            self.b = self.a
            self.c = [self.a, Value(2.0)]

    assert [n for n, _ in Tied().named_parameters()] == ["a", "c.1"]


def test_module_without_super_init_works():
    class Bare(Module):
        def __init__(self):
            self.w = Value(1.0)

    m = Bare()
    assert m.training is True
    assert m.parameters()[0] is m.w
    assert m.eval() is m and m.training is False


def test_mlp_names_match_the_contract():
    names = [n for n, _ in MLP(2, [4, 1], rng=0).named_parameters()]
    assert names[:3] == ["layers.0.neurons.0.w.0", "layers.0.neurons.0.w.1",
                         "layers.0.neurons.0.b"]
    assert "layers.0.neurons.3.w.1" in names and names[-1] == "layers.1.neurons.0.b"


def test_named_modules_and_children():
    net = Net()
    assert [n for n, _ in net.named_children()] == ["first", "blocks.0", "blocks.1", "table.a"]
    assert [n for n, _ in net.named_modules()] == ["", "first", "blocks.0", "blocks.1",
                                                   "table.a"]
    assert net.children()[1] is net.blocks[0]


def test_train_eval_reach_every_submodule():
    net = Net()
    assert net.eval() is net
    assert not any(m.training for m in net.modules())
    assert net.train() is net
    assert all(m.training for m in net.modules())
    net.train(False)
    assert net.blocks[1].training is False


def test_zero_grad_to_none_or_zero():
    m = Pair()
    m([1.0, 2.0]).backward()
    assert m.w[1].grad == 2.0
    m.zero_grad(set_to_none=False)
    assert [p.grad for p in m.parameters()] == [0.0, 0.0, 0.0]
    m.zero_grad()
    assert [p.grad for p in m.parameters()] == [None, None, None]


def test_buffers_are_attributes_in_the_state_dict():
    net = Net()
    net.first.running = [1.0, 2.0]  # replaced by plain assignment
    sd = net.state_dict()
    assert sd["first.running"] == [1.0, 2.0]
    assert sd["table.a.count"] == 0.0
    assert list(sd)[:3] == ["first.w.0", "first.w.1", "first.b"]
    assert dict(net.named_buffers())["blocks.1.running"] == [0.0, 0.0]


def test_register_buffer_rejects_bad_names_and_values():
    p = Pair()
    with pytest.raises(ValueError, match="_x"):
        p.register_buffer("_x", 1.0)
    with pytest.raises(ValueError, match="already an attribute"):
        p.register_buffer("b", 1.0)
    with pytest.raises(TypeError, match="float or a list of floats"):
        p.register_buffer("bad", "text")


def test_state_dict_round_trip():
    a, b = Net(), Net()
    for i, p in enumerate(a.parameters()):
        p.data = 0.25 * i - 1.0
    a.blocks[0].running = [5.0, 6.0]
    a.first.count = 4.0
    b.load_state_dict(a.state_dict())
    assert [p.data for p in b.parameters()] == [p.data for p in a.parameters()]
    assert b.blocks[0].running == [5.0, 6.0] and b.first.count == 4.0
    b.blocks[0].running.append(1.0)  # the loaded list is a copy
    assert a.blocks[0].running == [5.0, 6.0]


def test_state_dict_is_a_copy():
    m = Pair()
    sd = m.state_dict()
    sd["running"].append(1.0)
    sd["b"] = 100.0
    assert m.running == [0.0, 0.0] and m.b.data == 3.0


def test_load_state_dict_missing_key():
    m = Pair()
    sd = m.state_dict()
    del sd["w.1"]
    with pytest.raises(StateDictError, match=r"missing key\(s\): w\.1"):
        m.load_state_dict(sd)


def test_load_state_dict_unexpected_key():
    m = Pair()
    with pytest.raises(StateDictError, match=r"unexpected key\(s\): extra"):
        m.load_state_dict({**m.state_dict(), "extra": 1.0})


def test_load_state_dict_wrong_shape_and_type():
    m = Pair()
    with pytest.raises(StateDictError, match=r"running: expected a list of length 2, got a list "
                                             r"of length 3"):
        m.load_state_dict({**m.state_dict(), "running": [1.0, 2.0, 3.0]})
    with pytest.raises(StateDictError, match=r"w\.0: expected a number.*got a list"):
        m.load_state_dict({**m.state_dict(), "w.0": [1.0]})
    with pytest.raises(StateDictError, match=r"b: expected a number.*got str"):
        m.load_state_dict({**m.state_dict(), "b": "3"})
    with pytest.raises(TypeError, match="expected a dict"):
        m.load_state_dict([1.0])


def test_failed_load_changes_nothing():
    m = Pair()
    before = m.state_dict()
    bad = {**before, "w.0": 42.0, "running": [1.0]}
    with pytest.raises(StateDictError):
        m.load_state_dict(bad)
    assert m.state_dict() == before


def test_non_strict_load_reports_missing_and_unexpected():
    m = Pair()
    result = m.load_state_dict({"w.0": 5.0, "zzz": 1.0}, strict=False)
    assert m.w[0].data == 5.0 and m.w[1].data == 2.0
    assert result.missing_keys == ["w.1", "b", "const", "running", "count"]
    assert result.unexpected_keys == ["zzz"]


def test_registry_and_config():
    assert REGISTRY["Pair"] is Pair and REGISTRY["MLP"] is MLP

    class Scratch(Module, register=False):
        pass

    assert REGISTRY.get("Scratch") is not Scratch
    with pytest.raises(NotImplementedError, match="Scratch does not define config"):
        Scratch().config()
    with pytest.raises(NotImplementedError, match="forward"):
        Scratch()(1.0)


def test_repr_is_nested_and_compresses_repeats():
    text = repr(MLP(3, [4, 2], rng=0))
    assert text.splitlines() == [
        "MLP(3 -> [4, 2], relu, params=26",
        "  (layers.0): Layer(3 -> 4, relu",
        "    (neurons.0-3): 4 x Neuron(3, relu)",
        "  )",
        "  (layers.1): Layer(4 -> 2, linear",
        "    (neurons.0): Neuron(4, linear)",
        "    (neurons.1): Neuron(4, linear)",
        "  )",
        ")",
    ]
    assert repr(Pair()) == "Pair()"


def test_frozen_values_are_not_parameters_but_are_state():
    m = Pair()
    m.w[1].requires_grad = False  # freeze one weight
    assert [n for n, _ in m.named_parameters()] == ["w.0", "b"]
    sd = m.state_dict()
    assert list(sd)[:4] == ["w.0", "w.1", "b", "const"] and sd["const"] == 9.0
    other = Pair()
    other.w[1].data = -5.0
    other.const.data = 1.0
    m.load_state_dict(other.state_dict())
    assert m.w[1].data == -5.0 and m.const.data == 1.0


def test_names_of_nested_lists_and_dicts_walked_without_recursion():
    from engine import Value

    class Nested(Module):
        def __init__(self):
            self.grid = [[Value(1.0), Value(2.0)], [Value(3.0), Value(4.0)]]
            self.table = {"a": [Value(5.0)], 7: Value(6.0), "b": {"c": Value(7.0)}}

    names = [n for n, _ in Nested().named_parameters()]
    assert names == ["grid.0.0", "grid.0.1", "grid.1.0", "grid.1.1", "table.a.0", "table.b.c"]


def test_a_module_inside_itself_is_walked_once():
    from nn import Linear

    class Loop(Module):
        def __init__(self):
            self.lin = Linear(1, 1)
            self.me = self

    m = Loop()
    assert [n for n, _ in m.named_modules()] == ["", "lin"]
    assert list(m.state_dict()) == ["lin.weight.0.0", "lin.bias.0"]


def test_3000_nested_modules_walk_without_recursion_error():
    from nn import Linear, Sequential

    model = Linear(1, 1)
    for _ in range(3000):
        model = Sequential(model)
    assert model.num_parameters() == 2 and len(model.modules()) == 3001
    assert list(model.state_dict())[0] == "0." * 3000 + "weight.0.0"
