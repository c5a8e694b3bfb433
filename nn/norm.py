"""Normalization layers: ``LayerNorm``, ``BatchNorm1d``, ``BatchNorm2d``.

Both normalize a group of values to zero mean and unit variance, then scale
and shift them with learned ``weight`` (init 1) and ``bias`` (init 0):

    y = (x - mean) / sqrt(var + eps) * weight + bias

with the biased variance ``mean((x - mean)**2)`` and ``eps`` **inside** the
square root, as PyTorch does. The variance is computed in two passes from the
deviations ``x - mean`` (never as ``E[x**2] - mean**2``, which cancels
catastrophically when ``|mean| >> std``). Every step is an engine op, so the
backward pass (the famously fiddly batch-norm gradient, where every output
depends on every input of its group through the mean and the variance) is
the engine's usual DP: nothing here is differentiated by hand.

Per group of ``n`` values the graph is: one ``dot`` node for the mean (weights
``1/n``), ``n`` ``sub`` nodes for the deviations, a ``dot`` (their sum of
squares) and a ``mul`` (by ``1/n``) for the variance, ``add``, ``sqrt`` and
``div`` for ``1 / sqrt(var + eps)``, a ``mul`` for BatchNorm's scale
``weight / sqrt(var + eps)``, then per output one ``dot`` node fusing the
scale and the shift (LayerNorm, whose weight is per element, uses two nodes
per output).

* ``LayerNorm(normalized_shape)`` normalizes each sample over its last
  ``len(normalized_shape)`` dimensions (input ``[..., *normalized_shape]``,
  any leading dimensions, none included).
* ``BatchNorm1d(C)`` normalizes each channel over the batch: input ``[N][C]``
  or ``[N][C][L]`` (a batch is a list of samples; the statistics are taken
  over N, and L). ``BatchNorm2d(C)``: input ``[N][C][H][W]``, statistics
  over N, H and W.

BatchNorm in training mode (``module.train()``, the default) normalizes with
the batch's statistics and updates the running statistics, buffers of plain
floats (never graph nodes), as PyTorch does: ``running = (1 - momentum) *
running + momentum * batch`` with the **unbiased** batch variance for
``running_var`` (``momentum=None``: a cumulative average). In evaluation mode
(``module.eval()``) it uses the running statistics, so each output depends on
its own input only. ``track_running_stats=False`` always uses batch statistics.

>>> ln = LayerNorm(3)  # mean 3, deviations (-2, -1, 3), variance 14/3
>>> [round(v.data, 4) for v in ln([1.0, 2.0, 6.0])]  # deviations / sqrt(14/3 + 1e-5)
[-0.9258, -0.4629, 1.3887]
"""

from __future__ import annotations

import math
import numbers
from typing import Any

import engine
from engine import Value
from engine.ops import f_div, f_sqrt
from nn.module import Module
from nn.utils import expand_ints, flatten_values, format_shape, lift, shape, unflatten

__all__ = ["BatchNorm1d", "BatchNorm2d", "LayerNorm", "batch_norm", "layer_norm"]

def _statistics(xs: list[Value], eps: float) -> tuple[Value, list[Value], Value, Value]:
    """Mean, deviations, biased variance and ``1 / sqrt(var + eps)`` of one group, as nodes."""
    n = len(xs)
    c = Value(1.0 / n, requires_grad=False)
    mean = engine.dot([c] * n, xs)
    dev = [x - mean for x in xs]
    var = engine.dot(dev, dev) * c
    inv_std = 1.0 / (var + eps).sqrt()
    return mean, dev, var, inv_std


def _check_eps(eps: Any, where: str) -> float:
    if isinstance(eps, bool) or not isinstance(eps, numbers.Real) or not eps >= 0.0:
        raise ValueError(f"{where}: eps must be a number >= 0, got {eps!r}")
    return float(eps)


def _layer_norm_group(xs: list, weight: list | None, bias: list | None, eps: float) -> list:
    _, dev, _, inv_std = _statistics(xs, eps)
    xhat = [d * inv_std for d in dev]
    if weight is None:
        return xhat if bias is None else [x + b for x, b in zip(xhat, bias, strict=True)]
    if bias is None:
        return [x * w for x, w in zip(xhat, weight, strict=True)]
    return [engine.dot((w,), (x,), b) for x, w, b in zip(xhat, weight, bias, strict=True)]


