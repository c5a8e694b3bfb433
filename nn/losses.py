"""Loss functions and their registry, plus ``softmax``, ``log_softmax`` and ``softplus``.

Every loss is written once, as a **per-sample function** without branches on
the data, and registered in :data:`REGISTRY` with everything else a training
loop needs to know about it (:class:`LossSpec`): how class labels become its
targets, how a row of outputs becomes a class, the output activation it
expects, its checks and its probabilities. The batch functions below
(``mse_loss``, ``cross_entropy``, ...) are that per-sample function summed
over a batch; the compiled path (:mod:`nn.compiled`) traces the very same
function on placeholders, so the two paths cannot drift apart.

Targets reach the per-sample function as a **row of numbers** (``spec.rows``):
the loss's coefficients, with any weights already multiplied in. A binary
cross-entropy row holds, per output, the coefficients of ``-log P(1)`` and
``-log P(0)`` (``t`` and ``1 - t``, times the weights); a cross-entropy row is
the one-hot class times its class weight. Weights are thus data, not branches,
and one traced graph serves every sample.

Every batch function takes predictions and targets for one sample or for a
batch, and ``reduction='mean' | 'sum' | 'none'`` as in PyTorch (``'none'``
returns the list of per-element losses, per-sample for ``cross_entropy``).
Shapes accepted:

* one output per sample: ``pred`` is a ``Value`` (one sample) or a list of
  ``Value``s (a batch), ``target`` a number or a list of numbers;
* several outputs per sample (``mse_loss``, ``bce_loss``,
  ``bce_with_logits_loss``, ``hinge_loss``): lists of lists, averaged over
  every element;
* ``cross_entropy``: ``logits`` is one list of ``Value``s (one sample, target
  an int class) or a list of such lists (a batch, targets a list of ints).

Stability: binary cross-entropy on logits is ``(1 - t) softplus(z) + t softplus(-z)``
with ``softplus(z) = max(z, 0) + log1p(e^-|z|)`` (``log1p`` from ``log`` with the
rounding error of ``1 + u`` corrected), so ``z = +-1000`` is exact and ``z = 40,
t = 1`` gives ``4.25e-18``, not 0; softmax cross-entropy shifts by the
largest logit, so logits of ``+-1000`` give exact, finite losses and gradients.

NB: the names, formulas and weights are ``torch.nn.functional``'s: ``mse_loss``,
``binary_cross_entropy`` (logs clamped at -100, ``weight`` per element),
``binary_cross_entropy_with_logits`` (``weight``, ``pos_weight``),
``cross_entropy`` (``weight`` per class, the mean divided by the summed weights);
``hinge_loss`` is micrograd's SVM loss ``max(0, 1 - y * score)``.
"""

from __future__ import annotations

import math
import numbers
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from engine import Value, dot, exp, log, relu
from engine import max as vmax
from engine import sum as vsum

Reduction = str


# -- softplus from the rule table's ops ----------------------------------------------


def _log1p(u: Value) -> Value:
    """``log(1 + u)`` for ``u`` in [0, 1], to full precision with the rule table's ``log``.

    ``w = 1 + u`` rounds (to 1.0 when ``u < 1.1e-16``); ``(w - 1) - u`` is that
    rounding error, exactly (Sterbenz), and ``log(1 + u) = log(w) - error / w`` to
    second order: ``u`` itself where ``w`` is 1.0 (C99's ``log1p``, written with ``log``).
    """
    w = 1.0 + u
    return log(w) - ((w - 1.0) - u) / w


def _softplus_parts(z: Value) -> tuple[Value, Value, Value]:
    """``(max(z, 0), min(z, 0), log1p(e^-|z|))``: ``softplus(z)`` is the first plus the
    third, ``softplus(-z)`` the third minus the second. Branch-free; the tie at
    ``z = 0`` goes to the constant in ``max(0, z)`` and to ``z`` in ``min``, so the
    derivative there is ``sigmoid(0) = 1/2``, as PyTorch's."""
    pos = vmax(0.0, z)
    neg = -vmax(-z, 0.0)
    return pos, neg, _log1p(exp(neg - pos))


def softplus(x: Value | float) -> Value:
    """``log(1 + e^x)``, PyTorch's ``softplus`` (beta 1), as ``max(x, 0) + log1p(e^-|x|)``:
    exact for ``x = +-1000`` and where it is tiny; its derivative is ``sigmoid(x)``.

    >>> softplus(Value(-40.0)).data
    4.248354255291589e-18
    >>> x = Value(0.0); softplus(x).backward(); x.grad
    0.5
    """
    pos, _, tail = _softplus_parts(x if isinstance(x, Value) else Value(float(x),
                                                                        requires_grad=False))
    return pos + tail


