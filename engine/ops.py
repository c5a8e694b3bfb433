"""The rule table: one entry per primitive operation.

Each primitive is an :class:`Op` holding

* ``forward(*xs) -> float``: the value, computed on plain floats with IEEE
  semantics (``log(0) = -inf``, ``1/0 = inf``, ``sqrt(-1) = nan``, overflow
  gives ``inf``), never a Python ``ZeroDivisionError``/``OverflowError``/
  ``ValueError``;
* ``partials(m, out, *xs) -> tuple``: the local partial derivatives
  ``d out / d xs[i]``, one per input slot.

``partials`` is written once and evaluated two ways. ``m`` is a small math
namespace: :data:`F` (safe float functions, the fast first-order path) or the
engine's :data:`engine.value.V` (the same functions on ``Value`` nodes, so
that a gradient is itself a graph and can be differentiated again). Rules are
pure: they never touch ``.grad``.

Which ops are primitives and why: ``sub`` and ``div`` could be composites
(``a + -b``, ``a * b**-1``) but as primitives they are one node instead of
two, give bit-for-bit the IEEE result PyTorch gives, and read better in a
picture. ``sum`` and ``dot`` are n-ary so that a neuron is one node
(``dot(w, x) + b`` fused: inputs ``w_1..w_n, x_1..x_n, b``); this is what
makes neurons cheap and their picture readable. ``sigmoid`` is a primitive
because its stable form needs a branch.

NB: PyTorch keeps the same information in ``derivatives.yaml``; HIPS/autograd
in ``defvjp`` calls. Ours is evaluated on values (a Jacobian entry), not as a
vector-Jacobian closure, so forward mode can use the very same table.
"""

from __future__ import annotations

import math
import operator
from collections.abc import Callable
from dataclasses import dataclass
from types import SimpleNamespace

inf, nan = math.inf, math.nan


@dataclass(frozen=True, slots=True)
class Op:
    """One primitive operation: a row of the rule table.

    Attributes:
        name: Identifier, e.g. ``"mul"``; also the key in :data:`TABLE`.
        symbol: Short text for pictures, e.g. ``"*"``.
        arity: Number of inputs, or ``None`` for n-ary ops (``sum``, ``dot``).
        forward: ``forward(*xs) -> float`` on plain floats.
        partials: ``partials(m, out, *xs) -> tuple`` of local derivatives,
            one per input, written over the math namespace ``m``.
        numpy: The forward as numpy text for engine.compile (``"np.exp({0})"``), or ``None``.
        fused: Optional: value and float partials in one call where that is much cheaper,
            what ``apply`` runs when a gradient is wanted (tested equal, bit for bit):
            ``fused(x) -> (out, d)`` for one input (``relu``), ``fused(xs) -> (out,
            partials)`` from the list of input floats for n inputs (``dot``).
    """

    name: str
    symbol: str
    arity: int | None
    forward: Callable[..., float]
    partials: Callable[..., tuple]
    numpy: str | None = None
    fused: Callable[..., tuple] | None = None

    def __repr__(self) -> str:
        return f"Op({self.name!r})"

    def __reduce__(self) -> tuple:
        return (lookup, (self.name,))  # pickled by name: the table row is the op


def lookup(name: str) -> Op:
    """The row of :data:`TABLE` called ``name`` (how a pickled graph finds its ops).

    Raises:
        KeyError: No such op (a user primitive not registered in this process).
    """
    try:
        return TABLE[name]
    except KeyError:
        raise KeyError(f"no op {name!r} in the rule table; register the primitive "
                       f"(engine.primitive) before loading a graph that uses it") from None


# -- safe float math (IEEE semantics, as torch float64) -----------------------


def _is_odd_int(y: float) -> bool:
    return math.isfinite(y) and y == math.floor(y) and y % 2.0 == 1.0


def f_div(x: float, y: float) -> float:
    """``x / y`` with IEEE semantics: ``1/0 = inf``, ``0/0 = nan``."""
    try:
        return x / y
    except ZeroDivisionError:
        if x == 0.0 or x != x:
            return nan
        return math.copysign(inf, x) * math.copysign(1.0, y)


def f_pow(x: float, y: float) -> float:
    """``x ** y`` with IEEE semantics: ``0**-1 = inf``, ``(-8)**(1/3) = nan``; ``x**0.5`` is
    ``sqrt(x)`` and ``x**-0.5`` is ``1/sqrt(x)`` as in torch, so ``(-0.0)**0.5 = -0.0``."""
    if y == 0.5 or y == -0.5:
        return f_sqrt(x) if y > 0.0 else f_div(1.0, f_sqrt(x))
    try:
        return math.pow(x, y)
    except ValueError:  # 0 ** negative, or negative ** non-integer
        if x == 0.0:
            return -inf if math.copysign(1.0, x) < 0 and _is_odd_int(y) else inf
        return nan
    except OverflowError:
        return -inf if x < 0 and _is_odd_int(y) else inf


