"""Checking derivatives against central finite differences.

:func:`gradcheck` compares the engine's first derivatives (reverse mode, and
forward mode on request) with central differences of ``f``;
:func:`gradgradcheck` does the same for second derivatives, by
finite-differencing the engine's own first derivatives.

NB: as ``torch.autograd.gradcheck``/``gradgradcheck`` (and their
``check_forward_ad``/``check_backward_ad`` switches); the numerical side
evaluates ``f`` on plain floats.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from engine.autograd import grad
from engine.func import tangents
from engine.modes import enable_grad, no_grad
from engine.value import Value


class GradcheckError(AssertionError):
    """The analytic and numerical derivatives disagree."""


def numerical_grad(f: Callable[..., Value | float], inputs: Sequence[float],
                   eps: float = 1e-6) -> list[float]:
    """Central differences ``(f(x + eps) - f(x - eps)) / (2 eps)`` per input.

    >>> [round(g, 6) for g in numerical_grad(lambda x, y: x * y, [2.0, 3.0])]
    [3.0, 2.0]
    """
    xs = [float(x) for x in inputs]
    out = []
    with no_grad():
        for i in range(len(xs)):
            hi, lo = list(xs), list(xs)
            hi[i] += eps
            lo[i] -= eps
            f_hi = float(f(*[Value(x) for x in hi]))
            f_lo = float(f(*[Value(x) for x in lo]))
            out.append((f_hi - f_lo) / (2.0 * eps))
    return out


def _outputs(out: object, name: str) -> list:
    """``f``'s result as a list of outputs (a Value or number, or a sequence of them)."""
    outs = list(out) if isinstance(out, (list, tuple)) else [out]
    for k, o in enumerate(outs):
        if not isinstance(o, (Value, int, float)) or isinstance(o, bool):
            raise TypeError(f"{name}: f must return a Value or a sequence of Values, "
                            f"got {type(o).__name__} (output {k})")
    return outs


def _numerical_jacobian(f: Callable, point: list[float], eps: float, record: bool,
                        name: str) -> list[list[float]]:
    """``J[k][i]`` by central differences; ``record`` keeps grad mode on (for gradgradcheck)."""
    cols = []
    with enable_grad() if record else no_grad():
        for i in range(len(point)):
            hi, lo = list(point), list(point)
            hi[i] += eps
            lo[i] -= eps
            f_hi = _outputs(f(*[Value(x) for x in hi]), name)
            f_lo = _outputs(f(*[Value(x) for x in lo]), name)
            cols.append([(float(a) - float(b)) / (2.0 * eps)
                         for a, b in zip(f_hi, f_lo, strict=True)])
    return [list(row) for row in zip(*cols, strict=True)] if cols else []


def _analytic_jacobian(outs: list, xs: list[Value], forward: bool) -> list[list[float]]:
    """The engine's ``J[k][i]``: one reverse sweep per output, or one forward sweep per input."""
    if not forward:
        return [[float(g) for g in grad(o, xs, materialize_grads=True)]
                if isinstance(o, Value) and o.requires_grad else [0.0] * len(xs)
                for o in outs]
    nodes = [o for o in outs if isinstance(o, Value)]
    cols = []
    for x in xs:
        table = tangents(nodes, [x], [1.0])
        cols.append([float(table.get(o, 0.0)) if isinstance(o, Value) else 0.0 for o in outs])
    return [list(row) for row in zip(*cols, strict=True)] if cols else [[] for _ in outs]


def _compare(f: Callable, point: list[float], *, eps: float, atol: float, rtol: float,
             raise_exception: bool, check_backward_ad: bool, check_forward_ad: bool,
             record: bool, name: str, what: str) -> bool:
    xs = [Value(x) for x in point]
    with enable_grad():
        outs = _outputs(f(*xs), name)
    numeric = _numerical_jacobian(f, point, eps, record, name)
    modes = [m for m, on in (("reverse mode", check_backward_ad),
                             ("forward mode", check_forward_ad)) if on]
    bad = []
    for mode in modes:
        analytic = _analytic_jacobian(outs, xs, forward=mode == "forward mode")
        for k, (a_row, n_row) in enumerate(zip(analytic, numeric, strict=True)):
            for i, (a, n) in enumerate(zip(a_row, n_row, strict=True)):
                if not (math.isclose(a, n, rel_tol=rtol, abs_tol=atol) or a == n):
                    where = f"input {i} (= {point[i]!r})"
                    if len(outs) > 1:
                        where = f"{what} {k}, {where}"
                    bad.append(f"{where}: {mode} {a!r}, finite differences {n!r}, "
                               f"difference {abs(a - n):.3g}")
    if bad and raise_exception:
        raise GradcheckError(f"{name} failed:\n  " + "\n  ".join(bad))
    return not bad


