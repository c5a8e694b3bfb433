"""Reverse-mode differentiation as dynamic programming over the graph.

For a root ``L`` (say, a loss) we want ``dL/dv`` for every node ``v``.

* **Subproblem**: ``adjoint[v] = dL/dv``, the derivative of the root with
  respect to one node.
* **Base case**: ``adjoint[L] = 1`` (or the seed ``gradient``).
* **Recurrence**: by the chain rule a node's adjoint is the sum over its
  consumers ``u`` of ``adjoint[u] * du/dv``, one term per operand slot (so
  ``u = v * v`` contributes twice). The ``du/dv`` are the local partials the
  rule table gave when ``u`` was made.
* **Order**: a node's adjoint is final once all its consumers are done, so
  nodes are processed in reverse topological order, root first.
* **Cost**: every node is processed once and every edge is followed once:
  ``O(V + E)``.

The naive alternative, expanding the chain rule recursively
(``dL/dv = sum over paths from L to v of the product of edge partials``),
is the same recurrence without memoisation: it revisits a shared subgraph
once per path, and the number of paths grows exponentially with depth (a
stack of diamonds of depth ``d`` has ``2**d`` paths but ``4d`` edges). The
table here is the memo.

The topological order is computed with an explicit stack (no recursion
limit: a 1,000,000-op chain works). The table is a local ``dict``;
:func:`adjoints` returns it without touching ``.grad`` (for notebooks and
pictures), :func:`backward` accumulates it into ``.grad`` as PyTorch does,
and :func:`grad` returns just the entries asked for, like
``torch.autograd.grad``.

Forward mode is the same recurrence run the other way (``tangent[v]`` = sum over
parents of ``dv/dp * tangent[p]``, in topological order): see
:func:`engine.func.tangents`.

NB: HIPS/autograd's ``backward_pass`` has the same shape: a toposort, then one
loop over a dict of outgoing gradients.
"""

from __future__ import annotations

import contextlib
import gc
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from engine.modes import STATE, check_backward, enable_grad
from engine.ops import F
from engine.value import _MANY, V, Value


def topological_order(roots: Value | Iterable[Value], *,
                      include_constants: bool = False) -> list[Value]:
    """Nodes reachable from ``roots``, every node after all of its parents.

    Iterative depth-first search (no recursion limit); each node appears once.

    Args:
        roots: One node or several.
        include_constants: Also walk into nodes that do not require grad
            (for pictures). By default only nodes a gradient can reach.

    Returns:
        A list in topological order: leaves first, the roots last.

    >>> from engine import Value
    >>> a = Value(1.0, label="a"); b = a + a; c = b * b
    >>> [n.label or n.op.name for n in topological_order(c)]
    ['a', 'add', 'mul']
    """
    if isinstance(roots, Value):
        roots = (roots,)
    order: list[Value] = []
    seen: set[Value] = set()
    visit, emit = seen.add, order.append
    for root in roots:
        if root in seen or not (include_constants or root.requires_grad):
            continue
        visit(root)
        # The DFS path and, in step with it, each node's iterator over its parents
        # (two lists rather than a list of pairs: no tuple per node, half the
        # objects for the garbage collector to scan on deep graphs).
        path, pending = [root], [iter(root.parents)]
        while path:
            for p in pending[-1]:
                if p not in seen and (include_constants or p.requires_grad):
                    visit(p)
                    path.append(p)
                    pending.append(iter(p.parents))
                    break
            else:
                pending.pop()
                emit(path.pop())
    return order


