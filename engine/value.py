"""``Value``, a scalar node of the computation graph, and ``apply``, the one
place where an op is applied.

``apply`` lifts plain numbers to constants, checks operand types, computes the
output on floats, and records what backward needs: the parents (in operand
order, duplicates kept: ``x * x`` has two parents) and the local partial
derivatives as floats. Every operator and function below is a one-line
wrapper over it (``sum``, ``dot`` and ``max`` over ``apply_many``, its half for
more than two operands, which they call with their operands in one tuple).

NB: a ``Value`` is PyTorch's 0-d ``Tensor`` with ``dtype=float64``; ``op`` and
``parents`` are its ``grad_fn`` and ``grad_fn.next_functions``.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable
from types import SimpleNamespace

from engine import graphcopy, hooks, ops
from engine.anomaly import check_forward, creation_site
from engine.modes import DEFAULTS, STATE, SWITCHED
from engine.ops import Op


class Value:
    """A scalar in a computation graph.

    Args:
        data: The number (int, float, or a numpy real scalar; stored as a
            Python float). ``bool``, ``str``, ``None``, containers and
            complex numbers are rejected with a ``TypeError``.
        label: A name for pictures and messages.
        requires_grad: Whether backward computes a gradient for it. True by
            default, as in micrograd (PyTorch's leaf default is False). Plain
            numbers mixed into an expression become constants with
            ``requires_grad=False``, which cost no gradient work.

    Attributes:
        data: The float value.
        grad: The accumulated gradient after ``backward()``; ``None`` before,
            as in PyTorch.
        parents: The inputs of the op that made this node (a tuple, in
            operand order); ``()`` for leaves. Read-only.
        op: The :class:`engine.ops.Op` that made this node, ``None`` for leaves.
        local_grads: ``d self / d parents[i]`` as floats, or ``None`` when no
            gradient flows through this node. Read-only.
        requires_grad: See above.
        label: See above.
        trace: Where the node was created (only under ``detect_anomaly``).

    Comparisons (``<``, ``<=``, ``>``, ``>=``) compare ``data`` and return a
    bool, as ``if loss < 1e-3`` expects. ``==`` is identity (nodes are
    dictionary keys in the backward table); compare ``a.data == b.data``.
    ``float(v)``, ``int(v)``, ``bool(v)``, ``v.item()`` and format specs
    (``f"{v:.3f}"``) read ``data``.

    >>> a, b = Value(2.0), Value(-3.0)
    >>> c = a * b + a
    >>> c.backward()
    >>> c.data, a.grad, b.grad
    (-4.0, -2.0, 2.0)
    """

    # How the edges are stored (the ``parents`` and ``local_grads`` properties
    # read them back as tuples): an op of one or two inputs keeps them in ``_a``
    # and ``_b`` and their partials in ``_da`` and ``_db``, so a node is a single
    # object for the garbage collector to track, not three (node, parents tuple,
    # partials tuple), which makes building a graph about twice as fast. An op
    # of more inputs (sum, dot, max) keeps the two tuples in ``_a`` and ``_da``,
    # with ``_b`` set to ``_MANY``. A leaf has ``_a = _b = None``.
    __slots__ = ("data", "grad", "op", "requires_grad", "label", "trace",
                 "_a", "_b", "_da", "_db", "_hooks")  # _hooks: set by register_hook only

    def __init__(self, data: float, label: str = "", requires_grad: bool = True) -> None:
        self.data = _to_float(data, "Value")
        self.grad: float | Value | None = None
        self.op: Op | None = None
        self.requires_grad = bool(requires_grad)
        self.label = label
        self.trace: str | None = None
        self._a = self._b = self._da = self._db = None

    @property
    def parents(self) -> tuple[Value, ...]:
        """The op's inputs in operand order (``x * x`` has two); ``()`` for a leaf."""
        a, b = self._a, self._b
        if b is None:
            return () if a is None else (a,)
        return a if b is _MANY else (a, b)

    @property
    def local_grads(self) -> tuple | None:
        """``d self / d parents[i]`` as floats, or ``None`` when no gradient flows here."""
        da, b = self._da, self._b
        if da is None or b is _MANY:
            return da
        return (da,) if b is None else (da, self._db)

    # -- operators: one-line wrappers over apply ------------------------------
    def __add__(self, other): return apply(ops.ADD, self, other)
    def __radd__(self, other): return apply(ops.ADD, other, self)
    def __sub__(self, other): return apply(ops.SUB, self, other)
    def __rsub__(self, other): return apply(ops.SUB, other, self)  # other - self
    def __mul__(self, other): return apply(ops.MUL, self, other)
    def __rmul__(self, other): return apply(ops.MUL, other, self)
    def __truediv__(self, other): return apply(ops.DIV, self, other)
    def __rtruediv__(self, other): return apply(ops.DIV, other, self)  # other / self
    def __pow__(self, other): return apply(ops.POW, self, other)
    def __rpow__(self, other): return apply(ops.POW, other, self)  # other ** self
    def __neg__(self): return apply(ops.NEG, self)
    def __pos__(self): return self
    def __abs__(self): return apply(ops.ABS, self)

    # unary ops as methods (x.exp() is engine.exp(x)): made from the rule table, see UNARY

    # -- comparisons and conversions read data -------------------------------
    def __lt__(self, other): return self.data < _operand_data(other, "<")
    def __le__(self, other): return self.data <= _operand_data(other, "<=")
    def __gt__(self, other): return self.data > _operand_data(other, ">")
    def __ge__(self, other): return self.data >= _operand_data(other, ">=")
    def __float__(self) -> float: return self.data
    def __int__(self) -> int: return int(self.data)
    def __bool__(self) -> bool: return self.data != 0.0
    def __format__(self, spec: str) -> str: return format(self.data, spec)
    __hash__ = object.__hash__

    def item(self) -> float:
        """The float value, as ``torch.Tensor.item``."""
        return self.data

    @property
    def is_leaf(self) -> bool:
        """True for nodes not made by an op (inputs, parameters, constants)."""
        return not self.parents

    def detach(self) -> Value:
        """A new constant leaf with the same data, cut from the graph."""
        return Value(self.data, self.label, requires_grad=False)

    def backward(self, gradient: float = 1.0, create_graph: bool = False) -> None:
        """Accumulate ``d self / d node`` into ``node.grad`` for every node.

        As in PyTorch, gradients add up: a second call doubles them; reset
        with :func:`engine.zero_grad` or ``module.zero_grad()``. Unlike
        PyTorch (and like micrograd), intermediate nodes get ``.grad`` too,
        so a picture can show every adjoint. See :mod:`engine.backprop`.

        Args:
            gradient: The seed ``d L / d self`` (1.0 for a loss).
            create_graph: Make the gradients ``Value`` graphs themselves, so
                they can be differentiated again.
        """
        from engine.backprop import backward

        backward(self, gradient, create_graph=create_graph)

    # -- copying and pickling walk the graph iteratively (any depth): engine.graphcopy
    def __reduce_ex__(self, protocol: int) -> tuple: return graphcopy.reduce(self)
    def __setstate__(self, state: tuple) -> None: graphcopy.setstate(self, state)
    def __copy__(self) -> Value: return graphcopy.shallow_copy(self)
    def __deepcopy__(self, memo: dict) -> Value: return graphcopy.deepcopy(self, memo)

    def register_hook(self, hook: Callable) -> hooks.RemovableHandle:
        """Call ``hook(grad)`` with this node's summed gradient; a non-``None`` result
        replaces it (flows on, reaches a leaf's ``.grad``). As ``torch.Tensor.register_hook``:
        see :mod:`engine.hooks`. Returns a handle (``remove()``); RuntimeError if the node
        does not require grad.

        >>> x = Value(2.0); handle = x.register_hook(lambda g: 10 * g)
        >>> (x * x).backward(); x.grad, handle.remove()
        (40.0, None)
        """
        return hooks.register(self, hook)

    def __repr__(self) -> str:
        label = f"{self.label!r}, " if self.label else ""
        return f"Value({label}data={self.data!r}, grad={self.grad!r})"


# -- the choke point ---------------------------------------------------------------


def apply(op: Op, *args: Value | float) -> Value:
    """Apply primitive ``op`` to ``args``: the single place where nodes are made.

    Args:
        op: A row of the rule table.
        *args: ``Value`` operands, or plain real numbers (lifted to constants).

    Returns:
        The output node. It records its parents and float local gradients when
        grad mode is on and some input requires grad; otherwise it is a
        constant that costs backward nothing.

    Raises:
        TypeError: An operand is not a ``Value`` or a real number.
    """
    n = len(args)
    if n != 1 and n != 2:
        return apply_many(op, args)
    # One or two operands are read and passed by name: no lists, no ``*`` calls.
    a = args[0]
    if type(a) is not Value:
        a = _constant(a, op.name)
    b = None
    if n == 2:
        b = args[1]
        if type(b) is not Value:
            b = _constant(b, op.name)
    state = STATE if SWITCHED[0] else DEFAULTS  # no switch on anywhere: the defaults
    recording = state.grad_enabled
    wanted = recording and (a.requires_grad or (b is not None and b.requires_grad))
    node = _new(Value)
    node._da = node._db = None
    if b is not None:
        out = op.forward(a.data, b.data)
        if wanted:
            node._da, node._db = op.partials(_F, out, a.data, b.data)
    elif wanted and op.fused is not None and op.arity == 1:  # value, partial: one call (relu)
        out, node._da = op.fused(a.data)
    else:
        out = op.forward(a.data)
        if wanted:
            (node._da,) = op.partials(_F, out, a.data)
    node.data = out
    node.grad = None
    node.label = ""
    node.trace = None
    node.requires_grad = True if wanted else False
    if recording:
        node.op, node._a, node._b = op, a, b
    else:
        node.op = node._a = node._b = None
    if state.anomaly:
        node.trace = creation_site()
        check_forward(op, (a.data,) if b is None else (a.data, b.data), out, node.trace)
    return node


def apply_many(op: Op, args: tuple) -> Value:
    """:func:`apply` for any number of operands given as one tuple (``sum``, ``dot``,
    ``max`` and n-ary user primitives call it with the tuple they built: no second
    packing of ``2n + 1`` operands into ``*args``). Its last lines, which fill the
    node, are :func:`apply`'s, written out in both: a shared helper would be one
    more call per node on the engine's hottest path."""
    n = len(args)
    if n == 1 or n == 2:  # kept in slots: made by apply
        return apply(op, *args)
    xs = [a.data for a in args if type(a) is Value]  # checks types, reads data: one pass
    if len(xs) != n:
        args = tuple([a if type(a) is Value else _constant(a, op.name) for a in args])
        xs = [a.data for a in args]
    state = STATE if SWITCHED[0] else DEFAULTS
    recording, wanted = state.grad_enabled, False
    if recording:
        for a in args:
            if a.requires_grad:
                wanted = True
                break
    node = _new(Value)
    node._db = None
    if wanted and op.fused is not None:  # value and partials in one call (dot)
        out, node._da = op.fused(xs)
    else:
        out = op.forward(*xs)
        node._da = op.partials(_F, out, *xs) if wanted else None
    node.data = out
    node.grad = None
    node.label = ""
    node.trace = None
    node.requires_grad = wanted
    if recording:
        node.op, node._a, node._b = op, args, _MANY
    else:
        node.op = node._a = node._b = None
    if state.anomaly:
        node.trace = creation_site()
        check_forward(op, xs, out, node.trace)
    return node


_new = object.__new__


class _Many:
    """The marker in ``_b`` of a node with more than two parents (see ``Value``).
    One instance, which copying and pickling keep (``__reduce__`` names it)."""

    __slots__ = ()

    def __reduce__(self) -> str:
        return "_MANY"

    def __repr__(self) -> str:
        return "_MANY"


_MANY = _Many()


_F = ops.F
_BIG = 2**1023  # ints below this convert to float without overflow


def _to_float(x: object, what: str) -> float:
    """Convert a real number to float, or raise a TypeError naming ``what``."""
    if type(x) is float:
        return x
    if isinstance(x, bool) or not isinstance(x, numbers.Real):
        hint = " (use v.data or v.detach())" if isinstance(x, Value) else ""
        raise TypeError(
            f"{what}: expected a real number (int or float), got "
            f"{type(x).__name__} {x!r:.40}{hint}"
        )
    try:
        f = float(x)
    except OverflowError:  # one rule for every type: a finite number beyond the float range
        f = None  # raises (torch too), never becomes inf; inf and nan inputs stay themselves
    if f is None or (f - f != 0.0 and f == f and -ops.inf < x < ops.inf):
        raise ValueError(f"{what}: {type(x).__name__} {x!r:.40} is too large for a float "
                         f"(beyond +-1.8e308)")
    return f


def _constant(x: object, opname: str) -> Value:
    """Lift a plain number used as an operand of ``opname`` to a constant."""
    if isinstance(x, Value):
        return x
    node = Value.__new__(Value)
    if type(x) is float:
        node.data = x
    elif type(x) is int and -_BIG < x < _BIG:
        node.data = float(x)
    elif x is ops.STOP:  # a mask's zero, multiplied on the Value path (engine.backprop)
        node.data = x
    else:
        node.data = _to_float(x, f"operand of {opname}")
    node.grad = node.op = node.trace = None
    node._a = node._b = node._da = node._db = None
    node.requires_grad = False
    node.label = ""
    return node


def _operand_data(x: object, opname: str) -> float:
    return x.data if type(x) is Value else _to_float(x, f"operand of {opname}")


# -- the op functions: what ``engine`` exports ------------------------------------


def _unary(op: Op) -> Callable[[Value | float], Value]:
    def fn(x: Value | float) -> Value:
        return apply(op, x)

    fn.__name__ = fn.__qualname__ = op.name
    fn.__doc__ = f"``{op.name}(x)`` (rule table row {op.name!r}): {op.forward.__doc__}"
    return fn


#: A function and a ``Value`` method per one-input primitive of the rule table, made from its
#: row: ``engine.exp(x)`` and ``x.exp()``; a new unary primitive in ``ops.TABLE`` gets both.
UNARY: dict[str, Callable[[Value | float], Value]] = {
    op.name: _unary(op) for op in ops.TABLE.values() if op.arity == 1 and op is not ops.NEG}
globals().update(UNARY)  # exp, log, tanh, sigmoid, relu, abs, sin, cos, sqrt
for _name, _fn in UNARY.items():
    setattr(Value, _name, _fn)


def pow(x: Value | float, y: Value | float) -> Value:  # noqa: A001
    """``x ** y`` for a number or ``Value`` exponent."""
    return apply(ops.POW, x, y)


def div(x: Value | float, y: Value | float) -> Value:
    """``x / y``. ``1/0 = inf``, ``0/0 = nan``."""
    return apply(ops.DIV, x, y)


def sum(values) -> Value:  # noqa: A001
    """One n-ary ``sum`` node over ``values`` (cheaper than a chain of ``+``).

    >>> sum([Value(1.0), 2.0, Value(3.0)]).data
    6.0
    """
    values = tuple(values)
    if not values:
        return Value(0.0, requires_grad=False)
    return apply_many(ops.SUM, values)


def dot(weights, inputs, bias: Value | float | None = None) -> Value:
    """One fused node for ``sum(w * x for w, x in zip(weights, inputs)) + bias``.

    A neuron is one ``dot`` node plus its activation: one node with ``2n + 1``
    parents instead of ``2n`` binary nodes.

    Raises:
        ValueError: ``weights`` and ``inputs`` differ in length.

    >>> dot([Value(2.0), Value(3.0)], [1.0, -1.0], bias=0.5).data
    -0.5
    """
    if type(weights) is not list and type(weights) is not tuple:
        weights = tuple(weights)
    if type(inputs) is not list and type(inputs) is not tuple:
        inputs = tuple(inputs)
    if len(weights) != len(inputs):
        raise ValueError(f"dot: {len(weights)} weights but {len(inputs)} inputs")
    if bias is None:
        return apply_many(ops.DOT, (*weights, *inputs))
    return apply_many(ops.DOT, (*weights, *inputs, bias))


def max(*values) -> Value:  # noqa: A001
    """Largest of ``values`` (or of one iterable). The first maximal input gets
    the whole gradient, as in PyTorch's ``max_pool`` and ``max(dim)``; a NaN
    input wins and propagates.

    >>> m = max(Value(1.0), Value(3.0), Value(3.0)); m.backward(); m.parents[1].grad
    1.0
    """
    if len(values) == 1 and not isinstance(values[0], (Value, numbers.Real)):
        values = tuple(values[0])
    if not values:
        raise ValueError("max: needs at least one value")
    return apply_many(ops.MAX, values)


#: The Value namespace: the rule table's partials evaluated here build graphs.
V = SimpleNamespace(
    div=div, pow=pow, **{name: UNARY[name] for name in ops.MATH_NAMES if name in UNARY},
    sign=lambda x: ops.f_sign(ops.value_of(x)),
    step=lambda x: ops.f_step(ops.value_of(x)),
    needs=lambda x: type(x) is Value and x.requires_grad,
)
