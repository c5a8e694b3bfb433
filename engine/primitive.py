"""User-defined primitives: ``@primitive(partials=...)`` adds a row to the rule table.

A primitive is what the built-in ops are: a forward function on floats and
its local partial derivatives ``partials(m, out, *xs)``, written over the
math namespace ``m`` (:data:`engine.ops.F` for floats, :data:`engine.value.V`
for ``Value``s) so the same entry gives first-order floats and differentiable
higher-order gradients. Registering one adds an :class:`engine.ops.Op` to
:data:`engine.ops.TABLE`, and the decorated function becomes a one-line
wrapper over the choke point :func:`engine.apply`. It then works wherever the
built-ins do: ``backward``, :mod:`engine.func` (forward and reverse mode, any
order), ``no_grad``, ``gradcheck``, ``detect_anomaly``, and pictures (the op
node shows its name).

>>> import math
>>> from engine import Value, gradcheck
>>> from engine.check import gradgradcheck
>>> @primitive(partials=lambda m, out, x: (m.sigmoid(x),), name="softplus_doc")
... def softplus(x: float) -> float:
...     return max(x, 0.0) + math.log1p(math.exp(-abs(x)))  # log(1 + e**x), stable
>>> y = softplus(Value(0.0))
>>> y.op.name, round(y.data, 6)
('softplus_doc', 0.693147)
>>> gradcheck(softplus, [0.7]) and gradgradcheck(softplus, [0.7], check_forward_ad=True)
True
>>> unregister("softplus_doc")

Mistakes are caught when the primitive is registered, not as a wrong
gradient later: no ``partials``, ``partials`` taking the wrong number of
inputs, or a name already in the table raise at once; partials returning the
wrong number of derivatives raise at the first call.

NB: this is ``torch.autograd.Function`` (``forward`` + ``backward``) or
``jax.custom_jvp``/HIPS ``defvjp``, reduced to a Jacobian entry per input.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable

from engine.ops import TABLE, Op
from engine.value import Value, _to_float, apply

#: Names registered through :func:`primitive` (the only ones :func:`unregister` removes).
USER_OPS: set[str] = set()

_POSITIONAL = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)


def _arity(forward: Callable, name: str) -> int | None:
    """Number of inputs of ``forward``, or ``None`` when it takes ``*xs``."""
    try:
        params = inspect.signature(forward).parameters.values()
    except (TypeError, ValueError) as e:
        raise TypeError(f"primitive {name!r}: cannot read the signature of forward: {e}") from None
    n = 0
    for p in params:
        if p.kind is inspect.Parameter.VAR_POSITIONAL:
            return None
        if p.kind in _POSITIONAL:
            n += 1
        elif p.kind is inspect.Parameter.KEYWORD_ONLY and p.default is p.empty:
            raise TypeError(f"primitive {name!r}: forward has a required keyword-only "
                            f"argument {p.name!r}; inputs must be positional")
    if n == 0:
        raise TypeError(f"primitive {name!r}: forward must take at least one input")
    return n


def _check_partials_signature(partials: Callable, arity: int | None, name: str,
                              forward: Callable) -> None:
    """``partials`` must accept ``(m, out, *xs)`` with as many ``xs`` as forward takes."""
    try:
        sig = inspect.signature(partials)
    except (TypeError, ValueError):
        return  # a builtin without a signature: trust it
    counts = (1, 2, 5) if arity is None else (arity,)
    for k in counts:
        try:
            sig.bind(*[None] * (2 + k))
        except TypeError:
            want = "m, out, *xs" if arity is None else ", ".join(
                ["m", "out", *[f"x{i}" for i in range(arity)]])
            raise TypeError(
                f"primitive {name!r}: partials{sig} does not match forward"
                f"{inspect.signature(forward)}: it must take ({want}) and return one "
                f"derivative per input"
            ) from None


def primitive(forward: Callable | None = None, *, partials: Callable | None = None,
              name: str | None = None, symbol: str | None = None) -> Callable:
    """Register ``forward`` (a float function) as a primitive with the given partials.

    Use as a decorator, ``@primitive(partials=...)``, or call
    ``primitive(fn, partials=...)``.

    Args:
        forward: ``forward(*xs) -> float`` on plain floats. Prefer IEEE
            results (``nan``/``inf``) to exceptions, as the built-ins do.
        partials: ``partials(m, out, *xs) -> tuple`` of ``d out / d xs[i]``,
            one per input, written over the namespace ``m`` (``m.exp``,
            ``m.log``, ``m.sigmoid``, ``m.div``, ...) and Value-safe operators
            so it also serves higher-order derivatives. ``out`` is the output
            (a float, or the output ``Value``).
        name: The op's name in the table and in pictures (default:
            ``forward.__name__``).
        symbol: Short text for pictures (default: the name).

    Returns:
        A function of ``Value``s or numbers returning a ``Value``, with the
        new :class:`engine.ops.Op` as its ``op`` attribute.

    Raises:
        TypeError: ``partials`` is missing or does not take ``(m, out, *xs)``
            for forward's inputs; ``forward`` is not a function of positional inputs.
        ValueError: The name is already in the rule table.
    """
    if forward is None:
        return functools.partial(primitive, partials=partials, name=name, symbol=symbol)
    if not callable(forward):
        raise TypeError(f"primitive: forward must be a function, got {type(forward).__name__}")
    name = name or getattr(forward, "__name__", "")
    if not name.isidentifier():
        raise ValueError(f"primitive: give the op a name= (an identifier), got {name!r}")
    if partials is None:
        raise TypeError(f"primitive {name!r}: partials= is required: a function "
                        f"(m, out, *xs) -> tuple of d out / d x_i, one per input")
    if not callable(partials):
        raise TypeError(f"primitive {name!r}: partials must be a function, "
                        f"got {type(partials).__name__}")
    if name in TABLE:
        kind = "a user-defined" if name in USER_OPS else "a built-in"
        raise ValueError(f"primitive {name!r}: the rule table already has {kind} op with "
                         f"that name; choose another name"
                         + (f" or unregister({name!r}) first" if name in USER_OPS else ""))
    arity = _arity(forward, name)
    _check_partials_signature(partials, arity, name, forward)

    def checked_forward(*xs: float) -> float:
        out = forward(*xs)
        return out if type(out) is float else _to_float(out, f"forward of primitive {name!r}")

    def checked_partials(m, out, *xs) -> tuple:
        local = partials(m, out, *xs)
        if not isinstance(local, (tuple, list)) or len(local) != len(xs):
            got = (f"{len(local)} values" if isinstance(local, (tuple, list))
                   else type(local).__name__)
            raise ValueError(f"primitive {name!r}: partials must return a tuple of "
                             f"{len(xs)} derivative(s), one per input, got {got}")
        return tuple(local)

    op = Op(name, symbol or name, arity, checked_forward, checked_partials)
    TABLE[name] = op
    USER_OPS.add(name)

    @functools.wraps(forward)
    def wrapper(*args: Value | float) -> Value:
        if len(args) != arity and (arity is not None or not args):
            n = "at least 1" if arity is None else arity
            raise TypeError(f"{name}() takes {n} input(s) but {len(args)} were given")
        return apply(op, *args)

    wrapper.op = op
    return wrapper


def unregister(name: str) -> None:
    """Remove a user-defined primitive from the rule table (built-ins stay).

    Raises:
        ValueError: ``name`` is a built-in op or was never registered.
    """
    if name not in USER_OPS:
        kind = "a built-in op" if name in TABLE else "not a registered primitive"
        raise ValueError(f"unregister: {name!r} is {kind}")
    USER_OPS.discard(name)
    del TABLE[name]
