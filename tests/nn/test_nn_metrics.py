"""nn.metrics against scikit-learn's definitions, and nn.evaluate / predict on trained models."""

import random

import pytest

import nn
from nn import MLP, fit
from nn.metrics import (
    accuracy_score,
    classification_metrics,
    confusion_matrix,
    mean_absolute_error,
    mean_squared_error,
    precision_recall_fscore_support,
    r2_score,
)

skm = pytest.importorskip("sklearn.metrics")


def random_labels(seed, n=60, labels=("a", "b", "c", "d")):
    rng = random.Random(seed)
    return [rng.choice(labels) for _ in range(n)], [rng.choice(labels[:3]) for _ in range(n)]


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_classification_metrics_equal_scikit_learns(seed):
    y_true, y_pred = random_labels(seed)  # "d" is never predicted: zero division
    labels = sorted(set(y_true) | set(y_pred))
    assert accuracy_score(y_true, y_pred) == skm.accuracy_score(y_true, y_pred)
    assert confusion_matrix(y_true, y_pred) == skm.confusion_matrix(y_true, y_pred).tolist()
    ours = precision_recall_fscore_support(y_true, y_pred)
    theirs = skm.precision_recall_fscore_support(y_true, y_pred, labels=labels,
                                                 zero_division=0)
    for a, b in zip(ours, theirs, strict=True):
        assert a == pytest.approx(b.tolist(), abs=1e-15)
    report = classification_metrics(y_true, y_pred)
    want = skm.classification_report(y_true, y_pred, output_dict=True, zero_division=0)
    for label in labels:
        for key in ("precision", "recall", "f1-score", "support"):
            assert report["per_class"][label][key] == pytest.approx(want[label][key])
    for avg in ("macro avg", "weighted avg"):
        for key in ("precision", "recall", "f1-score"):
            assert report[avg][key] == pytest.approx(want[avg][key])


def test_regression_metrics_equal_scikit_learns():
    rng = random.Random(3)
    t = [rng.gauss(0, 2) for _ in range(50)]
    p = [v + rng.gauss(0, 1) for v in t]
    assert mean_squared_error(t, p) == pytest.approx(skm.mean_squared_error(t, p), rel=1e-13)
    assert mean_absolute_error(t, p) == pytest.approx(skm.mean_absolute_error(t, p), rel=1e-13)
    assert r2_score(t, p) == pytest.approx(skm.r2_score(t, p), rel=1e-13)
    T = [[a, 2 * a] for a in t]
    P = [[b, 2 * a + 1] for a, b in zip(t, p, strict=True)]
    for ours, theirs in ((mean_squared_error, skm.mean_squared_error),
                         (mean_absolute_error, skm.mean_absolute_error),
                         (r2_score, skm.r2_score)):
        assert ours(T, P) == pytest.approx(theirs(T, P), rel=1e-13)
    assert r2_score([1.0, 1.0], [1.0, 1.0]) == skm.r2_score([1.0, 1.0], [1.0, 1.0]) == 1.0
    assert r2_score([1.0, 1.0], [1.0, 2.0]) == skm.r2_score([1.0, 1.0], [1.0, 2.0]) == 0.0


def test_evaluate_a_classifier_in_its_labels_and_eval_mode():
    np = pytest.importorskip("numpy")
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_iris(return_X_y=True)
    names = np.array(["setosa", "versicolor", "virginica"])[y]
    model = MLP(4, [16, 3], rng=0)
    fit(model, X, names, optimizer="adam", lr=0.05, epochs=30, standardize=True,
        verbose=False)
    report = nn.evaluate(model, X, names)
    predicted = model.predict(X)
    assert report["task"] == "classify"
    assert report["accuracy"] == skm.accuracy_score(names, predicted)
    assert report["confusion_matrix"] == skm.confusion_matrix(names, predicted).tolist()
    assert report["labels"] == ["setosa", "versicolor", "virginica"]
    assert model.training  # evaluate and predict put the mode back
    model.eval()
    nn.evaluate(model, X, names)
    assert not model.training


def test_evaluate_a_regressor():
    datasets = pytest.importorskip("sklearn.datasets")
    X, y = datasets.load_diabetes(return_X_y=True)
    model = MLP(10, [8, 1], rng=0)
    fit(model, X[:300], y[:300], optimizer="adam", lr=0.01, epochs=30, standardize=True,
        verbose=False)
    report = nn.evaluate(model, X[300:], y[300:])
    predicted = model.predict(X[300:])
    assert report["task"] == "regress" and set(report) >= {"mse", "mae", "r2"}
    assert report["r2"] == pytest.approx(skm.r2_score(y[300:], predicted), rel=1e-12)
    assert report["mse"] == pytest.approx(skm.mean_squared_error(y[300:], predicted), rel=1e-12)
    assert report["mae"] == pytest.approx(skm.mean_absolute_error(y[300:], predicted), rel=1e-12)


def test_predict_proba_refuses_losses_without_probabilities():
    X, y = nn.make_moons(30, noise=0.1)
    model = MLP(2, [4, 1], rng=0)
    fit(model, X, y, loss="hinge", epochs=2, verbose=False)
    assert set(model.predict(X)) <= {0, 1}
    with pytest.raises(ValueError, match="loss 'hinge' gives no probabilities"):
        model.predict_proba(X)
    model = MLP(2, [4, 1], rng=0)
    fit(model, X, [0.5 * v for v in range(30)], epochs=1, verbose=False)
    with pytest.raises(ValueError, match="the model is a regressor"):
        model.predict_proba(X)


def test_predictions_survive_save_and_load(tmp_path):
    X, y = nn.make_moons(30, noise=0.1)
    labels = ["left" if t else "right" for t in y]
    model = MLP(2, [6, 1], rng=0)
    fit(model, X, labels, optimizer="adam", lr=0.05, epochs=20, standardize=True,
        verbose=False)
    model.save(tmp_path / "m.json")
    loaded = nn.load(tmp_path / "m.json")
    if not getattr(loaded, "meta", None):
        pytest.skip("model files do not hold meta yet (C3 storage)")
    assert loaded.meta == model.meta
    assert loaded.predict(X) == model.predict(X)
    assert loaded.predict_proba(X) == model.predict_proba(X)
