"""Tracing a scalar graph once and generating straight-line numpy code for it.

The dynamic engine pays Python's price for every scalar node, every time. A
model's graph has the same *structure* for every sample of a batch, so we can
trace it once, with placeholder inputs, and generate code that runs forward
and backward for the whole batch at once:

1. **Trace**: call ``fn(inputs)`` on one sample's placeholders. The result is
   an ordinary graph whose leaves are placeholders (one column of the batch
   ``X`` each), parameters (entries of one flat vector ``theta``) or constants.
2. **Group**: nodes at the same depth with the same op and the same sources
   become one *slab*, an array with one column per node: the ``dot`` nodes of
   a layer (they share their inputs) become one matrix product, the layer's
   activations one elementwise call. A slab is ``(B, k)`` when it depends on
   the batch and ``(k,)`` when it depends only on the parameters.
3. **Emit**: forward lines per slab, then backward lines in reverse order.
   The local derivatives come from the same rule table as the dynamic engine:
   each op's ``partials`` is evaluated on :data:`SYMBOLIC`, a namespace whose
   functions return numpy expressions (pow and max, whose partials branch on
   the data, have an emission rule of their own below).

The generated source is readable (``print(compiled.source)``) and cached by
the graph's structure. **When a trace is reused.** A graph's structure is a
function of what ``fn`` reads: a Python branch or a constant needs the
``data`` of some node. So the first row is traced (twice: two different
graphs mean random draws or state, which raise :class:`TraceError`) while
every read of a node's ``data`` is watched. A trace that read nothing that
depends on the inputs or parameters is the graph of every row for every
parameter value, and is reused at no cost per call; one that read the inputs
has each new row traced and compared (a row whose graph differs raises
:class:`TraceError` naming the first difference and the line that read the
data); one that read the parameters is traced again when ``theta`` changes.
``check="static"`` skips all of this for functions whose structure is fixed
by construction (``nn``'s modules and losses). Leaves that are neither inputs
nor parameters are constants, baked into the code.

Masks stop the gradient as in PyTorch and the dynamic engine
(:data:`engine.ops.STOP`): relu's step, max's one-hot and pow's flat exponent
are written with ``np.where``, so a masked slot gets exactly 0 even from an
infinite or nan adjoint. Every other partial is a plain product, as torch's
``mul`` backward: a zero adjoint times an infinite partial is nan.

**Work arrays.** The ``(B, k)`` arrays of a step (a layer's products, its
elementwise results, the input gradients, the relu masks) are written with
``out=`` into work arrays ``W[i]`` that a :class:`Compiled` keeps per batch
size, so a step allocates no large temporaries; an elementwise op's ``out=``
form is derived from its row's numpy text (:func:`ufunc_form`). Nothing a
call returns is a work array (``aux`` is copied out of one). The gradient
``G`` starts at zero every call, so the first contribution to a layer's
weights and biases (its product, its batch sum) is written straight into
their view of it (``np.matmul(..., out=G[i])``); later ones, and views that
overlap one already written, are added. The data's gradients come first, a
penalty's after.

**Folded adjoints.** A one-column adjoint that is one number in every entry
is not made into an array: the penalty's seed ``1.0`` times its constant
partials (an L2 term's backward is one line, ``G[i] += 0.0002 * P[i]``) and
the loss's seed ``scale`` through the aliases and constant partials of the
loss's tail (a hinge's relu mask is ``np.where(mask, 0.0, scale)``). Code that
needs an array gets one (``np.full_like``), with the same numbers.

numpy is imported lazily, so ``import engine`` stays standard-library only.

>>> from engine import Value, dot
>>> w, b = [Value(0.5), Value(-1.0)], Value(0.25)
>>> f = compile_function(lambda x: (dot(w, x[:2], b) - x[2]) ** 2, w + [b], n_inputs=3)
>>> import numpy as np
>>> X = np.array([[1.0, 2.0, 0.0], [3.0, 1.0, 1.0]])
>>> loss, grad = f.loss_and_grad(X)  # mean over the batch of the per-sample loss
>>> round(loss, 4), grad.round(4).tolist()
(0.8125, [-2.0, -2.75, -1.5])

NB: ``jax.jit`` traces with abstract values and rejects Python branches on
them; we trace with the first sample's data, notice the same branches, and
check what they can change instead.
"""

from __future__ import annotations

import builtins
import contextlib
import hashlib
import itertools
import math
import re
import sys
import types
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import compile_layers, ops
from engine.backprop import topological_order
from engine.modes import STATE
from engine.primitive import USER_OPS
from engine.value import Value, apply, apply_many


class TraceError(ValueError):
    """The function cannot be compiled as traced (data-dependent structure, a
    missing emission rule, a leaf that requires grad but is no parameter...)."""


def _np():
    numpy = sys.modules.get("numpy")
    if numpy is not None:
        return numpy
    try:
        import numpy
    except ImportError:  # pragma: no cover - numpy is in the test extras
        raise ImportError("engine.compile needs numpy: pip install 'dagrad[speed]'") from None
    return numpy


# -- symbolic numpy expressions -------------------------------------------------------


class Expr:
    """A numpy expression as text; arithmetic on it builds bigger expressions."""

    __slots__ = ("text",)

    def __init__(self, text: str) -> None:
        self.text = text

    def __str__(self) -> str:
        return self.text

    def __add__(self, o): return Expr(f"({self} + {_t(o)})")
    def __radd__(self, o): return Expr(f"({_t(o)} + {self})")
    def __sub__(self, o): return Expr(f"({self} - {_t(o)})")
    def __rsub__(self, o): return Expr(f"({_t(o)} - {self})")
    def __mul__(self, o): return Expr(f"({self} * {_t(o)})")
    def __rmul__(self, o): return Expr(f"({_t(o)} * {self})")
    def __truediv__(self, o): return Expr(f"({self} / {_t(o)})")
    def __rtruediv__(self, o): return Expr(f"({_t(o)} / {self})")
    def __pow__(self, o): return Expr(f"({self} ** {_t(o)})")
    def __rpow__(self, o): return Expr(f"({_t(o)} ** {self})")
    def __neg__(self): return Expr(f"(-{self})")


class Masked(Expr):
    """A partial that is exactly zero where ``blocked`` holds, else ``value``.

    The rule table's masks (relu's step, max's one-hot, pow's flat exponent)
    stop the gradient as PyTorch's ``where`` does: the contribution there is
    0.0 even when the adjoint is inf or nan (``0 * inf`` would be nan). As
    text it is the partial itself; :meth:`times` writes the masked product.
    """

    __slots__ = ("blocked", "value", "call")

    def __init__(self, blocked: str, value: Expr | float = 1.0, call: str = "") -> None:
        super().__init__(f"np.where({blocked}, 0.0, {_t(value)})")
        self.blocked, self.value = blocked, value
        self.call = call  # ``blocked`` as one ufunc call writing into {out}, if it is one

    def times(self, g: str, out: str = "", blocked: str = "") -> str:
        """``g * self`` with the masked entries exactly 0 (written into ``out`` when
        given, which may be ``g`` itself, and the mask's value is 1); ``blocked``: the
        name holding the mask, when it was computed on a line of its own."""
        blocked = blocked or self.blocked
        if isinstance(self.value, float) and self.value == 1.0:
            return f"stop({blocked}, {g}{', out=' + out if out else ''})"
        return f"stop({blocked}, ({g} * {_t(self.value)}))"


def _t(x: Any) -> str:
    return literal(x) if isinstance(x, (int, float)) else str(x)


def literal(x: float) -> str:
    """``x`` as Python source that means ``x`` wherever it is pasted: negative
    numbers (and -0.0) in parentheses, ``inf`` and ``nan`` as numpy names.

    >>> [literal(v) for v in (2.0, -2.0, -0.0, float("inf"), -float("inf"), float("nan"))]
    ['2.0', '(-2.0)', '(-0.0)', 'np.inf', '(-np.inf)', 'np.nan']
    """
    x = float(x)
    if x != x:
        return "np.nan"
    if x in (math.inf, -math.inf):
        return "np.inf" if x > 0 else "(-np.inf)"
    return f"({x!r})" if math.copysign(1.0, x) < 0 else repr(x)


def _same(x: float, y: float) -> bool:
    """``x`` and ``y`` are the same constant (nan is nan; 0.0 is not -0.0)."""
    return x == y and math.copysign(1.0, x) == math.copysign(1.0, y) or x != x and y != y


def _call(name: str) -> Callable[..., Expr]:
    return lambda *xs: Expr(f"{name}({', '.join(_t(x) for x in xs)})")


#: The rule table's math namespace, emitting numpy code (see engine.ops.F).
SYMBOLIC = type("Symbolic", (), {})()
SYMBOLIC.__dict__.update(
    div=lambda x, y: _divide(x, y),
    pow=lambda x, y: _power(x, y),
    exp=_call("np.exp"), log=_call("np.log"), sqrt=_call("np.sqrt"), sin=_call("np.sin"),
    cos=_call("np.cos"), tanh=_call("np.tanh"), sigmoid=_call("sigmoid"),
    sign=lambda x: Expr(f"((({_t(x)}) > 0.0) * 1.0 - (({_t(x)}) < 0.0))"),  # sign(nan) = 0
    # step: 0 where x <= 0, else 1 (nan too); the mask also as a call into a work array
    step=lambda x: Masked(f"({_t(x)} <= 0.0)", call=f"np.less_equal({_t(x)}, 0.0, out={{out}})"),
    needs=lambda x: True,  # as engine.ops.F: every slot's partial is computed
)

