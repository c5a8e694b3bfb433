"""Switches that change how the engine records and checks: ``no_grad``,
``enable_grad``, ``detect_anomaly``.

State is thread-local, as in PyTorch: ``no_grad()`` in one thread does not
stop another thread from recording. Each switch is a context manager and a
decorator.

NB: these mirror ``torch.no_grad``, ``torch.enable_grad`` and
``torch.autograd.detect_anomaly``.
"""

from __future__ import annotations

import contextlib
import threading


class _State(threading.local):
    grad_enabled = True
    anomaly = False


#: The per-thread switches read by the choke point ``engine.value.apply``.
STATE = _State()


class _Defaults:
    __slots__ = ("grad_enabled", "anomaly")

    def __init__(self) -> None:
        self.grad_enabled, self.anomaly = _State.grad_enabled, _State.anomaly


#: How many switches are on now, in all threads together (one int in a list). A thread's
#: ``STATE`` differs from the defaults only inside a switch, so while this is 0 ``apply``
#: reads the plain object ``DEFAULTS`` instead: a thread-local read costs ~50 ns, twice a node.
SWITCHED = [0]
DEFAULTS = _Defaults()
_SWITCHED_LOCK = threading.Lock()


class AnomalyError(ArithmeticError):
    """Raised under :func:`detect_anomaly` when an op makes a NaN or an inf."""


class _Switch(contextlib.ContextDecorator):
    attr = ""
    value = True

    def __enter__(self) -> None:
        with _SWITCHED_LOCK:  # counted before STATE changes, uncounted after it is back
            SWITCHED[0] += 1
        self._prev = getattr(STATE, self.attr)
        setattr(STATE, self.attr, self.value)

    def __exit__(self, *exc) -> None:
        setattr(STATE, self.attr, self._prev)
        with _SWITCHED_LOCK:
            SWITCHED[0] -= 1


class no_grad(_Switch):  # noqa: N801 (PyTorch's name)
    """Context manager/decorator: ops inside record no graph.

    Results are constants (``requires_grad=False``, no parents), so nothing is
    kept for backward and nothing is paid for it.

    >>> from engine import Value, no_grad
    >>> x = Value(2.0)
    >>> with no_grad():
    ...     y = x * x
    >>> y.requires_grad, y.parents
    (False, ())
    """

    attr, value = "grad_enabled", False


class enable_grad(_Switch):  # noqa: N801
    """Context manager/decorator: record the graph again inside ``no_grad``."""

    attr, value = "grad_enabled", True


class detect_anomaly(_Switch):  # noqa: N801
    """Context manager/decorator: fail loudly at the op that makes a NaN/inf.

    Inside it every node remembers where in the user's code it was created.
    In the forward pass an op whose result is NaN (from inputs with no NaN) or
    infinite (from finite inputs) raises :class:`AnomalyError`; in the
    backward pass so does an op whose local gradient turns a finite adjoint
    into a NaN or an infinity. The message names the op, its inputs and the
    file and line that created the node (the checks: :mod:`engine.anomaly`).
    Slower; for debugging only.

    >>> from engine import Value, detect_anomaly
    >>> with detect_anomaly():
    ...     Value(0.0).log()  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    engine.modes.AnomalyError: log produced -inf from inputs (0.0,) at ...
    """

    attr, value = "anomaly", True


def is_grad_enabled() -> bool:
    """Whether ops in this thread record a graph now."""
    return STATE.grad_enabled