def adjoints(roots: Value | Sequence[Value], grad_outputs: float | Sequence | None = None,
             *, create_graph: bool = False) -> dict[Value, float | Value]:
    """The DP table: ``{node: d root / d node}`` for every node a gradient reaches.

    Does not touch ``.grad``.

    Args:
        roots: The output node, or several (their seeded sum is differentiated).
        grad_outputs: Seeds ``d L / d root``: 1.0 by default.
        create_graph: Compute the table with ``Value`` arithmetic, so each
            adjoint is itself a differentiable graph (for higher derivatives).

    Returns:
        A dict from node to adjoint (floats, or ``Value``s with ``create_graph``).

    Raises:
        RuntimeError: A root does not require grad (nothing to differentiate).

    >>> from engine import Value
    >>> x = Value(3.0); y = x * x + x
    >>> adjoints(y)[x]
    7.0
    """
    roots = (roots,) if isinstance(roots, Value) else tuple(roots)
    table = _seed_table(roots, grad_outputs, create_graph)
    with _gc_paused():
        order = topological_order(roots)
        if create_graph or STATE.anomaly:
            with enable_grad():
                for _ in _steps(table, order, create_graph, STATE.anomaly):
                    pass
        else:
            _fill(table, order)
    return table


_GC_LOCK = threading.Lock()
_GC = {"depth": 0, "was_enabled": False}  # backward passes running now, in any thread


@contextlib.contextmanager
def _gc_paused() -> Iterator[None]:
    """Pause the garbage collector while any thread runs a backward pass.

    The DP makes no reference cycles, so the collector's scans are wasted work
    (~25%). The count of running passes is changed under a lock: the first pass
    in turns the collector off, the last one out turns it back on (if it was on),
    so concurrent passes never leave it off.
    """
    with _GC_LOCK:
        if _GC["depth"] == 0:
            _GC["was_enabled"] = gc.isenabled()
            gc.disable()
        _GC["depth"] += 1
    try:
        yield
    finally:
        with _GC_LOCK:
            _GC["depth"] -= 1
            if _GC["depth"] == 0 and _GC["was_enabled"]:
                gc.enable()


class _Zero:
    """The empty sum for ``Value`` adjoints: ``_ZERO + v`` is ``v`` itself (no node)."""

    __slots__ = ()

    def __add__(self, other):
        return other


_ZERO = _Zero()


class DPStep(NamedTuple):
    """One step of the DP: ``node``'s adjoint is final and has been sent to its parents.

    Attributes:
        node: The node processed (nodes come in reverse topological order, root first).
        adjoint: Its final adjoint ``d root / d node``.
        partials: Its local partials, one per parent slot (``()`` for a leaf).
        sent: ``(parent, slot, contribution)`` for each parent slot that requires
            grad, where ``contribution = adjoint * partials[slot]`` was just added
            to ``table[parent]`` (``slot`` is the operand position: ``x * x`` sends twice).
        table: The live adjoint table (the same dict at every step): final
            entries for processed nodes, partial sums for the others.
    """

    node: Value
    adjoint: float | Value
    partials: tuple
    sent: tuple
    table: dict


def dp_steps(roots: Value | Sequence[Value], grad_outputs: float | Sequence | None = None,
             *, create_graph: bool = False) -> Iterator[DPStep]:
    """Run the DP one node at a time, yielding a :class:`DPStep` after each node.

    The same loop :func:`adjoints` runs (it is the loop when ``create_graph`` or
    anomaly mode is on; the float fast path is an inlined copy, tested equal);
    for notebooks and :mod:`viz.animate`. Does not touch ``.grad``.

    Args:
        roots: The output node, or several (their seeded sum is differentiated).
        grad_outputs: Seeds ``d L / d root``: 1.0 by default.
        create_graph: Compute with ``Value`` arithmetic (see :func:`adjoints`).

    Yields:
        One :class:`DPStep` per node a gradient reaches, root first.

    Raises:
        RuntimeError: A root does not require grad.

    >>> from engine import Value
    >>> x = Value(3.0, label="x"); y = x * x
    >>> [(s.node.label or s.node.op.name, s.adjoint, len(s.sent)) for s in dp_steps(y)]
    [('mul', 1.0, 2), ('x', 6.0, 0)]
    """
    roots = (roots,) if isinstance(roots, Value) else tuple(roots)
    table = _seed_table(roots, grad_outputs, create_graph)
    steps = _steps(table, topological_order(roots), create_graph, STATE.anomaly)
    while True:
        with enable_grad():  # per step: the caller's grad mode stays theirs between steps
            step = next(steps, None)
        if step is None:
            return
        yield step