_UFUNCS = {"+": "add", "-": "subtract", "*": "multiply", "/": "divide"}


def ufunc_form(template: str) -> str | None:
    """A rule's numpy text (``Op.numpy``) as one ufunc call that writes into ``{out}``
    (a work array), or None when it is not one ufunc (``sigmoid``, ``power``).

    >>> ufunc_form("({0} - {1})"), ufunc_form("np.exp({0})"), ufunc_form("sigmoid({0})")
    ('np.subtract({0}, {1}, out={out})', 'np.exp({0}, out={out})', None)
    """
    if (m := re.fullmatch(r"\(\{0\} ([-+*/]) \{1\}\)", template)) is not None:
        return f"np.{_UFUNCS[m[1]]}({{0}}, {{1}}, out={{out}})"
    if template == "(-{0})":
        return "np.negative({0}, out={out})"
    m = re.fullmatch(r"np\.(\w+)\((.*)\)", template)
    if m is not None and isinstance(getattr(_np(), m[1], None), _np().ufunc):
        return f"np.{m[1]}({m[2]}, out={{out}})"
    return None


def _divide(x: Expr | float, y: Expr | float) -> Expr:
    """``x / y``; of two constants, the constant (Python's ``1.0 / 0.0`` raises)."""
    if isinstance(x, float) and isinstance(y, float):
        return Expr(literal(ops.f_div(x, y)))
    return Expr(f"({_t(x)} / {_t(y)})")


def _power(x: Expr | float, p: Expr | float) -> Expr:
    """``x ** p`` as engine.ops.f_pow has it: exponents 0.5 and -0.5 are ``sqrt(x)``
    and ``1 / sqrt(x)`` (torch's pow with a number exponent: ``(-0.0)**0.5 = -0.0``)."""
    if isinstance(p, float):
        if isinstance(x, float):
            return Expr(literal(ops.f_pow(x, p)))
        if p == 0.5:
            return Expr(f"np.sqrt({_t(x)})")
        if p == -0.5:
            return Expr(f"(1.0 / np.sqrt({_t(x)}))")
        return Expr(f"({_t(x)} ** {_t(p)})")
    return Expr(f"power({_t(x)}, {p})")  # an array of exponents: see _power_arrays


def _power_arrays(x, p):
    """Elementwise ``x ** p`` with f_pow's rule for exponents of +-0.5 (generated code's
    ``power``)."""
    np = _np()
    out = np.power(x, p)
    if np.any((p == 0.5) | (p == -0.5)):
        root = np.sqrt(x)
        out = np.where(p == 0.5, root, np.where(p == -0.5, 1.0 / root, out))
    return out


def _pow_partials(out: Expr, x: Expr | float, p: Expr | float) -> tuple:
    """pow's partials with torch's masks (engine.ops._pow_partials branches on data)."""
    if isinstance(p, float):  # a constant exponent: the common case
        # x ** 1.0 is x exactly (the square's partial is 2.0 * x)
        power = _t(x) if p == 2.0 else _power(x, p - 1.0)
        dx = ops.STOP if p == 0.0 else Expr(f"({_t(p)} * {power})")
    else:
        dx = Masked(f"({p} == 0.0)", Expr(f"({p} * {_power(x, Expr(f'({p} - 1.0)'))})"))
    dp = Expr(f"np.where(({_t(x)} == 0.0) & ({_t(p)} >= 0.0), 0.0, {out} * np.log({_t(x)}))")
    return dx, dp


def _vectorized(op: ops.Op) -> tuple:
    """numpy ufuncs of a primitive with no emission rule: its forward and each partial."""
    np = _np()
    forward = np.vectorize(op.forward, otypes=[float])
    partials = [np.vectorize(lambda out, *xs, i=i: float(op.partials(ops.F, out, *xs)[i]),
                             otypes=[float]) for i in range(op.arity)]
    return forward, partials


def _stop(blocked, g, out=None):
    """``g`` with exactly 0.0 where ``blocked`` (generated code's ``stop``): a mask.

    ``np.where(blocked, 0.0, g)``. On large finite arrays it is computed as
    ``g * ~blocked`` (several times faster; the two agree up to the sign of a
    zero), into ``out`` when given (``g`` itself, when nothing else reads it).
    On small ones, into ``g`` itself, it is ``np.putmask(g, blocked, 0.0)`` (the
    same numbers as ``np.where``, a microsecond faster). ``blocked`` is the
    generated code's own comparison (or work array), so it is reused in place.
    """
    np = _np()
    if g.size < 4096 or not math.isfinite(g.sum()):  # a sum is finite iff every term is
        if out is g and blocked.shape == g.shape and g.flags.writeable:
            np.putmask(g, blocked, 0.0)
            return g
        return np.where(blocked, 0.0, g)
    passes = np.logical_not(blocked, out=blocked if blocked.base is None else None)
    if out is not None and out.shape == passes.shape and out.flags.writeable:
        return np.multiply(g, passes, out=out)
    return g * passes


def _sigmoid(x):
    """Stable logistic function on arrays (as engine.ops.f_sigmoid)."""
    np = _np()
    e = np.exp(-np.abs(x))
    return np.where(x >= 0.0, 1.0 / (1.0 + e), e / (1.0 + e))


# -- the plan: slabs and gathers ----------------------------------------------------------


@dataclass(eq=False)
class _Slab:
    name: str
    nodes: list
    batched: bool  # (B, k) if True, else (k,)
    requires_grad: bool = False


@dataclass(eq=False)
class _Gather:
    """Some nodes of one slab (or constants) as an array expression."""

    text: str
    batched: bool
    width: int
    slab: _Slab | None = None  # None: constants
    target: str = ""  # how a contribution is added to the adjoint (see _accumulate)
    parts: list = field(default_factory=list)  # for a gather over several slabs
    value: float | None = None  # the constant, when the gather is one literal