def gradcheck(f: Callable[..., Value], inputs: Sequence[float | Value], *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True,
              check_backward_ad: bool = True, check_forward_ad: bool = False) -> bool:
    """Check ``f``'s engine derivatives against central finite differences.

    Args:
        f: A function of ``len(inputs)`` ``Value`` arguments returning a
            ``Value`` (or a sequence of them: the whole Jacobian is checked).
        inputs: The point (floats or ``Value``s; only their data is used).
        eps: Finite-difference step.
        atol: Absolute tolerance.
        rtol: Relative tolerance (to the numerical derivative).
        raise_exception: Raise on a mismatch instead of returning False.
        check_backward_ad: Check reverse mode (one backward sweep per output).
        check_forward_ad: Check forward mode too (one forward sweep per input,
            :func:`engine.func.tangents`).

    Returns:
        True when every derivative agrees.

    Raises:
        GradcheckError: Which output and input disagree, in which mode, both
            values and the difference.
        TypeError: ``f`` does not return a ``Value`` or a sequence of them.

    >>> gradcheck(lambda x, y: (x * y).tanh(), [0.3, -0.7], check_forward_ad=True)
    True
    >>> gradcheck(lambda x, y: [x * y, x.exp()], [0.3, -0.7], check_forward_ad=True)
    True
    """
    point = [float(x) for x in inputs]
    return _compare(f, point, eps=eps, atol=atol, rtol=rtol, raise_exception=raise_exception,
                    check_backward_ad=check_backward_ad, check_forward_ad=check_forward_ad,
                    record=False, name="gradcheck", what="output")


def gradgradcheck(f: Callable[..., Value], inputs: Sequence[float | Value], *,
                  eps: float = 1e-6, atol: float = 1e-5, rtol: float = 1e-3,
                  raise_exception: bool = True, check_backward_ad: bool = True,
                  check_forward_ad: bool = False) -> bool:
    """Check ``f``'s second derivatives against finite differences of its first.

    The engine's gradient of every output, built with ``create_graph=True``,
    is differentiated again (reverse-over-reverse, and forward-over-reverse
    with ``check_forward_ad``) and compared with central differences of that
    same first-order gradient.

    Args:
        f: A function of ``len(inputs)`` ``Value`` arguments returning a
            ``Value`` (or a sequence of them).
        inputs: The point.
        eps: Finite-difference step.
        atol: Absolute tolerance.
        rtol: Relative tolerance.
        raise_exception: Raise on a mismatch instead of returning False.
        check_backward_ad: Check reverse-over-reverse.
        check_forward_ad: Check forward-over-reverse too.

    Returns:
        True when every second derivative agrees.

    Raises:
        GradcheckError: Which entry ``d(d out_k / d x_j) / d x_i`` disagrees, and by how much.

    >>> gradgradcheck(lambda x, y: x.sin() * y ** 3, [0.4, 1.5], check_forward_ad=True)
    True
    """
    point = [float(x) for x in inputs]

    def first_derivatives(*xs: Value) -> list[Value | float]:
        outs = _outputs(f(*xs), "gradgradcheck")
        flat: list[Value | float] = []
        for o in outs:
            if isinstance(o, Value) and o.requires_grad:
                flat.extend(grad(o, xs, create_graph=True, materialize_grads=True))
            else:
                flat.extend([0.0] * len(xs))
        return flat

    return _compare(first_derivatives, point, eps=eps, atol=atol, rtol=rtol,
                    raise_exception=raise_exception, check_backward_ad=check_backward_ad,
                    check_forward_ad=check_forward_ad, record=True, name="gradgradcheck",
                    what="first derivative")
