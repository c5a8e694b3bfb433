"""The training command line: a tiny run into a temporary folder, outputs, argparse errors."""

import csv
import json
import os
import re
import subprocess
import sys

import pytest

import nn
from nn.cli import predict_main
from nn.cli import train_main as main

TINY = ["--samples", "24", "--hidden", "4", "--epochs", "3", "--seed", "1"]


def test_tiny_run_writes_model_and_history(tmp_path, capsys):
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out), "--no-plots"]) == 0
    printed = capsys.readouterr().out
    assert "moons (18 train, 6 test points)" in printed and "hinge loss" in printed
    assert "epoch 3/3" in printed and "wrote" in printed
    model = nn.load(out / "model.json")
    assert model.config()["sizes"] == [4, 1] and model.num_parameters() == 17
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3] and len(history["test_acc"]) == 3
    assert history["lr"][0] == 1.0 and history["lr"][1] == pytest.approx(0.7)  # linear decay
    assert list(history["grad_norms"]) == ["layers.0", "layers.1"]
    assert sorted(p.name for p in out.iterdir()) == ["history.json", "metrics.json",
                                                      "model.json"]


def test_the_run_is_reproducible(tmp_path):
    for name in ("a", "b"):
        assert main([*TINY, "--out", str(tmp_path / name), "--no-plots", "--quiet"]) == 0
    assert (tmp_path / "a" / "model.json").read_text() == \
        (tmp_path / "b" / "model.json").read_text()


def test_quiet_and_csv_history_and_other_settings(tmp_path, capsys):
    out = tmp_path / "spirals"
    argv = ["--dataset", "spirals", "--classes", "3", "--samples", "30", "--hidden", "6", "6",
            "--activation", "tanh", "--init", "he", "--optimizer", "adam", "--lr", "0.02",
            "--schedule", "cosine", "--epochs", "2", "--batch-size", "8", "--test-size", "0",
            "--l2", "0", "--history-format", "csv", "--no-plots", "--quiet", "--out", str(out)]
    assert main(argv) == 0
    assert capsys.readouterr() == ("", "")
    rows = list(csv.DictReader((out / "history.csv").open()))
    assert [r["epoch"] for r in rows] == ["1", "2"] and rows[0]["test_loss"] == ""
    model = nn.load(out / "model.json")
    assert model.config() == {"nin": 2, "sizes": [6, 6, 3], "activation": "tanh",
                              "output_activation": "linear", "init": "he"}


@pytest.mark.parametrize("dataset", ["circles", "xor", "blobs"])
def test_every_dataset_runs(tmp_path, dataset):
    extra = ["--loss", "mse"] if dataset == "xor" else []
    assert main([*TINY, *extra, "--dataset", dataset, "--out", str(tmp_path), "--no-plots",
                 "--quiet"]) == 0
    sizes = nn.load(tmp_path / "model.json").config()["sizes"]
    assert sizes[-1] == (3 if dataset == "blobs" else 1)


def test_bce_gets_a_sigmoid_output(tmp_path):
    assert main([*TINY, "--loss", "bce", "--out", str(tmp_path), "--no-plots", "--quiet"]) == 0
    assert nn.load(tmp_path / "model.json").output_activation == "sigmoid"


