"""Predictions in the user's own labels, from what ``fit`` stored in ``model.meta``.

``fit`` records how it read the targets in ``model.meta`` (saved in the model
file by :func:`nn.save`)::

    {"task": "classify" | "regress",
     "classes": [the user's labels, sorted] | None,
     "loss": the loss name,
     "scaler": {"mean": [...], "scale": [...]} | None,         # inputs
     "target_scaler": {"mean": [...], "scale": [...]} | None,  # regression targets
     "n_features": int,
     "threshold": 0.5}   # only for a sigmoid output trained with a logit or margin loss

:func:`predict` runs the model in evaluation mode without a graph (and puts
it back in the mode it was in), applies the input scaling, and reads each row
of outputs the way the loss does (the loss registry's ``decide``: argmax of
logits, the sign of a margin, a probability above 0.5 ...), returning the
user's labels; for regression it returns the outputs, unscaled.
:func:`predict_proba` gives class probabilities (scikit-learn's column order:
the sorted classes) for losses that define them.

``Module.predict`` and ``Module.predict_proba`` call these.
"""

from __future__ import annotations

import math
from typing import Any

from engine import Value, no_grad
from nn.arrays import as_inputs, find_classes, is_label
from nn.module import Module
from nn.norm import BatchNorm1d, BatchNorm2d

__all__ = ["apply_scaler", "batch_layers", "describe", "fit_scaler", "forward", "loss_spec",
           "predict", "predict_proba", "run_model"]


# -- the loss registry (nn.losses.REGISTRY), read through one function -----------------------


def loss_spec(name: str) -> Any:
    """The loss registry's entry for ``name`` (``nn.losses.REGISTRY[name]``).

    Raises:
        ValueError: An unknown loss name.
    """
    from nn.losses import REGISTRY

    if name not in REGISTRY:
        raise ValueError(f"unknown loss {name!r}; expected one of {', '.join(REGISTRY)}")
    return REGISTRY[name]


# -- scaling ----------------------------------------------------------------------------------


def fit_scaler(rows: list[list[float]]) -> dict[str, list[float]]:
    """Per-column mean and standard deviation (population, as scikit-learn's
    ``StandardScaler``; a constant column gets scale 1).

    >>> fit_scaler([[1.0, 5.0], [3.0, 5.0]])
    {'mean': [2.0, 5.0], 'scale': [1.0, 1.0]}
    """
    n = len(rows)
    cols = [list(c) for c in zip(*rows, strict=True)]
    mean = [sum(c) / n for c in cols]
    scale = []
    for c, m in zip(cols, mean, strict=True):
        s = math.sqrt(sum((v - m) ** 2 for v in c) / n)
        scale.append(s if s > 0.0 else 1.0)
    return {"mean": mean, "scale": scale}


def apply_scaler(rows: list, scaler: dict[str, list[float]] | None, name: str = "X") -> list:
    """``(x - mean) / scale`` per column; rows unchanged without a scaler.

    Raises:
        ValueError: The rows have another number of columns than the scaler.
    """
    if not scaler:
        return rows
    mean, scale = scaler["mean"], scaler["scale"]
    out = []
    for i, row in enumerate(rows):
        r = row if isinstance(row, list) else [row]
        if len(r) != len(mean) or (r and isinstance(r[0], list)):
            raise ValueError(f"{name}: row {i} has {len(r)} feature(s) but the model was "
                             f"trained (and scaled) on {len(mean)}")
        out.append([(v - m) / s for v, m, s in zip(r, mean, scale, strict=True)])
    return out


def _unscale(values: list, scaler: dict[str, list[float]] | None) -> list:
    if not scaler:
        return values
    mean, scale = scaler["mean"], scaler["scale"]
    if len(mean) == 1:
        return [v * scale[0] + mean[0] for v in values]
    return [[v * s + m for v, m, s in zip(row, mean, scale, strict=True)] for row in values]


# -- the model's metadata ----------------------------------------------------------------------


