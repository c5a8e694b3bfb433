"""Model files under attack (issue 16) and their new content: tied weights (issue 20),
``meta`` (contract C3), deep models, and the atomic writer (contract C2)."""

import json
import os
import subprocess
import sys
import time

import pytest

import nn
from engine import Value
from nn import MLP, Linear, ModelFileError, Sequential, Tanh
from nn.io import VERSION, atomic_write, atomic_write_text, from_json, load, save, to_json


def mlp_text(**config):
    model = MLP(2, [3, 1], rng=0)
    doc = json.loads(to_json(model))
    doc["model"]["config"].update(config)
    return doc


def write(tmp_path, doc, name="bad.json"):
    path = tmp_path / name
    path.write_text(doc if isinstance(doc, str) else json.dumps(doc))
    return path


def deep_sequential(depth):
    model = Linear(1, 1)
    for _ in range(depth):
        model = Sequential(model)
    return model


# -- malformed files --------------------------------------------------------------------------


def test_sequential_without_modules(tmp_path):
    doc = {"format": "dagrad-model", "version": 1,
           "model": {"class": "Sequential", "module": "nn.containers", "config": {}},
           "state": {}}
    with pytest.raises(ModelFileError, match=r"bad\.json: cannot rebuild Sequential .*no "
                                             r"'modules'"):
        load(write(tmp_path, doc))


def test_weight_written_as_the_integer_10_to_the_400(tmp_path):
    text = to_json(MLP(1, [1], rng=0)).replace('"layers.0.neurons.0.b": 0.0',
                                                 '"layers.0.neurons.0.b": 1' + "0" * 400)
    with pytest.raises(ModelFileError, match=r"out-of-range weight\(s\): "
                                             r"layers\.0\.neurons\.0\.b is 1000000000000\.\.\."):
        load(write(tmp_path, text))


@pytest.mark.parametrize("token", ["NaN", "Infinity", "-Infinity"])
def test_non_finite_json_constants_are_refused(tmp_path, token):
    text = to_json(MLP(1, [1], rng=0)).replace('"layers.0.neurons.0.b": 0.0',
                                                 f'"layers.0.neurons.0.b": {token}')
    with pytest.raises(ModelFileError, match=f"non-finite number {token}"):
        load(write(tmp_path, text))


def test_1e999_weight_is_refused(tmp_path):
    text = to_json(MLP(1, [1], rng=0)).replace('"layers.0.neurons.0.b": 0.0',
                                                 '"layers.0.neurons.0.b": 1e999')
    with pytest.raises(ModelFileError, match=r"non-finite .*layers\.0\.neurons\.0\.b is inf"):
        load(write(tmp_path, text))


def test_non_finite_config_number_is_refused(tmp_path):
    text = to_json(nn.LayerNorm(2)).replace('"eps": 1e-05', '"eps": 1e999')
    assert "1e999" in text
    with pytest.raises(ModelFileError, match="a config holds the non-finite number inf"):
        load(write(tmp_path, text))


def test_non_finite_buffer_is_refused(tmp_path):
    model = nn.BatchNorm1d(2)
    doc = json.loads(to_json(model))
    text = json.dumps(doc).replace('"running_var": [1.0, 1.0]', '"running_var": [1.0, 1e999]')
    with pytest.raises(ModelFileError, match="running_var is inf"):
        load(write(tmp_path, text))


@pytest.mark.parametrize("version", [0, -7])
def test_versions_0_and_minus_7_are_refused(tmp_path, version):
    doc = mlp_text()
    doc["version"] = version
    with pytest.raises(ModelFileError, match=f"format version {version} does not exist"):
        load(write(tmp_path, doc))


def test_deeply_nested_json(tmp_path):
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load(write(tmp_path, "[" * 100_000 + "]" * 100_000))


def test_600_nested_sequentials_in_a_version_1_file(tmp_path):
    head = ('{"class": "Sequential", "module": "nn.containers", "config": '
            '{"modules": [{"__module__": ')
    leaf = ('{"class": "Linear", "module": "nn.layers", "config": '
            '{"in_features": 1, "out_features": 1}}')
    spec = head * 600 + leaf + "}]}}" * 600
    doc = '{"format": "dagrad-model", "version": 1, "state": {}, "model": ' + spec + "}"
    with pytest.raises(ModelFileError, match="nested too deeply"):
        load(write(tmp_path, doc))


def test_600_nested_sequentials_saved_by_dagrad_load(tmp_path):
    model = deep_sequential(600)
    model.save(tmp_path / "deep.json")
    back = load(tmp_path / "deep.json")
    assert back.state_dict() == model.state_dict() and len(back.modules()) == 601


