"""JSON model files (round trip, atomic writes, every bad-file error) and PyTorch conversion."""

import json
import os

import pytest

import nn
from engine import Value
from nn import MLP, ModelFileError, Module
from nn.io import atomic_write_text, from_json, from_torch, load, save, to_json, to_torch


def trained_like(model):
    for i, p in enumerate(model.parameters()):
        p.data = ((i * 7919) % 113) / 50.0 - 1.1  # non-zero biases, varied weights
    return model


@pytest.fixture
def model():
    return trained_like(MLP(3, [5, 4, 2], activation="tanh", output_activation="sigmoid",
                            init="xavier", rng=0))


def test_round_trip(tmp_path, model):
    path = tmp_path / "m.json"
    model.save(path)
    back = nn.load(path)
    assert type(back) is MLP and back.config() == model.config()
    assert back.state_dict() == model.state_dict()  # floats survive JSON exactly
    x = [0.3, -0.2, 1.5]
    assert [v.data for v in back(x)] == [v.data for v in model(x)]
    doc = json.loads(path.read_text())
    assert doc["format"] == "dagrad-model" and doc["version"] == 1
    assert doc["model"] == {"class": "MLP", "module": "nn.layers", "config": model.config()}
    assert not list(tmp_path.glob(".*.tmp"))


def test_save_function_and_string_paths(tmp_path, model):
    save(model, str(tmp_path / "a.json"))
    assert load(str(tmp_path / "a.json")).state_dict() == model.state_dict()


class Block(Module):
    """A user module with a nested module in its config and a buffer."""

    def __init__(self, inner, scale=2.0):
        super().__init__()
        self.inner = inner
        self.scale = scale
        self.gain = Value(scale)
        self.register_buffer("seen", [0.0, 0.0])

    def forward(self, x):
        return self.gain * self.inner(x)

    def config(self):
        return {"inner": self.inner, "scale": self.scale}


def test_user_modules_with_nested_config_and_buffers(tmp_path):
    block = Block(trained_like(MLP(2, [3, 1], rng=0)), scale=0.5)
    block.gain.data = 4.0
    block.seen = [1.5, -2.5]
    block.save(tmp_path / "b.json")
    back = load(tmp_path / "b.json")
    assert isinstance(back, Block) and isinstance(back.inner, MLP)
    assert back.state_dict() == block.state_dict() and back.seen == [1.5, -2.5]
    assert back([1.0, 2.0]).data == block([1.0, 2.0]).data


def test_failed_save_leaves_the_old_file_intact(tmp_path, model, monkeypatch):
    path = tmp_path / "m.json"
    model.save(path)
    before = path.read_bytes()
    other = MLP(3, [2], rng=1)

    def crash(fd):
        raise OSError("disk full")

    monkeypatch.setattr(os, "fsync", crash)
    with pytest.raises(OSError, match="disk full"):
        other.save(path)
    assert path.read_bytes() == before
    assert sorted(p.name for p in tmp_path.iterdir()) == ["m.json"]  # no temporary left


def test_interrupted_replace_leaves_the_old_file(tmp_path, monkeypatch):
    path = tmp_path / "h.txt"
    atomic_write_text(path, "old")

    def boom(src, dst):
        raise KeyboardInterrupt

    monkeypatch.setattr(os, "replace", boom)
    with pytest.raises(KeyboardInterrupt):
        atomic_write_text(path, "new")
    assert path.read_text() == "old" and len(list(tmp_path.iterdir())) == 1