def describe(model: Any, targets: list | None = None, loss: str | None = None) -> dict[str, Any]:
    """``model.meta`` when ``fit`` filled it, else the reading ``fit`` would choose.

    Without metadata: targets that are class labels (strings, bools,
    integers) mean classification with the default loss (``bce_logits`` for
    one output, ``cross_entropy`` otherwise) and the classes found in
    ``targets``; anything else means regression.
    """
    meta = getattr(model, "meta", None)
    if isinstance(meta, dict) and meta.get("task"):
        return meta
    nout = getattr(model, "nout", None)
    if targets is not None and all(is_label(t) for t in targets):
        classes = find_classes(targets)
        if loss is None:
            binary = nout == 1 or (nout is None and len(classes) <= 2)
            loss = "bce_logits" if binary else "cross_entropy"
        return {"task": "classify", "classes": classes, "loss": loss, "scaler": None,
                "target_scaler": None, "n_features": None}
    return {"task": "regress", "classes": None, "loss": loss or "mse", "scaler": None,
            "target_scaler": None, "n_features": None}


# -- running the model -------------------------------------------------------------------------


def batch_layers(model: Any) -> list[str]:
    """Names of the layers that normalize over the batch (``BatchNorm1d``/``2d``):
    a model holding one is called once on a whole batch, not once per sample."""
    modules = model.named_modules() if hasattr(model, "named_modules") else []
    return [name or "the model" for name, m in modules
            if isinstance(m, (BatchNorm1d, BatchNorm2d))]


def run_model(model: Any, X: list) -> list:
    """The model's output for each sample of ``X``: one call per sample, or one call
    on the whole batch (``[N][...]``) when the model normalizes over the batch."""
    if batch_layers(model):
        return list(model(list(X)))
    return [model(x) for x in X]



def _floats(out: Any) -> list[float]:
    if isinstance(out, Value):
        return [out.data]
    if isinstance(out, (int, float)):
        return [float(out)]
    return [v.data if isinstance(v, Value) else float(v) for v in out]


def forward(model: Any, X: Any, meta: dict[str, Any] | None = None) -> list[list[float]]:
    """Each sample's outputs as a list of floats, in evaluation mode, without a graph.

    The input scaling of ``meta`` (default ``model.meta``) is applied first.
    The model is put back in the mode it was in, also on an error.
    """
    meta = getattr(model, "meta", None) if meta is None else meta
    rows = as_inputs(X, "X")
    rows = apply_scaler(rows, (meta or {}).get("scaler"), "X")
    was_training = getattr(model, "training", False)
    if hasattr(model, "eval"):
        model.eval()
    try:
        with no_grad():
            return [_floats(out) for out in run_model(model, rows)]
    finally:
        if hasattr(model, "train"):
            model.train(was_training)


def predict(model: Any, X: Any, meta: dict[str, Any] | None = None) -> list:
    """Predictions: the user's labels (classification) or values (regression).

    Args:
        model: A module, usually trained by :func:`nn.fit`.
        X: Inputs (any array-like :func:`nn.arrays.as_inputs` takes).
        meta: Overrides ``model.meta`` (see the module docstring).

    Returns:
        One label per sample, or one float (one output) or list of floats per sample.

    Raises:
        ValueError: Bad inputs, or inputs with another number of features
            than the model was trained on.
    """
    meta = describe(model) if meta is None else meta
    outs = forward(model, X, meta)
    if meta["task"] == "classify":
        spec = loss_spec(meta["loss"])
        classes = meta["classes"]
        cut = meta.get("threshold")
        return [classes[min(int(row[0] > cut) if cut is not None and len(row) == 1
                            else spec.decide(row), len(classes) - 1)] for row in outs]
    values = [row[0] if len(row) == 1 else row for row in outs]
    return _unscale(values, meta.get("target_scaler"))


def predict_proba(model: Any, X: Any, meta: dict[str, Any] | None = None) -> list[list[float]]:
    """Class probabilities, one row per sample, columns in ``meta["classes"]`` order.

    Raises:
        ValueError: The model is not a classifier, or its loss defines no
            probabilities (``hinge`` gives margins, ``mse`` scores).
    """
    meta = describe(model) if meta is None else meta
    if meta["task"] != "classify":
        raise ValueError("predict_proba: the model is a regressor (model.meta['task'] is "
                         f"{meta['task']!r}); use predict")
    spec = loss_spec(meta["loss"])
    sigmoid_output = meta.get("threshold") == 0.5
    rows = []
    for row in forward(model, X, meta):
        p = [1.0 - row[0], row[0]] if sigmoid_output and len(row) == 1 else spec.proba(row)
        if p is None:
            raise ValueError(f"predict_proba: loss {meta['loss']!r} gives no probabilities "
                             "(train with 'cross_entropy', 'bce_logits' or 'bce' for them)")
        rows.append(list(p))
    return rows


Module._prediction_functions = (predict, predict_proba)
