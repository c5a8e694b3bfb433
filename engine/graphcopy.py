"""Copying and pickling graphs of any depth (``copy.copy``, ``copy.deepcopy``, ``pickle``).

Python's default protocol for an object recurses into what it refers to, so a
graph would be copied parent by parent, one stack frame each: a chain of a few
hundred ops exceeded the recursion limit. Here a node is stored after all of its
ancestors (topological order, computed iteratively), so when its own fields are
stored, its parents are already there and nothing recurses along the graph: a
1,000,000-op chain pickles, unpickles and deep-copies.

* ``pickle``: the first node pickle meets sends its ancestors first, as a flat
  list; each of them, met again inside that list, sends only its fields. A
  thread-local set marks the ancestors whose fields are due (each unmarks itself
  when sent; ``_Release``, sent after the list, unmarks those pickle had stored
  already). The fields are the *state* of an empty node (``__setstate__``), so a
  ``grad`` graph that refers back to the node (``backward(create_graph=True)``)
  is fine, as it is for pickle's own cycles.
* ``copy.deepcopy``: the graph is copied in topological order into the ``memo``
  of the call, so nodes shared with other copied objects stay shared.

Nodes shared by several pickled or copied roots stay shared. Hooks
(:meth:`Value.register_hook`) are not copied.
"""

from __future__ import annotations

import copy
import threading

_new = object.__new__


def fields(node) -> tuple:
    """Everything a node holds, in ``__setstate__``'s order."""
    return (node.data, node.grad, node.op, node.requires_grad, node.label, node.trace,
            node._a, node._b, node._da, node._db)


def setstate(node, state: tuple) -> None:
    (node.data, node.grad, node.op, node.requires_grad, node.label, node.trace,
     node._a, node._b, node._da, node._db) = state


class _Pickling(threading.local):
    def __init__(self) -> None:
        self.pending: set = set()  # ancestors whose fields are due next in this pickle


PICKLING = _Pickling()


def reduce(node) -> tuple:
    """``node.__reduce_ex__``: its ancestors first (once, flat), then its fields as state."""
    if node._a is None or node in PICKLING.pending:  # a leaf, or its graph is underway
        PICKLING.pending.discard(node)
        return _blank, (type(node),), fields(node)
    from engine.backprop import topological_order

    ancestors = topological_order(node, include_constants=True)[:-1]
    PICKLING.pending.update(ancestors)
    return _blank, (type(node), ancestors, _Release(ancestors)), fields(node)


class _Release:
    """Pickled after a graph's ancestors: unmarks those pickle had stored already."""

    def __init__(self, nodes: list) -> None:
        self.nodes = nodes

    def __reduce__(self) -> tuple:
        PICKLING.pending.difference_update(self.nodes)
        return _released, ()


def _released() -> None:
    return None


def _blank(cls: type, *ancestors_first):
    """An empty node for ``__setstate__`` to fill (its ancestors, if given, are rebuilt)."""
    return _new(cls)


def shallow_copy(node):
    """``copy.copy``: a new node with the same parents."""
    new = _new(type(node))
    setstate(new, fields(node))
    return new


def deepcopy(node, memo: dict):
    """``copy.deepcopy``: the graph up to ``node`` in topological order, into ``memo``."""
    from engine.backprop import topological_order

    keep, grads = memo.setdefault(id(memo), []), []  # keep originals alive, as copy does
    for n in topological_order(node, include_constants=True):
        if id(n) in memo:
            continue
        data, grad, op, rg, label, trace, a, b, da, db = fields(n)
        if type(a) is tuple:  # an n-ary node: its parents in a tuple
            a = tuple([memo[id(p)] for p in a])
        elif a is not None:
            a, b = memo[id(a)], None if b is None else memo[id(b)]
        memo[id(n)] = new = _new(type(n))
        setstate(new, (data, grad, op, rg, label, trace, a, b, da, db))
        if grad is not None and type(grad) is not float:
            grads.append(new)  # a gradient graph: copied once every node has its copy
        keep.append(n)
    for new in grads:
        new.grad = copy.deepcopy(new.grad, memo)
    return memo[id(node)]
