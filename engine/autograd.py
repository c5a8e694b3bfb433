"""``engine.grad``: the gradients of some nodes with respect to others, as
``torch.autograd.grad``: the entries of the DP table (:func:`engine.backprop.adjoints`)
that were asked for, without touching ``.grad``.
"""

from __future__ import annotations

from collections.abc import Sequence

from engine.backprop import adjoints
from engine.value import Value


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
