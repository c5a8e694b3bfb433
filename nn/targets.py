"""How ``fit`` reads targets: the task, the classes, the loss's encoding, class weights.

:class:`Targets` is built once from the training targets (:meth:`Targets.infer`):
it decides between classification and regression, finds and sorts the classes,
checks them against the loss and the model's number of outputs, and then
encodes any targets (training, test, validation) as the loss registry's
``encode`` wants them and reads rows of outputs back as class indices
(``decide``) for accuracy. :func:`class_weights` is scikit-learn's
``class_weight``; :func:`loss_options` passes it to the loss as PyTorch's
``weight``/``pos_weight``.

>>> plan = Targets.infer(["b", "a", "b"], "hinge", 1)
>>> plan.classes, plan.encode(["b", "a"])
(['a', 'b'], ([1.0, -1.0], [1, 0]))
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from typing import Any

from engine import Value
from nn.arrays import find_classes, is_label
from nn.losses import LOSSES, REGISTRY
from nn.module import Module
from nn.predict import loss_spec

__all__ = ["Targets", "class_weights", "loss_name", "loss_options", "output_activation",
           "weighted_loss"]


def loss_name(loss: str | Callable | None) -> str | None:
    if isinstance(loss, str):
        return loss
    for name, fn in LOSSES.items():
        if fn is loss:
            return name
    return None


def output_activation(model: Any) -> str | None:
    """The activation of the model's last layer, when it can be read."""
    act = getattr(model, "output_activation", None)
    if isinstance(act, str):
        return act
    last = model
    while hasattr(last, "__len__") and hasattr(last, "__getitem__") and isinstance(last, Module):
        if not len(last):
            return None
        last = last[-1]
    if type(last).__name__ == "Sigmoid":
        return "sigmoid"
    act = getattr(last, "activation", None)
    return act if isinstance(act, str) else None