def _steps(table: dict, order: list[Value], create_graph: bool,
           anomaly: bool) -> Iterator[DPStep]:
    """The DP loop, one node per step (see :func:`dp_steps`).

    An adjoint starts as the empty sum: ``-0.0`` for floats (``-0.0 + x`` is
    exactly ``x`` in IEEE arithmetic, signed zeros included) or ``_ZERO`` for
    ``Value``s. On ``Value``s the partial is the left factor, so that a mask's
    zero (:data:`engine.ops.STOP`) decides the product, as it does on floats.
    """
    get = table.get
    zero = _ZERO if create_graph else -0.0
    for node in reversed(order):
        g = table[node]
        sent = []
        local = ()
        if node._a is not None:
            local = local_partials(node, create_graph)
            if anomaly:
                check_backward(node, g, local)
            for slot, (parent, d) in enumerate(zip(node.parents, local)):  # noqa: B905
                if parent.requires_grad:
                    c = d * g if create_graph else g * d
                    table[parent] = get(parent, zero) + c  # the one summing site
                    sent.append((parent, slot, c))
        yield DPStep(node, g, local, tuple(sent), table)


def _fill(table: dict, order: list[Value]) -> None:
    """The float fast path of :func:`_steps`, inlined (no step objects): the DP
    loop :func:`backward` runs. A test checks it equals :func:`dp_steps`."""
    get = table.get
    for node in reversed(order):
        a, b, da = node._a, node._b, node._da  # the edges, kept in slots (see Value)
        if a is None:  # a leaf
            continue
        g = table[node]
        if da is not None:  # the recorded (parent, partial) pairs
            if b is None:
                edges = ((a, da),)
            elif b is _MANY:
                edges = zip(a, da, strict=True)
            else:
                edges = ((a, da), (b, node._db))
        else:
            edges = zip(node.parents, local_partials(node, False))  # noqa: B905 (checked)
        for parent, d in edges:
            if parent.requires_grad:
                table[parent] = get(parent, -0.0) + g * d  # the same summing site


def local_partials(node: Value, create_graph: bool) -> tuple:
    """``node``'s local partials: ``Value`` graphs, the recorded floats, or floats anew."""
    if create_graph:
        return _aligned(node, node.op.partials(V, node, *node.parents))
    local = node.local_grads
    if local is None:  # made while no parent required grad
        local = _aligned(node, node.op.partials(F, node.data, *[p.data for p in node.parents]))
    return local


def _aligned(node: Value, local: tuple) -> tuple:
    """``local`` if it has one partial per parent; else a clear error naming the op."""
    if len(local) != len(node.parents):
        raise ValueError(f"backward: the partials of {node.op.name} gave {len(local)} "
                         f"derivatives for {len(node.parents)} inputs")
    return local


def _seed_table(roots: tuple, grad_outputs, create_graph: bool) -> dict:
    """The base case: ``{root: seed}`` (seeds of a repeated root add up)."""
    seeds = _seeds(roots, grad_outputs, create_graph)
    table: dict[Value, float | Value] = {}
    for root, seed in zip(roots, seeds, strict=True):
        if not isinstance(root, Value):
            raise TypeError(f"backward: expected Value outputs, got {type(root).__name__}")
        if not root.requires_grad:
            raise RuntimeError(
                "backward: the output does not require grad (it is a constant, or was "
                "made under no_grad()), so there is nothing to differentiate"
            )
        table[root] = table[root] + seed if root in table else seed
    return table


