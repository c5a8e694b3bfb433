"""Loss functions as plain functions, plus ``softmax`` and ``log_softmax``.

Every loss takes predictions and targets for one sample or for a batch, and
``reduction='mean' | 'sum' | 'none'`` as in PyTorch (``'none'`` returns the list of
per-element losses). Shapes accepted:

* one output per sample: ``pred`` is a ``Value`` (one sample) or a list of
  ``Value``s (a batch), ``target`` a number or a list of numbers;
* several outputs per sample (``mse_loss``, ``bce_loss``,
  ``bce_with_logits_loss``): lists of lists, averaged over every element;
* ``cross_entropy``: ``logits`` is one list of ``Value``s (one sample, target
  an int class) or a list of such lists (a batch, targets a list of ints).

The mean is ``sum * (1 / n)`` over one n-ary ``sum`` (or ``dot``) node, as
micrograd's demo computes it. Stability: binary cross-entropy on logits and
softmax cross-entropy never exponentiate a positive number, so logits of
``+-1000`` give exact, finite losses and gradients.

NB: the names and formulas are ``torch.nn.functional``'s: ``mse_loss``,
``binary_cross_entropy`` (logs clamped at -100), ``binary_cross_entropy_with_logits``,
``cross_entropy``; ``hinge_loss`` is micrograd's SVM loss ``max(0, 1 - y * score)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Iterable, Sequence
from typing import Any

from engine import Value, dot, exp, log, relu
from engine import sum as vsum

Reduction = str


# -- shapes ------------------------------------------------------------------------


def _flatten(pred: Any, target: Any, name: str) -> tuple[list[Value], list[Any]]:
    """Predictions and targets as two aligned flat lists (Values, numbers)."""
    if isinstance(pred, (Value, numbers.Real)):
        pred, target = [pred], [target]
    elif not isinstance(pred, Sequence):
        pred = list(pred)
    if isinstance(target, (numbers.Real, Value)) or not isinstance(target, Iterable):
        raise ValueError(f"{name}: got {len(pred)} predictions but a single target {target!r}")
    target = list(target)
    if len(pred) != len(target):
        raise ValueError(f"{name}: got {len(pred)} predictions but {len(target)} targets")
    ps: list[Value] = []
    ts: list[Any] = []
    for i, (p, t) in enumerate(zip(pred, target, strict=True)):
        if isinstance(p, (Value, numbers.Real)):
            if not isinstance(t, (numbers.Real, Value)):
                raise ValueError(f"{name}: sample {i} has one prediction but target {t!r}")
            ps.append(p if type(p) is Value else Value(p, requires_grad=False))
            ts.append(t)
        else:
            p = list(p)
            t = [t] if isinstance(t, (numbers.Real, Value)) else list(t)
            if len(p) != len(t):
                raise ValueError(f"{name}: sample {i} has {len(p)} outputs but {len(t)} targets")
            ps.extend(v if type(v) is Value else Value(v, requires_grad=False) for v in p)
            ts.extend(t)
    if not ps:
        raise ValueError(f"{name}: empty batch")
    return ps, ts


def _reduce(losses: list[Value], reduction: Reduction, name: str) -> Value | list[Value]:
    if reduction == "mean":
        return vsum(losses) * (1.0 / len(losses))
    if reduction == "sum":
        return vsum(losses)
    if reduction == "none":
        return losses
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _number(t: Any, name: str, i: int) -> float:
    if isinstance(t, Value):
        return t.data
    if isinstance(t, bool) or not isinstance(t, numbers.Real):
        raise TypeError(f"{name}: target {i} must be a number, got {type(t).__name__} {t!r:.40}")
    return float(t)


# -- regression --------------------------------------------------------------------


def mse_loss(pred: Any, target: Any, reduction: Reduction = "mean") -> Value | list[Value]:
    """Mean squared error ``mean((pred - target) ** 2)``.

    With a reduction the squares are summed by one ``dot(d, d)`` node.

    Args:
        pred: A Value, a list of Values, or a list of lists of Values.
        target: Numbers (or Values) of the same shape.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.

    Returns:
        The loss (a Value), or the per-element losses for ``'none'``.

    Raises:
        ValueError: Shapes differ, the batch is empty, or the reduction is unknown.

    >>> mse_loss([Value(1.0), Value(3.0)], [0.0, 1.0]).data
    2.5
    """
    ps, ts = _flatten(pred, target, "mse_loss")
    diffs = [p - t for p, t in zip(ps, ts, strict=True)]
    if reduction == "none":
        return [d * d for d in diffs]
    total = dot(diffs, diffs)
    if reduction == "sum":
        return total
    if reduction == "mean":
        return total * (1.0 / len(diffs))
    return _reduce(diffs, reduction, "mse_loss")


# -- binary classification -----------------------------------------------------------

_LOG_FLOOR = -100.0  # PyTorch's BCELoss clamps log(p) and log(1 - p) at -100


def _clamped_log(p: Value) -> Value:
    """``log(p)`` floored at -100 as PyTorch's BCELoss.

    Below the floor the result is ``p * 0 - 100``: the value -100 with zero
    slope, still a node of the graph so that ``loss.backward()`` works.
    """
    if p.data > 0.0 and math.log(p.data) >= _LOG_FLOOR:
        return log(p)
    return p * 0.0 + _LOG_FLOOR


def bce_loss(prob: Any, target: Any, reduction: Reduction = "mean") -> Value | list[Value]:
    """Binary cross-entropy on probabilities: ``-(t log p + (1 - t) log(1 - p))``.

    As PyTorch's ``binary_cross_entropy``, each log is clamped at -100, so a
    probability of exactly 0 or 1 gives a finite loss (with zero gradient
    through the clamped term, where PyTorch gives a huge one). Terms with a
    zero coefficient (``t = 0`` or ``t = 1``) are left out of the graph.
    Prefer :func:`bce_with_logits_loss`, which is exact for any logit.

    Args:
        prob: Probabilities in [0, 1] (e.g. sigmoid outputs), any accepted shape.
        target: Targets in [0, 1] of the same shape.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.

    Returns:
        The loss.

    Raises:
        ValueError: A probability or target is outside [0, 1], or shapes differ.

    >>> round(bce_loss(Value(0.8), 1.0).data, 6)  # -log(0.8)
    0.223144
    """
    ps, ts = _flatten(prob, target, "bce_loss")
    losses = []
    for i, (p, t) in enumerate(zip(ps, ts, strict=True)):
        tv = _number(t, "bce_loss", i)
        if not 0.0 <= p.data <= 1.0:
            raise ValueError(f"bce_loss: prediction {i} is {p.data!r}, not a probability in "
                             "[0, 1] (for logits use bce_with_logits_loss)")
        if not 0.0 <= tv <= 1.0:
            raise ValueError(f"bce_loss: target {i} is {tv!r}, not in [0, 1]")
        if tv == 1.0:
            losses.append(-_clamped_log(p))
        elif tv == 0.0:
            losses.append(-_clamped_log(1.0 - p))
        else:
            losses.append(-(t * _clamped_log(p) + (1.0 - t) * _clamped_log(1.0 - p)))
    return _reduce(losses, reduction, "bce_loss")


def bce_with_logits_loss(logits: Any, target: Any,
                         reduction: Reduction = "mean") -> Value | list[Value]:
    """Binary cross-entropy on logits, ``-(t log s(z) + (1 - t) log(1 - s(z)))``, stably.

    Evaluated as ``z (1 - t) + log(1 + e^-z)`` for ``z >= 0`` and
    ``log(1 + e^z) - z t`` for ``z < 0`` (the same function; the branch only
    keeps the exponent non-positive), so ``z = +-1000`` is exact and the
    gradient is ``sigmoid(z) - t``.

    Args:
        logits: Real-valued scores, any accepted shape.
        target: Targets in [0, 1] of the same shape.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.

    Returns:
        The loss.

    Raises:
        ValueError: Shapes differ, or a target is outside [0, 1].

    >>> bce_with_logits_loss(Value(1000.0), 0.0).data
    1000.0
    >>> z = Value(0.0); bce_with_logits_loss(z, 1.0).backward(); z.grad
    -0.5
    """
    zs, ts = _flatten(logits, target, "bce_with_logits_loss")
    losses = []
    for i, (z, t) in enumerate(zip(zs, ts, strict=True)):
        tv = _number(t, "bce_with_logits_loss", i)
        if not 0.0 <= tv <= 1.0:
            raise ValueError(f"bce_with_logits_loss: target {i} is {tv!r}, not in [0, 1]")
        if z.data >= 0.0:
            losses.append(z * (1.0 - t) + log(1.0 + exp(-z)))
        else:
            losses.append(log(1.0 + exp(z)) - z * t)
    return _reduce(losses, reduction, "bce_with_logits_loss")


def hinge_loss(scores: Any, target: Any, reduction: Reduction = "mean",
               margin: float = 1.0) -> Value | list[Value]:
    """The SVM ("max-margin") loss of micrograd's demo: ``max(0, margin - y * score)``.

    Args:
        scores: Real-valued scores, one per sample.
        target: Labels in {-1, +1}.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        margin: The margin (1 in micrograd's demo).

    Returns:
        The loss.

    Raises:
        ValueError: A label is not -1 or +1 (0/1 labels must be mapped with
            ``2 * y - 1`` first), or shapes differ.

    >>> hinge_loss([Value(2.0), Value(0.5)], [1, -1]).data  # (0 + 1.5) / 2
    0.75
    """
    ss, ts = _flatten(scores, target, "hinge_loss")
    losses = []
    for i, (s, t) in enumerate(zip(ss, ts, strict=True)):
        if _number(t, "hinge_loss", i) not in (-1.0, 1.0):
            raise ValueError(f"hinge_loss: label {i} is {t!r}; labels must be -1 or +1 "
                             "(map 0/1 labels with 2 * y - 1)")
        losses.append(relu(margin - s * t))
    return _reduce(losses, reduction, "hinge_loss")


# -- multi-class ----------------------------------------------------------------------


def softmax(values: Sequence[Value | float]) -> list[Value]:
    """``e^v_i / sum_j e^v_j``, computed after subtracting the largest value (stable).

    >>> [round(p.data, 4) for p in softmax([Value(1000.0), Value(1000.0), Value(-1000.0)])]
    [0.5, 0.5, 0.0]
    """
    shifted = _shifted(values, "softmax")
    es = [exp(s) for s in shifted]
    total = vsum(es)
    return [e / total for e in es]


def log_softmax(values: Sequence[Value | float]) -> list[Value]:
    """``v_i - log(sum_j e^v_j)``, via log-sum-exp (stable for large values).

    >>> [round(p.data, 4) for p in log_softmax([Value(0.0), Value(1000.0)])]
    [-1000.0, 0.0]
    """
    shifted = _shifted(values, "log_softmax")
    lse = log(vsum([exp(s) for s in shifted]))
    return [s - lse for s in shifted]


def _shifted(values: Sequence[Value | float], name: str) -> list[Value]:
    """``v - max(v)`` for each value; the max is a constant (log-sum-exp is shift-invariant)."""
    vs = [v if type(v) is Value else Value(v, requires_grad=False) for v in values]
    if not vs:
        raise ValueError(f"{name}: needs at least one value")
    m = max(v.data for v in vs)
    if not math.isfinite(m):
        m = 0.0  # inf/nan logits propagate as in PyTorch
    return [v - m for v in vs]


def cross_entropy(logits: Any, target: Any, reduction: Reduction = "mean") -> Value | list[Value]:
    """Softmax cross-entropy on logits with class-index targets, as PyTorch's.

    Per sample ``log(sum_j e^(z_j - m)) - (z_t - m)`` with ``m = max z``:
    never overflows, exact for logits of ``+-1000``; the gradient is
    ``softmax(z) - onehot(t)``.

    Args:
        logits: One sample's logits (a list of Values) or a batch (a list of lists).
        target: The class index (int) of the sample, or a list of them.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.

    Returns:
        The loss.

    Raises:
        ValueError: A target is not a valid class index, or batch sizes differ.

    >>> cross_entropy([Value(0.0), Value(1000.0)], 0).data
    1000.0
    >>> round(cross_entropy([[Value(1.0), Value(2.0), Value(3.0)]], [2]).data, 6)
    0.407606
    """
    if isinstance(logits, Sequence) and logits and isinstance(logits[0], (Value, numbers.Real)):
        logits, target = [logits], [target]
    if isinstance(target, numbers.Real) or not isinstance(target, Iterable):
        raise ValueError("cross_entropy: a batch of logits needs a list of class indices, got "
                         f"{target!r:.40}")
    logits, target = list(logits), list(target)
    if not logits:
        raise ValueError("cross_entropy: empty batch")
    if len(logits) != len(target):
        raise ValueError(f"cross_entropy: {len(logits)} samples but {len(target)} targets")
    losses = []
    for i, (z, t) in enumerate(zip(logits, target, strict=True)):
        if isinstance(z, (Value, numbers.Real)):
            raise ValueError(f"cross_entropy: sample {i} has a single logit; give one list of "
                             "class logits per sample (for one output use bce_with_logits_loss)")
        z = list(z)
        if len(z) < 2:
            raise ValueError(f"cross_entropy: sample {i} has a single logit; give one logit per "
                             "class (for one output use bce_with_logits_loss)")
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < len(z):
            raise ValueError(f"cross_entropy: target {i} is {t!r}; expected a class index in "
                             f"0..{len(z) - 1}")
        shifted = _shifted(z, "cross_entropy")
        losses.append(log(vsum([exp(s) for s in shifted])) - shifted[int(t)])
    return _reduce(losses, reduction, "cross_entropy")


# -- regularisation --------------------------------------------------------------------


def l2_penalty(params: Iterable[Value] | Any, alpha: float) -> Value:
    """``alpha * sum(p * p)`` as one ``dot(params, params)`` node times ``alpha``.

    Args:
        params: Parameters (a list of Values, or a Module: its ``parameters()``).
        alpha: The coefficient (1e-4 in micrograd's demo).

    Returns:
        The penalty (a constant 0 when there are no parameters).

    >>> l2_penalty([Value(3.0), Value(4.0)], 0.5).data
    12.5
    """
    if hasattr(params, "parameters") and callable(params.parameters):
        params = params.parameters()
    params = list(params)
    if not params:
        return Value(0.0, requires_grad=False)
    return alpha * dot(params, params)


#: Losses by the names ``fit`` and the command line accept.
LOSSES = {
    "mse": mse_loss,
    "bce": bce_loss,
    "bce_logits": bce_with_logits_loss,
    "cross_entropy": cross_entropy,
    "hinge": hinge_loss,
}
