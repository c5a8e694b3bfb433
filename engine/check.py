"""``gradcheck``: compare the engine's gradients with central finite differences.

NB: as ``torch.autograd.gradcheck``; the numerical side evaluates ``f`` on
plain floats under ``no_grad``.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

from engine.backprop import grad
from engine.modes import no_grad
from engine.value import Value


class GradcheckError(AssertionError):
    """The analytic and numerical gradients disagree."""


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


def gradcheck(f: Callable[..., Value], inputs: Sequence[float | Value], *, eps: float = 1e-6,
              atol: float = 1e-5, rtol: float = 1e-3, raise_exception: bool = True) -> bool:
    """Check ``f``'s engine gradients against central finite differences.

    Args:
        f: A function of ``len(inputs)`` ``Value`` arguments returning a ``Value``.
        inputs: The point (floats or ``Value``s; only their data is used).
        eps: Finite-difference step.
        atol: Absolute tolerance.
        rtol: Relative tolerance (to the numerical gradient).
        raise_exception: Raise on a mismatch instead of returning False.

    Returns:
        True when every input's gradient agrees.

    Raises:
        GradcheckError: Which input disagrees, both values and the difference.

    >>> gradcheck(lambda x, y: (x * y).tanh(), [0.3, -0.7])
    True
    """
    point = [float(x) for x in inputs]
    xs = [Value(x) for x in point]
    out = f(*xs)
    if not isinstance(out, Value):
        raise TypeError(f"gradcheck: f must return a Value, got {type(out).__name__}")
    analytic = grad(out, xs, materialize_grads=True) if out.requires_grad else [0.0] * len(xs)
    numeric = numerical_grad(f, point, eps)
    bad = []
    for i, (a, n) in enumerate(zip(analytic, numeric, strict=True)):
        a = float(a)
        if not (math.isclose(a, n, rel_tol=rtol, abs_tol=atol) or (a == n)):
            bad.append(f"input {i} (= {point[i]!r}): engine {a!r}, finite differences {n!r}, "
                       f"difference {abs(a - n):.3g}")
    if bad and raise_exception:
        raise GradcheckError("gradcheck failed:\n  " + "\n  ".join(bad))
    return not bad