def _seeds(roots: tuple, grad_outputs, create_graph: bool) -> tuple:
    if grad_outputs is None:
        grad_outputs = (1.0,) * len(roots)
    elif isinstance(grad_outputs, (int, float, Value)):
        grad_outputs = (grad_outputs,)
    grad_outputs = tuple(grad_outputs)
    if len(grad_outputs) != len(roots):
        raise ValueError(f"backward: {len(roots)} outputs but {len(grad_outputs)} grad_outputs")
    if create_graph:
        return tuple(g if isinstance(g, Value) else Value(g, requires_grad=False)
                     for g in grad_outputs)
    return tuple(float(g) for g in grad_outputs)


def backward(root: Value, gradient: float = 1.0, *, create_graph: bool = False) -> None:
    """Accumulate ``d root / d node`` into ``node.grad`` for every reached node.

    ``grad`` adds up over calls, as in PyTorch: a second call gives exactly
    twice the gradients.

    >>> from engine import Value
    >>> x = Value(3.0); y = x * x
    >>> y.backward(); y.backward(); x.grad
    12.0
    """
    for node, g in adjoints(root, gradient, create_graph=create_graph).items():
        node.grad = g if node.grad is None else node.grad + g


def grad(outputs: Value | Sequence[Value], inputs: Value | Sequence[Value],
         grad_outputs: float | Sequence | None = None, *, create_graph: bool = False,
         allow_unused: bool = False, materialize_grads: bool = False) -> tuple:
    """Gradients of ``outputs`` with respect to ``inputs``, as ``torch.autograd.grad``.

    Does not touch ``.grad``. Not :func:`engine.func.grad`, which transforms a
    function (``grad(f)(x)``, as ``jax.grad``); this one differentiates nodes of
    a graph already built.

    Args:
        outputs: A node, or several (their seeded sum is differentiated).
        inputs: A node, or a sequence of nodes.
        grad_outputs: Seeds for the outputs (1.0 each by default).
        create_graph: Return ``Value`` gradients that can be differentiated again.
        allow_unused: Return ``None`` for an input the outputs do not depend on,
            instead of raising.
        materialize_grads: Return ``0.0`` for such inputs instead.

    Returns:
        A tuple with one gradient per input.

    Raises:
        RuntimeError: An input is not used by the outputs (and neither
            ``allow_unused`` nor ``materialize_grads`` is set).

    >>> import math
    >>> from engine import Value
    >>> x = Value(0.5)
    >>> (dx,) = grad(x * x.sin(), x, create_graph=True)  # sin x + x cos x
    >>> (ddx,) = grad(dx, x)                              # 2 cos x - x sin x
    >>> abs(ddx - (2 * math.cos(0.5) - 0.5 * math.sin(0.5))) < 1e-15
    True
    """
    inputs = (inputs,) if isinstance(inputs, Value) else tuple(inputs)
    table = adjoints(outputs, grad_outputs, create_graph=create_graph)
    result = []
    for i, x in enumerate(inputs):
        if not isinstance(x, Value):
            raise TypeError(f"grad: input {i} is a {type(x).__name__}, not a Value")
        g = table.get(x)
        if g is None:
            if materialize_grads:
                g = Value(0.0, requires_grad=False) if create_graph else 0.0
            elif not allow_unused:
                raise RuntimeError(
                    f"grad: input {i} ({x!r}) is not used by the outputs; "
                    "pass allow_unused=True or materialize_grads=True"
                )
        result.append(g)
    return tuple(result)


def zero_grad(values: Iterable[Value], set_to_none: bool = True) -> None:
    """Reset ``grad`` of ``values`` to ``None`` (PyTorch's default) or to 0.0.

    >>> from engine import Value
    >>> x = Value(1.0); (x * 2).backward(); zero_grad([x]); x.grad is None
    True
    """
    for v in values:
        v.grad = None if set_to_none else 0.0