# -- shapes ------------------------------------------------------------------------


def _flatten(pred: Any, target: Any, name: str) -> tuple[list[list[Value]], list[list[Any]]]:
    """Predictions and targets as two aligned lists of per-sample lists (Values, numbers)."""
    if isinstance(pred, (Value, numbers.Real)):
        pred, target = [pred], [target]
    elif not isinstance(pred, Sequence):
        pred = list(pred)
    if isinstance(target, (numbers.Real, Value)) or not isinstance(target, Iterable):
        raise ValueError(f"{name}: got {len(pred)} predictions but a single target {target!r}")
    target = list(target)
    if len(pred) != len(target):
        raise ValueError(f"{name}: got {len(pred)} predictions but {len(target)} targets")
    ps: list[list[Value]] = []
    ts: list[list[Any]] = []
    for i, (p, t) in enumerate(zip(pred, target, strict=True)):
        if isinstance(p, (Value, numbers.Real)):
            if not isinstance(t, (numbers.Real, Value)):
                raise ValueError(f"{name}: sample {i} has one prediction but target {t!r}")
            ps.append([p if type(p) is Value else Value(p, requires_grad=False)])
            ts.append([t])
        else:
            p = list(p)
            t = [t] if isinstance(t, (numbers.Real, Value)) else list(t)
            if len(p) != len(t):
                raise ValueError(f"{name}: sample {i} has {len(p)} outputs but {len(t)} targets")
            ps.append([v if type(v) is Value else Value(v, requires_grad=False) for v in p])
            ts.append(t)
    if not ps:
        raise ValueError(f"{name}: empty batch")
    return ps, ts


def _number(t: Any, name: str, i: int, what: str = "target") -> float:
    if isinstance(t, Value):
        return t.data
    if isinstance(t, bool) or not isinstance(t, numbers.Real):
        raise TypeError(f"{name}: {what} {i} must be a number, got {type(t).__name__} {t!r:.40}")
    return float(t)


def _weights(weight: Any, shape: list[int], name: str) -> list[list[float]] | None:
    """Per-element weights from ``weight``: None, one number per sample (spread
    over its outputs) or the targets' shape. Raises on a negative or non-finite
    weight, or a shape that does not match."""
    if weight is None:
        return None
    if isinstance(weight, numbers.Real) or not isinstance(weight, Iterable):
        weight = [weight] * len(shape)
    weight = list(weight)
    if len(weight) != len(shape):
        raise ValueError(f"{name}: weight has {len(weight)} entries but there are {len(shape)} "
                         "samples (give one weight per sample, or the targets' shape)")
    out = []
    for i, (w, k) in enumerate(zip(weight, shape, strict=True)):
        row = [w] * k if isinstance(w, numbers.Real) else list(w)
        if len(row) != k:
            raise ValueError(f"{name}: weight {i} has {len(row)} entries for {k} outputs")
        out.append([_check_weight(x, name, i) for x in row])
    return out


def _check_weight(w: Any, name: str, i: int, what: str = "weight") -> float:
    x = _number(w, name, i, what)
    if not (math.isfinite(x) and x >= 0.0):
        raise ValueError(f"{name}: {what} {i} is {x!r}; weights must be finite and >= 0")
    return x


def _mean_of(total: Value, n: int) -> Value:
    return total if n == 1 else total * (1.0 / n)


# -- the per-sample functions (one form for both paths) ------------------------------
# Each takes the outputs of one sample (or of a whole flattened batch: these are sums
# over elements) and a row of target coefficients, numbers or placeholder Values.

_CLAMP = math.exp(-100.0)  # log(_CLAMP) == -100.0: PyTorch's BCELoss floor for each log


def _mse_total(outs: Sequence[Value], row: Sequence[Any]) -> Value:
    """``sum_j w_j (o_j - t_j)^2``; row ``t_1..t_k`` or, weighted, ``t_1, w_1, ..., t_k, w_k``."""
    if len(row) == len(outs):
        d = [o - t for o, t in zip(outs, row, strict=True)]
        return dot(d, d)
    d = [o - t for o, t in zip(outs, row[0::2], strict=True)]
    return dot(d, [x * w for x, w in zip(d, row[1::2], strict=True)])


def _hinge_total(outs: Sequence[Value], row: Sequence[Any]) -> Value:
    """``sum_j relu(m_j - y_j s_j)``; row ``m_1, y_1, ...`` = ``(w margin, w y)`` per output."""
    return vsum([relu(m - y * s) for s, m, y in zip(outs, row[0::2], row[1::2], strict=True)])