def test_152_byte_file_declaring_a_huge_mlp_fails_fast(tmp_path):
    doc = {"format": "dagrad-model", "version": 1,
           "model": {"class": "MLP", "module": "nn.layers",
                     "config": {"nin": 100000, "sizes": [100000, 1]}}, "state": {}}
    path = write(tmp_path, json.dumps(doc, separators=(",", ":")))
    assert path.stat().st_size < 160
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="declares 10000200001 weights but the file "
                                             "holds 0") as info:
        load(path)
    assert time.perf_counter() - start < 1.0
    assert len(str(info.value)) < 300


@pytest.mark.parametrize("spec", [
    {"class": "Linear", "module": "nn.layers",
     "config": {"in_features": 100000, "out_features": 100000}},
    {"class": "Conv2d", "module": "nn.conv",
     "config": {"in_channels": 1000, "out_channels": 1000, "kernel_size": [9, 9]}},
    {"class": "LSTM", "module": "nn.rnn", "config": {"input_size": 10**5, "hidden_size": 10**5}},
    {"class": "LayerNorm", "module": "nn.norm", "config": {"normalized_shape": [10**5, 10**5]}},
    {"class": "Layer", "module": "nn.layers", "config": {"nin": 10**6, "nout": 10**6}},
])
def test_tiny_files_declaring_huge_layers_fail_fast(tmp_path, spec):
    doc = {"format": "dagrad-model", "version": 2, "model": {
        "class": "Sequential", "module": "nn.containers",
        "config": {"modules": [{"__module__": 0}]}}, "modules": [spec], "state": {"a": 1.0}}
    start = time.perf_counter()
    with pytest.raises(ModelFileError, match="declares .* weights but the file holds 1$"):
        load(write(tmp_path, doc))
    assert time.perf_counter() - start < 1.0


def test_mismatch_messages_stay_short(tmp_path):
    doc = mlp_text(nin=1000, sizes=[1000, 1])  # 1,002,001 declared, 13 present
    with pytest.raises(ModelFileError, match="declares 1002001 weights") as info:
        load(write(tmp_path, doc))
    assert len(str(info.value)) < 300
    doc = mlp_text(nin=300, sizes=[200, 1])  # small enough to build: names the first keys
    with pytest.raises(ModelFileError, match=r"missing key\(s\): .*and \d+ more") as info:
        load(write(tmp_path, doc))
    assert len(str(info.value)) < 1000


def test_bad_module_table_entries(tmp_path):
    model = Sequential(Linear(1, 1), Tanh())
    doc = json.loads(to_json(model))
    assert doc["version"] == 2
    doc["model"]["config"]["modules"][0] = {"__module__": 5}
    with pytest.raises(ModelFileError, match="refers to module 5, which is not an earlier"):
        load(write(tmp_path, doc))
    doc["modules"] = {"a": 1}
    with pytest.raises(ModelFileError, match="'modules' is not a list"):
        load(write(tmp_path, doc))


# -- saving ---------------------------------------------------------------------------------


def test_save_to_a_missing_folder_names_the_target(tmp_path):
    target = tmp_path / "nope" / "m.json"
    with pytest.raises(FileNotFoundError) as info:
        MLP(1, [1], rng=0).save(target)
    assert str(target) in str(info.value) and ".tmp" not in str(info.value)


def test_save_into_an_unwritable_folder_names_the_target():
    with pytest.raises(OSError) as info:
        MLP(1, [1], rng=0).save("/proc/m.json")
    assert "/proc/m.json" in str(info.value) and ".tmp" not in str(info.value)


def test_save_under_a_file_names_the_target(tmp_path):
    (tmp_path / "afile").write_text("x")
    with pytest.raises(OSError, match="afile") as info:
        MLP(1, [1], rng=0).save(tmp_path / "afile" / "m.json")
    assert ".tmp" not in str(info.value)


def test_save_empty_path():
    with pytest.raises(ValueError, match="the path is empty"):
        save(MLP(1, [1], rng=0), "")
    with pytest.raises(ValueError, match="the path is empty"):
        MLP(1, [1], rng=0).save("")


def test_save_over_a_folder(tmp_path):
    with pytest.raises(IsADirectoryError):
        MLP(1, [1], rng=0).save(tmp_path)


