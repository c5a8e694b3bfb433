"""Helpers for layers that take tensors: nested lists of ``Value``s, and gradient clipping.

dagrad has no tensor type. A tensor is a nested list (or tuple) of scalars,
``Value``s or plain numbers, indexed like PyTorch's: an image is
``x[channel][row][column]``, a batch of images ``x[sample][channel][row][column]``.
This module holds the few functions every such layer needs:

* :func:`shape` reads (and checks) the shape of a nested list, so a layer can
  name the expected and the received shape when they differ;
* :func:`apply_elementwise`, :func:`flatten_values` and :func:`to_data` walk
  the leaves;
* :func:`clip_grad_norm` and :func:`clip_grad_value` rescale gradients in
  place, as ``torch.nn.utils.clip_grad_norm_`` and ``clip_grad_value_``;
* :func:`make_rng` turns a seed into a random generator, the one rule every
  layer, data set and task of ``nn`` follows.

>>> from engine import Value
>>> x = [[Value(1.0), Value(-2.0)], [Value(3.0), Value(0.5)]]
>>> shape(x)
(2, 2)
>>> to_data(apply_elementwise(lambda v: v.relu(), x))
[[1.0, 0.0], [3.0, 0.5]]
"""

from __future__ import annotations

import math
import numbers
import random
from collections.abc import Callable, Iterable
from typing import Any

from engine import Value
from engine.ops import f_max, f_pow

__all__ = [
    "apply_elementwise", "clip_grad_norm", "clip_grad_norm_", "clip_grad_value",
    "clip_grad_value_", "expand_ints", "flatten_values", "format_shape", "lift", "make_rng",
    "shape", "to_data", "to_values", "unflatten",
]

_SEQ = (list, tuple)

#: The generator behind the ``random`` module's functions (``random.seed`` seeds it).
GLOBAL_RNG: random.Random = random.random.__self__  # type: ignore[attr-defined]


def make_rng(rng: random.Random | int | None) -> random.Random:
    """The random generator for an ``rng`` argument: the one rule of ``nn``.

    * an int: a new ``random.Random(rng)`` (the same numbers on every run);
    * a ``random.Random`` (or the ``random`` module itself): used as it is, so
      several layers can share one stream;
    * ``None``: the generator behind the ``random`` module's functions, as
      micrograd uses (``random.seed(1337)`` beforehand makes it reproducible).

    Args:
        rng: An int seed, a ``random.Random``, the ``random`` module, or None.

    Returns:
        A ``random.Random``.

    Raises:
        TypeError: ``rng`` is none of those (a bool or a float is refused).

    >>> make_rng(3).random() == random.Random(3).random()
    True
    >>> g = random.Random(0); make_rng(g) is g
    True
    >>> make_rng(None) is make_rng(random)
    True
    """
    if rng is None or rng is random:
        return GLOBAL_RNG
    if isinstance(rng, random.Random):
        return rng
    if isinstance(rng, numbers.Integral) and not isinstance(rng, bool):
        return random.Random(int(rng))
    raise TypeError(f"rng: expected a random.Random, an int seed or None, got "
                    f"{type(rng).__name__}")


def shape(x: Any, where: str = "tensor") -> tuple[int, ...]:
    """The shape of a nested list, checked to be rectangular.

    Args:
        x: A scalar (``Value`` or number) or a nested list/tuple of them.
        where: Who is asking, for the error message (e.g. a layer's repr).

    Returns:
        The lengths along each level, ``()`` for a scalar.

    Raises:
        ValueError: The nesting is ragged (rows of different lengths, or a
            list where a scalar belongs); the message gives the index.

    >>> shape([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]])
    (2, 3)
    >>> shape([[1.0, 2.0], [3.0]])
    Traceback (most recent call last):
    ...
    ValueError: tensor: ragged nested list: x[1] has length 1, expected 2 (as x[0])
    """
    dims: list[int] = []
    t = x
    while isinstance(t, _SEQ):
        dims.append(len(t))
        if not t:
            break
        t = t[0]
    _check_rectangular(x, dims, 0, "x", where)
    return tuple(dims)


def _check_rectangular(x: Any, dims: list[int], depth: int, index: str, where: str) -> None:
    if depth == len(dims):
        if isinstance(x, _SEQ):
            raise ValueError(f"{where}: ragged nested list: {index} is a list where the other "
                             f"entries at this depth are scalars")
        return
    if not isinstance(x, _SEQ):
        raise ValueError(f"{where}: ragged nested list: {index} is a scalar, expected a list of "
                         f"length {dims[depth]}")
    if len(x) != dims[depth]:
        first = index[: index.rfind("[")] + "[0]"
        raise ValueError(f"{where}: ragged nested list: {index} has length {len(x)}, expected "
                         f"{dims[depth]} (as {first})")
    if depth + 1 == len(dims):
        for i, v in enumerate(x):
            if isinstance(v, _SEQ):
                raise ValueError(f"{where}: ragged nested list: {index}[{i}] is a list where the "
                                 f"other entries at this depth are scalars")
        return
    for i, v in enumerate(x):
        _check_rectangular(v, dims, depth + 1, f"{index}[{i}]", where)


