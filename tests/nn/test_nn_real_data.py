"""Issue 15's must-show: scikit-learn's real data sets, written to CSV files by the test, trained
with dagrad-train and read back with dagrad-predict in the user's own labels; fit takes the
numpy arrays as they come."""

import csv
import json

import pytest

from nn import MLP, fit
from nn.cli import predict_main, train_main

datasets = pytest.importorskip("sklearn.datasets")
np = pytest.importorskip("numpy")


def write_csv(path, name, labels=None):
    """One of scikit-learn's sets as a CSV with a header; ``labels`` renames the classes."""
    bunch = getattr(datasets, f"load_{name}")()
    target = "species" if name == "iris" else "target"
    with open(path, "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow([*map(str, bunch.feature_names), target])
        for row, t in zip(bunch.data.tolist(), bunch.target.tolist(), strict=True):
            writer.writerow([*row, labels[t] if labels else t])
    return target, bunch


def train_and_predict(tmp_path, name, argv, labels=None):
    data = tmp_path / f"{name}.csv"
    target, bunch = write_csv(data, name, labels)
    out = tmp_path / "run"
    assert train_main(["--data", str(data), "--target", target, "--out", str(out),
                       "--no-plots", "--quiet", *argv]) == 0
    metrics = json.loads((out / "metrics.json").read_text())
    predictions = tmp_path / "predictions.csv"
    assert predict_main([str(out / "model.json"), str(data), "--out", str(predictions)]) == 0
    rows = list(csv.DictReader(predictions.open()))
    assert len(rows) == len(bunch.target)
    return metrics, rows, bunch


def test_iris_csv_with_string_labels(tmp_path):
    names = ["setosa", "versicolor", "virginica"]
    # issue 15's command exactly as written: no --optimizer (the default for files is adam)
    metrics, rows, bunch = train_and_predict(tmp_path, "iris", [], names)
    assert metrics["test"]["accuracy"] >= 0.95
    assert metrics["test"]["labels"] == names
    predicted = [r["prediction"] for r in rows]
    assert set(predicted) <= set(names)
    truth = [names[t] for t in bunch.target]
    assert sum(p == t for p, t in zip(predicted, truth, strict=True)) / len(truth) >= 0.95
    assert set(rows[0]) == {"prediction", *(f"proba_{n}" for n in names)}


def test_breast_cancer_csv(tmp_path):
    metrics, rows, bunch = train_and_predict(tmp_path, "breast_cancer", ["--epochs", "60"])
    assert metrics["test"]["accuracy"] >= 0.95
    assert {r["prediction"] for r in rows} == {"0", "1"}


@pytest.mark.slow
def test_digits_csv_on_the_compiled_path(tmp_path):
    metrics, rows, bunch = train_and_predict(
        tmp_path, "digits", ["--optimizer", "adam", "--hidden", "32", "--epochs", "20",
                             "--batch-size", "32", "--backend", "compiled"])
    assert metrics["test"]["accuracy"] >= 0.95
    assert {r["prediction"] for r in rows} == {str(d) for d in range(10)}


def test_diabetes_csv_regression(tmp_path):
    metrics, rows, bunch = train_and_predict(
        tmp_path, "diabetes", ["--optimizer", "adam", "--hidden", "8", "--epochs", "60",
                               "--batch-size", "32", "--l2", "0.001"])
    assert metrics["test"]["r2"] >= 0.4
    predicted = [float(r["prediction"]) for r in rows]
    assert 25.0 < sum(predicted) / len(predicted) < 350.0  # in the target's own units


@pytest.mark.parametrize("name", ["iris", "wine", "breast_cancer", "digits", "diabetes"])
def test_fit_takes_the_numpy_arrays_as_they_come(name):
    X, y = getattr(datasets, f"load_{name}")(return_X_y=True)
    regress = name == "diabetes"
    n_out = 1 if regress else len(set(y.tolist()))
    model = MLP(X.shape[1], [8, n_out], init="he", rng=0)
    h = fit(model, X[:200], y[:200], optimizer="adam", epochs=2, standardize=True,
            verbose=False, backend="dynamic")
    assert len(h.train_loss) == 2 and model.meta["task"] == ("regress" if regress else
                                                             "classify")
    out = model.predict(X[-3:])
    assert len(out) == 3