def layer_norm(x: Any, normalized_shape: int | tuple[int, ...], weight: Any = None,
               bias: Any = None, eps: float = 1e-5, where: str = "layer_norm") -> Any:
    """Layer normalization, as ``torch.nn.functional.layer_norm``.

    Args:
        x: ``[..., *normalized_shape]`` (Values or numbers).
        normalized_shape: The trailing dimensions to normalize over.
        weight: Per-element scale of shape ``normalized_shape``, or None.
        bias: Per-element shift of shape ``normalized_shape``, or None.
        eps: Added to the variance inside the square root.
        where: The caller, for error messages.

    Returns:
        The normalized tensor, same shape as ``x``.

    Raises:
        ValueError: The trailing dimensions of ``x`` are not ``normalized_shape``.

    >>> [round(v.data, 6) for v in layer_norm([2.0, 4.0], 2, eps=0.0)]
    [-1.0, 1.0]
    """
    dims = _normalized_shape(normalized_shape, where)
    got = shape(x, where)
    k = len(dims)
    if len(got) < k or got[len(got) - k:] != dims:
        lead = "[...]" if got else ""
        raise ValueError(f"{where}: expected input {lead}{format_shape(dims)} (any leading "
                         f"dimensions), got {format_shape(got)}")
    eps = _check_eps(eps, where)
    w = None if weight is None else flatten_values(lift(weight))
    b = None if bias is None else flatten_values(lift(bias))
    for name, p in (("weight", w), ("bias", b)):
        if p is not None and len(p) != math.prod(dims):
            raise ValueError(f"{where}: {name} must have shape {format_shape(dims)}")

    def walk(t: Any, depth: int) -> Any:
        if depth == len(got) - k:
            return unflatten(_layer_norm_group(flatten_values(lift(t)), w, b, eps), dims)
        return [walk(s, depth + 1) for s in t]

    return walk(x, 0)


def _normalized_shape(normalized_shape: Any, where: str) -> tuple[int, ...]:
    if isinstance(normalized_shape, numbers.Integral) and not isinstance(normalized_shape, bool):
        normalized_shape = (normalized_shape,)
    if not isinstance(normalized_shape, (list, tuple)) or not normalized_shape:
        raise ValueError(f"{where}: normalized_shape must be an int or a non-empty tuple of "
                         f"ints, got {normalized_shape!r}")
    return expand_ints(tuple(normalized_shape), len(normalized_shape), "normalized_shape",
                       where, minimum=1)


def batch_norm(x: Any, running_mean: list[float] | None, running_var: list[float] | None,
               weight: Any = None, bias: Any = None, training: bool = False,
               momentum: float | None = 0.1, eps: float = 1e-5,
               num_batches_tracked: float = 0.0, where: str = "batch_norm") -> list:
    """Batch normalization, as ``torch.nn.functional.batch_norm``.

    Args:
        x: A batch ``[N][C]``, ``[N][C][L]`` or ``[N][C][H][W]``.
        running_mean: ``C`` floats, updated in place when ``training`` (or None).
        running_var: ``C`` floats, updated in place with the unbiased batch variance.
        weight: ``C`` scales, or None.
        bias: ``C`` shifts, or None.
        training: Use (and record) the batch statistics; otherwise use the running ones.
        momentum: Weight of the new batch in the running average; None for a
            cumulative average (which needs ``num_batches_tracked``, counting this batch).
        eps: Added to the variance inside the square root.
        num_batches_tracked: Batches seen including this one (for ``momentum=None``).
        where: The caller, for error messages.

    Returns:
        The normalized batch, same shape as ``x``.

    Raises:
        ValueError: A shape does not fit, training with one value per channel,
            or evaluation without running statistics.

    >>> mean, var = [0.0], [1.0]
    >>> y = batch_norm([[1.0], [3.0]], mean, var, training=True, eps=0.0)
    >>> [round(s[0].data, 6) for s in y], mean, var
    ([-1.0, 1.0], [0.2], [1.1])
    """
    dims = shape(x, where)
    if len(dims) < 2 or 0 in dims:
        raise ValueError(f"{where}: expected a batch [N][C]..., got {format_shape(dims)}")
    channels = dims[1]
    eps = _check_eps(eps, where)
    if not training and (running_mean is None or running_var is None):
        raise ValueError(f"{where}: evaluation mode needs running_mean and running_var")
    count = dims[0] * math.prod(dims[2:])
    if training and count < 2:
        raise ValueError(f"{where}: expected more than 1 value per channel when training, got "
                         f"input {format_shape(dims)} (use a batch of 2 or more samples)")
    x = lift(x)
    w = None if weight is None else lift(list(weight))
    b = None if bias is None else lift(list(bias))
    # the values of channel c, in batch order: x[n][c] flattened
    groups = [[v for sample in x for v in flatten_values(sample[c])] for c in range(channels)]
    outs = []
    for c, xs in enumerate(groups):
        if training:
            mean, dev, var, inv_std = _statistics(xs, eps)
            if running_mean is not None and running_var is not None:
                f = f_div(1.0, num_batches_tracked) if momentum is None else momentum
                unbiased = var.data * count / (count - 1)
                running_mean[c] = (1.0 - f) * running_mean[c] + f * mean.data
                running_var[c] = (1.0 - f) * running_var[c] + f * unbiased
            scale = inv_std if w is None else inv_std * w[c]
            shift = b[c] if b is not None else None
            outs.append([engine.dot((scale,), (d,), shift) for d in dev])
        else:
            inv = f_div(1.0, f_sqrt(running_var[c] + eps))  # var 0, eps 0: inf, as torch
            scale = Value(inv, requires_grad=False) if w is None else w[c] * inv
            shift = (0.0 if b is None else b[c]) - scale * running_mean[c]
            shift = shift if isinstance(shift, Value) else Value(shift, requires_grad=False)
            outs.append([engine.dot((scale,), (v,), shift) for v in xs])
    per_sample = len(groups[0]) // dims[0]
    inner = dims[2:]
    return [[unflatten(outs[c][i * per_sample:(i + 1) * per_sample], inner)
             for c in range(channels)] for i in range(dims[0])]


