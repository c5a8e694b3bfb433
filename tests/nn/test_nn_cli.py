"""The training command line: a tiny run into a temporary folder, outputs, argparse errors."""

import csv
import json
import os
import re
import subprocess
import sys

import pytest

import nn
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