def f_exp(x: float) -> float:
    """``e ** x``; ``inf`` on overflow."""
    try:
        return math.exp(x)
    except OverflowError:
        return inf


def f_log(x: float) -> float:
    """Natural log: ``log(0) = -inf``, ``log(x < 0) = nan``."""
    if x > 0.0:
        return math.log(x)
    return -inf if x == 0.0 else nan


def f_sqrt(x: float) -> float:
    """Square root: ``sqrt(x < 0) = nan``."""
    return math.sqrt(x) if x >= 0.0 else nan


def f_sin(x: float) -> float:
    """Sine: ``sin(inf) = nan``."""
    try:
        return math.sin(x)
    except ValueError:
        return nan


def f_cos(x: float) -> float:
    """Cosine: ``cos(inf) = nan``."""
    try:
        return math.cos(x)
    except ValueError:
        return nan


def f_sigmoid(x: float) -> float:
    """Logistic function without overflow for large ``|x|``."""
    if x >= 0.0:
        return 1.0 / (1.0 + math.exp(-x))
    e = f_exp(x)  # x < 0 or nan: no overflow
    return e / (1.0 + e)


def f_relu(x: float) -> float:
    """``max(x, 0)``; nan stays nan as in torch."""
    return x if x > 0.0 or x != x else 0.0


class _Stop(float):
    """The zero a mask partial gives (relu's step at ``x <= 0``, max's other slots, pow's
    ``d/dx`` at a zero exponent). It equals ``0.0`` but stops the gradient as torch's ``where``
    does: ``adjoint * STOP`` is 0 even for an inf or NaN adjoint (a float subclass's
    ``__rmul__`` goes first), while a computed zero partial gives ``0.0 * inf = nan``, as
    torch's ``mul`` backward does. On ``Value``s the DP puts the partial first."""

    __slots__ = ()
    # adjoint * STOP: ().count(adjoint) is 0, a C call (25 ns; a Python method costs 220 ns)
    __rmul__ = ().count

    def __mul__(self, other):  # STOP * x: forward mode, and the Value path
        return 0.0 if isinstance(other, (float, int)) else NotImplemented

    def __reduce__(self) -> str:
        return "STOP"  # one instance, which pickling and copying keep


STOP = _Stop(0.0)


def f_sign(x: float) -> float:
    """Sign as a float: -1, 0 or 1 (0 for nan): the derivative of abs in torch."""
    if x > 0.0:
        return 1.0
    return -1.0 if x < 0.0 else 0.0


def f_step(x: float) -> float:
    """The derivative of relu as torch has it: 0 (:data:`STOP`) where ``x <= 0``, else 1
    (nan too)."""
    return STOP if x <= 0.0 else 1.0


def f_sum(*xs: float) -> float:
    """Left-to-right sum (inf - inf gives nan, never an exception)."""
    return sum(xs)


def f_dot(*xs: float) -> float:
    """``sum(w_i * x_i) (+ b)`` over inputs laid out ``w..., x..., [b]``."""
    n = len(xs) >> 1
    s = sum(map(operator.mul, xs, xs[n : 2 * n]))  # map stops after the n weights
    return s + xs[-1] if len(xs) & 1 else s


def f_max(*xs: float) -> float:
    """Largest input; nan if any input is nan (as torch)."""
    return xs[_argmax(xs)]


def _argmax(xs) -> int:
    """Index of the first maximal element (a nan wins, as in max_pool)."""
    best = 0
    for i in range(1, len(xs)):
        x = xs[i]
        if x > xs[best] or x != x:
            best = i
            if x != x:
                break
    return best


def value_of(x) -> float:
    """The float behind an operand (a float, or a Value's ``data``)."""
    return x if type(x) is float else getattr(x, "data", x)


#: The names a rule's ``partials(m, ...)`` may use from its math namespace ``m``: every
#: namespace (:data:`F`, ``engine.value.V``, ``engine.compile.SYMBOLIC``) has each (a test
#: checks). ``F`` and ``V`` also have ``needs(x)``: whether slot ``x`` needs its partial.
MATH_NAMES = ("div", "pow", "exp", "log", "sqrt", "sin", "cos", "tanh", "sigmoid", "sign",
              "step")

# The float namespace: partials evaluated here give plain floats.
F = SimpleNamespace(
    div=f_div, pow=f_pow, exp=f_exp, log=f_log, sqrt=f_sqrt, sin=f_sin, cos=f_cos,
    tanh=math.tanh, sigmoid=f_sigmoid, sign=f_sign, step=f_step,
    needs=lambda x: True,  # on the float path every slot's partial is computed
)