def format_shape(dims: Iterable[int | str]) -> str:
    """Write a shape the way error messages do: ``[2][8][8]``.

    >>> format_shape((1, "H", "W"))
    '[1][H][W]'
    """
    return "".join(f"[{d}]" for d in dims) or "a scalar"


def apply_elementwise(fn: Callable[[Any], Any], x: Any) -> Any:
    """``fn`` applied to every scalar of a nested list, keeping the nesting (as lists).

    >>> apply_elementwise(lambda v: 2 * v, [[1, 2], [3, 4]])
    [[2, 4], [6, 8]]
    """
    if isinstance(x, _SEQ):
        return [apply_elementwise(fn, v) for v in x]
    return fn(x)


def flatten_values(x: Any) -> list:
    """The scalars of a nested list in row-major order (PyTorch's ``flatten``).

    >>> flatten_values([[[1, 2]], [[3, 4]]])
    [1, 2, 3, 4]
    """
    out: list = []
    stack = [x]
    while stack:
        t = stack.pop()
        if isinstance(t, _SEQ):
            stack.extend(reversed(t))
        else:
            out.append(t)
    return out


def unflatten(flat: list, dims: tuple[int, ...] | list[int]) -> Any:
    """The inverse of :func:`flatten_values`: a row-major list as nested lists of shape ``dims``.

    Raises:
        ValueError: ``flat`` does not hold ``prod(dims)`` entries.

    >>> unflatten([1, 2, 3, 4, 5, 6], (2, 3))
    [[1, 2, 3], [4, 5, 6]]
    """
    if len(flat) != math.prod(dims):
        raise ValueError(f"unflatten: {len(flat)} values do not fill shape {format_shape(dims)}")
    if not dims:
        return flat[0]
    out = list(flat)
    for d in reversed(dims[1:]):
        out = [out[i:i + d] for i in range(0, len(out), d)]
    return out


def to_data(x: Any) -> Any:
    """The floats behind a nested list of ``Value``s (numbers pass through as floats).

    >>> to_data([Value(1.5), 2])
    [1.5, 2.0]
    """
    if isinstance(x, _SEQ):
        return [to_data(v) for v in x]
    return x.data if isinstance(x, Value) else float(x)


def to_values(x: Any, requires_grad: bool = True) -> Any:
    """A nested list of numbers as a nested list of leaf ``Value``s.

    Args:
        x: Numbers (or ``Value``s, whose data is copied) in any nesting.
        requires_grad: Whether the new leaves get gradients.

    Returns:
        The same nesting, as lists of new ``Value`` leaves.

    >>> v = to_values([[1.0, 2.0]]); v[0][1]
    Value(data=2.0, grad=None)
    """
    if isinstance(x, _SEQ):
        return [to_values(v, requires_grad) for v in x]
    return Value(x.data if isinstance(x, Value) else x, requires_grad=requires_grad)


def lift(x: Any) -> Any:
    """A nested list whose numbers become constant ``Value``s; ``Value``s are kept.

    Layers lift their input once, so a pixel read by nine windows is one
    constant node, not nine.

    >>> y = lift([2.0, Value(1.0)]); y[0].requires_grad, y[1].requires_grad
    (False, True)
    """
    if isinstance(x, _SEQ):
        return [lift(v) for v in x]
    return x if type(x) is Value else Value(x, requires_grad=False)


# -- gradient clipping ------------------------------------------------------------


def _grads(parameters: Value | Iterable[Value]) -> list[Value]:
    if isinstance(parameters, Value):
        parameters = [parameters]
    params = list(parameters)
    for i, p in enumerate(params):
        if not isinstance(p, Value):
            raise TypeError(f"clip_grad: parameter {i} is a {type(p).__name__}, not a Value")
    return [p for p in params if p.grad is not None]