def test_pictures_when_matplotlib_and_viz_are_there(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    try:
        import viz.plots  # noqa: F401
    except ImportError:
        assert main([*TINY, "--out", str(tmp_path)]) == 0
        assert "no PNGs" in capsys.readouterr().out
        return
    assert main([*TINY, "--out", str(tmp_path), "--quiet"]) == 0
    for name in ("loss.png", "decision_boundary.png"):
        assert (tmp_path / name).read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


@pytest.mark.parametrize("argv,message", [
    (["--dataset", "mnist"], "invalid choice: 'mnist'"),
    (["--epochs", "0"], "expected a positive integer, got 0"),
    (["--hidden", "4", "-2"], "expected a positive integer"),
    (["--lr", "0"], "expected a number > 0"),
    (["--lr", "fast"], "expected a number, got 'fast'"),
    (["--noise", "-1"], "expected a finite number >= 0"),
    (["--test-size", "1.5"], r"--test-size must be in \[0, 1\)"),
    (["--optimizer", "rmsprop"], "invalid choice: 'rmsprop'"),
    (["--dataset", "spirals", "--loss", "hinge"], "needs 2 classes but spirals has 3"),
    (["--samples", "4", "--test-size", "0.9"], "leaves an empty part"),
    (["--samples", "3"], "--samples must be at least 4"),
    (["--unknown"], "unrecognized arguments: --unknown"),
])
def test_wrong_arguments_exit_2_with_argparse_errors(tmp_path, capsys, argv, message):
    with pytest.raises(SystemExit) as info:
        main([*argv, "--out", str(tmp_path)])
    assert info.value.code == 2
    err = capsys.readouterr().err
    assert err.startswith("usage: dagrad-train")
    assert re.search(message, err)
    assert not (tmp_path / "model.json").exists()


def test_python_dash_m_runs_once_without_warnings(tmp_path):
    env = {**os.environ, "MPLBACKEND": "Agg"}
    proc = subprocess.run([sys.executable, "-m", "nn.train", *TINY, "--epochs", "1",
                           "--no-plots", "--out", str(tmp_path)],
                          capture_output=True, text=True, env=env, timeout=120)
    assert proc.returncode == 0, proc.stderr
    assert "Warning" not in proc.stderr
    assert proc.stdout.count("dagrad-train: moons") == 1
    assert (tmp_path / "model.json").exists()


# -- issue 15: real data, files, clear errors, outputs --------------------------------------


def run_error(argv, capsys):
    with pytest.raises(SystemExit) as info:
        main(argv)
    assert info.value.code == 2
    return capsys.readouterr().err


def test_classes_1_is_a_clear_error(tmp_path, capsys):
    err = run_error(["--dataset", "spirals", "--classes", "1", "--out", str(tmp_path)], capsys)
    assert "--classes must be at least 2" in err and "Traceback" not in err


def test_classes_with_a_two_class_set_is_refused_not_ignored(tmp_path, capsys):
    err = run_error(["--classes", "5", "--dataset", "moons", "--out", str(tmp_path)], capsys)
    assert "--classes applies to spirals and blobs only; moons has its own classes" in err


def test_help_shows_every_default(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    text = " ".join(capsys.readouterr().out.split())
    for default in ("(default: 100)", "(default: sgd", "(default: 0)", "(default: moons)",
                    "(default: runs/train)", "(default: linear)"):
        assert default in text, default


@pytest.mark.parametrize("run", [main, predict_main], ids=["dagrad-train", "dagrad-predict"])
def test_help_states_each_default_once_and_never_none(run, capsys):
    # "--batch-size ... (default: full batch) (default: None)" from ArgumentDefaultsHelpFormatter
    with pytest.raises(SystemExit):
        run(["--help"])
    out = capsys.readouterr().out
    assert "default: None" not in out
    entries = re.split(r"\n  (?=-)", out.split("options:", 1)[1])
    assert len(entries) > 3
    for entry in entries:
        assert entry.lower().count("(default") <= 1, entry


def test_output_folder_that_is_a_file_fails_before_training(tmp_path, capsys):
    blocker = tmp_path / "file"
    blocker.write_text("x")
    err = run_error([*TINY, "--out", str(blocker)], capsys)
    assert f"--out {str(blocker)!r} exists and is not a folder" in err


def test_output_folder_under_proc_fails_before_training(capsys):
    err = run_error([*TINY, "--out", "/proc/x"], capsys)
    assert "cannot create the output folder --out '/proc/x'" in err


def test_read_only_output_folder_fails_before_training(tmp_path, capsys):
    if os.geteuid() == 0:
        pytest.skip("root writes into read-only folders")
    ro = tmp_path / "ro"
    ro.mkdir()
    ro.chmod(0o500)
    try:
        err = run_error([*TINY, "--out", str(ro)], capsys)
    finally:
        ro.chmod(0o700)
    assert "cannot write into the output folder" in err


def test_ctrl_c_saves_the_model_trained_so_far(tmp_path, monkeypatch, capsys):
    import nn.cli

    real_fit = nn.cli.fit

    def interrupted_fit(*args, **kwargs):
        def stop(epoch, history):
            if epoch == 2:
                raise KeyboardInterrupt

        return real_fit(*args, callback=stop, **kwargs)

    monkeypatch.setattr(nn.cli, "fit", interrupted_fit)
    out = tmp_path / "run"
    assert main([*TINY, "--epochs", "5", "--out", str(out), "--no-plots"]) == 130
    printed = capsys.readouterr().out
    assert "interrupted after epoch 2: saved the model trained so far" in printed
    history = json.loads((out / "history.json").read_text())
    assert history["epoch"] == [1, 2] and history["stop_reason"] == "interrupted"
    assert nn.load(out / "model.json").num_parameters() == 17


def write_rows(path, rows, header=None, delimiter=","):
    with open(path, "w", newline="") as f:
        w = csv.writer(f, delimiter=delimiter)
        if header:
            w.writerow(header)
        w.writerows(rows)


def labelled_rows(n=60):
    X, y = nn.make_blobs(n, centers=[[-2.0, 0.0], [2.0, 0.0], [0.0, 3.0]], cluster_std=0.5)
    names = ["red", "green", "blue"]
    return [[*x, names[t]] for x, t in zip(X, y, strict=True)], [names[t] for t in y]


def test_csv_with_a_header_and_the_target_by_name(tmp_path, capsys):
    rows, labels = labelled_rows()
    data = tmp_path / "d.csv"
    write_rows(data, [[r[2], r[0], r[1]] for r in rows], header=["colour", "x", "y"],
               delimiter=";")
    out = tmp_path / "run"
    assert main(["--data", str(data), "--target", "colour", "--out", str(out), "--no-plots",
                 "--optimizer", "adam", "--epochs", "40"]) == 0
    printed = capsys.readouterr().out
    assert "d.csv (45 train, 15 test points), MLP 2 -> [16, 16, 3]" in printed
    model = nn.load(out / "model.json")
    assert model.meta["classes"] == ["blue", "green", "red"]
    assert model.meta["features"] == ["x", "y"] and model.meta["target"] == "colour"
    mean, scale = model.meta["scaler"]["mean"], model.meta["scaler"]["scale"]
    assert len(mean) == len(scale) == 2 and -2.0 < mean[0] < 2.0 and 0.0 < mean[1] < 3.0
    raw = [r[:2] for r in rows]
    scaled = [[(v - m) / s for v, m, s in zip(x, mean, scale, strict=True)] for x in raw]
    names = model.meta["classes"]
    outputs = [[v.data for v in model(x)] for x in scaled]
    by_hand = [names[o.index(max(o))] for o in outputs]
    assert model.predict(raw) == by_hand  # the saved scaling is applied on prediction
    metrics = json.loads((out / "metrics.json").read_text())
    test_labels = metrics["test"]["per_class"]
    assert sorted(test_labels) == ["blue", "green", "red"]
    assert [test_labels[c]["support"] for c in ("blue", "green", "red")] == [5, 5, 5]  # stratified
    assert metrics["test"]["accuracy"] >= 0.9


def test_csv_without_header_target_by_index_and_predict(tmp_path, capsys):
    rows, labels = labelled_rows()
    data = tmp_path / "d.csv"
    write_rows(data, rows)
    out = tmp_path / "run"
    assert main(["--data", str(data), "--target", "-1", "--out", str(out), "--no-plots",
                 "--quiet", "--optimizer", "adam", "--epochs", "40"]) == 0
    features_only = tmp_path / "f.csv"
    write_rows(features_only, [r[:2] for r in rows])
    for source in (data, features_only):
        assert predict_main([str(out / "model.json"), str(source), "--no-proba"]) == 0
        lines = capsys.readouterr().out.splitlines()
        assert lines[0] == "prediction" and len(lines) == 61
        assert sum(a == b for a, b in zip(lines[1:], labels, strict=True)) >= 54


def test_npy_and_npz_files(tmp_path):
    np = pytest.importorskip("numpy")
    X, y = nn.make_moons(40, noise=0.1)
    np.save(tmp_path / "d.npy", np.column_stack([np.array(X), np.array(y)]))
    np.savez(tmp_path / "d.npz", X=np.array(X), y=np.array(y))
    for name in ("d.npy", "d.npz"):
        out = tmp_path / name.replace(".", "_")
        assert main(["--data", str(tmp_path / name), "--out", str(out), "--no-plots", "--quiet",
                     "--epochs", "3"]) == 0
        assert nn.load(out / "model.json").meta["classes"] == [0, 1]


def test_task_inferred_and_overridden(tmp_path, capsys):
    data = tmp_path / "r.csv"
    write_rows(data, [[i / 10, (i / 10) ** 2 + 0.5] for i in range(40)], header=["x", "y"])
    assert main(["--data", str(data), "--target", "y", "--out", str(tmp_path / "a"),
                 "--no-plots", "--epochs", "3"]) == 0
    assert "mse loss" in capsys.readouterr().out
    assert nn.load(tmp_path / "a" / "model.json").meta["task"] == "regress"
    ints = tmp_path / "i.csv"
    write_rows(ints, [[i / 10, i % 3] for i in range(40)], header=["x", "k"])
    assert main(["--data", str(ints), "--target", "k", "--task", "regress",
                 "--out", str(tmp_path / "b"), "--no-plots", "--quiet", "--epochs", "3"]) == 0
    assert nn.load(tmp_path / "b" / "model.json").meta["task"] == "regress"
    err = run_error(["--data", str(ints), "--target", "k", "--loss", "hinge",
                     "--out", str(tmp_path / "c")], capsys)
    assert "--loss hinge needs 2 classes but i.csv has 3" in err


@pytest.mark.parametrize("content,target,message", [
    ("a,b\n1,2\n3\n", "b", "line 3 has 1 cells but the header has 2"),
    ("a,b,c\n1,red,0\n2,blue,1\n", "c", "line 2, column 'b' is 'red', not a finite number"),
    ("a,b\n1,2\n,3\n", "b", "line 3, column 'a' is empty"),
    ("a,b\n1,2\n", "z", "no column named 'z'; its columns are a, b"),
    ("", None, "the file holds no rows"),
])
def test_bad_csv_files_get_clear_errors(tmp_path, capsys, content, target, message):
    data = tmp_path / "bad.csv"
    data.write_text(content)
    argv = ["--data", str(data), "--out", str(tmp_path / "o")]
    err = run_error(argv + (["--target", target] if target else []), capsys)
    assert message in err


def test_sklearn_dataset_by_name_or_a_one_line_message(tmp_path, monkeypatch, capsys):
    pytest.importorskip("sklearn")
    assert main(["--dataset", "iris", "--optimizer", "adam", "--epochs", "30", "--no-plots",
                 "--quiet", "--out", str(tmp_path / "iris")]) == 0
    assert nn.load(tmp_path / "iris" / "model.json").meta["classes"] == [
        "setosa", "versicolor", "virginica"]
    import builtins

    real_import = builtins.__import__

    def no_sklearn(name, *args, **kwargs):
        if name.startswith("sklearn"):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_sklearn)
    err = run_error(["--dataset", "wine", "--out", str(tmp_path / "w")], capsys)
    assert "the wine data set comes with scikit-learn: pip install 'dagrad[datasets]'" in err


def test_metrics_json_and_confusion_matrix_png(tmp_path):
    pytest.importorskip("matplotlib")
    out = tmp_path / "run"
    assert main([*TINY, "--samples", "40", "--out", str(out), "--quiet"]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    assert metrics["test"]["task"] == "classify" and len(metrics["test"]["confusion_matrix"]) == 2
    assert sum(map(sum, metrics["test"]["confusion_matrix"])) == 10
    assert (out / "confusion_matrix.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_dagrad_predict_errors(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        predict_main([str(tmp_path / "missing.json"), str(tmp_path / "x.csv")])
    assert info.value.code == 2
    assert "cannot load the model" in capsys.readouterr().err


def test_class_weight_names_a_label_or_fails_clearly(tmp_path, capsys):
    assert main([*TINY, "--loss", "bce_logits", "--class-weight", "0=1,1=3", "--no-plots",
                 "--quiet", "--out", str(tmp_path / "ok")]) == 0
    err = run_error([*TINY, "--loss", "bce_logits", "--class-weight", "7=2",
                     "--out", str(tmp_path / "bad")], capsys)
    assert "--class-weight names '7', which is not a label of the data (0, 1)" in err
    err = run_error([*TINY, "--class-weight", "heavy", "--out", str(tmp_path / "bad")], capsys)
    assert "expected 'balanced' or label=weight pairs" in err


def test_an_error_mid_training_still_saves_the_model(tmp_path, monkeypatch, capsys):
    import nn.cli

    real_fit = nn.cli.fit

    def failing_fit(*args, **kwargs):
        def fail(epoch, history):
            if epoch == 2:
                raise ValueError("the loss went to nan")

        return real_fit(*args, callback=fail, **kwargs)

    monkeypatch.setattr(nn.cli, "fit", failing_fit)
    out = tmp_path / "run"
    assert main([*TINY, "--out", str(out), "--no-plots"]) == 1
    assert "error after epoch 2: the loss went to nan; saved the model" in capsys.readouterr().err
    assert json.loads((out / "history.json").read_text())["epoch"] == [1, 2]
    assert nn.load(out / "model.json").num_parameters() == 17


def test_console_scripts_point_at_the_command_lines():
    import importlib
    import tomllib
    from pathlib import Path

    pyproject = Path(__file__).resolve().parents[2] / "pyproject.toml"
    scripts = tomllib.loads(pyproject.read_text())["project"]["scripts"]
    assert scripts["dagrad-train"] == "nn.cli:train_main"
    assert scripts["dagrad-predict"] == "nn.cli:predict_main"
    for target in scripts.values():
        module, _, name = target.partition(":")
        assert callable(getattr(importlib.import_module(module), name))