def _bce_total(probs: Sequence[Value], row: Sequence[Any]) -> Value:
    """``-sum_j (a_j log p_j + b_j log(1 - p_j))``, each log floored at -100; row
    ``a_1, b_1, ...`` = ``(w t, w (1 - t))`` per output. The floor is taken on the
    probability (``log(max(p, e^-100))``), so a clamped term's gradient is 0, not nan."""
    return -vsum([a * log(vmax(p, _CLAMP)) + b * log(vmax(1.0 - p, _CLAMP))
                  for p, a, b in zip(probs, row[0::2], row[1::2], strict=True)])


def _bce_logits_total(logits: Sequence[Value], row: Sequence[Any]) -> Value:
    """``sum_j (a_j softplus(-z_j) + b_j softplus(z_j))``: ``-log sigmoid(z)`` and
    ``-log(1 - sigmoid(z))`` with row ``a_1, b_1, ...`` = ``(w pos_weight t, w (1 - t))``.
    Equal to PyTorch's ``(1 - t) z + (1 + (pw - 1) t) softplus(-z)``, times ``w``; the
    two softplus share their ``log1p`` term: ``(a + b) log1p(e^-|z|) + b max(z, 0) -
    a min(z, 0)``."""
    terms = []
    for z, a, b in zip(logits, row[0::2], row[1::2], strict=True):
        pos, neg, tail = _softplus_parts(z)
        terms.append((a + b) * tail + b * pos - a * neg)
    return vsum(terms)


def _logsumexp(zs: Sequence[Value]) -> Value:
    """``log(sum(e^z))`` shifted by ``max(z)``: never overflows, the same graph for every
    sample (the shift's gradient cancels)."""
    m = vmax(*zs)
    return log(vsum([exp(z - m) for z in zs])) + m


def _cross_entropy_total(logits: Sequence[Value], row: Sequence[Any]) -> Value:
    """``sum(y) logsumexp(z) - y . z``: ``w_t (logsumexp(z) - z_t)`` for the row
    ``y = w_t * onehot(t)``, and soft-label cross-entropy for any other row."""
    return vsum(row) * _logsumexp(logits) - dot(row, logits)


def _elementwise(total: Callable[[Sequence[Value], Sequence[Any]], Value]
                 ) -> Callable[[list[Value], Sequence[Any]], Value]:
    def per_sample(outs: list[Value], row: Sequence[Any]) -> Value:
        return _mean_of(total(outs, row), len(outs))
    per_sample.__doc__ = f"The mean over a sample's outputs of {total.__name__}."
    return per_sample


# -- targets: checks and rows ---------------------------------------------------------


def _check_labels(name: str, allowed: tuple[float, float], hint: str, targets: Sequence[Any],
                  interval: bool) -> None:
    lo, hi = allowed
    for i, t in enumerate(targets):
        for x in (t if isinstance(t, (list, tuple)) else [t]):
            v = _number(x, name, i)
            ok = lo <= v <= hi if interval else v in allowed
            if not ok:
                want = f"not in [{lo:g}, {hi:g}]" if interval else "not -1 or +1"
                raise ValueError(f"{name}: target {i} is {x!r}, {want}{hint}")


def _check_mse(targets: Sequence[Any], n_outputs: int) -> None:
    for i, t in enumerate(targets):
        for x in (t if isinstance(t, (list, tuple)) else [t]):
            _number(x, "mse_loss", i)


def _check_bce(targets: Sequence[Any], n_outputs: int) -> None:
    _check_labels("bce_loss", (0.0, 1.0), " (class labels must be 0 or 1)", targets, True)


def _check_bce_logits(targets: Sequence[Any], n_outputs: int) -> None:
    _check_labels("bce_with_logits_loss", (0.0, 1.0), " (class labels must be 0 or 1)",
                  targets, True)


def _check_hinge(targets: Sequence[Any], n_outputs: int) -> None:
    for i, t in enumerate(targets):
        for x in (t if isinstance(t, (list, tuple)) else [t]):
            if _number(x, "hinge_loss", i) not in (-1.0, 1.0):
                raise ValueError(f"hinge_loss: label {i} is {x!r}; labels must be -1 or +1 "
                                 "(map 0/1 labels with 2 * y - 1)")


def _check_cross_entropy(targets: Sequence[Any], n_outputs: int) -> None:
    if n_outputs < 2:
        raise ValueError("cross_entropy: the model has a single output; give one logit per "
                         "class (for one output use bce_with_logits_loss)")
    for i, t in enumerate(targets):
        if type(t) is int and 0 <= t < n_outputs:
            continue  # the common case, without the slower checks below
        if isinstance(t, bool) or not isinstance(t, numbers.Integral) or not 0 <= t < n_outputs:
            raise ValueError(f"cross_entropy: target {i} is {t!r}; expected a class index in "
                             f"0..{n_outputs - 1}")