class Targets:
    """How ``fit`` reads targets: the task, the classes and the loss's encoding.

    Built once from the training targets (:meth:`infer`); then encodes any
    targets (training, test, validation) the same way and reads outputs back
    as class indices for accuracy.

    Attributes:
        task: ``"classify"``, ``"regress"``, or None (a loss function of the
            user's own: the targets are passed through as given).
        loss: The loss name (None for a user's function not in the registry).
        classes: The user's labels, sorted (classification), else None.
        n_outputs: The model's number of outputs.
        threshold: For one output, the cut that separates the two classes
            when it differs from the loss's own rule (a sigmoid output read
            by ``bce_logits`` or ``hinge``), else None.
    """

    def __init__(self, task: str | None, loss: str | None, classes: list | None,
                 n_outputs: int, threshold: float | None = None) -> None:
        self.task, self.loss, self.classes = task, loss, classes
        self.n_outputs, self.threshold = n_outputs, threshold
        self.spec = loss_spec(loss) if loss is not None else None
        self.index = {c: i for i, c in enumerate(classes)} if classes is not None else None

    @classmethod
    def infer(cls, y: list, loss: str | None, n_outputs: int, task: str | None = None,
              custom: bool = False) -> Targets:
        """Choose the task and the classes for training targets ``y``.

        Class labels are strings, bools, or integers when the loss is a
        classification loss, the model has several outputs (one-hot ``mse``),
        or there are at most two distinct values (binary labels). Other
        numbers, and rows of numbers, are regression targets.

        Raises:
            ValueError: The labels do not fit the loss or the model's outputs.
        """
        if task not in (None, "classify", "regress"):
            raise ValueError(f"fit: task must be 'classify', 'regress' or None, got {task!r}")
        rows = isinstance(y[0], list)
        labels = not rows and all(is_label(t) for t in y)
        symbolic = not rows and isinstance(y[0], (str, bool))
        spec = loss_spec(loss) if loss is not None else None
        if task is None:
            if custom and not symbolic:
                return cls(None, loss, None, n_outputs)
            if symbolic:
                task = "classify"
            elif not labels:
                task = "regress"
            elif spec is not None and spec.kind == "classify":
                task = "classify"
            elif n_outputs > 1 or len(set(y)) <= 2:
                task = "classify"
            else:
                task = "regress"
        if task == "regress":
            if symbolic:
                raise ValueError(f"fit: task='regress' needs numeric targets, but y holds "
                                 f"{type(y[0]).__name__} labels such as {y[0]!r}")
            if spec is not None and spec.outputs == "per_class":
                raise ValueError(f"fit: loss={loss!r} needs class labels, but y holds "
                                 f"numbers such as {y[0]!r}; use loss='mse' for regression")
            width = len(y[0]) if rows else 1
            if width != n_outputs:
                raise ValueError(f"fit: y has {width} target value(s) per sample but the "
                                 f"model has {n_outputs} output(s); make them match")
            return cls("regress", loss or "mse", None, n_outputs)
        if rows:
            raise ValueError("fit: task='classify' needs one label per sample, but y holds rows "
                             f"of {len(y[0])} values")
        if custom:
            raise ValueError("fit: class labels need a loss given by name (one of "
                             f"{', '.join(LOSSES)}), not a function")
        classes = cls._classes(y, loss, n_outputs)
        if len(classes) < 2:
            raise ValueError(f"fit: y holds a single class ({classes[0]!r}); a classifier needs "
                             "samples of at least two classes: add samples of the others, or "
                             "for a number to predict train a regression (task='regress', "
                             "loss='mse')")
        if loss is None:
            loss = "bce_logits" if n_outputs == 1 else "cross_entropy"
        cls._check_fit(loss, classes, n_outputs)
        return cls("classify", loss, classes, n_outputs)

    @staticmethod
    def _classes(y: list, loss: str | None, n_outputs: int) -> list:
        found = find_classes(y)
        ints = all(isinstance(t, int) and not isinstance(t, bool) for t in found)
        if n_outputs == 1 and len(found) == 1 and ints and found[0] in (-1, 0, 1):
            # one class present: keep the binary pair its value belongs to
            spec = loss_spec(loss) if loss is not None else None
            signed = spec is not None and spec.encode(0, 1) == -1.0  # hinge's -1/+1 targets
            return [-1, 1] if found[0] == -1 or (found[0] == 1 and signed) else [0, 1]
        if n_outputs > 1 and ints and all(0 <= t < n_outputs for t in found):
            return list(range(n_outputs))  # class indices, as PyTorch reads them
        return found

    @staticmethod
    def _check_fit(loss: str, classes: list, n_outputs: int) -> None:
        k = len(classes)
        shown = ", ".join(map(repr, classes[:6])) + (", ..." if k > 6 else "")
        outputs = loss_spec(loss).outputs
        if n_outputs == 1:
            if outputs == "per_class":
                raise ValueError(f"fit: loss={loss!r} needs one output per class, but the "
                                 f"model has 1 output; give it {max(k, 2)} outputs, or use "
                                 "loss='bce_logits' for two classes")
            if k > 2:
                raise ValueError(f"fit: the model has 1 output, which separates 2 classes, but "
                                 f"y has {k} classes ({shown}); give the model {k} outputs and "
                                 "use loss='cross_entropy'")
            return
        if outputs == "one":
            raise ValueError(f"fit: loss={loss!r} is for two classes and one output per "
                             f"sample, but the model has {n_outputs} outputs and y has {k} "
                             f"classes ({shown}); use loss='cross_entropy' (softmax over the "
                             "outputs)")
        if k > n_outputs:
            raise ValueError(f"fit: y has {k} classes ({shown}) but the model has only "
                             f"{n_outputs} outputs; give it {k} outputs")
        if k < n_outputs and not all(isinstance(c, int) for c in classes):
            raise ValueError(f"fit: the model has {n_outputs} outputs but y has {k} classes "
                             f"({shown}); give it {k} outputs")

    def indices(self, y: list, name: str = "y") -> list[int]:
        """Class indices of labels ``y``.

        Raises:
            ValueError: A label is not one of the training classes.
        """
        out = []
        for i, t in enumerate(y):
            j = self.index.get(t) if not isinstance(t, list) else None
            if j is None:
                raise ValueError(f"{name}: row {i} has label {t!r}, which is not one of the "
                                 f"training classes {self.classes!r}")
            out.append(j)
        return out

    def encode(self, y: list, name: str = "y") -> tuple[list, list[int] | None]:
        """``(targets for the loss, class indices or None)``."""
        if self.task == "classify":
            idx = self.indices(y, name)
            return [self.spec.encode(j, self.n_outputs) for j in idx], idx
        if self.task == "regress":
            width = len(y[0]) if isinstance(y[0], list) else 1
            if width != self.n_outputs or any(isinstance(t, str) for t in y):
                raise ValueError(f"{name}: expected {self.n_outputs} numeric target(s) per "
                                 f"sample, got {y[0]!r}")
        return y, None

    def decide(self, row: list[float]) -> int:
        """The class index a row of outputs predicts."""
        if self.threshold is not None and len(row) == 1:
            return int(row[0] > self.threshold)
        return self.spec.decide(row)

    def decide_rows(self, outputs: Any) -> Any:
        """:meth:`decide` of each row of a ``(N, k)`` numpy array, vectorised (the same
        classes, ties and NaN included: the loss's ``decide.rows``)."""
        import numpy as np

        if self.threshold is not None and outputs.shape[1] == 1:
            return (outputs[:, 0] > self.threshold).astype(int)
        rows = getattr(self.spec.decide, "rows", None)
        if rows is None:  # a rule without a vectorised twin: row by row
            return np.array([self.spec.decide(r) for r in outputs.tolist()], dtype=int)
        return rows(outputs)

    def accuracy(self, outputs: Sequence[Any] | Any, idx: Sequence[int] | None
                 ) -> float | None:
        """Fraction of ``outputs`` whose decision equals ``idx``: floats or lists per
        sample, or a ``(N, k)`` numpy array (the compiled path's, decided vectorised)."""
        if idx is None or not len(outputs):
            return None
        if hasattr(outputs, "ndim"):
            import numpy as np

            if len(outputs) != len(idx):
                raise ValueError(f"accuracy: {len(outputs)} outputs but {len(idx)} labels")
            right = int(np.count_nonzero(self.decide_rows(outputs) == np.asarray(idx)))
        else:
            right = sum(self.decide(o if isinstance(o, list) else [o]) == j
                        for o, j in zip(outputs, idx, strict=True))
        return right / len(idx)

    def meta(self) -> dict[str, Any]:
        """The part of ``model.meta`` that describes the targets."""
        meta: dict[str, Any] = {"task": self.task, "classes": self.classes, "loss": self.loss}
        if self.threshold is not None:
            meta["threshold"] = self.threshold
        return meta