class _Builder:
    """Groups a traced graph into slabs and writes the numpy source."""

    def __init__(self, out: Value, penalty: Value | None, params: list, inputs: list,
                 aux: Sequence[Value] = ()) -> None:
        roots = [out] + ([penalty] if penalty is not None else []) + list(aux)
        self.aux = list(aux)
        self.order = topological_order(roots, include_constants=True)
        self.theta = _Slab("theta", list(params), False, True)
        self.X = _Slab("X", list(inputs), True, False)
        self.loc: dict[Value, tuple[_Slab, int]] = {}
        for slab in (self.theta, self.X):
            for j, v in enumerate(slab.nodes):
                self.loc.setdefault(v, (slab, j))
        self.const: dict[Value, float] = {}
        self.consts: list = []  # arrays the code reads as C[i]
        self.views: list = []  # (index array) for each parameter view P[i]
        self.work: list[tuple[str, int, str]] = []  # (holds, columns, dtype) of W[i]
        self.worked: set[str] = set()  # the names whose array is a work array
        self.fwd: list[str] = []
        self.bwd: list[str] = []
        self.ginit: set[str] = set()
        # adjoints of one-column slabs that are one number for every entry, folded into the
        # code that reads them: a float known now (the penalty's chain, a slab the same for
        # every sample) or a number's text known at run time (the loss's seed ``scale``)
        self.known: dict[str, float | str] = {}
        self.written: set[int] = set()  # theta entries some line has added a gradient to
        self.owned: set[str] = set()  # adjoints whose array no other name shares
        self.sides: dict[Value, tuple | None] = {}  # see _matmul_sides
        self.windows: dict[Value, Any] = {}  # merged window groups (engine.compile_layers)
        self.counting = False
        self.counts: dict[str, int] = {}
        self.counter = itertools.count()
        self._classify()
        self.out, self.penalty = out, penalty

    # -- which nodes are batched, parameter-only or constant --------------------------
    def _classify(self) -> None:
        self.batched: dict[Value, bool] = {}
        self.level: dict[Value, int] = {}
        for v in self.order:
            if v in self.loc:
                self.batched[v] = self.loc[v][0].batched
                self.level[v] = 0
            elif not v.parents:
                if v.requires_grad:
                    raise TraceError(f"compile: leaf {v!r} requires grad but is not in params")
                self.const[v] = v.data
                self.level[v] = 0
            elif all(p in self.const for p in v.parents):
                self.const[v] = v.data  # folded
                self.level[v] = 0
            else:
                self.batched[v] = any(self.batched.get(p, False) for p in v.parents)
                self.level[v] = 1 + builtins.max(self.level[p] for p in v.parents)

    # -- gathers -------------------------------------------------------------------------
    def gather(self, nodes: Sequence[Value], broadcast: bool = False,
               array: bool = False) -> _Gather:
        """An expression for ``nodes`` (2-D if any is batched, else 1-D).

        With ``broadcast``, one node repeated is one column (width 1) that
        numpy broadcasts; otherwise the gather has one column per node. With
        ``array``, constants are an array even when they are all equal.
        """
        np = _np()
        if all(v in self.const for v in nodes):
            vals = [self.const[v] for v in nodes]
            if not array and all(_same(x, vals[0]) for x in vals) and (
                    broadcast or len(vals) == 1):
                return _Gather(literal(vals[0]), False, 1, value=vals[0])
            self.consts.append(np.array(vals))
            return _Gather(f"C[{len(self.consts) - 1}]", False, len(nodes))
        runs = [list(g) for _, g in itertools.groupby(nodes, key=self._source)]
        if len(runs) > 1:
            parts = [self.gather(run, array=True) for run in runs]
            batched = any(p.batched for p in parts)
            texts = [p.text if p.batched or not batched else
                     f"np.broadcast_to({p.text}, (B, {p.width}))" for p in parts]
            return _Gather(f"np.concatenate([{', '.join(texts)}], axis=-1)", batched,
                           len(nodes), parts=parts)
        slab = self.loc[nodes[0]][0]
        idx = [self.loc[v][1] for v in nodes]
        if slab is self.theta:
            i = self._view(np.array(idx))
            return _Gather(f"P[{i}]", False, len(nodes), slab, f"view {i}")
        pre = ":, " if slab.batched else ""
        sel, target = _selection(idx, len(slab.nodes), broadcast)
        if sel is None:
            self.consts.append(np.array(idx))
            c = f"C[{len(self.consts) - 1}]"
            unique = len(set(idx)) == len(idx)
            return _Gather(f"{slab.name}[{pre}{c}]", slab.batched, len(nodes), slab,
                           f"fancy {c} {int(unique)}")
        text = slab.name if sel == "" else f"{slab.name}[{pre}{sel}]"
        width = 1 if len(set(idx)) == 1 else len(nodes)
        return _Gather(text, slab.batched, width, slab, target + sel)

    def _source(self, v: Value):
        return "const" if v in self.const else id(self.loc[v][0])

    def buffer(self, holds: str, batched: bool, width: int, dtype: str = "float") -> str:
        """A work array ``W[i]`` of shape ``(B, width)`` for ``holds``, or "" (a fresh
        array) for a slab of one column or one the same for every sample.

        The caller keeps one set of work arrays per batch size and passes it to
        every call, so a step allocates no large temporaries (for arrays over
        128 KB, glibc's malloc maps and unmaps pages every call). Nothing that
        outlives the call (``aux``) may be one: the next call overwrites it.
        """
        if not batched or width < 2:
            return ""
        self.work.append((holds, width, dtype))
        self.worked.add(holds)
        return f"W[{len(self.work) - 1}]"

    def add_to_theta(self, view: int, contrib: str, into: str = "") -> None:
        """Emit ``G[view] += contrib``; or ``into`` (one call writing into ``{out}``)
        with ``out=G[view]`` when no earlier line added to any of these parameters'
        gradients: ``gtheta`` is zeroed before each call, so the first product or
        batch sum of a layer's weights lands in place, without a temporary and an add.
        Irregular views (copies, for shared parameters) always add."""
        index = self.views[view]
        if self.counting:
            return
        flat = index.ravel().tolist()
        first = into and self.written.isdisjoint(flat) and _strides(index) is not None
        self.written.update(flat)
        self.bwd.append(into.format(out=f"G[{view}]") if first else f"G[{view}] += {contrib}")

    def alias(self, name: str, g: _Gather) -> None:
        """``name`` holds the array of ``g`` (or a view of it)."""
        if g.slab is not None and g.slab.name in self.worked:
            self.worked.add(name)

    def _view(self, index) -> int:
        for i, known in enumerate(self.views):
            if known.shape == index.shape and (known == index).all():
                return i
        self.views.append(index)
        return len(self.views) - 1

    # -- adjoints ------------------------------------------------------------------------
    def _foldable(self, slab: _Slab) -> bool:
        """Whether the adjoint of ``slab`` can be one number, folded into the code that
        reads it: one column and one contribution."""
        return len(slab.nodes) == 1 and self.counts.get(f"g_{slab.name}") == 1

    def materialize(self, gname: str, slab_name: str) -> None:
        """Write the known adjoint ``gname`` as an array (for code that reads an array)."""
        self.bwd.append(f"{gname} = np.full_like({slab_name}, {_t(self.known.pop(gname))})")

    @staticmethod
    def wants(g: _Gather) -> bool:
        """Whether the nodes of ``g`` want a gradient (some are in a slab that needs one)."""
        if g.parts:
            return any(p.slab is not None and p.slab.requires_grad for p in g.parts)
        return g.slab is not None and g.slab.requires_grad

    def accumulate(self, g: _Gather, contrib: str | float, batched: bool, width: int,
                   fresh: bool = True, into: str = "") -> None:
        """Emit ``adjoint[g] += contrib`` (reducing over the batch or broadcasts).

        ``into``: ``contrib`` as one call writing into ``{out}``, used when the
        contribution starts the adjoint of a whole batched slab (a work array).
        """
        if not self.wants(g):
            return
        if isinstance(contrib, (float, _Number)):  # one number for every entry
            gname = f"g_{g.slab.name}" if g.slab is not None and not g.parts else ""
            if (not self.counting and gname and gname not in self.ginit
                    and g.target.startswith("full") and self._foldable(g.slab)
                    and g.slab.batched == isinstance(contrib, _Number)):
                self.known[gname] = contrib  # folded into the code that reads it
                self.ginit.add(gname)
                return
            value, fresh = _t(contrib), True
            if isinstance(contrib, _Number):  # batched: the (B, width) array it stands for
                contrib = f"np.full((B, {width}), {value})"
            elif g.parts:  # an array, cut into the parts below
                contrib = f"np.full({g.width}, {value})"
            elif g.target.startswith("full") and gname not in self.ginit:  # starts the adjoint
                contrib = f"np.full_like({g.slab.name}, {value})"
            else:  # added into a view or a selection: numpy broadcasts the number
                contrib = value
        if g.parts:
            name = f"g_parts{next(self.counter)}"
            self.bwd.append(f"{name} = {contrib}")
            at = 0
            for p in g.parts:
                sel = f"[:, {at}:{at + p.width}]" if batched else f"[{at}:{at + p.width}]"
                self.accumulate(p, name + sel, batched, p.width, fresh=False)
                at += p.width
            return
        summed = ""  # a sum over the batch written straight into a gradient view
        if batched and not g.batched:
            summed = f"np.add.reduce({contrib}, 0, out={{out}})"  # = .sum(0), into a view
            contrib, fresh, into = f"({contrib}).sum(0)", True, ""
        if g.width == 1 and width > 1:
            contrib, fresh, into, summed = f"({contrib}).sum(-1, keepdims=True)", True, "", ""
        kind, _, rest = g.target.partition(" ")
        gname = f"g_{g.slab.name}"
        if self.counting:
            self.counts[gname] = self.counts.get(gname, 0) + 1
            return
        if kind == "view":
            self.add_to_theta(int(rest), contrib, summed)
            return
        if kind == "full" and gname not in self.ginit:
            self.ginit.add(gname)
            alias = fresh or self.counts.get(gname) == 1  # nothing adds to it in place later
            out = self.buffer(gname, g.slab.batched, len(g.slab.nodes)) if (
                fresh and into) else ""
            if out:
                self.bwd.append(f"{gname} = {into.format(out=out)}")
            else:
                self.bwd.append(f"{gname} = {contrib}" + ("" if alias else ".copy()"))
            if fresh or not alias:
                self.owned.add(gname)
            return
        if gname not in self.ginit:
            self.ginit.add(gname)
            self.bwd.append(f"{gname} = np.zeros_like({g.slab.name})")
            self.owned.add(gname)
        pre = ":, " if g.slab.batched else ""
        if kind == "fancy":
            c, unique = rest.split()
            if unique == "1":
                self.bwd.append(f"{gname}[{pre}{c}] += {contrib}")
            else:
                where = f"(slice(None), {c})" if g.slab.batched else c
                self.bwd.append(f"np.add.at({gname}, {where}, {contrib})")
        elif kind == "full":
            self.bwd.append(f"{gname} += {contrib}")
        else:
            self.bwd.append(f"{gname}[{pre}{rest}] += {contrib}")

    # -- grouping ----------------------------------------------------------------------------
    def levels(self) -> list[list[Value]]:
        """The op nodes by depth (a node is one deeper than its deepest parent)."""
        by_level: dict[int, list[Value]] = {}
        for v in self.order:
            if v not in self.loc and v not in self.const:
                by_level.setdefault(self.level[v], []).append(v)
        return [by_level[k] for k in sorted(by_level)]

    def groups(self, nodes: list[Value]) -> list[list[Value]]:
        """Nodes of one level with the same op and sources (their parents are placed)."""
        keyed: dict = {}
        for v in nodes:
            keyed.setdefault(self._key(v), []).append(v)
        return list(keyed.values())

    def _key(self, v: Value):
        op, level = v.op, self.level[v]
        if op is ops.DOT:
            mm = self._matmul_sides(v)
            if mm is not None:
                data, _, bias = mm
                return ("mm", level, tuple(map(id, data)), bias is not None)
        elif op.arity is not None:
            return ("ew", level, op.name, tuple(self._source(p) for p in v.parents))
        return ("one", id(v))

    def _matmul_sides(self, v: Value):
        """(batched inputs, parameter weights, parameter bias) of a dot node, or None
        (memoised: it depends only on which leaves are parameters and what is batched)."""
        if v not in self.sides:
            self.sides[v] = self._find_matmul_sides(v)
        return self.sides[v]

    def _find_matmul_sides(self, v: Value):
        n = len(v.parents) >> 1
        w, x = v.parents[:n], v.parents[n : 2 * n]
        bias = v.parents[2 * n] if len(v.parents) & 1 else None
        if all(self.batched.get(p, False) for p in w):
            w, x = x, w
        if not all(self.batched.get(p, False) for p in x) or not all(
                self.loc.get(p, (None,))[0] is self.theta for p in w):
            return None
        if bias is not None and self.loc.get(bias, (None,))[0] is not self.theta:
            return None
        return x, w, bias

    # -- emission ----------------------------------------------------------------------------
    def emit_group(self, nodes: list[Value]) -> Callable[[], None]:
        """Emit the forward line(s) of one group; return what emits its backward."""
        v = nodes[0]
        if (windows := self.windows.get(v)) is not None:  # a convolution or a pooling
            return compile_layers.emit(self, nodes, windows)
        batched = self.batched[v]
        # named for what it holds: linear3 (a layer's products), relu4, exp7, ...; a
        # slab the same for every sample (parameters and constants only) is *_shared
        product = v.op is ops.DOT and self._matmul_sides(v) is not None
        what = "linear" if product else v.op.name
        slab = _Slab(f"{what}{next(self.counter)}{'' if batched else '_shared'}", nodes,
                     batched, any(n.requires_grad for n in nodes))
        for j, n in enumerate(nodes):
            self.loc[n] = (slab, j)
        self.slabs.append(slab)
        name, g, op = slab.name, f"g_{slab.name}", v.op
        if op is ops.DOT and (mm := self._matmul_sides(v)) is not None:
            return self._emit_matmul(slab, nodes, mm)
        if op.arity is not None:
            return self._emit_elementwise(slab, nodes)
        if op is ops.DOT:
            return self._emit_dot(slab, v)
        if op is ops.SUM:
            a = self.gather(v.parents)
            if a.width == 1:  # a sum of one term (e.g. a mean over a batch of one)
                self.fwd.append(f"{name} = {a.text}  # sum of one")
                self.alias(name, a)

                def alias() -> None:
                    known = self.known.get(g)
                    self.accumulate(a, g if known is None else _Number(known) if isinstance(
                        known, str) else known, batched, 1, False)
                alias.folds = (float, str)  # type: ignore[attr-defined]
                return alias
            self.fwd.append(f"{name} = {a.text}.sum(-1, keepdims=True)  # sum")
            shape = f"(B, {a.width})" if batched else f"({a.width},)"
            return lambda: self.accumulate(a, f"np.broadcast_to({g}, {shape})", batched,
                                           a.width, False)
        if op is ops.MAX:
            a = self.gather(v.parents)
            self.fwd.append(f"{name}_in = {a.text}")
            self.fwd.append(f"{name} = {name}_in.max(-1, keepdims=True)  # max")
            return lambda: self._max_backward(a, name, batched)
        raise TraceError(f"compile: node {v!r} is made by the n-ary op {op.name!r}, which "
                         "has no numpy emission rule (only sum, dot and max do)")

    def _max_backward(self, a: _Gather, name: str, batched: bool) -> None:
        """max's gradient goes to the first maximum of each row (a nan wins), every other
        input gets exactly 0 (``engine.ops.STOP``), even from an inf or nan adjoint."""
        g, arg = f"g_{name}", f"{name}_in.argmax(-1)"
        whole = a.slab is not None and not a.parts and a.target.startswith("full")
        target = f"g_{a.slab.name}" if whole else ""
        if whole and not self.counting and target in self.ginit and self.wants(a):
            # the adjoint exists (and is an array of its own): add into the maxima's slots
            rows, col = ("np.arange(B), ", f"{g}[:, 0]") if batched else ("", f"{g}[0]")
            self.bwd.append(f"{target}[{rows}{arg}] += {col}  # to each row's first maximum")
            return
        others = f"(np.arange({a.width}) != {arg}[..., None])"
        self.accumulate(a, Masked(others).times(g), batched, a.width)

    def _emit_matmul(self, slab: _Slab, nodes: list[Value], mm) -> Callable[[], None]:
        x, _, bias = mm
        a = self.gather(x)
        ws = [self._matmul_sides(n)[1] for n in nodes]
        w = self._view(_np().array([[self.loc[p][1] for p in row] for row in ws]))
        biases = None if bias is None else [self._matmul_sides(n)[2] for n in nodes]
        return self.product(slab.name, a, a.text, w, biases, len(nodes))

    def product(self, name: str, a: Expr, inputs: str, w: str, biases: list[Value] | None,
                count: int) -> Callable[[], None]:
        """Emit ``name = inputs @ P[w].T (+ biases)`` for ``count`` dot nodes (``a`` is
        their gathered inputs, ``inputs`` the text holding them) and return its backward:
        one product for the inputs' gradient, one for the weights'. Dense layers and
        convolution windows (:mod:`engine.compile_layers`) both emit through here."""
        out = self.buffer(name, True, count)
        product = f"np.matmul({inputs}, P[{w}].T, out={out})" if out else f"{inputs} @ P[{w}].T"
        self.fwd.append(f"{name} = {product}  # {count} x dot")
        self.products.add(name)
        b = None
        if biases is not None:
            b = self.gather(biases)
            self.fwd.append(f"{name} += {b.text}  # their biases, in place")
        g = f"g_{name}"

        def backward() -> None:
            self.accumulate(a, f"{g} @ P[{w}]", True, a.width,
                            into=f"np.matmul({g}, P[{w}], out={{out}})")
            self.add_to_theta(w, f"{g}.T @ {inputs}", f"np.matmul({g}.T, {inputs}, out={{out}})")
            if b is not None:
                self.accumulate(b, g, True, count, fresh=False)
        return backward

    def _emit_elementwise(self, slab: _Slab, nodes: list[Value]) -> Callable[[], None]:
        op = nodes[0].op
        args = [self.gather([n.parents[i] for n in nodes], broadcast=True)
                for i in range(op.arity)]
        if len(nodes) > 1 and not any(a.width == len(nodes) for a in args):
            raise AssertionError("broadcast-only group")  # prevented in _key
        syms = [Expr(a.text) if a.value is None else a.value for a in args]
        out, note = Expr(slab.name), ""
        if op is ops.MUL and 1.0 in syms:  # x * 1.0 (a mean over a batch of one) is x
            text = args[1 - syms.index(1.0)].text
            self.alias(slab.name, args[1 - syms.index(1.0)])
            local = op.partials(SYMBOLIC, out, *syms)
        elif op is ops.RELU and self._last_reader(args[0], nodes):
            # relu over a whole slab no one else reads: in place; its mask read from the
            # output (out <= 0 exactly where x <= 0, nan nowhere), so x is not kept
            text = f"np.maximum({args[0].text}, 0.0, out={args[0].text})"
            note = f", in place ({args[0].text} is not read again)"
            self.alias(slab.name, args[0])
            local = op.partials(SYMBOLIC, out, out)
        elif op.numpy is not None:  # the row's numpy text (pow: constant exponents inlined)
            text = str(_power(*syms)) if op is ops.POW else op.numpy.format(*map(_t, syms))
            local = (_pow_partials(out, *syms) if op is ops.POW
                     else op.partials(SYMBOLIC, out, *syms))
            call = ufunc_form(op.numpy) if op is not ops.POW else None
            if call and (work := self.buffer(slab.name, slab.batched, len(nodes))):
                text = call.format(*map(_t, syms), out=work)
        elif op.name in USER_OPS:  # its row's float functions, vectorised (exact, not fast)
            forward, partials = _vectorized(op)
            self.consts += [forward, *partials]
            at = len(self.consts) - len(partials) - 1
            text = f"C[{at}]({', '.join(a.text for a in args)})"
            local = tuple(Expr(f"C[{at + 1 + i}]({', '.join([out.text] + [a.text for a in args])})")
                          for i in range(len(partials)))
        else:
            raise TraceError(f"compile: node {nodes[0]!r} is made by the built-in op "
                             f"{op.name!r}, which has no numpy emission rule (give its "
                             "row of engine.ops.TABLE a numpy text: Op.numpy)")
        self.fwd.append(f"{slab.name} = {text}  # {len(nodes)} x {op.name}{note}")
        g = f"g_{slab.name}"

        def backward() -> None:
            known = self.known.get(g)  # one number: number partials (and a mask) fold into it
            if known is not None and any(self.wants(a) and not (_is_number(d) or isinstance(
                    known, str) and isinstance(d, Masked) and d.value == 1.0)
                                         for a, d in zip(args, local, strict=True)):
                self.materialize(g, slab.name)
                known = None
            for a, d in zip(args, local, strict=True):
                if known is not None:  # one number times a number, or masked
                    if not self.wants(a):
                        continue
                    if isinstance(d, Masked):  # the array is the mask's: where(blocked, 0, g)
                        contrib = f"np.where({d.blocked}, 0.0, {known})"
                    elif isinstance(known, float):
                        contrib = known * d
                    else:
                        contrib = _Number(known if d == 1.0 else f"(-{known})" if d == -1.0
                                          else f"({known} * {literal(d)})")
                    self.accumulate(a, contrib, slab.batched, len(nodes))
                    continue
                into = ""  # the contribution as one call writing into a work array {out}
                if d is ops.STOP:  # a mask's zero: the parent is reached, with exactly 0
                    contrib, fresh = f"np.zeros_like({g})", True
                elif _is_number(d):
                    contrib, fresh = (g, False) if d == 1.0 else (
                        (f"(-{g})", True) if d == -1.0 else (f"({g} * {literal(d)})", True))
                    if d != 1.0:
                        into = (f"np.negative({g}, out={{out}})" if d == -1.0 else
                                f"np.multiply({g}, {literal(d)}, out={{out}})")
                elif isinstance(d, Masked):  # a mask stops the gradient, inf and nan too
                    blocked = ""
                    if d.call and not self.counting and self.wants(a) and a.width == len(
                            nodes) and (work := self.buffer(f"{slab.name}_mask", a.batched,
                                                            a.width, "bool")):
                        blocked = f"{slab.name}_mask"
                        self.bwd.append(f"{blocked} = {d.call.format(out=work)}  # "
                                        f"where {op.name} passes no gradient")
                    # g's last use (one operand) and no other name holds its array: in place
                    in_place = op.arity == 1 and g in self.owned
                    contrib = d.times(g, g if in_place else "", blocked)
                    fresh = True
                    if not in_place:
                        into = d.times(g, "{out}", blocked)
                else:
                    contrib, fresh = f"({g} * {d})", True
                    into = f"np.multiply({g}, {d}, out={{out}})"
                self.accumulate(a, contrib, slab.batched, len(nodes), fresh, into)
        backward.folds = (float, str)  # type: ignore[attr-defined]
        return backward

    def _last_reader(self, g: _Gather, nodes: list[Value]) -> bool:
        """Whether ``nodes`` are the only readers of the whole batched slab ``g``."""
        if g.slab is None or g.parts or not g.slab.batched or not g.target.startswith("full"):
            return False
        if g.slab.name not in self.products:  # only a fresh product no backward reads back
            return False
        group = set(nodes)
        return all(n not in self.roots and self.consumers.get(n, set()) <= group
                   for n in g.slab.nodes)

    def _emit_dot(self, slab: _Slab, v: Value) -> Callable[[], None]:
        n = len(v.parents) >> 1
        w, x = self.gather(v.parents[:n]), self.gather(v.parents[n : 2 * n])
        if slab.batched or not (_is_array(w) and _is_array(x)):
            line = f"{slab.name} = ({w.text} * {x.text}).sum(-1, keepdims=True)"
        else:  # two vectors
            line = f"{slab.name} = ({w.text} @ {x.text}).reshape(1)"
        b = self.gather(v.parents[2 * n :]) if len(v.parents) & 1 else None
        if b is not None:
            line += f" + {b.text}"
        self.fwd.append(line + "  # dot")
        g = f"g_{slab.name}"

        def backward() -> None:
            known = self.known.get(g)  # a constant adjoint (the penalty's): folded
            if b is not None:
                self.accumulate(b, g if known is None else known, slab.batched, 1, fresh=False)
            if w.text == x.text and not w.parts:  # dot(v, v): both slots at once
                twice = f"(2.0 * {g})" if known is None else literal(2.0 * known)
                self.accumulate(w, f"{twice} * {x.text}", slab.batched, n)
                return
            gk = g if known is None else literal(known)
            self.accumulate(w, f"{gk} * {x.text}", slab.batched, n)
            self.accumulate(x, f"{gk} * {w.text}", slab.batched, n)
        backward.folds = (float,)  # type: ignore[attr-defined]
        return backward

    # -- the whole program ---------------------------------------------------------------
    def build(self) -> tuple[str, list, list, list]:
        self.roots = {self.out, self.penalty, *self.aux}
        self.consumers: dict[Value, set] = {}
        for v in self.order:
            for p in v.parents:
                self.consumers.setdefault(p, set()).add(v)
        self.slabs: list[_Slab] = []
        self.products: set[str] = set()  # matmul slabs: new arrays, not read by backward
        backwards = []
        for level in self.levels():
            for group in compile_layers.merge(self, self.groups(level)):  # windows
                for part in self._split(group):
                    backwards.append(self.emit_group(part))
        out_slab, j = self.loc[self.out]
        seeds = [(self.out, "scale" if out_slab.batched else "(scale * B)")]
        col = f"{out_slab.name}[:, {j}].sum()" if out_slab.batched else f"{out_slab.name}[{j}] * B"
        loss = f"{col} * scale"
        if self.penalty is not None:
            ps, pj = self.loc.get(self.penalty, (None, 0))
            if ps is None:
                loss += f" + {literal(self.const[self.penalty])}"
            else:
                if ps.batched:
                    raise TraceError("compile: the penalty depends on the inputs; put it in fn")
                loss += f" + {ps.name}[{pj}]"
                seeds.append((self.penalty, "1.0"))
        outputs = "None"
        if self.aux:
            a = self.gather(self.aux, array=True)
            outputs = a.text if a.batched else f"np.broadcast_to({a.text}, (B, {a.width}))"
            if a.slab is not None and a.slab.name in self.worked and not a.target.startswith(
                    "fancy"):
                outputs += ".copy()"  # a work array (or a view of one): the next call reuses it
        note = "  # and the outputs fn returned with the loss" if self.aux else ""
        values = f"{out_slab.name}[{':, ' if out_slab.batched else ''}{j}]"  # fn's, per sample
        head = ["    # scale: 1/B for the mean over the batch, 1 for the sum", "    B = X.shape[0]",
                *(f"    {s}" for s in self.fwd), f"    loss = float({loss})"]
        lines = ["def forward(X, P, C, W, scale):", *head,
                 f"    return loss, {values}, {outputs}{note}",
                 "", "", "def forward_backward(X, P, G, C, W, scale):", *head]
        self.counting, self.bwd = True, []  # a dry run counts each adjoint's contributions
        for node, _ in seeds:
            if node in self.loc:
                name = f"g_{self.loc[node][0].name}"
                self.counts[name] = self.counts.get(name, 0) + 1
        for backward in backwards:
            backward()
        self.counting, self.bwd = False, []
        for node, seed in seeds:
            if node in self.loc and self.loc[node][0].requires_grad:
                slab, j = self.loc[node]
                gname = f"g_{slab.name}"
                if gname in self.ginit or len(slab.nodes) > 1:
                    if gname not in self.ginit:
                        self.bwd.append(f"{gname} = np.zeros_like({slab.name})")
                    self.bwd.append(f"{gname}[{':, ' if slab.batched else ''}{j}] += {seed}")
                elif self._foldable(slab) and seed == ("scale" if slab.batched else "1.0"):
                    self.known[gname] = 1.0 if seed == "1.0" else seed  # folded (see known)
                else:
                    self.bwd.append(f"{gname} = np.full_like({slab.name}, {seed})")
                self.ginit.add(gname)
                self.owned.add(gname)
        # The batched slabs first, then those the same for every sample (a penalty):
        # still a reverse topological order (a shared slab reads no batched one), and
        # the data's gradient reaches each layer's weights first, written in place
        # (add_to_theta), the penalty's added after.
        pairs = sorted(zip(reversed(self.slabs), reversed(backwards), strict=True),
                       key=lambda pair: not pair[0].batched)  # stable
        for slab, backward in pairs:
            gname = f"g_{slab.name}"
            if gname in self.ginit:  # some gradient reached it
                if gname in self.known and not isinstance(self.known[gname],
                                                          getattr(backward, "folds", ())):
                    self.materialize(gname, slab.name)
                backward()
        lines += [*(f"    {s}" for s in self.bwd), f"    return loss, {outputs}{note}"]
        return "\n".join(self._header() + lines) + "\n", self.consts, self.views, self.work

    def _header(self) -> list[str]:
        """Comments naming what the generated code reads: X's columns, P's views."""
        out = [f"# Generated by engine.compile from one sample's graph of {len(self.order)} "
               f"nodes ({len(self.slabs)} array steps).",
               f"# X: one row per sample, {len(self.X.nodes)} columns (the placeholders). "
               f"theta: the {len(self.theta.nodes)} parameters;",
               "# P[i] is a view of theta (G[i] the same view of its gradient):"]
        for i, index in enumerate(self.views):
            lo, hi = int(index.min()), int(index.max())
            shape = " x ".join(map(str, index.shape))
            regular = _strides(index)
            if regular is None:
                kind = "copy (irregular)"
            elif index.size == hi + 1 - lo:
                kind = "view"
            else:  # e.g. a layer's weights, each neuron's bias between its rows
                strides = regular[1]
                kind = (f"strided view (stride{'s' if len(strides) > 1 else ''} "
                        f"{', '.join(map(str, strides))})")
            out.append(f"#   P[{i}]: {shape} from theta[{lo}:{hi + 1}], a {kind}")
        if self.work:
            out.append("# W[i] is a work array of B rows, reused by every call with B rows:")
            out += [f"#   W[{i}]: B x {width}{' (bool)' if dtype == 'bool' else ''} for {holds}"
                    for i, (holds, width, dtype) in enumerate(self.work)]
        return out + [""]

    def _split(self, group: list[Value]) -> list[list[Value]]:
        """Elementwise groups whose every operand is one broadcast column run one by one."""
        v = group[0]
        if len(group) == 1 or v.op.arity is None:
            return [group]
        for i in range(v.op.arity):
            col = [n.parents[i] for n in group]
            if any(c is not col[0] for c in col) and not all(c in self.const for c in col):
                return [group]
        return [[n] for n in group]