def test_killed_save_leaves_no_orphan_for_good(tmp_path):
    """A process killed mid-save leaves its temporary file; the next save removes it."""
    script = (
        "import os, sys\n"
        "import nn.io\n"
        "def stop(fd): os._exit(9)\n"  # the process dies after writing, before the rename
        "os.fsync = stop\n"
        "nn.MLP(1, [1], rng=0).save(sys.argv[1])\n"
    )
    path = tmp_path / "m.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)}
    done = subprocess.run([sys.executable, "-c", script, str(path)], env=env)
    assert done.returncode == 9
    orphans = [p.name for p in tmp_path.iterdir()]
    assert len(orphans) == 1 and orphans[0].startswith(".m.json.") and not path.exists()
    MLP(1, [1], rng=0).save(path)
    assert [p.name for p in tmp_path.iterdir()] == ["m.json"]


def test_old_style_orphans_are_removed_after_an_hour(tmp_path):
    old = tmp_path / ".m.json.k2j4h5g6.tmp"
    fresh = tmp_path / ".m.json.a1b2c3d4.tmp"
    old.write_text("left by an earlier dagrad")
    fresh.write_text("maybe being written")
    os.utime(old, (time.time() - 7200, time.time() - 7200))
    MLP(1, [1], rng=0).save(tmp_path / "m.json")
    assert not old.exists() and fresh.exists()


def test_temporary_files_of_live_writers_are_kept(tmp_path):
    live = tmp_path / f".m.json.{os.getppid()}.abc123.tmp"
    live.write_text("someone else is writing")
    other = tmp_path / ".other.json.1.abc.tmp"
    other.write_text("not ours")
    MLP(1, [1], rng=0).save(tmp_path / "m.json")
    assert live.exists() and other.exists()


def test_400_deep_sequential_saves_and_loads(tmp_path):
    model = deep_sequential(400)
    model.save(tmp_path / "deep.json")
    back = load(tmp_path / "deep.json")
    assert type(back) is Sequential and back.state_dict() == model.state_dict()


def test_atomic_write_str_and_bytes(tmp_path):
    path = tmp_path / "f.bin"
    atomic_write(path, b"\x00\xff")
    assert path.read_bytes() == b"\x00\xff"
    atomic_write(path, "h\u00e9")
    assert path.read_bytes() == "h\u00e9".encode()
    assert atomic_write_text is atomic_write
    with pytest.raises(TypeError, match="str or bytes"):
        atomic_write(path, 3)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["f.bin"]


def test_atomic_write_fsyncs_before_the_rename(tmp_path, monkeypatch):
    calls = []
    real_fsync, real_replace = os.fsync, os.replace
    monkeypatch.setattr(os, "fsync", lambda fd: (calls.append("fsync"), real_fsync(fd)))
    monkeypatch.setattr(os, "replace", lambda a, b: (calls.append("replace"),
                                                     real_replace(a, b)))
    atomic_write(tmp_path / "x", "data")
    assert calls[:2] == ["fsync", "replace"]


# -- tied weights (issue 20) ----------------------------------------------------------------


def test_layer_used_twice_round_trips_tied(tmp_path):
    lin = Linear(2, 2, rng=0) if "rng" in Linear.__init__.__code__.co_varnames else Linear(2, 2)
    model = Sequential(lin, Tanh(), lin)
    path = tmp_path / "tied.json"
    model.save(path)
    back = nn.load(path)
    assert back[0] is back[2]
    assert back.state_dict() == model.state_dict()
    assert back.num_parameters() == 6
    x = [0.3, -0.7]
    assert [v.data for v in back(x)] == [v.data for v in model(x)]


def test_tied_state_dict_keeps_both_keys_as_torch():
    torch = pytest.importorskip("torch")
    tlin = torch.nn.Linear(2, 2, dtype=torch.float64)
    tkeys = list(torch.nn.Sequential(tlin, torch.nn.Tanh(), tlin).state_dict())
    assert tkeys == ["0.weight", "0.bias", "2.weight", "2.bias"]
    lin = Linear(2, 2)
    keys = list(Sequential(lin, Tanh(), lin).state_dict())
    prefixes = list(dict.fromkeys(k.rsplit(".", 2)[0] if k.count(".") > 2 else
                                  k.rsplit(".", 1)[0] for k in keys))
    assert prefixes == tkeys


def test_weight_assigned_from_another_layer_round_trips_tied(tmp_path):
    a, b = Linear(2, 2), Linear(2, 2)
    b.weight = a.weight
    model = Sequential(a, Tanh(), b)
    assert nn.io.tied_names(model)["2.weight.0.0"] == "0.weight.0.0"
    path = tmp_path / "tied.json"
    model.save(path)
    back = nn.load(path)
    assert all(w is v for row, row0 in zip(back[2].weight, back[0].weight, strict=True)
               for w, v in zip(row, row0, strict=True))
    assert back[2].bias[0] is not back[0].bias[0]
    assert back.num_parameters() == model.num_parameters() == 8  # 4 tied weights once
    assert back.state_dict() == model.state_dict()
    opt = nn.SGD(back, lr=0.1)
    out = back([1.0, 2.0])
    (out[0] + out[1]).backward()
    opt.step()
    assert back[2].weight[0][0].data == back[0].weight[0][0].data