def _rows_mse(targets: list[list[Any]], weights: list[list[float]] | None,
              **_: Any) -> list[list[Any]]:
    if weights is None:
        return [list(t) for t in targets]
    return [[x for tw in zip(t, w, strict=True) for x in tw]
            for t, w in zip(targets, weights, strict=True)]


def _rows_hinge(targets: list[list[Any]], weights: list[list[float]] | None,
                margin: float = 1.0, **_: Any) -> list[list[Any]]:
    if weights is None:
        return [[x for y in t for x in (margin, y)] for t in targets]
    return [[x for y, w in zip(t, ws, strict=True) for x in (w * margin, w * y)]
            for t, ws in zip(targets, weights, strict=True)]


def _rows_binary(targets: list[list[Any]], weights: list[list[float]] | None,
                 pos_weight: Sequence[float] | None = None, **_: Any) -> list[list[Any]]:
    rows = []
    for i, t in enumerate(targets):
        ws = weights[i] if weights is not None else None
        row = []
        for j, y in enumerate(t):
            a, b = (y if pos_weight is None else pos_weight[j] * y), 1.0 - y
            if ws is not None:
                a, b = ws[j] * a, ws[j] * b
            row += [a, b]
        rows.append(row)
    return rows


def _pos_weight(pos_weight: Any, k: int, name: str) -> list[float] | None:
    if pos_weight is None:
        return None
    pw = [pos_weight] * k if isinstance(pos_weight, numbers.Real) else list(pos_weight)
    if len(pw) != k:
        raise ValueError(f"{name}: pos_weight has {len(pw)} entries for {k} outputs "
                         "(one per output, as PyTorch's)")
    return [_check_weight(x, name, j, "pos_weight") for j, x in enumerate(pw)]


def _class_weights(weight: Any, k: int) -> list[float] | None:
    if weight is None:
        return None
    ws = list(weight) if isinstance(weight, Iterable) else [weight]
    if len(ws) != k:
        raise ValueError(f"cross_entropy: weight has {len(ws)} entries but there are {k} "
                         "classes (one weight per class, as PyTorch's)")
    return [_check_weight(w, "cross_entropy", j) for j, w in enumerate(ws)]


def _rows_cross_entropy(targets: Sequence[int], k: int,
                        weight: Sequence[float] | None = None) -> list[list[float]]:
    ws = _class_weights(weight, k)
    rows = []
    for t in targets:
        row = [0.0] * k
        row[int(t)] = 1.0 if ws is None else ws[int(t)]
        rows.append(row)
    return rows


# -- the batch functions ----------------------------------------------------------------


def _reduce_elementwise(total: Callable, outs: list[list[Value]], rows: list[list[Any]],
                        reduction: Reduction, name: str) -> Value | list[Value]:
    """The batch loss of an elementwise loss: its total over every element at once."""
    flat = [o for sample in outs for o in sample]
    width = len(rows[0]) // len(outs[0])
    cols = [x for row in rows for x in row]
    if reduction == "mean":
        return _mean_of(total(flat, cols), len(flat))
    if reduction == "sum":
        return total(flat, cols)
    if reduction == "none":
        return [total([o], cols[j * width:(j + 1) * width]) for j, o in enumerate(flat)]
    raise ValueError(f"{name}: reduction must be 'mean', 'sum' or 'none', got {reduction!r}")


def _batch_rows(spec_name: str, pred: Any, target: Any, weight: Any = None,
                **options: Any) -> tuple[list[list[Value]], list[list[Any]]]:
    spec = REGISTRY[spec_name]
    outs, targets = _flatten(pred, target, spec.fn.__name__)
    spec.check(targets, len(outs[0]))
    spec.check_outputs([[o.data for o in sample] for sample in outs])
    return outs, spec.rows(targets, len(outs[0]), weight=weight, **options)


def mse_loss(pred: Any, target: Any, reduction: Reduction = "mean",
             weight: Any = None) -> Value | list[Value]:
    """Mean squared error ``mean(w (pred - target) ** 2)``.

    The squares are summed by one ``dot(d, d)`` node.

    Args:
        pred: A Value, a list of Values, or a list of lists of Values.
        target: Numbers (or Values) of the same shape.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        weight: Optional weights ``w >= 0``: one per sample, or the targets' shape
            (ours; PyTorch's ``mse_loss`` has none). The mean divides by the count.

    Returns:
        The loss (a Value), or the per-element losses for ``'none'``.

    Raises:
        ValueError: Shapes differ, the batch is empty, a weight is negative, or the
            reduction is unknown.

    >>> mse_loss([Value(1.0), Value(3.0)], [0.0, 1.0]).data
    2.5
    """
    outs, rows = _batch_rows("mse", pred, target, weight)
    return _reduce_elementwise(_mse_total, outs, rows, reduction, "mse_loss")