class _Number(str):
    """The text of one number known at run time (``scale``), standing for a batched
    one-column adjoint whose every entry is that number."""

    __slots__ = ()


def _is_number(d: Any) -> bool:
    """Whether a partial is a plain number (not a mask's STOP, not an expression)."""
    return isinstance(d, (int, float)) and not isinstance(d, bool) and d is not ops.STOP


def _is_array(g: _Gather) -> bool:
    """Whether a gather is an array (not a float literal)."""
    return g.slab is not None or bool(g.parts) or g.text.startswith("C[")


def _selection(idx: list[int], width: int, broadcast: bool) -> tuple[str | None, str]:
    """Slice text for columns ``idx`` of a slab ``width`` wide ('' = all), or None."""
    if idx == list(range(width)):
        return "", "full "
    if len(idx) == 1 or broadcast and len(set(idx)) == 1:
        return f"{idx[0]}:{idx[0] + 1}", "slice "
    step = idx[1] - idx[0]
    if step > 0 and all(b - a == step for a, b in itertools.pairwise(idx)):
        stop = idx[-1] + 1
        return (f"{idx[0]}:{stop}" if step == 1 else f"{idx[0]}:{stop}:{step}"), "slice "
    return None, ""


# -- structure keys -----------------------------------------------------------------------


