"""The compiled training step: a model and a loss traced once to numpy code.

:class:`CompiledLoss` builds one sample's loss as a scalar graph (features and
targets are placeholders), hands it to :func:`engine.compile.compile` with the
L2 penalty as a parameter-only term, and from then on runs forward and
backward for a whole batch as a few numpy calls per layer. It is a drop-in for
the dynamic path of a training loop::

    loss = compiled.backward(X, y)   # like (loss_fn(...) + l2).backward()
    optimizer.step()                 # any optimizer of nn.optim

and has a faster path that keeps the parameters in numpy between steps
(:meth:`CompiledLoss.sgd_step`, then :meth:`CompiledLoss.store`).

The per-sample losses here are the functions of :mod:`nn.losses`, written so
that the graph has the same structure for every sample: labels and one-hot
classes are inputs, not Python numbers, and where :mod:`nn.losses` branches on
the data for stability (``bce_with_logits``, ``cross_entropy``) we use the
max-shifted log-sum-exp, which is the same function with the same gradient
and never overflows. ``bce`` clamps its logs at -100 with ``max``, as PyTorch.

numpy is needed (``pip install 'dagrad[speed]'``); :func:`compiled_loss`
returns None without it, so callers fall back to the dynamic engine.
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from engine import Value, dot, exp, log
from engine import max as vmax
from engine import sum as vsum
from engine.compile import Compiled, TraceError, compile
from nn.losses import hinge_loss, l2_penalty, mse_loss

#: Loss names the compiled path knows (those of ``nn.losses.LOSSES``).
LOSS_NAMES = ("hinge", "mse", "bce", "bce_logits", "cross_entropy")


def _logsumexp(zs: Sequence[Value | float]) -> Value:
    """``log(sum(e^z))`` shifted by ``max(z)``: exact, never overflows, and the
    same graph for every sample (the shift's gradient cancels)."""
    m = vmax(*zs)
    return log(vsum([exp(z - m) for z in zs])) + m


def _mean(terms: list[Value]) -> Value:
    return terms[0] if len(terms) == 1 else vsum(terms) * (1.0 / len(terms))


def _hinge(outs: list[Value], targets: list[Value]) -> Value:
    return hinge_loss(outs, targets)


def _mse(outs: list[Value], targets: list[Value]) -> Value:
    return mse_loss(outs, targets)


def _bce_logits(outs: list[Value], targets: list[Value]) -> Value:
    return _mean([_logsumexp([0.0, z]) - z * t for z, t in zip(outs, targets, strict=True)])


def _bce(outs: list[Value], targets: list[Value]) -> Value:
    terms = [-(t * vmax(log(p), -100.0) + (1.0 - t) * vmax(log(1.0 - p), -100.0))
             for p, t in zip(outs, targets, strict=True)]
    return _mean(terms)


def _cross_entropy(outs: list[Value], onehot: list[Value]) -> Value:
    return _logsumexp(outs) - dot(onehot, outs)


_PER_SAMPLE: dict[str, Callable[[list[Value], list[Value]], Value]] = {
    "hinge": _hinge, "mse": _mse, "bce": _bce, "bce_logits": _bce_logits,
    "cross_entropy": _cross_entropy,
}


class CompiledLoss:
    """``loss(model(x), y)`` averaged over a batch, plus ``alpha * sum(p * p)``,
    compiled to numpy code at the first batch.

    Args:
        model: A callable ``Module`` (e.g. ``MLP``) with ``parameters()``.
        loss: One of :data:`LOSS_NAMES`.
        alpha: The L2 coefficient (0 for none).
        check: ``engine.compile``'s structure check (``"rows"`` by default: each
            distinct sample is traced once, the first time it comes).

    Raises:
        ValueError: An unknown loss name.

    >>> from nn import MLP
    >>> model = MLP(2, [4, 1], rng=0)
    >>> c = CompiledLoss(model, "mse")
    >>> X, y = [[0.0, 1.0], [1.0, 0.0]], [0.5, -0.5]
    >>> from nn.losses import mse_loss
    >>> dynamic = mse_loss([model(x) for x in X], y)
    >>> abs(c.backward(X, y) - dynamic.data) < 1e-12
    True
    """

    def __init__(self, model: Any, loss: str = "hinge", alpha: float = 0.0,
                 check: str = "rows") -> None:
        if loss not in _PER_SAMPLE:
            raise ValueError(f"compiled loss: unknown loss {loss!r}; expected one of "
                             f"{', '.join(LOSS_NAMES)}")
        self.model, self.loss, self.alpha, self.check = model, loss, float(alpha), check
        self.params = list(model.parameters())
        self.compiled: Compiled | None = None
        self.n_features = 0
        self._last: tuple | None = None  # (X, y, XY) of the last batch

    # -- batches as arrays -----------------------------------------------------------
    def batch(self, X: Any, y: Any) -> Any:
        """Features and targets side by side, one row per sample (a numpy array).

        Targets are numbers, lists of numbers (several outputs), or class
        indices for ``cross_entropy`` (one-hot encoded here).
        """
        import numpy as np

        X = np.asarray(X, dtype=float)
        if X.ndim == 1:
            X = X[:, None]
        if self.loss == "cross_entropy":
            classes = self._n_outputs(X)
            labels = np.asarray(y)
            if labels.ndim != 1 or not np.issubdtype(labels.dtype, np.integer) or (
                    labels.size and (labels.min() < 0 or labels.max() >= classes)):
                raise ValueError(f"compiled loss: cross_entropy needs class indices in "
                                 f"0..{classes - 1}, got {y!r:.60}")
            Y = np.eye(classes)[labels]
        else:
            Y = np.asarray(y, dtype=float)
            if Y.ndim == 1:
                Y = Y[:, None]
        if len(X) != len(Y):
            raise ValueError(f"compiled loss: {len(X)} samples but {len(Y)} targets")
        return np.concatenate([X, Y], axis=1)

    def _n_outputs(self, X: Any) -> int:
        out = self.model([float(v) for v in X[0]])
        return 1 if isinstance(out, (Value, numbers.Real)) else len(out)

    def _compile(self, XY: Any, n_features: int) -> Compiled:
        if self.compiled is None or self.n_features != n_features:
            per_sample = _PER_SAMPLE[self.loss]
            model, d = self.model, n_features

            def fn(inputs: list[Value]) -> tuple[Value, list[Value]]:
                out = model(inputs[:d])
                outs = [out] if isinstance(out, Value) else list(out)
                return per_sample(outs, inputs[d:]), outs

            params, alpha = self.params, self.alpha
            penalty = (lambda: l2_penalty(params, alpha)) if alpha else None
            self.compiled = compile(fn, params, XY.shape[1], penalty=penalty, check=self.check)
            self.n_features = n_features
        return self.compiled

    def _run(self, X: Any, y: Any) -> tuple[Compiled, Any]:
        import numpy as np

        if self._last is not None and self._last[0] is X and self._last[1] is y:
            return self.compiled, self._last[2]  # the same batch again (full-batch training)
        n_features = np.asarray(X, dtype=float).reshape(len(X), -1).shape[1]
        XY = self.batch(X, y)
        compiled = self._compile(XY, n_features)
        self._last = (X, y, XY)
        return compiled, XY

    # -- the two ways to train ----------------------------------------------------------
    def backward(self, X: Any, y: Any) -> float:
        """The batch loss; accumulates its gradient into each parameter's ``grad``
        (reads the parameters' current ``data`` first), as ``loss.backward()``."""
        compiled, XY = self._run(X, y)
        return compiled.backward(XY)

    def sgd_step(self, X: Any, y: Any, lr: float) -> float:
        """One plain SGD step on the numpy copy of the parameters; returns the loss.

        Call :meth:`load` before the first step (if the parameters changed since
        this object was made) and :meth:`store` to write the result into the model.
        """
        compiled, XY = self._run(X, y)
        return compiled.sgd_step(XY, lr)

    def load(self) -> None:
        """Copy the model's parameters into the compiled step's array."""
        if self.compiled is not None:
            self.compiled.load()

    def store(self) -> None:
        """Write the compiled step's parameters back into the model."""
        if self.compiled is not None:
            self.compiled.store()

    @property
    def outputs(self) -> Any:
        """The model's outputs for the last batch: a ``(B, n_outputs)`` array."""
        return self.compiled.aux if self.compiled is not None else None

    @property
    def source(self) -> str:
        """The generated numpy code (empty before the first batch)."""
        return self.compiled.source if self.compiled is not None else ""


def compiled_loss(model: Any, loss: str, alpha: float = 0.0) -> CompiledLoss | None:
    """A :class:`CompiledLoss`, or None when numpy is missing (use the dynamic path)."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return None
    return CompiledLoss(model, loss, alpha)


def compiled_step(loss: Any) -> Callable | None:
    """A drop-in for ``nn.train.dynamic_step`` that runs the compiled code.

    Same signature and result: ``step(model, params, X, y, loss_fn, l2) ->
    (loss, outputs)``, leaving each parameter's ``grad`` set for the
    optimizer. ``loss`` is the loss *name* (the ``loss_fn`` passed at each call
    is ignored: it must be ``nn.losses.LOSSES[loss]``). Returns None when numpy
    is missing or ``loss`` is not a name the compiled path knows, so a caller
    can write ``step = compiled_step(loss) or dynamic_step``.

    >>> from nn import MLP
    >>> from nn.train import dynamic_step
    >>> from nn.losses import hinge_loss
    >>> model = MLP(2, [3, 1], rng=0); params = model.parameters()
    >>> X, y = [[0.0, 1.0], [1.0, 0.5]], [1, -1]
    >>> want = dynamic_step(model, params, X, y, hinge_loss, 1e-3)
    >>> got = compiled_step("hinge")(model, params, X, y, hinge_loss, 1e-3)
    >>> abs(got[0] - want[0]) < 1e-12 and got[1] == want[1]
    True
    """
    if not isinstance(loss, str) or loss not in _PER_SAMPLE:
        return None
    try:
        import numpy  # noqa: F401
    except ImportError:
        return None
    cache: dict[tuple, CompiledLoss | None] = {}

    def step(model: Any, params: list[Value], X: Sequence[Any], y: Sequence[Any],
             loss_fn: Callable[..., Value], l2: float) -> tuple[float, list[Any]]:
        key = (id(model), float(l2), len(params))
        if key not in cache:
            cache[key] = CompiledLoss(model, loss, l2) if compilable(model, X) else None
        compiled = cache[key]
        if compiled is not None:
            for p in params:
                p.grad = None
            try:
                value = compiled.backward(X, y)
            except TraceError:  # Python control flow on the data: stay dynamic
                cache[key] = None
            else:
                outs = compiled.outputs.tolist()
                return value, [row[0] if len(row) == 1 else row for row in outs]
        from nn.train import dynamic_step

        return dynamic_step(model, params, X, y, loss_fn, l2)

    return step


#: Modules whose forward is random or updates state: tracing them would differ
#: from running them, so models holding one train with the dynamic engine.
STATEFUL = ("Dropout", "BatchNorm1d", "BatchNorm2d")


def compilable(model: Any, X: Sequence[Any]) -> bool:
    """Whether ``model`` on inputs like ``X`` can run compiled: flat input
    vectors and no module in :data:`STATEFUL`."""
    import numpy as np

    modules = model.modules() if hasattr(model, "modules") else [model]
    if any(type(m).__name__ in STATEFUL for m in modules):
        return False
    try:
        return len(X) > 0 and np.asarray(X[0], dtype=float).ndim <= 1
    except (TypeError, ValueError):
        return False


__all__ = ["LOSS_NAMES", "STATEFUL", "CompiledLoss", "compilable", "compiled_loss",
           "compiled_step"]