def bce_loss(prob: Any, target: Any, reduction: Reduction = "mean",
             weight: Any = None) -> Value | list[Value]:
    """Binary cross-entropy on probabilities: ``-w (t log p + (1 - t) log(1 - p))``.

    As PyTorch's ``binary_cross_entropy``, each log is clamped at -100, so a
    probability of exactly 0 or 1 gives a finite loss (with zero gradient
    through the clamped term, where PyTorch gives a huge one). Prefer
    :func:`bce_with_logits_loss`, which is exact for any logit.

    Args:
        prob: Probabilities in [0, 1] (e.g. sigmoid outputs), any accepted shape.
        target: Targets in [0, 1] of the same shape.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        weight: PyTorch's ``weight``: a rescaling weight ``w >= 0`` per sample, or
            the targets' shape; the mean still divides by the element count.

    Returns:
        The loss.

    Raises:
        ValueError: A probability or target is outside [0, 1], a weight is
            negative, or shapes differ.

    >>> round(bce_loss(Value(0.8), 1.0).data, 6)  # -log(0.8)
    0.223144
    """
    outs, rows = _batch_rows("bce", prob, target, weight)
    return _reduce_elementwise(_bce_total, outs, rows, reduction, "bce_loss")


def bce_with_logits_loss(logits: Any, target: Any, reduction: Reduction = "mean",
                         weight: Any = None, pos_weight: Any = None) -> Value | list[Value]:
    """Binary cross-entropy on logits, ``-(t log s(z) + (1 - t) log(1 - s(z)))``, stably.

    Evaluated as ``t softplus(-z) + (1 - t) softplus(z)`` (``softplus`` with
    ``log1p``), so ``z = +-1000`` is exact, ``z = 40, t = 1`` gives ``4.25e-18``,
    and the gradient is ``sigmoid(z) - t``. With PyTorch's ``pos_weight`` the
    first term is multiplied by ``pos_weight``, and everything by ``weight``.

    Args:
        logits: Real-valued scores, any accepted shape.
        target: Targets in [0, 1] of the same shape.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        weight: A rescaling weight ``w >= 0`` per sample, or the targets' shape.
        pos_weight: The weight of positive examples, one number or one per output
            (PyTorch's ``pos_weight``: ``n_negative / n_positive`` balances classes).

    Returns:
        The loss.

    Raises:
        ValueError: Shapes differ, a target is outside [0, 1], or a weight is negative.

    >>> bce_with_logits_loss(Value(1000.0), 0.0).data
    1000.0
    >>> z = Value(0.0); bce_with_logits_loss(z, 1.0).backward(); z.grad
    -0.5
    >>> bce_with_logits_loss(Value(40.0), 1.0).data
    4.248354255291589e-18
    """
    outs, rows = _batch_rows("bce_logits", logits, target, weight, pos_weight=pos_weight)
    return _reduce_elementwise(_bce_logits_total, outs, rows, reduction, "bce_with_logits_loss")


def hinge_loss(scores: Any, target: Any, reduction: Reduction = "mean",
               margin: float = 1.0, weight: Any = None) -> Value | list[Value]:
    """The SVM ("max-margin") loss of micrograd's demo: ``w max(0, margin - y * score)``.

    Args:
        scores: Real-valued scores, one per sample (or one per output, one-vs-rest).
        target: Labels in {-1, +1}.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        margin: The margin (1 in micrograd's demo).
        weight: Optional weights ``w >= 0``, one per sample or the targets' shape.

    Returns:
        The loss.

    Raises:
        ValueError: A label is not -1 or +1 (0/1 labels must be mapped with
            ``2 * y - 1`` first), a weight is negative, or shapes differ.

    >>> hinge_loss([Value(2.0), Value(0.5)], [1, -1]).data  # (0 + 1.5) / 2
    0.75
    """
    outs, rows = _batch_rows("hinge", scores, target, weight, margin=float(margin))
    return _reduce_elementwise(_hinge_total, outs, rows, reduction, "hinge_loss")