def structure(out: Value, penalty: Value | None, params: Sequence[Value],
              inputs: Sequence[Value], aux: Sequence[Value] = ()) -> tuple:
    """A hashable description of a traced graph: equal for equal structure.

    Leaves are named by role (parameter ``i``, input ``j``, or a constant with
    its value); op nodes by op name and the positions of their parents.
    """
    roots = [out] + ([penalty] if penalty is not None else []) + list(aux)
    role: dict[Value, Any] = {}
    for i, p in enumerate(params):
        role.setdefault(p, ("P", i))
    for j, x in enumerate(inputs):
        role.setdefault(x, ("X", j))
    index: dict[Value, int] = {}
    key = []
    for n, v in enumerate(topological_order(roots, include_constants=True)):
        index[v] = n
        if v in role:
            key.append(role[v])
        elif not v.parents:
            key.append(("C", _constant_key(v.data), v.requires_grad))
        else:
            key.append((v.op.name, tuple(index[p] for p in v.parents)))
    key.append(tuple(index.get(r) for r in roots))
    return tuple(key)


def _constant_key(x: float) -> float | str:
    """A constant as a key that equals itself (nan) and tells 0.0 from -0.0."""
    return x if x == x and x != 0.0 else repr(x)


def _first_difference(a: tuple, b: tuple) -> str:
    for i, (x, y) in enumerate(zip(a, b, strict=False)):
        if x != y:
            return f"node {i}: {x!r} vs {y!r}"
    return f"{len(a)} vs {len(b)} nodes"