# -- partial derivatives --------------------------------------------------------
# Conditions (kinks, masks) read the float behind an operand with value_of, so
# the same code serves both namespaces; the derivative of a mask is zero.
# ``m.needs(x)`` is False for a constant operand on the Value path: pow skips the
# partial no gradient flows through (``log`` of a negative constant base).


def _pow_partials(m, out, x, p):
    xd, pd = value_of(x), value_of(p)
    # x**0 is flat: torch's where(p == 0, 0, ...) stops the gradient (STOP). On Values with
    # an exponent that needs grad it is stopped only where p * x**(p-1) is 0 * inf or 0 * nan,
    # so d/dp of this partial survives and Hessians stay symmetric
    flat = pd == 0.0 and (m is F or xd == 0.0 or xd != xd or not m.needs(p))
    dx = STOP if flat else 0.0 if not m.needs(x) else p * m.pow(x, p - 1.0)
    dp = 0.0 if xd == 0.0 and pd >= 0.0 or not m.needs(p) else out * m.log(x)  # torch's mask
    return dx, dp


def _dot_partials(m, out, *xs):
    n = len(xs) >> 1
    return xs[n : 2 * n] + xs[:n] + _ONE if len(xs) & 1 else xs[n:] + xs[:n]


def _dot_fused(xs: list[float]) -> tuple[float, tuple]:
    """:func:`f_dot` and :func:`_dot_partials` on floats in one pass (the same arithmetic):
    one slice of the inputs serves the sum and the partials, with no ``*xs`` calls."""
    n = len(xs) >> 1
    x = xs[n : 2 * n]
    s = sum(map(operator.mul, xs, x))
    if len(xs) & 1:
        return s + xs[-1], (*x, *xs[:n], 1.0)
    return s, (*x, *xs[:n])


def _relu_fused(x: float) -> tuple[float, float]:
    """:func:`f_relu` and :func:`f_step` in one branch (nan passes with slope 1, as torch)."""
    if x > 0.0 or x != x:
        return x, 1.0
    return 0.0, STOP


def _max_partials(m, out, *xs):
    grads = [STOP] * len(xs)  # a selection: the other slots get nothing (torch's max(dim))
    grads[_argmax([value_of(x) for x in xs])] = 1.0
    return tuple(grads)


_ONE = (1.0,)
_ONES = (1.0, 1.0)


# -- the table ---------------------------------------------------------------------

ADD = Op("add", "+", 2, operator.add, lambda m, out, x, y: _ONES, "({0} + {1})")
SUB = Op("sub", "-", 2, operator.sub, lambda m, out, x, y: (1.0, -1.0), "({0} - {1})")
MUL = Op("mul", "*", 2, operator.mul, lambda m, out, x, y: (y, x), "({0} * {1})")
DIV = Op("div", "/", 2, f_div, lambda m, out, x, y: (m.div(1.0, y), -m.div(out, y)), "({0} / {1})")
POW = Op("pow", "**", 2, f_pow, _pow_partials, "power({0}, {1})")
NEG = Op("neg", "neg", 1, operator.neg, lambda m, out, x: (-1.0,), "(-{0})")
EXP = Op("exp", "exp", 1, f_exp, lambda m, out, x: (out,), "np.exp({0})")
LOG = Op("log", "log", 1, f_log, lambda m, out, x: (m.div(1.0, x),), "np.log({0})")
TANH = Op("tanh", "tanh", 1, math.tanh, lambda m, out, x: (1.0 - out * out,), "np.tanh({0})")
SIGMOID = Op("sigmoid", "sigmoid", 1, f_sigmoid,
             lambda m, out, x: (out * (1.0 - out),), "sigmoid({0})")
RELU = Op("relu", "relu", 1, f_relu, lambda m, out, x: (m.step(x),), "np.maximum({0}, 0.0)",
          fused=_relu_fused)
ABS = Op("abs", "abs", 1, abs, lambda m, out, x: (m.sign(x),), "np.abs({0})")
SIN = Op("sin", "sin", 1, f_sin, lambda m, out, x: (m.cos(x),), "np.sin({0})")
COS = Op("cos", "cos", 1, f_cos, lambda m, out, x: (-m.sin(x),), "np.cos({0})")
SQRT = Op("sqrt", "sqrt", 1, f_sqrt, lambda m, out, x: (m.div(0.5, out),), "np.sqrt({0})")
SUM = Op("sum", "sum", None, f_sum, lambda m, out, *xs: _ONE * len(xs))
DOT = Op("dot", "dot", None, f_dot, _dot_partials, fused=_dot_fused)
MAX = Op("max", "max", None, f_max, _max_partials)

#: Every primitive by name. User-defined primitives are added here too.
TABLE: dict[str, Op] = {
    op.name: op
    for op in (ADD, SUB, MUL, DIV, POW, NEG, EXP, LOG, TANH, SIGMOID, RELU, ABS,
               SIN, COS, SQRT, SUM, DOT, MAX)
}
