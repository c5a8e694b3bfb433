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
and :func:`engine.grad` (:mod:`engine.autograd`) returns just the entries
asked for, like ``torch.autograd.grad``.

Forward mode is the same recurrence run the other way (``tangent[v]`` = sum over
parents of ``dv/dp * tangent[p]``, in topological order): see
:func:`engine.func.tangents`.

NB: HIPS/autograd's ``backward_pass`` has the same shape: a toposort, then one
loop over a dict of outgoing gradients.
"""

from __future__ import annotations

import gc
import threading
from collections.abc import Iterable, Iterator, Sequence
from typing import NamedTuple

from engine.anomaly import check_backward
from engine.hooks import RemovableHandle
from engine.hooks import run as run_hooks
from engine.modes import STATE, enable_grad
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
                if p not in seen and (p.requires_grad or include_constants):
                    visit(p)
                    a, b = p._a, p._b  # its parents, read from the slots (see Value)
                    if a is None:  # a leaf is finished at once: emit it, go on with the siblings
                        emit(p)
                        continue
                    path.append(p)
                    pending.append(iter(a) if b is _MANY else iter((a,) if b is None else (a, b)))
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
    with _GC_LOCK:
        if _GC[0] == 0:
            _GC[1] = gc.isenabled()
            gc.disable()
        _GC[0] += 1
    try:
        order = topological_order(roots)
        if create_graph or STATE.anomaly or RemovableHandle.live:
            with enable_grad():
                for _ in _steps(table, order, create_graph, STATE.anomaly):
                    pass
        else:
            _fill(table, order)
    finally:
        with _GC_LOCK:
            _GC[0] -= 1
            if _GC[0] == 0 and _GC[1]:
                gc.enable()
    return table


# The collector is paused while passes run (the DP makes no cycles: its scans cost ~25%):
# the first pass in turns it off, the last out back on, under a lock (never left off).
_GC_LOCK, _GC = threading.Lock(), [0, False]  # passes running (any thread); gc was on


class _Zero:
    """The empty sum for ``Value`` adjoints: ``_ZERO + v`` is ``v`` itself (no node)."""

    __slots__ = ()

    def __add__(self, other):
        return other


_ZERO = _Zero()


class DPStep(NamedTuple):
    """One step of the DP: ``node``'s adjoint is final and has been sent to its parents."""

    node: Value  # the node processed (reverse topological order, root first)
    adjoint: float | Value  # its final adjoint d root / d node
    partials: tuple  # its local partials, one per parent slot (() for a leaf)
    sent: tuple  # (parent, slot, adjoint * partials[slot]) added to table[parent], per slot
    table: dict  # the live table (the same dict every step): final or partial sums


def dp_steps(roots: Value | Sequence[Value], grad_outputs: float | Sequence | None = None,
             *, create_graph: bool = False) -> Iterator[DPStep]:
    """Run the DP one node at a time, yielding a :class:`DPStep` after each node.

    The loop :func:`adjoints` runs (with ``create_graph``, anomaly mode or hooks; the
    float fast path is an inlined copy, tested equal). Does not touch ``.grad``.
    Arguments as for :func:`adjoints`.

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
    """The DP loop, one node per step. An adjoint starts as the empty sum: ``-0.0`` for
    floats (``-0.0 + x`` is exactly ``x``, signed zeros included) or ``_ZERO`` for Values. On
    Values the partial is the left factor, so a mask's zero (``ops.STOP``) decides the product."""
    get = table.get
    zero = _ZERO if create_graph else -0.0
    hooked = RemovableHandle.live > 0
    for node in reversed(order):
        g = table[node]
        if hooked and getattr(node, "_hooks", None):
            g = table[node] = run_hooks(node, g, create_graph)
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
    """:func:`_steps` on floats, inlined (no step objects): the loop :func:`backward` runs
    without hooks. A test checks it equals :func:`dp_steps`. The summing line is written
    out once per way a node keeps its edges (partials to compute, a tuple of many, one or
    two in slots) rather than looping over made-up ``(parent, partial)`` pairs: building
    those pairs cost ~14% of the loop."""
    get = table.get
    for node in reversed(order):
        a, b, da = node._a, node._b, node._da  # the edges, kept in slots (see Value)
        if a is None:  # a leaf
            continue
        g = table[node]
        if da is None:  # no partials recorded: computed now
            for parent, d in zip(node.parents, local_partials(node, False)):  # noqa: B905
                if parent.requires_grad:
                    table[parent] = get(parent, -0.0) + g * d  # the same summing site
        elif b is _MANY:  # the recorded (parent, partial) pairs, written out per arity
            for parent, d in zip(a, da):  # noqa: B905 (alike: apply, primitive check)
                if parent.requires_grad:
                    table[parent] = get(parent, -0.0) + g * d
        else:
            if a.requires_grad:
                table[a] = get(a, -0.0) + g * da
            if b is not None and b.requires_grad:
                table[b] = get(b, -0.0) + g * node._db


def local_partials(node: Value, create_graph: bool) -> tuple:
    """``node``'s local partials: ``Value`` graphs, the recorded floats, or floats anew
    (a ValueError names an op whose partials do not match its inputs in number)."""
    local = node.local_grads
    if create_graph or local is None:  # None: made while no parent required grad
        parents = node.parents
        local = (node.op.partials(V, node, *parents) if create_graph else
                 node.op.partials(F, node.data, *[p.data for p in parents]))
        if len(local) != len(parents):
            raise ValueError(f"backward: the partials of {node.op.name} gave {len(local)} "
                             f"derivatives for {len(parents)} inputs")
    return local


def _seed_table(roots: tuple, grad_outputs, create_graph: bool) -> dict:
    """The base case: ``{root: seed}`` (seeds of a repeated root add up)."""
    if type(grad_outputs) is float and len(roots) == 1 and not create_graph:
        root = roots[0]
        if type(root) is Value and root.requires_grad:  # backward(): the usual case, fast
            return {root: grad_outputs}
    table: dict[Value, float | Value] = {}
    for root, seed in zip(roots, _seeds(roots, grad_outputs, create_graph), strict=True):
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


def zero_grad(values: Iterable[Value], set_to_none: bool = True) -> None:
    """Reset ``grad`` of ``values`` to ``None`` (PyTorch's default) or to 0.0.

    >>> from engine import Value
    >>> x = Value(1.0); (x * 2).backward(); zero_grad([x]); x.grad is None
    True
    """
    for v in values:
        v.grad = None if set_to_none else 0.0