#: The values of ``check`` (see :func:`compile`); ``"none"`` is an alias of ``"static"``.
CHECKS = ("auto", "static", "rows", "first", "always")

#: How many rows of the first batch ``check="first"`` traces.
CHECK_ROWS = 1024

#: How many distinct rows ``check="rows"`` remembers as checked (a digest each;
#: the oldest is forgotten first, and traced again if it comes back).
SEEN_ROWS = 10_000

#: How many batch sizes a :class:`Compiled` keeps work arrays for (``fit``: the batch size,
#: the last, smaller batch, and an evaluation's).
WORK_SETS = 4

#: The largest set of work arrays a :class:`Compiled` keeps between calls (bytes): a larger
#: batch (a one-off prediction on many rows) gets its arrays for the call only.
WORK_BYTES = 1 << 28

#: How many generated programs :data:`CACHE` keeps (the least recently used go first).
CACHE_SIZE = 64

#: Generated code by graph structure: (source, namespace functions, constants, views).
CACHE: OrderedDict[tuple, tuple] = OrderedDict()


# -- watching a trace for reads of the data --------------------------------------------------

_DATA = Value.__dict__["data"]  # the slot behind Value.data
_APPLY = frozenset({c for f in (apply, apply_many) for c in (f.__code__, *f.__code__.co_consts)
                    if isinstance(c, types.CodeType)})  # + comprehensions
_QUIET = _APPLY | {Value.__repr__.__code__}
_VALUE_FILE = Value.__init__.__code__.co_filename


@dataclass
class _Reads:
    """What a trace read of the data of nodes that depend on inputs or parameters."""

    inputs: bool = False  # the structure may depend on the data
    params: bool = False  # ... or on the parameters
    where: str = ""  # the first such read, for messages


@contextlib.contextmanager
def _watching(reads: list):
    """Record ``(node, frame)`` for every read of a node's ``data`` outside the op
    evaluation of :func:`engine.apply` (a Python branch, ``float(v)``, a comparison,
    a constant made under ``no_grad``) while the block runs.

    ``Value.data`` is a slot; for the length of a trace the class gets a property
    in its place that reads the same slot and notes the read. Not thread-safe: a
    trace in one thread sees reads that other threads make meanwhile.
    """
    get, put = _DATA.__get__, _DATA.__set__
    getframe, state = sys._getframe, STATE
    note = reads.append

    def read(v: Value) -> float:
        caller = getframe(1)
        code = caller.f_code
        if code not in _QUIET or code in _APPLY and not state.grad_enabled:
            note((v, caller))
        return get(v, Value)

    Value.data = property(read, put)
    try:
        yield reads
    finally:
        Value.data = _DATA


def _classify_reads(reads: list, params: Sequence[Value], inputs: Sequence[Value]) -> _Reads:
    """Which of the nodes read depend on the inputs and which on the parameters."""
    found = _Reads()
    if not reads:
        return found
    param_ids, input_ids = {id(p) for p in params}, {id(x) for x in inputs}
    memo: dict[int, tuple[bool, bool]] = {}
    for v, frame in reads:
        on_inputs, on_params = _depends(v, input_ids, param_ids, memo)
        if (on_inputs or on_params) and not found.where:
            while frame is not None and frame.f_code.co_filename == _VALUE_FILE:
                frame = frame.f_back  # name the user's line, not Value.__gt__
            if frame is not None:
                found.where = (f"{frame.f_code.co_filename}:{frame.f_lineno} "
                               f"(in {frame.f_code.co_name})")
        found.inputs |= on_inputs
        found.params |= on_params
    return found


def _depends(v: Value, input_ids: set, param_ids: set, memo: dict) -> tuple[bool, bool]:
    """(depends on an input, depends on a parameter) for node ``v``: an iterative
    walk that stops at nodes ``memo`` already knows."""
    stack = [v]
    while stack:
        node = stack[-1]
        if id(node) in memo:
            stack.pop()
            continue
        todo = [p for p in node.parents if id(p) not in memo]
        if todo:
            stack.extend(todo)
            continue
        stack.pop()
        on_inputs, on_params = id(node) in input_ids, id(node) in param_ids
        for p in node.parents:
            a, b = memo[id(p)]
            on_inputs, on_params = on_inputs or a, on_params or b
        memo[id(node)] = (on_inputs, on_params)
    return memo[id(v)]


# -- the user-facing object ------------------------------------------------------------------