def cross_entropy(logits: Any, target: Any, reduction: Reduction = "mean",
                  weight: Any = None) -> Value | list[Value]:
    """Softmax cross-entropy on logits with class-index targets, as PyTorch's.

    Per sample ``w_t (logsumexp(z) - z_t)``, the log-sum-exp shifted by
    ``max z``: never overflows, exact for logits of ``+-1000``; the gradient is
    ``w_t (softmax(z) - onehot(t))``. With ``weight``, ``'mean'`` divides by
    the sum of the samples' class weights (PyTorch's weighted mean).

    Args:
        logits: One sample's logits (a list of Values) or a batch (a list of lists).
        target: The class index (int) of the sample, or a list of them.
        reduction: ``'mean'``, ``'sum'`` or ``'none'``.
        weight: PyTorch's ``weight``: one weight ``>= 0`` per class.

    Returns:
        The loss.

    Raises:
        ValueError: A target is not a valid class index, batch sizes differ, or
            ``weight`` has the wrong length or a negative entry.

    >>> cross_entropy([Value(0.0), Value(1000.0)], 0).data
    1000.0
    >>> round(cross_entropy([[Value(1.0), Value(2.0), Value(3.0)]], [2]).data, 6)
    0.407606
    >>> round(cross_entropy([[Value(1.0), Value(2.0)]] * 2, [0, 1], weight=[3.0, 1.0]).data, 6)
    1.063262
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
    outs = []
    for i, z in enumerate(logits):
        if isinstance(z, (Value, numbers.Real)) or len(z := list(z)) < 2:
            raise ValueError(f"cross_entropy: sample {i} has a single logit; give one list of "
                             "class logits per sample (for one output use bce_with_logits_loss)")
        if outs and len(z) != len(outs[0]):
            raise ValueError(f"cross_entropy: sample {i} has {len(z)} logits, sample 0 has "
                             f"{len(outs[0])}")
        outs.append([v if type(v) is Value else Value(v, requires_grad=False) for v in z])
    k = len(outs[0])
    _check_cross_entropy(target, k)
    rows = _rows_cross_entropy(target, k, weight)
    losses = [_cross_entropy_total(z, row) for z, row in zip(outs, rows, strict=True)]
    if reduction == "none":
        return losses
    if reduction == "sum":
        return vsum(losses)
    if reduction == "mean":
        total = vsum(losses)
        norm = len(losses) if weight is None else math.fsum(sum(r) for r in rows)
        return total * (1.0 / norm)
    raise ValueError(f"cross_entropy: reduction must be 'mean', 'sum' or 'none', got "
                     f"{reduction!r}")


# -- multi-class helpers ------------------------------------------------------------------


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


# -- decisions and probabilities -----------------------------------------------------------


def _as_row(output_row: Any) -> list[float]:
    kind = type(output_row)
    if kind is float:
        return [output_row]
    if kind is list and output_row and type(output_row[0]) is float:
        return output_row  # the common case: a row of floats from a stepper
    if isinstance(output_row, Value):
        return [output_row.data]
    if isinstance(output_row, numbers.Real):
        return [float(output_row)]
    return [v.data if isinstance(v, Value) else float(v) for v in output_row]


def _argmax(xs: Sequence[float]) -> int:
    """The index of the first largest value."""
    return xs.index(max(xs))


def _argmax_rows(outputs: Any) -> Any:
    """:func:`_argmax` of each row of a ``(N, k)`` numpy array, as Python reads it: ``max``
    keeps its running maximum unless a value is greater, and nothing is greater than NaN
    nor is NaN greater than anything, so a row whose first value is NaN gives 0 and any
    other NaN is passed over; ties give the first largest value."""
    import numpy as np

    nan = np.isnan(outputs)
    best = np.argmax(np.where(nan, -np.inf, outputs), axis=1)
    return np.where(nan[:, 0], 0, best)


def _threshold(cut: float) -> Callable[[Any], int]:
    def decide(output_row: Any) -> int:
        row = _as_row(output_row)
        return int(row[0] > cut) if len(row) == 1 else _argmax(row)

    def rows(outputs: Any) -> Any:
        return (outputs[:, 0] > cut).astype(int) if outputs.shape[1] == 1 else (
            _argmax_rows(outputs))

    decide.__doc__ = f"Class 1 when the one output exceeds {cut}; else the largest output."
    decide.rows = rows  # type: ignore[attr-defined]
    return decide


def _decide_argmax(output_row: Any) -> int:
    """The index of the largest output (the first one on a tie)."""
    return _argmax(_as_row(output_row))


_decide_argmax.rows = _argmax_rows  # type: ignore[attr-defined]


def _sigmoid(z: float) -> float:
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def _proba_binary(squash: Callable[[float], float]) -> Callable[[Any], list[float]]:
    def proba(output_row: Any) -> list[float]:
        row = [squash(v) for v in _as_row(output_row)]
        return [1.0 - row[0], row[0]] if len(row) == 1 else row
    return proba


def _proba_softmax(output_row: Any) -> list[float]:
    row = _as_row(output_row)
    m = max(row)
    es = [math.exp(v - m) for v in row]
    total = math.fsum(es)
    return [e / total for e in es]


def _no_proba(output_row: Any) -> None:
    return None


def _encode_binary(low: float) -> Callable[[int, int], Any]:
    def encode(class_index: int, n_outputs: int) -> Any:
        if n_outputs == 1:
            if class_index not in (0, 1):
                raise ValueError(f"class {class_index} for a model with one output: expected "
                                 "0 or 1 (two classes)")
            return 1.0 if class_index else low
        if not 0 <= class_index < n_outputs:
            raise ValueError(f"class {class_index} for a model with {n_outputs} outputs")
        return [1.0 if j == class_index else low for j in range(n_outputs)]
    encode.__doc__ = (f"Class ``c`` -> 1.0 / {low} for one output, else the vector with 1.0 "
                      f"at ``c`` and {low} elsewhere.")
    return encode


def _encode_index(class_index: int, n_outputs: int) -> int:
    if not 0 <= class_index < n_outputs:
        raise ValueError(f"class {class_index} for a model with {n_outputs} outputs")
    return int(class_index)


def _no_output_check(outputs: Sequence[Sequence[float]]) -> None:
    return None


def _check_probabilities(outputs: Sequence[Sequence[float]]) -> None:
    for i, row in enumerate(outputs):
        for p in row:
            if not 0.0 <= p <= 1.0:
                raise ValueError(f"bce_loss: prediction {i} is {p!r}, not a probability in "
                                 "[0, 1] (for logits use bce_with_logits_loss, or end the model "
                                 "with a sigmoid)")


# -- the registry ----------------------------------------------------------------------


@dataclass(frozen=True)
class LossSpec:
    """Everything the training loop and the compiled path know about one loss.

    Attributes:
        name: The name ``fit`` and the command line accept (``"bce_logits"``).
        fn: The batch function, ``fn(outputs, targets, reduction='mean', **options)``.
        per_sample: ``per_sample(outs, row) -> Value``: one sample's loss from its
            outputs (a list of Values) and its target row (numbers or placeholder
            Values, from :attr:`rows`); branch-free, so one trace serves every
            sample. ``fn``'s mean is its mean over the batch (for ``cross_entropy``
            with ``weight``: the sum divided by :attr:`normalizer` of the rows).
        rows: ``rows(targets, n_outputs, weight=None, **options) -> list[list]``:
            each sample's target row (targets as ``fn`` takes them; ``weight`` as
            ``fn`` takes it; ``pos_weight`` for ``bce_logits``, ``margin`` for
            ``hinge``). Checks the weights, not the targets.
        normalizer: ``normalizer(rows) -> float``: what ``'mean'`` divides the sum of
            the per-sample losses by, over a batch, so that the mean of the per-sample
            losses scaled by ``len(rows) / normalizer(rows)`` is ``fn``'s mean.
        kind: ``"classify"`` or ``"regress"``.
        output: The output activation the loss expects: ``"logits"``,
            ``"probability"`` (a sigmoid output), ``"margin"`` or ``"linear"``.
        encode: ``encode(class_index, n_outputs)``: the target this loss wants for a
            class (+-1 for hinge, 0/1 for bce, the index for cross_entropy, a
            one-hot vector for several outputs).
        decide: ``decide(output_row) -> int``: the class a row of outputs (a float
            or a list) predicts; accuracy and ``predict`` use it. ``decide.rows(outputs)``
            is the same rule on each row of a ``(N, k)`` numpy array (NaN and ties
            included), for the compiled path's outputs.
        check: ``check(targets, n_outputs)``: raises ValueError naming the loss, the
            bad value and the fix.
        check_outputs: ``check_outputs(rows of floats)``: raises ValueError for
            outputs the loss cannot take (``bce`` outside [0, 1]).
        output_range: The outputs' valid interval (``(0, 1)`` for ``bce``) or None;
            what :attr:`check_outputs` checks, for vectorised callers.
        proba: ``proba(output_row) -> list[float] | None``: class probabilities
            (``[1 - p, p]`` for one output), None when the loss has none.
        options: The keyword options of ``fn`` beyond ``reduction``.
        outputs: What a classifier's outputs must be: ``"one"`` (two classes, one
            output: ``bce``, ``bce_logits``, ``hinge``), ``"per_class"`` (one output
            per class and class-index targets only, never numbers to regress:
            ``cross_entropy``) or ``"any"`` (``mse``: one output, or one-hot).
        class_weight: ``class_weight(weights) -> options``: per-class weights (in
            class-index order) as ``fn``'s options (``weight``, ``pos_weight``), or
            None when the loss takes no class weights.
    """

    name: str
    fn: Callable[..., Value | list[Value]]
    per_sample: Callable[[list[Value], Sequence[Any]], Value]
    rows: Callable[..., list[list[Any]]]
    normalizer: Callable[[list[list[float]]], float]
    kind: str
    output: str
    encode: Callable[[int, int], Any]
    decide: Callable[[Any], int]
    check: Callable[[Sequence[Any], int], None]
    check_outputs: Callable[[Sequence[Sequence[float]]], None]
    output_range: tuple[float, float] | None
    proba: Callable[[Any], list[float] | None]
    options: tuple[str, ...]
    outputs: str = "any"
    class_weight: Callable[[list[float]], dict[str, Any]] | None = None

    def __repr__(self) -> str:
        return f"LossSpec({self.name!r}, output={self.output!r})"


def _elementwise_rows(build: Callable[..., list[list[Any]]], name: str
                      ) -> Callable[..., list[list[Any]]]:
    def rows(targets: Sequence[Any], n_outputs: int, weight: Any = None,
             **options: Any) -> list[list[Any]]:
        ts = [list(t) if isinstance(t, (list, tuple)) else [t] for t in targets]
        if "pos_weight" in options:
            options["pos_weight"] = _pos_weight(options["pos_weight"], n_outputs, name)
        return build(ts, _weights(weight, [len(t) for t in ts], name), **options)
    return rows


def _count(rows: list[list[float]]) -> float:
    return float(len(rows))


def _weight_sum(rows: list[list[float]]) -> float:
    return math.fsum(math.fsum(r) for r in rows)


def _pos_weight_of(weights: list[float]) -> dict[str, Any]:
    if weights[0] == 0.0:
        raise ValueError("fit: class_weight gives the negative class weight 0; bce_logits "
                         "weighs positives by pos_weight = w1 / w0")
    return {"pos_weight": weights[1] / weights[0]}


def _ce_rows(targets: Sequence[Any], n_outputs: int, weight: Any = None,
             **_: Any) -> list[list[float]]:
    return _rows_cross_entropy(targets, n_outputs, weight)


#: Every loss by the name ``fit`` and the command line accept.
REGISTRY: dict[str, LossSpec] = {
    "mse": LossSpec(
        "mse", mse_loss, _elementwise(_mse_total), _elementwise_rows(_rows_mse, "mse_loss"),
        _count, "regress", "linear", _encode_binary(0.0), _threshold(0.5), _check_mse,
        _no_output_check, None, _no_proba, ("weight",)),
    "bce": LossSpec(
        "bce", bce_loss, _elementwise(_bce_total), _elementwise_rows(_rows_binary, "bce_loss"),
        _count, "classify", "probability", _encode_binary(0.0), _threshold(0.5), _check_bce,
        _check_probabilities, (0.0, 1.0), _proba_binary(lambda p: p), ("weight",), "one"),
    "bce_logits": LossSpec(
        "bce_logits", bce_with_logits_loss, _elementwise(_bce_logits_total),
        _elementwise_rows(_rows_binary, "bce_with_logits_loss"), _count, "classify", "logits",
        _encode_binary(0.0), _threshold(0.0), _check_bce_logits, _no_output_check, None,
        _proba_binary(_sigmoid), ("weight", "pos_weight"), "one", _pos_weight_of),
    "cross_entropy": LossSpec(
        "cross_entropy", cross_entropy, _cross_entropy_total, _ce_rows, _weight_sum,
        "classify", "logits", _encode_index, _decide_argmax, _check_cross_entropy,
        _no_output_check, None, _proba_softmax, ("weight",), "per_class",
        lambda weights: {"weight": weights}),
    "hinge": LossSpec(
        "hinge", hinge_loss, _elementwise(_hinge_total),
        _elementwise_rows(_rows_hinge, "hinge_loss"), _count, "classify", "margin",
        _encode_binary(-1.0), _threshold(0.0), _check_hinge, _no_output_check, None,
        _no_proba, ("margin", "weight"), "one"),
}

#: Losses by name: the batch functions of :data:`REGISTRY` (kept for compatibility).
LOSSES: dict[str, Callable[..., Value | list[Value]]] = {n: s.fn for n, s in REGISTRY.items()}


def spec_of(loss: str | Callable | LossSpec) -> LossSpec | None:
    """The :class:`LossSpec` of a loss given by name, batch function or spec; None for
    any other function (a user's own loss)."""
    if isinstance(loss, LossSpec):
        return loss
    if isinstance(loss, str):
        return REGISTRY.get(loss)
    return next((s for s in REGISTRY.values() if s.fn is loss), None)