class LayerNorm(Module):
    """Layer normalization over the trailing dimensions, as ``torch.nn.LayerNorm``.

    Args:
        normalized_shape: An int or a tuple: the trailing dimensions of the
            input normalized together (``[C][H][W]`` normalizes whole images).
        eps: Added to the variance inside the square root.
        elementwise_affine: Learn a per-element ``weight`` (init 1) and ``bias`` (init 0).
        bias: Learn the bias (with ``elementwise_affine``).

    The parameters are nested lists of shape ``normalized_shape``
    (``weight.i``, ``bias.i`` in one dimension), as PyTorch's.

    >>> ln = LayerNorm(2)
    >>> ln
    LayerNorm((2,), eps=1e-05, elementwise_affine=True)
    >>> [[round(v.data, 3) for v in row] for row in ln([[1.0, 3.0], [5.0, 5.0]])]
    [[-1.0, 1.0], [0.0, 0.0]]
    """

    def __init__(self, normalized_shape: int | tuple[int, ...], eps: float = 1e-5,
                 elementwise_affine: bool = True, bias: bool = True) -> None:
        super().__init__()
        self.normalized_shape = _normalized_shape(normalized_shape, "LayerNorm")
        self.eps = _check_eps(eps, "LayerNorm")
        self.elementwise_affine = bool(elementwise_affine)
        n = math.prod(self.normalized_shape)
        self.weight = (unflatten([Value(1.0) for _ in range(n)], self.normalized_shape)
                       if elementwise_affine else None)
        self.bias = (unflatten([Value(0.0) for _ in range(n)], self.normalized_shape)
                     if elementwise_affine and bias else None)

    def forward(self, x: Any) -> Any:
        """Normalize each group of ``x``'s trailing dimensions."""
        return layer_norm(x, self.normalized_shape, self.weight, self.bias, self.eps,
                          where=f"LayerNorm({self.extra_repr()})")

    def config(self) -> dict[str, Any]:
        """Constructor arguments."""
        return {"normalized_shape": list(self.normalized_shape), "eps": self.eps,
                "elementwise_affine": self.elementwise_affine, "bias": self.bias is not None}

    def extra_repr(self) -> str:
        text = f"{self.normalized_shape}, eps={self.eps}, elementwise_affine=" \
               f"{self.elementwise_affine}"
        if self.elementwise_affine and self.bias is None:
            text += ", bias=False"
        return text