class Compiled:
    """A per-sample scalar function compiled to numpy code over a batch.

    Made by :func:`compile_function`; see there. The parameters live in ``theta``, a
    flat float64 array in the order of ``params``: :meth:`loss_and_grad` and
    :meth:`sgd_step` read and update it; :meth:`load` copies the parameters'
    ``data`` into it and :meth:`store` writes it back. :meth:`backward` is the
    drop-in for ``loss.backward()``: it loads, computes, and accumulates into
    each parameter's ``grad``.

    The generated code writes its ``(B, k)`` intermediates into work arrays kept
    per batch size (the last :data:`WORK_SETS` sizes), so one object runs one
    call at a time (not thread-safe, as ``theta`` and ``gtheta`` already are);
    what a call returns is never one of them.

    Attributes:
        source: The generated Python source (``print(compiled.source)``).
        theta: The parameters as one flat array.
        aux: When ``fn`` returns ``(loss, outputs)``: the last batch's outputs,
            one row per sample (e.g. a model's predictions, for accuracy): an
            array of its own, which the next call does not overwrite.
        n_inputs: The number of columns of ``X``.
        check: The reuse rule (see :func:`compile_function`).
        reads: What the traces read (``auto`` and ``rows``): ``reads.inputs`` and
            ``reads.params`` say whether the structure may depend on the data or
            on the parameters, ``reads.where`` names the first such read's line.
    """

    def __init__(self, fn: Callable[[list[Value]], Value], params: Sequence[Value],
                 n_inputs: int, penalty: Callable[[], Value] | None, reduction: str,
                 check: str) -> None:
        np = _np()
        if reduction not in ("mean", "sum"):
            raise ValueError(f"compile: reduction must be 'mean' or 'sum', got {reduction!r}")
        check = "static" if check == "none" else check
        if check not in CHECKS:
            raise ValueError(f"compile: check must be one of {', '.join(map(repr, CHECKS))}, "
                             f"got {check!r}")
        self.fn, self.params, self.n_inputs = fn, list(params), int(n_inputs)
        for i, p in enumerate(self.params):
            if not isinstance(p, Value) or p.parents:
                raise TypeError(f"compile: params[{i}] must be a leaf Value, got {p!r:.60}")
        self.penalty_fn, self.reduction, self.check = penalty, reduction, check
        self.theta = np.array([p.data for p in self.params], dtype=float)
        self.gtheta = np.zeros_like(self.theta)
        self.key: tuple | None = None
        self.source = ""
        self.calls = 0
        self.aux = None
        #: What the traces read (check "auto" and "rows"): decides what each call checks.
        self.reads = _Reads()
        self._seen: OrderedDict[bytes, None] = OrderedDict()  # digests of rows checked
        self._traced_theta = None  # theta when the rows in _seen were traced
        self._work_sets: OrderedDict[int, list] = OrderedDict()  # batch size -> work arrays
        self._ndarray, self._float = np.ndarray, np.dtype(float)  # for _batch's fast path

    # -- tracing ---------------------------------------------------------------------------
    def _trace(self, row) -> tuple:
        """One sample's graph: (output, penalty, placeholders, aux outputs)."""
        inputs = [Value(float(x), label=f"x{j}", requires_grad=False) for j, x in enumerate(row)]
        reads: list = []
        with contextlib.ExitStack() as stack:
            if self.check in ("auto", "rows"):
                stack.enter_context(_watching(reads))
            out, aux = self.fn(inputs), ()
            pen = self.penalty_fn() if self.penalty_fn is not None else None
        if isinstance(out, tuple) and len(out) == 2:
            out, aux = out[0], tuple(out[1])
            if not all(isinstance(a, Value) for a in aux):
                raise TraceError("compile: the outputs fn returns with its loss must be Values")
        if not isinstance(out, Value):
            raise TraceError(f"compile: fn must return a Value, got {type(out).__name__}")
        if pen is not None and not isinstance(pen, Value):
            pen = Value(float(pen), requires_grad=False)
        found = _classify_reads(reads, self.params, inputs)
        self.reads.inputs |= found.inputs
        self.reads.params |= found.params
        self.reads.where = self.reads.where or found.where
        return out, pen, inputs, aux

    def _keys(self, X) -> tuple:
        """Trace each row of ``X``; all must give the same structure."""
        first = None
        for i, row in enumerate(X):
            out, pen, inputs, aux = self._trace(row)
            key = structure(out, pen, self.params, inputs, aux)
            if first is None:
                first, traced = key, (out, pen, inputs, aux)
            elif key != first:
                raise TraceError(
                    "compile: the graph depends on the data (Python control flow on "
                    f".data, or a constant made from an input): sample 0 and sample {i} "
                    f"differ at {_first_difference(first, key)}"
                    + (f"; fn reads the data at {self.reads.where}" if self.reads.where else "")
                    + ". Such a function cannot be vectorised; use the dynamic engine for it")
        return first, traced

    def _first_trace(self, X) -> tuple:
        """Trace the first row twice (``auto``) and decide what later calls check."""
        key, traced = self._keys(X[:1])
        if self.check == "auto":
            again, _ = self._keys(X[:1])
            if again != key:
                raise TraceError(
                    "compile: two traces of the same sample gave different graphs (at "
                    f"{_first_difference(key, again)}): fn draws random numbers or keeps "
                    "state (Dropout, a counter), and its graph cannot be frozen into code. "
                    "Make the random mask an input column, or use the dynamic engine")
        return key, traced

    def _new_rows(self, X) -> list:
        """The rows of ``X`` not checked yet (remembered as checked from now on)."""
        seen, rows = self._seen, []
        for row in X:
            digest = hashlib.blake2b(row.tobytes(), digest_size=16).digest()
            if digest in seen:
                seen.move_to_end(digest)
                continue
            seen[digest] = None
            rows.append(row)
        while len(seen) > SEEN_ROWS:
            seen.popitem(last=False)
        return rows

    def _prepare(self, X) -> None:
        """Trace what the reuse rule asks for; (re)build or reject on a new structure.

        The rule: a trace is reused for a call when nothing it depends on can
        have changed. ``static``: never re-checked. ``auto``: a trace that read
        no data of a node depending on the inputs or the parameters (and two
        traces of one row agree) has the same graph for every row and every
        parameter value: never re-checked either. One that read the inputs' data
        has every new row traced and compared (``rows``); one that read the
        parameters' data is traced again whenever ``theta`` changed.
        """
        np = _np()
        check, reads = self.check, self.reads
        if self.key is not None and (check in ("static", "first") or (
                check == "auto" and not reads.inputs and not reads.params)):
            return  # the structure cannot have changed: no check at all
        key, traced = self.key, None
        if key is None:
            with self._parameters_at_theta():
                key, traced = self._keys(X[:CHECK_ROWS]) if check == "first" else (
                    self._first_trace(X))
            self._traced_theta = self.theta.copy()
        if check == "always":
            with self._parameters_at_theta():
                key, traced = self._keys(X)
        elif check in ("auto", "rows"):
            changed = reads.params and not np.array_equal(
                self.theta, self._traced_theta, equal_nan=True)
            if changed:  # every row's graph may differ now
                self._seen.clear()
                self._traced_theta = self.theta.copy()
            rows = (self._new_rows(X) if reads.inputs or check == "rows"
                    else X[:1] if changed else [])
            if len(rows):
                with self._parameters_at_theta():
                    new, new_traced = self._keys(rows)
                if new != key and not changed:
                    raise TraceError(
                        "compile: a new sample gives a different graph than the samples "
                        f"seen before (at {_first_difference(key, new)}): the function "
                        "has Python control flow on the data"
                        + (f" (it reads the data at {reads.where})" if reads.where else "")
                        + ", which cannot be vectorised; use the dynamic engine for it")
                if new != key:
                    key, traced = new, new_traced
        if key == self.key:
            return
        if key in CACHE:
            CACHE.move_to_end(key)
        else:
            out, pen, inputs, aux = traced
            source, consts, views, work = _Builder(out, pen, self.params, inputs, aux).build()
            namespace = {"np": np, "sigmoid": _sigmoid, "power": _power_arrays, "stop": _stop}
            exec(builtins.compile(source, "<dagrad compiled>", "exec"), namespace)
            quiet = np.errstate(all="ignore")  # inf and nan are values here, as in the engine
            CACHE[key] = (source, quiet(namespace["forward"]),
                          quiet(namespace["forward_backward"]), consts, views, work)
            while len(CACHE) > CACHE_SIZE:
                CACHE.popitem(last=False)
        self.key = key
        self.source, self._forward, self._fb, self._consts, views, self._work = CACHE[key]
        self._views = views
        self._bind()

    @contextlib.contextmanager
    def _parameters_at_theta(self):
        """Trace with the parameters' ``data`` equal to ``theta`` (restored after)."""
        values = self.theta.tolist()
        saved = [p.data for p in self.params]
        if saved == values:
            yield
            return
        for p, x in zip(self.params, values, strict=True):
            p.data = x
        try:
            yield
        finally:
            for p, x in zip(self.params, saved, strict=True):
                p.data = x

    def _bind(self) -> None:
        """Parameter views into ``theta`` and ``gtheta`` (a copy where irregular)."""
        self._P = [_view(self.theta, v) for v in self._views]
        self._G = [_view(self.gtheta, v) for v in self._views]
        self._irregular = [i for i, v in enumerate(self._views) if _strides(v) is None]
        used = {i for v in self._views for i in v.ravel().tolist()}
        self._unused = {i for i in range(len(self.params)) if i not in used}
        self._work_sets.clear()

    def _work_arrays(self, B: int) -> list:
        """The generated code's work arrays ``W`` for batches of ``B`` rows: made at the
        first call with ``B`` rows, reused after (the last :data:`WORK_SETS` sizes kept,
        each of at most :data:`WORK_BYTES`; a larger set is made for the call only)."""
        sets = self._work_sets
        W = sets.get(B)
        if W is not None:
            if len(sets) > 1:
                sets.move_to_end(B)
            return W
        np = _np()
        W = [np.empty((B, width), dtype=dtype) for _, width, dtype in self._work]
        if sum(w.nbytes for w in W) > WORK_BYTES:
            return W
        sets[B] = W
        while len(sets) > WORK_SETS:
            sets.popitem(last=False)
        return W

    def _batch(self, X):
        if type(X) is self._ndarray and X.dtype is self._float and X.ndim == 2 and (
                X.shape[1] == self.n_inputs and X.shape[0]):
            return X  # the common case, checked in a few attribute reads
        np = _np()
        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[None, :]
        if X.ndim != 2 or X.shape[1] != self.n_inputs or X.shape[0] == 0:
            raise ValueError(f"compile: expected a batch of shape (B, {self.n_inputs}), "
                             f"got {X.shape}")
        return X

    # -- running ---------------------------------------------------------------------------
    def __call__(self, X) -> Any:
        """The per-sample outputs of ``fn`` for each row of ``X`` (a 1-D array)."""
        X = self._ready(X)
        np = _np()
        _, values, _ = self._forward(X, self._P, self._consts, self._work_arrays(X.shape[0]), 1.0)
        out = np.array(values, dtype=float).reshape(-1)
        return np.broadcast_to(out, (X.shape[0],)).copy()  # the same for every row if shared

    def loss_and_outputs(self, X) -> tuple[float, Any]:
        """Forward only (an evaluation): the batch loss, as :meth:`loss_and_grad` gives
        it, and the outputs ``fn`` returned with its loss (``aux``, one row per sample,
        an array of its own; None when ``fn`` returns only the loss). No gradient is
        computed and ``gtheta`` is left as it was."""
        X = self._ready(X)
        scale = 1.0 / X.shape[0] if self.reduction == "mean" else 1.0
        loss, _, self.aux = self._forward(X, self._P, self._consts,
                                          self._work_arrays(X.shape[0]), scale)
        return loss, self.aux

    def _ready(self, X):
        """``X`` as a checked batch, the code for it built, the parameter views current."""
        X = self._batch(X)
        self._prepare(X)
        for i in self._irregular:  # fancy-indexed parameters are copies
            self._P[i] = self.theta[self._views[i]]
        return X

    def loss_and_grad(self, X) -> tuple[float, Any]:
        """The batch loss (mean or sum of ``fn`` over rows, plus the penalty) and
        its gradient with respect to ``theta`` (a new array)."""
        loss = self._run(X)
        return loss, self.gtheta.copy()

    def _run(self, X) -> float:
        X = self._ready(X)
        np = _np()
        self.gtheta.fill(0.0)
        if self._irregular:
            self._G = [_view(self.gtheta, v) for v in self._views]
        scale = 1.0 / X.shape[0] if self.reduction == "mean" else 1.0
        loss, self.aux = self._fb(X, self._P, self._G, self._consts,
                                  self._work_arrays(X.shape[0]), scale)
        if self._irregular:
            with np.errstate(all="ignore"):
                for i in self._irregular:
                    np.add.at(self.gtheta, self._views[i], self._G[i])
        self.calls += 1
        return loss

    def sgd_step(self, X, lr: float, check: Callable[[], None] | None = None) -> float:
        """One step ``theta -= lr * grad`` on ``theta``; returns the loss before it.

        ``check`` is called after the pass and before the update (e.g. a loss's
        check of :attr:`aux`): if it raises, ``theta`` is left as it was."""
        loss = self._run(X)
        if check is not None:
            check()
        self.theta -= lr * self.gtheta
        return loss

    def load(self) -> None:
        """Copy the parameters' ``data`` into ``theta``."""
        self.theta[:] = [p.data for p in self.params]

    def store(self) -> None:
        """Write ``theta`` back into the parameters' ``data``."""
        for p, x in zip(self.params, self.theta.tolist(), strict=True):
            p.data = x

    def backward(self, X) -> float:
        """Like ``loss.backward()``: accumulate the gradient into each ``p.grad``.

        Reads the parameters' ``data`` first, so it can be mixed freely with
        any optimizer that changes ``p.data``.

        Returns:
            The loss (a float).
        """
        self.load()
        loss = self._run(X)
        unused = self._unused  # parameters the graph does not reach keep grad None
        for i, (p, g) in enumerate(zip(self.params, self.gtheta.tolist(), strict=True)):
            if not unused or i not in unused:
                p.grad = g if p.grad is None else p.grad + g
        return loss


