"""Metrics with scikit-learn's names and definitions, and ``evaluate`` for a trained model.

Classification (labels of any kind: ints, bools, strings):

* :func:`accuracy_score`: the fraction of exact matches;
* :func:`confusion_matrix`: ``C[i][j]`` counts samples of true class
  ``labels[i]`` predicted as ``labels[j]`` (rows true, columns predicted);
* :func:`precision_recall_fscore_support`: per class, precision
  ``tp / (tp + fp)``, recall ``tp / (tp + fn)``, F1 their harmonic mean and
  the support (true count); a zero denominator gives 0.0, as scikit-learn's
  ``zero_division`` default does (without its warning).

Regression (one or several outputs; several are averaged uniformly, as
scikit-learn's ``multioutput="uniform_average"``):

* :func:`mean_squared_error`, :func:`mean_absolute_error`;
* :func:`r2_score`: ``1 - SS_res / SS_tot``; a constant target gives 1.0
  for a perfect prediction and 0.0 otherwise (scikit-learn's ``force_finite``).

:func:`evaluate` runs a model on ``(X, y)`` in evaluation mode (see
:mod:`nn.predict`) and returns a JSON-able dict of the metrics for its task.

>>> y_true, y_pred = ["cat", "dog", "dog", "cat"], ["cat", "dog", "cat", "cat"]
>>> accuracy_score(y_true, y_pred), confusion_matrix(y_true, y_pred)
(0.75, [[2, 0], [1, 1]])
>>> round(r2_score([1.0, 2.0, 3.0], [1.0, 2.0, 4.0]), 6)
0.5
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from nn.arrays import as_targets, find_classes
from nn.predict import describe, predict

__all__ = ["accuracy_score", "classification_metrics", "confusion_matrix", "evaluate",
           "mean_absolute_error", "mean_squared_error", "precision_recall_fscore_support",
           "r2_score", "regression_metrics"]


def _pair(y_true: Sequence[Any], y_pred: Sequence[Any], where: str) -> tuple[list, list]:
    y_true, y_pred = list(y_true), list(y_pred)
    if len(y_true) != len(y_pred):
        raise ValueError(f"{where}: {len(y_true)} true values but {len(y_pred)} predictions")
    if not y_true:
        raise ValueError(f"{where}: no samples")
    return y_true, y_pred


def accuracy_score(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """The fraction of samples whose prediction equals the true label.

    >>> accuracy_score([0, 1, 1], [0, 1, 0])
    0.6666666666666666
    """
    y_true, y_pred = _pair(y_true, y_pred, "accuracy_score")
    return sum(t == p for t, p in zip(y_true, y_pred, strict=True)) / len(y_true)


def confusion_matrix(y_true: Sequence[Any], y_pred: Sequence[Any],
                     labels: Sequence[Any] | None = None) -> list[list[int]]:
    """Counts ``C[i][j]`` of true ``labels[i]`` predicted as ``labels[j]``.

    Args:
        y_true: True labels.
        y_pred: Predicted labels.
        labels: The classes in order (default: every label seen, sorted).

    Returns:
        A square list of lists of ints.
    """
    y_true, y_pred = _pair(y_true, y_pred, "confusion_matrix")
    labels = find_classes(y_true + y_pred) if labels is None else list(labels)
    index = {label: i for i, label in enumerate(labels)}
    C = [[0] * len(labels) for _ in labels]
    for t, p in zip(y_true, y_pred, strict=True):
        if t in index and p in index:
            C[index[t]][index[p]] += 1
    return C


def precision_recall_fscore_support(
        y_true: Sequence[Any], y_pred: Sequence[Any],
        labels: Sequence[Any] | None = None) -> tuple[list[float], list[float], list[float],
                                                      list[int]]:
    """Per-class precision, recall, F1 and support (``average=None`` in scikit-learn).

    Returns:
        ``(precision, recall, f1, support)``, one entry per label.

    >>> p, r, f, s = precision_recall_fscore_support([0, 0, 1, 1], [0, 1, 1, 1])
    >>> p, r, [round(v, 4) for v in f], s
    ([1.0, 0.6666666666666666], [0.5, 1.0], [0.6667, 0.8], [2, 2])
    """
    y_true, y_pred = _pair(y_true, y_pred, "precision_recall_fscore_support")
    labels = find_classes(y_true + y_pred) if labels is None else list(labels)
    C = confusion_matrix(y_true, y_pred, labels)
    precision, recall, f1, support = [], [], [], []
    for i in range(len(labels)):
        tp = C[i][i]
        predicted = sum(row[i] for row in C)
        actual = sum(C[i])
        p = tp / predicted if predicted else 0.0
        r = tp / actual if actual else 0.0
        precision.append(p)
        recall.append(r)
        f1.append(2 * p * r / (p + r) if p + r else 0.0)
        support.append(actual)
    return precision, recall, f1, support


def _columns(y: Sequence[Any]) -> list[list[float]]:
    rows = [[float(v)] if not isinstance(v, (list, tuple)) else [float(u) for u in v] for v in y]
    return [list(col) for col in zip(*rows, strict=True)]


def _regression(y_true: Sequence[Any], y_pred: Sequence[Any], where: str) -> tuple[list, list]:
    y_true, y_pred = _pair(y_true, y_pred, where)
    t, p = _columns(y_true), _columns(y_pred)
    if len(t) != len(p):
        raise ValueError(f"{where}: {len(t)} target column(s) but {len(p)} predicted")
    return t, p


def mean_squared_error(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """``mean((y_true - y_pred) ** 2)``, averaged uniformly over outputs.

    >>> mean_squared_error([1.0, 2.0], [2.0, 4.0])
    2.5
    """
    t, p = _regression(y_true, y_pred, "mean_squared_error")
    return sum(sum((a - b) ** 2 for a, b in zip(tc, pc, strict=True)) / len(tc)
               for tc, pc in zip(t, p, strict=True)) / len(t)


def mean_absolute_error(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """``mean(|y_true - y_pred|)``, averaged uniformly over outputs.

    >>> mean_absolute_error([1.0, 2.0], [2.0, 4.0])
    1.5
    """
    t, p = _regression(y_true, y_pred, "mean_absolute_error")
    return sum(sum(abs(a - b) for a, b in zip(tc, pc, strict=True)) / len(tc)
               for tc, pc in zip(t, p, strict=True)) / len(t)


def r2_score(y_true: Sequence[Any], y_pred: Sequence[Any]) -> float:
    """The coefficient of determination ``1 - SS_res / SS_tot``, averaged over outputs."""
    t, p = _regression(y_true, y_pred, "r2_score")
    scores = []
    for tc, pc in zip(t, p, strict=True):
        mean = sum(tc) / len(tc)
        ss_tot = sum((a - mean) ** 2 for a in tc)
        ss_res = sum((a - b) ** 2 for a, b in zip(tc, pc, strict=True))
        if ss_tot == 0.0:
            scores.append(1.0 if ss_res == 0.0 else 0.0)
        else:
            scores.append(1.0 - ss_res / ss_tot)
    return sum(scores) / len(scores)


def classification_metrics(y_true: Sequence[Any], y_pred: Sequence[Any],
                           labels: Sequence[Any] | None = None) -> dict[str, Any]:
    """Accuracy, the confusion matrix and per-class precision/recall/F1 in one dict.

    The per-class entries and the ``"macro avg"`` / ``"weighted avg"`` rows
    are those of scikit-learn's ``classification_report(output_dict=True)``.

    Returns:
        ``{"accuracy", "labels", "confusion_matrix", "per_class": {str(label):
        {"precision", "recall", "f1-score", "support"}}, "macro avg",
        "weighted avg", "n_samples"}``.
    """
    y_true, y_pred = _pair(y_true, y_pred, "classification_metrics")
    labels = find_classes(y_true + y_pred) if labels is None else list(labels)
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels)
    n = sum(s)
    per_class = {str(label): {"precision": p[i], "recall": r[i], "f1-score": f[i],
                              "support": s[i]} for i, label in enumerate(labels)}

    def avg(weights: list[float]) -> dict[str, float]:
        total = sum(weights)
        return {k: sum(w * v for w, v in zip(weights, vals, strict=True)) / total
                for k, vals in (("precision", p), ("recall", r), ("f1-score", f))}

    return {"accuracy": accuracy_score(y_true, y_pred), "n_samples": len(y_true),
            "labels": labels, "confusion_matrix": confusion_matrix(y_true, y_pred, labels),
            "per_class": per_class, "macro avg": avg([1.0] * len(labels)),
            "weighted avg": avg([float(v) for v in s]) if n else avg([1.0] * len(labels))}


def regression_metrics(y_true: Sequence[Any], y_pred: Sequence[Any]) -> dict[str, Any]:
    """``{"mse", "mae", "r2", "n_samples"}`` (scikit-learn's definitions)."""
    return {"mse": mean_squared_error(y_true, y_pred), "mae": mean_absolute_error(y_true, y_pred),
            "r2": r2_score(y_true, y_pred), "n_samples": len(list(y_true))}


def evaluate(model: Any, X: Any, y: Any) -> dict[str, Any]:
    """The metrics of ``model`` on ``(X, y)``, for its task (``model.meta["task"]``).

    The model runs in evaluation mode without a graph and is put back in its
    mode (see :func:`nn.predict.predict`). A model that ``fit`` never trained
    is read the way ``fit`` would train it (see :func:`nn.predict.describe`).

    Args:
        model: A module (usually trained by :func:`nn.fit`).
        X: Inputs, any array-like :func:`nn.arrays.as_inputs` takes.
        y: True labels (classification, in the user's labels) or values.

    Returns:
        :func:`classification_metrics` (``"task": "classify"``) or
        :func:`regression_metrics` (``"task": "regress"``), plus ``"task"``.

    Raises:
        ValueError: Bad data (see :mod:`nn.arrays`) or lengths that differ.
    """
    targets = as_targets(y, "y")
    meta = describe(model, targets)
    y_pred = predict(model, X, meta=meta)
    if meta["task"] == "classify":
        out = classification_metrics(targets, y_pred, _labels(meta["classes"], targets))
    else:
        out = regression_metrics(targets, y_pred)
    return {"task": meta["task"], **out}


def _labels(classes: list, targets: list) -> list:
    extra = [t for t in find_classes(targets) if t not in classes]
    return list(classes) + extra