class _BatchNorm(Module, register=False):
    """What ``BatchNorm1d`` and ``BatchNorm2d`` share."""

    compilable = False  # batch statistics and running buffers: not one traced sample

    _ranks: tuple[int, ...] = (2, 3)
    _layout = "[N][C] or [N][C][L]"

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1,
                 affine: bool = True, track_running_stats: bool = True) -> None:
        super().__init__()
        name = type(self).__name__
        self.num_features = expand_ints(num_features, 1, "num_features", name, minimum=1)[0]
        self.eps = _check_eps(eps, name)
        if momentum is not None and (isinstance(momentum, bool) or
                                     not isinstance(momentum, numbers.Real)
                                     or not 0.0 <= momentum <= 1.0):
            raise ValueError(f"{name}: momentum must be in [0, 1] or None, got {momentum!r}")
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        self.track_running_stats = bool(track_running_stats)
        c = self.num_features
        self.weight = [Value(1.0) for _ in range(c)] if affine else None
        self.bias = [Value(0.0) for _ in range(c)] if affine else None
        if track_running_stats:
            self.register_buffer("running_mean", [0.0] * c)
            self.register_buffer("running_var", [1.0] * c)
            self.register_buffer("num_batches_tracked", 0.0)

    def reset_running_stats(self) -> None:
        """Running mean 0, running variance 1, no batch seen."""
        if self.track_running_stats:
            self.running_mean = [0.0] * self.num_features
            self.running_var = [1.0] * self.num_features
            self.num_batches_tracked = 0.0

    def forward(self, x: Any) -> list:
        """Normalize a batch (a list of samples); see the module docstring for the modes."""
        where = f"{type(self).__name__}({self.extra_repr()})"
        dims = shape(x, where)
        if len(dims) not in self._ranks or dims[1] != self.num_features or 0 in dims:
            c = self.num_features
            layouts = self._layout.replace("[C]", f"[{c}]")
            raise ValueError(f"{where}: expected a batch {layouts} (a list of samples), got "
                             f"{format_shape(dims)}")
        use_batch = self.training or not self.track_running_stats
        tracking = self.training and self.track_running_stats
        out = batch_norm(
            x, self.running_mean if tracking or not use_batch else None,
            self.running_var if tracking or not use_batch else None, self.weight, self.bias,
            training=use_batch, momentum=self.momentum, eps=self.eps,
            num_batches_tracked=self.num_batches_tracked + 1.0 if tracking else 0.0, where=where)
        if tracking:
            self.num_batches_tracked += 1.0
        return out

    def config(self) -> dict[str, Any]:
        """Constructor arguments (running statistics come from the state dict)."""
        return {"num_features": self.num_features, "eps": self.eps, "momentum": self.momentum,
                "affine": self.affine, "track_running_stats": self.track_running_stats}

    def extra_repr(self) -> str:
        return (f"{self.num_features}, eps={self.eps}, momentum={self.momentum}, "
                f"affine={self.affine}, track_running_stats={self.track_running_stats}")


class BatchNorm1d(_BatchNorm):
    """Batch normalization of ``[N][C]`` or ``[N][C][L]`` batches, as ``torch.nn.BatchNorm1d``.

    Args:
        num_features: C, the number of channels (features).
        eps: Added to the variance inside the square root.
        momentum: Weight of each new batch in the running statistics; None
            for a cumulative average.
        affine: Learn ``weight`` (init 1) and ``bias`` (init 0), one per channel.
        track_running_stats: Keep ``running_mean``/``running_var`` buffers and
            use them in evaluation mode.

    >>> bn = BatchNorm1d(1)
    >>> [round(s[0].data, 4) for s in bn([[1.0], [2.0], [3.0]])]
    [-1.2247, 0.0, 1.2247]
    >>> bn.running_mean, [round(v, 6) for v in bn.running_var]
    ([0.2], [1.0])
    >>> round(bn.eval()([[2.2]])[0][0].data, 6)  # (2.2 - 0.2) / sqrt(1.0 + 1e-5)
    1.99999
    """


class BatchNorm2d(_BatchNorm):
    """Batch normalization of ``[N][C][H][W]`` batches, as ``torch.nn.BatchNorm2d``.

    Statistics per channel over the batch and all positions. Arguments as
    :class:`BatchNorm1d`.

    >>> BatchNorm2d(3)([[[[0.0]]] * 3])
    Traceback (most recent call last):
    ...
    ValueError: BatchNorm2d(3, ...): expected more than 1 value per channel when training, ...
    """

    _ranks = (4,)
    _layout = "[N][C][H][W]"