def _strides(index) -> tuple | None:
    """(start, strides) if ``index`` is a regular, non-overlapping grid, else None."""
    flat = index.reshape(-1)
    if len(set(flat.tolist())) != flat.size:
        return None
    start = int(flat[0])
    strides = []
    for axis in range(index.ndim):
        if index.shape[axis] == 1:
            strides.append(0)
            continue
        sel = [0] * index.ndim
        sel[axis] = 1
        strides.append(int(index[tuple(sel)]) - start)
    grid = start
    for axis, s in enumerate(strides):
        shape = [1] * index.ndim
        shape[axis] = index.shape[axis]
        grid = grid + s * _np().arange(index.shape[axis]).reshape(shape)
    if not (grid == index).all() or builtins.min(strides) < 0:
        return None
    return start, tuple(strides)


def _view(theta, index):
    """A view of ``theta`` at ``index`` (regular), or a copy (irregular)."""
    np = _np()
    regular = _strides(index)
    if regular is None:
        return theta[index]
    start, strides = regular
    return np.lib.stride_tricks.as_strided(
        theta[start:], shape=index.shape, strides=tuple(s * theta.itemsize for s in strides))


def compile_function(fn: Callable[[list[Value]], Value], params: Sequence[Value],
                     n_inputs: int, *, penalty: Callable[[], Value] | None = None,
                     reduction: str = "mean", check: str = "auto") -> Compiled:
    """Compile the per-sample function ``fn`` to numpy code over batches.

    The batch loss is ``reduction`` (mean or sum) over the rows of ``X`` of
    ``fn(row)``, plus ``penalty()`` once (e.g. an L2 term on the parameters).

    Args:
        fn: ``fn(inputs) -> Value``: one sample's scalar output, where
            ``inputs`` is a list of ``n_inputs`` placeholder Values (features
            and targets alike). Everything it reads besides ``inputs`` and
            ``params`` is a constant. It may return ``(loss, outputs)`` to
            also get per-sample ``outputs`` (Values) back in ``aux``.
        params: The leaf Values to differentiate with respect to (e.g.
            ``model.parameters()``); their order is ``theta``'s.
        n_inputs: Number of placeholders (columns of ``X``).
        penalty: Optional ``() -> Value`` over the parameters only.
        reduction: ``"mean"`` (default) or ``"sum"`` over the batch.
        check: When a trace is reused (the graph's structure is a function
            of what ``fn`` reads; a trace is reused while that cannot have
            changed):

            * ``"auto"`` (default): the first row is traced twice while every
              read of a node's ``data`` is watched. Two different graphs
              (random draws, state) raise :class:`TraceError`. No read of a
              node that depends on the inputs or parameters (a branch-free
              function, whatever the data): the trace is reused for every
              call at no cost. Reads of the inputs (``if x.data > 0``): every
              distinct row is traced once, the first time it comes, and a row
              whose graph differs raises :class:`TraceError`. Reads of the
              parameters (``if w.data > 0``, a constant made from ``w``): the
              first row is traced again whenever ``theta`` changed (every row,
              if the inputs are read too), and the code rebuilt if its graph
              changed.
            * ``"static"`` (alias ``"none"``): trace one row and trust it:
              for functions whose structure is fixed by construction (the
              modules and losses of ``nn``). Nothing is watched or checked: a
              branch on the data or a random draw (a Dropout mask) is frozen
              as traced, so such a function must not be compiled this way.
            * ``"rows"``: every distinct row traced once (as ``auto`` does
              for a function that reads its inputs).
            * ``"first"``: the first batch's rows (up to :data:`CHECK_ROWS`),
              then trusted. ``"always"``: every row of every batch (slow;
              retraces when all rows agree on a new structure).

            The rows ``"rows"`` remembers are the last :data:`SEEN_ROWS`
            (16-byte digests), so memory stays bounded; a batch edited in
            place is checked again, row by row.

    Returns:
        A :class:`Compiled`. Tracing happens at the first call.

    Raises:
        TypeError: A parameter is not a leaf ``Value``.
        ValueError: An unknown ``reduction`` or ``check``.

    NB: ``jax.jit`` refuses a Python branch on a traced value
    (``ConcretizationTypeError``); ``"auto"`` finds the same reads, and
    instead of refusing, checks what they can change.
    """
    return Compiled(fn, params, n_inputs, penalty, reduction, check)


#: The old name (it shadows the builtin ``compile`` where imported with ``*``).
compile = compile_function  # noqa: A001


__all__ = ["CACHE", "CHECKS", "SYMBOLIC", "Compiled", "TraceError", "compile_function",
           "literal", "structure"]  # not ``compile``: a star import keeps the builtin