def test_file_whose_tied_weights_disagree(tmp_path):
    lin = Linear(1, 1)
    doc = json.loads(to_json(Sequential(lin, Tanh(), lin)))
    doc["state"]["2.bias.0"] = 5.0
    with pytest.raises(ModelFileError, match="tied weights 2.bias.0 and 0.bias.0 hold "
                                             "different values"):
        load(write(tmp_path, doc))


def test_tie_in_a_tuple_is_refused_at_save_time(tmp_path):
    class TupleTied(nn.Module):
        def __init__(self):
            self.w = Value(1.0)
            self.ws = (Value(2.0),)

        def config(self):
            return {}

    m = TupleTied()
    m.ws = (m.w,)
    with pytest.raises(ValueError, match="tied weight ws.0 cannot be restored"):
        m.save(tmp_path / "p.json")
    assert not (tmp_path / "p.json").exists()


# -- meta (contract C3) -----------------------------------------------------------------------


def test_meta_round_trips_and_is_not_state(tmp_path):
    model = MLP(2, [2], rng=0)
    assert model.meta == {} and MLP(2, [2], rng=0).meta is not model.meta
    model.meta["classes"] = ["cat", "dog"]
    model.meta.update(task="classify", scaler={"mean": [0.5, 1.0], "scale": [2.0, 3.0]})
    assert "meta" not in " ".join(model.state_dict())
    model.save(tmp_path / "m.json")
    assert json.loads((tmp_path / "m.json").read_text())["meta"]["classes"] == ["cat", "dog"]
    back = load(tmp_path / "m.json")
    assert back.meta == model.meta


def test_files_without_meta_load_with_an_empty_dict(tmp_path):
    doc = mlp_text()
    assert "meta" not in doc
    assert load(write(tmp_path, doc)).meta == {}
    doc["meta"] = [1]
    with pytest.raises(ModelFileError, match="'meta' is not an object"):
        load(write(tmp_path, doc))


@pytest.mark.parametrize("bad", [{"x": {1, 2}}, {"x": float("nan")}, {1: "int key"},
                                 {"f": print}])
def test_meta_that_is_not_json_is_refused_at_save_time(tmp_path, bad):
    model = MLP(1, [1], rng=0)
    model.meta = bad if not isinstance(next(iter(bad)), int) else bad
    if 1 in bad:  # json turns int keys into strings: we accept what json.dumps accepts
        model.save(tmp_path / "m.json")
        assert load(tmp_path / "m.json").meta == {"1": "int key"}
        return
    with pytest.raises(ValueError, match="model.meta must be JSON-serialisable"):
        model.save(tmp_path / "m.json")
    assert not (tmp_path / "m.json").exists()


def test_meta_must_be_a_dict():
    with pytest.raises(TypeError, match="meta must be a dict"):
        MLP(1, [1], rng=0).meta = [1]


def test_version_written_is_the_lowest_that_reads_the_file():
    assert json.loads(to_json(MLP(1, [1], rng=0)))["version"] == 1
    assert json.loads(to_json(Sequential(Linear(1, 1))))["version"] == 2 == VERSION
    model = Sequential(Linear(1, 1))
    assert from_json(to_json(model)).state_dict() == model.state_dict()


def test_tie_between_module_attributes_in_a_version_1_file(tmp_path):
    model = MLP(2, [2, 2], rng=0)
    model.layers[1].neurons[0].b = model.layers[0].neurons[1].b
    model.layers[1].neurons[1].w[0] = model.layers[0].neurons[0].w[1]
    doc = json.loads(to_json(model))
    assert doc["version"] == 1 and doc["ties"] == {
        "layers.1.neurons.0.b": "layers.0.neurons.1.b",
        "layers.1.neurons.1.w.0": "layers.0.neurons.0.w.1"}
    model.save(tmp_path / "m.json")
    back = load(tmp_path / "m.json")
    assert back.layers[1].neurons[0].b is back.layers[0].neurons[1].b
    assert back.layers[1].neurons[1].w[0] is back.layers[0].neurons[0].w[1]
    assert back.num_parameters() == model.num_parameters() == 10
