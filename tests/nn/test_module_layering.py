"""nn.module knows no layer above it (issue 15), and one rule maps a parameter to its
layer (issue 18)."""

import ast
from pathlib import Path

import nn
import nn.containers
import nn.module
from nn import MLP, Conv2d, Layer, Linear, Module, Sequential, Tanh
from nn.module import layer_of

NN = Path(nn.__file__).parent


def imported_modules(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module)
    return names


def test_module_py_imports_neither_io_nor_any_layer():
    imported = imported_modules(NN / "module.py")
    assert not {m for m in imported if m.startswith("nn")}, imported
    assert "nn.module" in imported_modules(NN / "io.py")


def test_model_save_still_works_through_the_installed_writer(tmp_path):
    model = MLP(2, [2, 1], rng=0)
    model.save(tmp_path / "m.json")
    assert nn.load(tmp_path / "m.json").state_dict() == model.state_dict()
    assert nn.module._WRITER is nn.io.save


def test_layer_of_is_one_function_re_exported():
    assert nn.containers.layer_of is layer_of


def test_layer_of_for_every_kind_of_name():
    class Net(Module):
        def __init__(self):
            self.conv = Conv2d(1, 1, 2, rng=0)
            self.blocks = [Linear(1, 1), Linear(1, 1)]
            self.head = Sequential(Layer(1, 1, rng=0), Tanh())
            self.w = [1.0]

        def forward(self, x):
            return x

    from engine import Value

    net = Net()
    net.scale = Value(2.0)
    groups = list(dict.fromkeys(layer_of(n) for n, _ in net.named_parameters()))
    assert groups == ["conv", "blocks.0", "blocks.1", "head.0", "scale"]


def test_layer_of_follows_direct_children_and_list_items():
    class Net(Module):
        def __init__(self):
            self.body = MLP(2, [2, 1], rng=0)
            self.seq = Sequential(Sequential(Linear(1, 1)), Linear(1, 1))
            self.blocks = [Layer(1, 1, rng=0), Sequential(Linear(1, 1))]

    groups = list(dict.fromkeys(layer_of(n) for n, _ in Net().named_parameters()))
    assert groups == ["body", "seq.0", "seq.1", "blocks.0", "blocks.1"]
    nested = Sequential(Sequential(Linear(1, 2)), Tanh(), Linear(2, 1))
    assert list(dict.fromkeys(layer_of(n) for n, _ in nested.named_parameters())) == \
        ["0", "2"]


def test_layer_of_agrees_with_the_training_history_groups():
    from nn.train import _layer_groups

    model = Sequential(Conv2d(1, 2, 3, rng=0), Tanh(), Linear(2, 2))
    assert [g for g, _ in _layer_groups(model)] == ["0", "2"]
    assert [g for g, _ in _layer_groups(MLP(2, [3, 1], rng=0))] == ["layers.0", "layers.1"]