def clip_grad_norm(parameters: Value | Iterable[Value], max_norm: float,
                   norm_type: float = 2.0, error_if_nonfinite: bool = False) -> float:
    """Rescale gradients so that their global norm is at most ``max_norm``.

    As ``torch.nn.utils.clip_grad_norm_``: the norm is taken over all
    gradients together (parameters whose ``grad`` is ``None`` are skipped);
    when it exceeds ``max_norm`` every gradient is multiplied by
    ``max_norm / (norm + 1e-6)``. Only ``.grad`` changes; no graph is built.
    Use it between ``loss.backward()`` and ``optimizer.step()``, for example
    to tame exploding gradients in backpropagation through time.

    Args:
        parameters: A ``Value`` or an iterable of them (e.g. ``model.parameters()``).
        max_norm: The largest allowed norm.
        norm_type: The p of the p-norm; ``math.inf`` for the largest absolute value.
        error_if_nonfinite: Raise if the norm is NaN or infinite (otherwise
            the gradients are scaled anyway, as in PyTorch: a NaN norm makes
            them all NaN, an infinite one makes the finite ones 0).

    The arithmetic is IEEE's, as PyTorch's float64: a NaN gradient anywhere
    gives a NaN norm (also for ``norm_type=inf``), and a norm past the float
    range is ``inf`` (e.g. ``norm_type=3`` with a gradient of ``1e200``), never
    an ``OverflowError``.

    Returns:
        The total norm before clipping.

    Raises:
        ValueError: ``max_norm`` is negative or ``norm_type`` is not positive.
        RuntimeError: The norm is not finite and ``error_if_nonfinite`` is set.

    >>> a, b = Value(1.0), Value(1.0)
    >>> a.grad, b.grad = 3.0, 4.0
    >>> clip_grad_norm([a, b], max_norm=1.0)
    5.0
    >>> round(a.grad, 6), round(b.grad, 6)
    (0.6, 0.8)
    """
    max_norm, norm_type = float(max_norm), float(norm_type)
    if max_norm < 0.0 or max_norm != max_norm:
        raise ValueError(f"clip_grad_norm: max_norm must be >= 0, got {max_norm}")
    if not norm_type > 0.0:
        raise ValueError(f"clip_grad_norm: norm_type must be > 0 (or math.inf), got {norm_type}")
    params = _grads(parameters)
    if not params:
        return 0.0
    gs = [abs(float(p.grad)) for p in params]
    if len(gs) == 1:  # torch's vector_norm of one element is its absolute value, any p
        total = gs[0]
    elif norm_type == math.inf:
        total = f_max(*gs)  # a NaN anywhere gives NaN (Python's max skips a later NaN)
    elif norm_type == 2.0:
        total = math.sqrt(_sum_nonnegative([g * g for g in gs]))
    else:
        total = f_pow(_sum_nonnegative([f_pow(g, norm_type) for g in gs]), 1.0 / norm_type)
    if error_if_nonfinite and not math.isfinite(total):
        raise RuntimeError(
            f"clip_grad_norm: the total norm of order {norm_type} of the gradients is {total}; "
            "set error_if_nonfinite=False to clip anyway (the gradients become NaN)"
        )
    coef = max_norm / (total + 1e-6)
    if coef < 1.0 or coef != coef:
        for p in params:
            p.grad = p.grad * coef
    return total


def _sum_nonnegative(xs: list[float]) -> float:
    """An exact sum of non-negative floats (or NaN); ``inf`` when it exceeds the float range."""
    try:
        return math.fsum(xs)
    except OverflowError:  # finite terms whose sum overflows: the sum is +inf, as torch's
        return math.inf


def clip_grad_value(parameters: Value | Iterable[Value], clip_value: float) -> None:
    """Clamp every gradient to ``[-clip_value, clip_value]``, as
    ``torch.nn.utils.clip_grad_value_``.

    >>> a = Value(1.0); a.grad = -7.0
    >>> clip_grad_value([a], 2.0); a.grad
    -2.0
    """
    c = float(clip_value)
    if not c >= 0.0:
        raise ValueError(f"clip_grad_value: clip_value must be >= 0, got {clip_value}")
    for p in _grads(parameters):
        g = float(p.grad)
        if g > c:
            p.grad = c
        elif g < -c:
            p.grad = -c


#: PyTorch's spellings (the trailing underscore marks an in-place change).
clip_grad_norm_ = clip_grad_norm
clip_grad_value_ = clip_grad_value


def expand_ints(value: Any, n: int, name: str, where: str, minimum: int = 0) -> tuple[int, ...]:
    """An int or a tuple of ``n`` ints as a tuple of ``n`` ints, checked against ``minimum``.

    PyTorch's ``_pair``: ``kernel_size=3`` means ``(3, 3)`` for a 2-D layer.

    Raises:
        ValueError: Not an int or ``n`` ints, or below ``minimum``; names ``where`` and ``name``.

    >>> expand_ints(3, 2, "kernel_size", "Conv2d", minimum=1)
    (3, 3)
    """
    if isinstance(value, numbers.Integral) and not isinstance(value, bool):
        values: tuple = (int(value),) * n
    elif (isinstance(value, _SEQ) and len(value) == n
          and all(isinstance(v, numbers.Integral) and not isinstance(v, bool) for v in value)):
        values = tuple(int(v) for v in value)
    else:
        raise ValueError(f"{where}: {name} must be an int or a tuple of {n} ints, got {value!r}")
    if any(v < minimum for v in values):
        raise ValueError(f"{where}: {name} must be >= {minimum}, got {value!r}")
    return values