def class_weights(class_weight: str | dict | None, idx: list[int],
                  classes: list) -> list[float] | None:
    """Per-class weights in class-index order, scikit-learn's ``class_weight``.

    ``"balanced"`` gives ``n_samples / (n_classes * count(class))``
    (``sklearn.utils.class_weight.compute_class_weight``); a mapping gives
    ``{label: weight}`` (missing labels weigh 1).

    Raises:
        ValueError: An unknown string, a label that is not a class, a weight
            that is not a finite number >= 0, or a class absent with "balanced".

    >>> class_weights("balanced", [0, 0, 0, 1], [0, 1])
    [0.6666666666666666, 2.0]
    """
    if class_weight is None:
        return None
    k = len(classes)
    if class_weight == "balanced":
        counts = [0] * k
        for j in idx:
            counts[j] += 1
        missing = [classes[j] for j in range(k) if not counts[j]]
        if missing:
            raise ValueError(f"fit: class_weight='balanced' but class(es) {missing!r} have no "
                             "training samples")
        return [len(idx) / (k * c) for c in counts]
    if not isinstance(class_weight, dict):
        raise ValueError(f"fit: class_weight must be 'balanced', a dict {{label: weight}} or "
                         f"None, got {class_weight!r}")
    weights = [1.0] * k
    for label, w in class_weight.items():
        if label not in classes:
            raise ValueError(f"fit: class_weight has label {label!r}, which is not one of the "
                             f"classes {classes!r}")
        if isinstance(w, bool) or not isinstance(w, (int, float)) or not 0 <= w < math.inf:
            raise ValueError(f"fit: class_weight[{label!r}] must be a finite number >= 0, got "
                             f"{w!r}")
        weights[classes.index(label)] = float(w)
    return weights


def loss_options(loss: str, weights: list[float] | None) -> dict[str, Any]:
    """The class weights as the loss takes them (PyTorch's ``weight``/``pos_weight``)."""
    if weights is None:
        return {}
    spec = loss_spec(loss)
    if spec.class_weight is None:
        able = " or ".join(repr(n) for n, s in REGISTRY.items() if s.class_weight is not None)
        raise ValueError(f"fit: class_weight works with loss={able} (PyTorch's weight= or "
                         f"pos_weight=), not {loss!r}")
    return spec.class_weight(weights)


def weighted_loss(loss: str, options: dict[str, Any]) -> Callable[..., Value]:
    """The batch loss function, with the loss's options (class weights) applied."""
    fn = LOSSES[loss]
    if not options:
        return fn
    return lambda outputs, targets: fn(outputs, targets, **options)