def test_non_finite_weights_are_refused_by_name(tmp_path, model):
    model.layers[1].neurons[2].b.data = float("nan")
    with pytest.raises(ValueError, match=r"layers\.1\.neurons\.2\.b is nan"):
        model.save(tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_modules_without_config_cannot_be_saved(tmp_path):
    class NoConfig(Module):
        def __init__(self):
            self.w = Value(1.0)

    with pytest.raises(NotImplementedError, match="NoConfig does not define config"):
        NoConfig().save(tmp_path / "x.json")


# -- bad files ----------------------------------------------------------------------------


@pytest.fixture
def good_text(model):
    return to_json(model)


def write(tmp_path, text, name="bad.json"):
    path = tmp_path / name
    path.write_text(text)
    return path


def test_truncated_file(tmp_path, good_text):
    path = write(tmp_path, good_text[: len(good_text) // 2])
    with pytest.raises(ModelFileError, match=r"bad\.json: not valid JSON \(the file looks "
                                             r"truncated\)"):
        load(path)


def test_empty_and_malformed_files(tmp_path):
    with pytest.raises(ModelFileError, match="not valid JSON"):
        load(write(tmp_path, ""))
    with pytest.raises(ModelFileError, match=r"not valid JSON: .* line 1 column"):
        load(write(tmp_path, "{'format': 1}"))
    with pytest.raises(ModelFileError, match="not a dagrad model file"):
        load(write(tmp_path, "[1, 2, 3]"))
    with pytest.raises(ModelFileError, match="not a dagrad model file"):
        load(write(tmp_path, json.dumps({"format": "something-else"})))
    path = tmp_path / "binary.json"
    path.write_bytes(b"\xff\xfe\x00garbage")
    with pytest.raises(ModelFileError, match="binary.json: not a text"):
        load(path)
    with pytest.raises(FileNotFoundError, match="missing.json"):
        load(tmp_path / "missing.json")


def edit(good_text, change):
    doc = json.loads(good_text)
    change(doc)
    return json.dumps(doc)


@pytest.mark.parametrize("change,message", [
    (lambda d: d.update(version=3), "format version 3 is newer than this dagrad reads"),
    (lambda d: d.pop("version"), "format version is missing"),
    (lambda d: d.pop("state"), "no 'state' entry"),
    (lambda d: d.pop("model"), "no 'model' entry"),
    (lambda d: d.update(state=[1, 2]), "'state' is not an object"),
    (lambda d: d["model"].update({"class": "Nope", "module": "elsewhere"}),
     "unknown module class 'Nope'"),
    (lambda d: d["model"].pop("config"), "needs 'class', 'module' and 'config'"),
    (lambda d: d["model"]["config"].update(activation="swish"),
     "cannot rebuild MLP from its config.*unknown activation 'swish'"),
    (lambda d: d["model"]["config"].update(bogus=1),
     "cannot rebuild MLP from its config.*bogus"),
    (lambda d: d["state"].pop("layers.0.neurons.0.w.1"),
     r"weights do not match the MLP.*missing key\(s\): layers\.0\.neurons\.0\.w\.1"),
    (lambda d: d["state"].update(extra=1.0), r"unexpected key\(s\): extra"),
    (lambda d: d["state"].update({"layers.0.neurons.0.b": [1.0, 2.0]}),
     r"layers\.0\.neurons\.0\.b: expected a number"),
    (lambda d: d["model"]["config"].update(sizes=[5, 4, 3]),
     r"weights do not match the MLP.*missing key\(s\): layers\.2\.neurons\.2\.w\.0"),
])
def test_mismatched_files_name_the_problem(tmp_path, good_text, change, message):
    path = write(tmp_path, edit(good_text, change))
    with pytest.raises(ModelFileError, match=message) as info:
        load(path)
    assert str(path) in str(info.value)
    assert isinstance(info.value, ValueError)


def test_from_json_names_the_source():
    with pytest.raises(ModelFileError, match="<string>: not valid JSON"):
        from_json("{")


# -- PyTorch ------------------------------------------------------------------------------


@pytest.fixture
def torch():
    return pytest.importorskip("torch")


@pytest.mark.parametrize("activation,output", [("relu", None), ("tanh", "sigmoid"),
                                               ("sigmoid", "tanh"), ("linear", "relu")])
def test_to_torch_computes_the_same_function(torch, activation, output):
    model = trained_like(MLP(3, [6, 5, 2], activation=activation, output_activation=output,
                             rng=0))
    seq = to_torch(model)
    assert isinstance(seq, torch.nn.Sequential)
    assert all(p.dtype == torch.float64 for p in seq.parameters())
    kinds = [type(m).__name__ for m in seq]
    assert kinds[0] == "Linear" and kinds.count("Linear") == 3
    xs = [[0.5, -1.0, 2.0], [0.0, 0.1, -0.2], [3.0, 1.0, -1.0]]
    theirs = seq(torch.tensor(xs, dtype=torch.float64)).tolist()
    for x, row in zip(xs, theirs, strict=True):
        ours = [v.data for v in model(x)]
        assert max(abs(a - b) for a, b in zip(ours, row, strict=True)) <= 1e-12


def test_from_torch_round_trip(torch):
    torch.manual_seed(0)
    seq = torch.nn.Sequential(torch.nn.Linear(2, 4), torch.nn.Tanh(), torch.nn.Linear(4, 4),
                              torch.nn.Tanh(), torch.nn.Linear(4, 1), torch.nn.Sigmoid()).double()
    model = from_torch(seq)
    assert model.config()["sizes"] == [4, 4, 1]
    assert (model.activation, model.output_activation) == ("tanh", "sigmoid")
    x = torch.tensor([[0.25, -0.75]], dtype=torch.float64)
    assert abs(model([0.25, -0.75]).data - seq(x).item()) <= 1e-12
    again = to_torch(model)
    assert all(torch.equal(a, b) for a, b in zip(seq.parameters(), again.parameters(),
                                                  strict=True))


def test_from_torch_float32_and_no_bias(torch):
    lin = torch.nn.Linear(3, 2, bias=False)
    model = from_torch(torch.nn.Sequential(lin, torch.nn.Identity()))
    assert all(n.b.data == 0.0 for n in model.layers[0].neurons)
    assert model.output_activation == "linear"
    assert model.layers[0].neurons[1].w[2].data == lin.weight[1, 2].item()


def test_from_torch_errors(torch):
    tnn = torch.nn
    with pytest.raises(ValueError, match="takes 4 inputs but the previous layer gives 3"):
        from_torch(tnn.Sequential(tnn.Linear(2, 3), tnn.Linear(4, 1)))
    with pytest.raises(TypeError, match="the model is a Block .*no PyTorch counterpart"):
        to_torch(Block(MLP(2, [1], rng=0)))


def test_from_torch_keeps_other_stacks_as_sequential(torch):
    # Dropout, mixed or leading activations have dagrad counterparts since issue 14
    # (nn.interop): such a stack is no MLP, so it comes back as an nn.Sequential.
    tnn = torch.nn
    for seq in (tnn.Sequential(tnn.Linear(2, 3), tnn.Dropout(), tnn.Linear(3, 1)),
                tnn.Sequential(tnn.Linear(2, 3), tnn.ReLU(), tnn.Linear(3, 3), tnn.Tanh(),
                               tnn.Linear(3, 1)),
                tnn.Sequential(tnn.ReLU(), tnn.Linear(2, 1))):
        model = from_torch(seq)
        assert type(model) is nn.Sequential
        assert [type(m).__name__ for m in model] == [type(m).__name__ for m in seq]


def test_replacing_a_file_keeps_its_permissions(tmp_path, model):
    path = tmp_path / "m.json"
    model.save(path)
    os.chmod(path, 0o600)
    model.save(path)
    assert os.stat(path).st_mode & 0o777 == 0o600
