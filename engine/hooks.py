"""Tensor hooks (:meth:`engine.Value.register_hook`), as ``torch.Tensor.register_hook``.

A hook is called with a node's total gradient once the DP has finished summing
it (the node's turn in reverse topological order); a result other than ``None``
replaces that gradient in the table, so it is what flows on to the parents and
what a leaf's ``.grad`` receives. While no hook is registered in the process,
backward runs its fast loop, which never looks for hooks.
"""

from __future__ import annotations

import threading
from collections.abc import Callable


class RemovableHandle:
    """What :meth:`Value.register_hook` returns: ``remove()`` takes the hook off."""

    live = 0  # hooks registered and not removed: while > 0, backward takes the loop calling them
    _lock = threading.Lock()

    def __init__(self, hooks: dict, hook: Callable) -> None:
        self._hooks = hooks
        with RemovableHandle._lock:
            hooks[self] = hook
            RemovableHandle.live += 1

    def remove(self) -> None:
        """Take the hook off (a second call does nothing, as in torch)."""
        with RemovableHandle._lock:
            if self._hooks.pop(self, None) is not None:
                RemovableHandle.live -= 1


def register(node, hook: Callable) -> RemovableHandle:
    """Add ``hook`` to ``node``'s hooks (see :meth:`engine.Value.register_hook`)."""
    if not callable(hook):
        raise TypeError(f"register_hook: expected a function, got {type(hook).__name__}")
    if not node.requires_grad:
        raise RuntimeError("register_hook: cannot register a hook on a Value that does "
                           "not require grad")
    hooks = getattr(node, "_hooks", None)
    if hooks is None:
        node._hooks = hooks = {}
    return RemovableHandle(hooks, hook)


def run(node, g, create_graph: bool):
    """``g`` passed through ``node``'s hooks in order; ``None`` keeps it."""
    for hook in list(node._hooks.values()):
        new = hook(g)
        if new is not None:
            g = new if create_graph or type(new) is float else _number(new)
    return g


def _number(x) -> float:
    from engine.value import _to_float

    return _to_float(x, "register_hook: the hook's result")
