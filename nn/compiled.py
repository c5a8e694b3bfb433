"""The compiled training step: a model and a loss traced once to numpy code.

:class:`CompiledLoss` builds one sample's loss as a scalar graph (features and
target rows are placeholders), hands it to :func:`engine.compile.compile` with
the L2 penalty as a parameter-only term, and from then on runs forward and
backward for a whole batch as a few numpy calls per layer. The per-sample loss
is the registry's (:data:`nn.losses.REGISTRY`): the function the dynamic
losses are made of, so the two paths compute the same thing by construction.

:class:`CompiledStepper` is what ``fit`` runs (contract C5): it keeps the
parameters *and the optimizer's state* in numpy for the whole run, as one flat
vector, and updates them with the formulas of :mod:`nn.optim` vectorised
(``SGD`` with momentum, dampening, Nesterov and weight decay; ``Adam`` and
``AdamW``, with amsgrad), in the same order of floating-point operations, so a
compiled run equals a dynamic one step for step. It reads ``optimizer.lr`` at
every step (schedules work) and :meth:`CompiledStepper.sync` writes the
parameters, their gradients and the optimizer's state back into the ``Value``
objects and the optimizer, so a checkpoint, a resume or a switch back to the
dynamic engine continues exactly.

Who decides between this path and the dynamic one is ``nn.train`` (it imports
this module, never the other way round): :func:`compiled_stepper` returns None
when the compiled path cannot be used (numpy missing, a module that does not
compile, an optimizer it does not vectorise).

numpy is needed (``pip install 'dagrad[speed]'``).
"""

from __future__ import annotations

import numbers
from collections.abc import Callable, Sequence
from typing import Any

from engine import Value, no_grad, topological_order
from engine.compile import Compiled, TraceError, compile
from nn.losses import REGISTRY, LossSpec, l2_penalty
from nn.optim import SGD, Adam, AdamW, Optimizer

#: Loss names the compiled path knows: every loss of the registry.
LOSS_NAMES = tuple(REGISTRY)


def _spec(loss: str) -> LossSpec:
    if not isinstance(loss, str) or loss not in REGISTRY:
        raise ValueError(f"compiled loss: unknown loss {loss!r}; expected one of "
                         f"{', '.join(LOSS_NAMES)}")
    return REGISTRY[loss]


def _n_outputs(model: Any, x: Sequence[float]) -> int:
    nout = getattr(model, "nout", None)
    if isinstance(nout, int) and not isinstance(nout, bool):
        return nout
    with no_grad():
        out = model([float(v) for v in x])
    return 1 if isinstance(out, (Value, numbers.Real)) else len(out)


class CompiledLoss:
    """``loss(model(x), y)`` averaged over a batch, plus ``alpha * sum(p * p)``,
    compiled to numpy code at the first batch.

    Args:
        model: A callable ``Module`` (e.g. ``MLP``) with ``parameters()``.
        loss: A name of :data:`nn.losses.REGISTRY`.
        alpha: The L2 coefficient (0 for none).
        check: ``engine.compile``'s structure check. None: ``"static"`` (trace one
            sample) for a model of :mod:`nn`'s own modules (:func:`fixed_structure`),
            else ``engine.compile``'s default.
        l2_params: The parameters the L2 term covers (default: all of them).
        params: ``model.parameters()``, when the caller has them already.
        **options: The loss's options (``weight``, ``pos_weight``, ``margin``), as the
            batch function takes them; ``weight`` per class for ``cross_entropy``.

    Raises:
        ValueError: An unknown loss name, or an option the loss does not take.

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
                 check: str | None = None, l2_params: Sequence[Value] | None = None,
                 params: Sequence[Value] | None = None, **options: Any) -> None:
        self.spec = _spec(loss)
        unknown = [k for k in options if k not in self.spec.options]
        if unknown:
            raise ValueError(f"compiled loss: {loss} takes no option {unknown[0]!r} (it takes "
                             f"{', '.join(self.spec.options) or 'none'})")
        self.model, self.loss, self.alpha, self.check = model, loss, float(alpha), check
        self.options = options
        self.params = list(model.parameters() if params is None else params)
        self.l2_params = self.params if l2_params is None else list(l2_params)
        self.compiled: Compiled | None = None
        self.n_features = 0
        self.n_outputs = 0
        self._targets: tuple | None = None  # (targets, weight, rows array) of the last batch

    # -- batches as arrays -----------------------------------------------------------
    def features(self, X: Any) -> Any:
        """``X`` as a float array, one row per sample."""
        import numpy as np

        X = np.asarray(X, dtype=float)
        return X[:, None] if X.ndim == 1 else X

    def target_rows(self, y: Any, n_outputs: int, weight: Any = None) -> Any:
        """The loss's target rows for ``y`` (an array, one row per sample), checked.

        Built by the registry (``spec.rows``) after its checks; reused while the
        targets are equal in value to the last batch's.
        """
        import numpy as np

        last = self._targets
        if last is not None and last[1] is None and weight is None and _equal(last[0], y):
            return last[2]
        targets = y.tolist() if isinstance(y, np.ndarray) else list(y)
        self.spec.check(targets, n_outputs)
        options = self.options if weight is None else {**self.options, "weight": weight}
        rows = np.array(self.spec.rows(targets, n_outputs, **options), dtype=float)
        if "weight" in options:
            norm = self.spec.normalizer(rows)
            if norm != len(rows):  # a weighted mean: scale the rows so the batch mean is it
                rows *= len(rows) / norm
        snapshot = y.copy() if isinstance(y, np.ndarray) else [
            list(t) if isinstance(t, list) else t for t in y]
        self._targets = (snapshot, weight, rows)
        return rows

    def batch(self, X: Any, y: Any, weight: Any = None) -> Any:
        """Features and target rows side by side, one row per sample (a numpy array).

        Targets are as the loss's batch function takes them: numbers, lists of
        numbers (several outputs), or class indices for ``cross_entropy``.

        Raises:
            ValueError: The loss's checks fail, or the counts differ.
        """
        import numpy as np

        X = self.features(X)
        if self.n_outputs == 0 or self.n_features != X.shape[1]:
            self.n_outputs = _n_outputs(self.model, X[0])
        rows = self.target_rows(y, self.n_outputs, weight)
        if len(X) != len(rows):
            raise ValueError(f"compiled loss: {len(X)} samples but {len(rows)} targets")
        return np.concatenate([X, rows], axis=1)

    def _compile(self, XY: Any, n_features: int) -> Compiled:
        if self.compiled is None or self.n_features != n_features:
            per_sample, model, d = self.spec.per_sample, self.model, n_features

            def fn(inputs: list[Value]) -> tuple[Value, list[Value]]:
                out = model(inputs[:d])
                outs = [out] if isinstance(out, Value) else list(out)
                return per_sample(outs, inputs[d:]), outs

            decayed, alpha = self.l2_params, self.alpha
            penalty = (lambda: l2_penalty(decayed, alpha)) if alpha else None
            params = self.params
            check = self.check or ("static" if fixed_structure(model) else None)
            kwargs = {} if check is None else {"check": check}
            self.compiled = compile(fn, params, XY.shape[1], penalty=penalty, **kwargs)
            self.n_features = n_features
        return self.compiled

    def _run(self, X: Any, y: Any, weight: Any = None) -> tuple[Compiled, Any]:
        XY = self.batch(X, y, weight)
        return self._compile(XY, XY.shape[1] - self._targets[2].shape[1]), XY

    def check_outputs(self) -> None:
        """Raise the loss's error for outputs it cannot take (``bce`` outside [0, 1])."""
        import numpy as np

        bounds, out = self.spec.output_range, self.outputs
        if bounds is None or out is None:
            return
        bad = ~((out >= bounds[0]) & (out <= bounds[1]))
        if bad.any():
            i = int(np.flatnonzero(bad.any(axis=1))[0])
            self.spec.check_outputs([out[i].tolist()])  # raises, naming the value

    # -- the two ways to train ----------------------------------------------------------
    def backward(self, X: Any, y: Any, weight: Any = None) -> float:
        """The batch loss; accumulates its gradient into each parameter's ``grad``
        (reads the parameters' current ``data`` first), as ``loss.backward()``.

        Raises:
            ValueError: The loss's checks fail on the targets or the outputs.
        """
        compiled, XY = self._run(X, y, weight)
        value = compiled.backward(XY)
        self.check_outputs()
        return value

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


def _equal(a: Any, b: Any) -> bool:
    """Whether two target batches are equal in value (arrays or lists)."""
    import numpy as np

    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        a, b = np.asarray(a), np.asarray(b)
        return a.shape == b.shape and a.dtype == b.dtype and bool((a == b).all())
    return type(a) is type(b) and a == b and all(type(x) is type(z) for x, z in zip(
        a, b, strict=True))


def compiled_loss(model: Any, loss: str, alpha: float = 0.0,
                  **options: Any) -> CompiledLoss | None:
    """A :class:`CompiledLoss`, or None when numpy is missing (use the dynamic path)."""
    try:
        import numpy  # noqa: F401
    except ImportError:
        return None
    return CompiledLoss(model, loss, alpha, **options)


def compiled_step(loss: Any, fallback: Callable[..., tuple[float, list[Any]]]
                  ) -> Callable | None:
    """A drop-in for a dynamic step function that runs the compiled code.

    Same signature and result as ``fallback`` (``nn.train.dynamic_step``):
    ``step(model, params, X, y, loss_fn, l2) -> (loss, outputs)``, leaving each
    parameter's ``grad`` set for the optimizer. ``loss`` is the loss *name*
    (the ``loss_fn`` passed at each call is ignored: it must be the registry's).
    A model that does not compile runs ``fallback``. Returns None when numpy is
    missing or ``loss`` is not a registry name.
    """
    if not isinstance(loss, str) or loss not in REGISTRY:
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
                return value, _rows_out(compiled.outputs)
        return fallback(model, params, X, y, loss_fn, l2)

    return step


def _rows_out(out: Any) -> list[Any]:
    """A ``(B, k)`` array of outputs as fit keeps them: floats for k = 1, else lists."""
    return out[:, 0].tolist() if out.shape[1] == 1 else out.tolist()


def compilable(model: Any, X: Sequence[Any]) -> bool:
    """Whether ``model`` on inputs like ``X`` can run compiled: flat input vectors
    and no module that declares itself not compilable (``Module.compilable``:
    False for random or stateful layers such as ``Dropout`` and ``BatchNorm``)."""
    import numpy as np

    modules = model.modules() if hasattr(model, "modules") else [model]
    if not all(getattr(m, "compilable", True) for m in modules):
        return False
    try:
        return len(X) > 0 and np.asarray(X[0], dtype=float).ndim <= 1
    except (TypeError, ValueError):
        return False


def fixed_structure(model: Any) -> bool:
    """Whether ``model``'s graph has the same structure for every input: every module
    in it is one of :mod:`nn`'s own compilable classes (their forward never branches on
    the data), so one traced sample stands for all and no row needs checking. A class
    of the user's (``Module`` subclassed outside ``nn``) may branch: its rows are checked.
    """
    modules = model.modules() if hasattr(model, "modules") else [model]
    return all(getattr(m, "compilable", False) and type(m).__module__.startswith("nn.")
               for m in modules)


# -- optimizers over the flat parameter vector ---------------------------------------------


class _FlatSGD:
    """``nn.optim.SGD``'s update on arrays, operation for operation."""

    def __init__(self, opt: SGD, n: int) -> None:
        import numpy as np

        bufs = [opt.state.get(i, {}).get("momentum_buffer") for i in range(n)]
        if any(b is None for b in bufs) and any(b is not None for b in bufs):
            raise _Unsupported("some parameters have a momentum buffer and some do not")
        self.buf = None if bufs[0] is None else np.array(bufs, dtype=float)

    def step(self, opt: SGD, theta: Any, g: Any) -> None:
        if opt.maximize:
            g = -g
        if opt.weight_decay != 0:
            g = g + opt.weight_decay * theta
        if opt.momentum != 0:
            if self.buf is None:
                self.buf = g.copy()
            else:
                self.buf *= opt.momentum
                self.buf += (1 - opt.dampening) * g
            g = g + opt.momentum * self.buf if opt.nesterov else self.buf
        theta += -opt.lr * g

    def state(self) -> dict[int, dict[str, float]]:
        if self.buf is None:
            return {}
        return {i: {"momentum_buffer": b} for i, b in enumerate(self.buf.tolist())}


class _FlatAdam:
    """``nn.optim.Adam``/``AdamW``'s update on arrays, operation for operation."""

    def __init__(self, opt: Adam, n: int) -> None:
        import numpy as np

        states = [opt.state.get(i) for i in range(n)]
        if all(s is None for s in states):
            self.t = 0
            self.m, self.v = np.zeros(n), np.zeros(n)
            self.vmax = np.zeros(n) if opt.amsgrad else None
            return
        if any(s is None for s in states) or len({s["step"] for s in states}) != 1:
            raise _Unsupported("the parameters' Adam step counts differ")
        self.t = int(states[0]["step"])
        self.m = np.array([s["exp_avg"] for s in states], dtype=float)
        self.v = np.array([s["exp_avg_sq"] for s in states], dtype=float)
        self.vmax = (np.array([s.get("max_exp_avg_sq", 0.0) for s in states], dtype=float)
                     if opt.amsgrad else None)

    def step(self, opt: Adam, theta: Any, g: Any) -> None:
        import numpy as np

        beta1, beta2 = opt.betas
        lr = opt.lr
        if opt.maximize:
            g = -g
        self.t += 1
        if opt.weight_decay != 0:
            if opt.decoupled:
                theta *= 1 - lr * opt.weight_decay
            else:
                g = g + opt.weight_decay * theta
        self.m += (1 - beta1) * (g - self.m)
        self.v *= beta2
        self.v += (1 - beta2) * g * g
        bias_correction1 = 1 - beta1**self.t
        bias_correction2 = 1 - beta2**self.t
        step_size = lr / bias_correction1
        v = self.v
        if opt.amsgrad:
            if self.vmax is None:
                self.vmax = np.zeros_like(v)
            v = np.maximum(self.vmax, v, out=self.vmax)
        denom = np.sqrt(v) / bias_correction2**0.5 + opt.eps
        theta += -step_size * self.m / denom

    def state(self) -> dict[int, dict[str, float]]:
        if self.t == 0:
            return {}
        t, m, v = self.t, self.m.tolist(), self.v.tolist()
        if self.vmax is None:
            return {i: {"step": t, "exp_avg": a, "exp_avg_sq": b}
                    for i, (a, b) in enumerate(zip(m, v, strict=True))}
        return {i: {"step": t, "exp_avg": a, "exp_avg_sq": b, "max_exp_avg_sq": c}
                for i, (a, b, c) in enumerate(zip(m, v, self.vmax.tolist(), strict=True))}


class _Unsupported(Exception):
    """The optimizer or its state cannot be vectorised (compiled_stepper returns None)."""


#: Optimizer classes with a vectorised update (exact classes: a subclass may change it).
FLAT_OPTIMIZERS: dict[type, type] = {SGD: _FlatSGD, Adam: _FlatAdam, AdamW: _FlatAdam}


# -- the stepper (contract C5) ----------------------------------------------------------------


class CompiledStepper:
    """Training steps of ``fit`` on the compiled path, parameters and optimizer
    state kept in numpy between steps (made by :func:`compiled_stepper`).

    Attributes:
        loss: The :class:`CompiledLoss` (training objective: data loss plus L2).
        optimizer: The optimizer whose settings (``lr`` and the rest) are read at
            every step and whose ``state`` :meth:`sync` writes.
        grad: The last step's gradient, a flat array in ``model.parameters()`` order.
        write_grads: Write each step's gradient into the parameters' ``grad`` (for
            callers that read them every batch; costs a pass over the parameters).
    """

    def __init__(self, model: Any, spec: LossSpec, optimizer: Optimizer, l2: float,
                 options: dict[str, Any], l2_params: Sequence[Value] | None = None,
                 write_grads: bool = False) -> None:
        self.model, self.spec, self.optimizer = model, spec, optimizer
        self.params = list(model.parameters())
        self.write_grads = write_grads
        check = "static" if fixed_structure(model) else None
        self.loss = CompiledLoss(model, spec.name, l2, check, l2_params, self.params, **options)
        self.evaluation = CompiledLoss(model, spec.name, 0.0, check, None, self.params,
                                       **options)
        self.flat = FLAT_OPTIMIZERS[type(optimizer)](optimizer, len(self.params))
        self.grad = None
        self.steps = 0

    @property
    def theta(self) -> Any:
        """The parameters as one flat array (None before the first step)."""
        return self.loss.compiled.theta if self.loss.compiled is not None else None

    def step(self, X: Any, targets: Any, weight: Any = None) -> tuple[float, list[Any]]:
        """Forward, backward and the optimizer's update on one batch.

        Args:
            X: The batch's inputs (a ``(B, d)`` array or lists).
            targets: Targets as the loss's batch function takes them.
            weight: Optional per-sample weights (the loss's ``weight`` option for
                elementwise losses).

        Returns:
            ``(loss, outputs)``: the objective before the update (data loss plus
            L2, the batch's mean) and the outputs, a float per sample for one
            output, else a list per sample.

        Raises:
            ValueError: The loss's checks fail (targets, or outputs such as a
                probability outside [0, 1]); nothing is updated then.
        """
        compiled, XY = self.loss._run(X, targets, weight)
        if self.steps == 0:
            compiled.load()
        value, grad = compiled.loss_and_grad(XY)
        self.loss.check_outputs()
        self.flat.step(self.optimizer, compiled.theta, grad)
        self.grad, self.steps = grad, self.steps + 1
        if self.write_grads:
            for p, g in zip(self.params, grad.tolist(), strict=True):
                p.grad = g
        return value, _rows_out(compiled.aux)

    def forward(self, X: Any, targets: Any) -> tuple[float, list[Any]]:
        """The data loss (no L2) and the outputs on ``(X, targets)``; no update.

        The model is put in evaluation mode for the pass and back after.
        """
        was_training = getattr(self.model, "training", False)
        if hasattr(self.model, "eval"):
            self.model.eval()
        try:
            compiled, XY = self.evaluation._run(X, targets)
            source = self.loss.compiled
            if source is not None:
                compiled.theta[:] = source.theta
            else:
                compiled.load()
            value, _ = compiled.loss_and_grad(XY)
            self.evaluation.check_outputs()
        finally:
            if hasattr(self.model, "train"):
                self.model.train(was_training)
        return value, _rows_out(compiled.aux)

    def sync(self) -> None:
        """Write the parameters, their last gradients and the optimizer's state back
        into the model's ``Value``s and the optimizer (a checkpoint, a resume or the
        dynamic engine then continue exactly)."""
        compiled = self.loss.compiled
        if compiled is None:
            return
        compiled.store()
        if self.grad is not None:
            for p, g in zip(self.params, self.grad.tolist(), strict=True):
                p.grad = g
        self.optimizer.state = self.flat.state()

    def load(self) -> None:
        """Read the parameters and the optimizer's state again (after they were
        changed outside the stepper, e.g. a checkpoint loaded mid-run)."""
        if self.loss.compiled is not None:
            self.loss.compiled.load()
        self.flat = FLAT_OPTIMIZERS[type(self.optimizer)](self.optimizer, len(self.params))


def compiled_stepper(model: Any, loss_name: str, optimizer: Optimizer, l2: float,
                     X_example: Sequence[Any], *, l2_params: Sequence[Value] | None = None,
                     write_grads: bool = False, strict: bool = False,
                     **loss_options: Any) -> CompiledStepper | None:
    """A :class:`CompiledStepper` for ``fit``, or None when the compiled path
    cannot be used: numpy missing, a loss not in the registry, a module that
    declares itself not compilable (``Dropout``, ``BatchNorm``), inputs that are
    not flat vectors, a parameter the model does not use, or an optimizer that
    is not exactly ``SGD``/``Adam``/``AdamW`` over ``model.parameters()``
    (:func:`why_not_compiled` says which).

    Args:
        model: The model.
        loss_name: A name of :data:`nn.losses.REGISTRY`.
        optimizer: The optimizer ``fit`` built (its settings are read every step).
        l2: The L2 coefficient of the objective.
        X_example: Some inputs (the first is traced to check the model).
        l2_params: The parameters the L2 term covers (default: all).
        write_grads: See :attr:`CompiledStepper.write_grads`.
        strict: Raise instead of returning None.
        **loss_options: The loss's options (``weight``, ``pos_weight``, ``margin``).

    Returns:
        The stepper, or None. A model with Python control flow on the data is
        caught at its first step: :class:`engine.compile.TraceError` (a
        ``ValueError``), which the caller turns into the dynamic engine.

    Raises:
        ValueError: With ``strict``, when the compiled path cannot be used, naming
            the condition that failed ("fit: backend='compiled' cannot run: ...").
    """
    reason = why_not_compiled(model, loss_name, optimizer, X_example)
    if reason is None:
        try:
            return CompiledStepper(model, REGISTRY[loss_name], optimizer, l2, loss_options,
                                   l2_params, write_grads)
        except _Unsupported as e:
            reason = f"the optimizer's state cannot be vectorised: {e}"
    if strict:
        raise ValueError(f"fit: backend='compiled' cannot run: {reason}")
    return None


def why_not_compiled(model: Any, loss_name: Any, optimizer: Optimizer,
                     X_example: Sequence[Any]) -> str | None:
    """Why :func:`compiled_stepper` cannot be used with these arguments (the first
    condition that fails, as one phrase), or None when it can.

    >>> from nn import MLP, SGD, Dropout, Sequential
    >>> m = Sequential(MLP(2, [2]), Dropout(0.5))
    >>> why_not_compiled(m, "mse", SGD(m.parameters(), lr=0.1), [[0.0, 1.0]])
    "module '1' (Dropout) declares compilable = False (it runs on the dynamic engine)"
    """
    try:
        import numpy  # noqa: F401
    except ImportError:
        return "numpy is not installed (pip install 'dagrad[speed]')"
    if not isinstance(loss_name, str) or loss_name not in REGISTRY:
        return f"loss {loss_name!r} has no compiled form (one of {sorted(REGISTRY)})"
    named = model.named_modules() if hasattr(model, "named_modules") else [("", model)]
    for path, module in named:
        if not getattr(module, "compilable", True):
            where = f"module {path!r}" if path else "the model"
            return (f"{where} ({type(module).__name__}) declares compilable = False "
                    "(it runs on the dynamic engine)")
    if not compilable(model, X_example):
        return "the inputs are not flat vectors of numbers ([N][features])"
    if type(optimizer) not in FLAT_OPTIMIZERS:
        return (f"optimizer {type(optimizer).__name__} has no compiled update (exactly SGD, "
                "Adam or AdamW)")
    params = list(model.parameters())
    if len(optimizer.params) != len(params) or any(
            a is not b for a, b in zip(optimizer.params, params, strict=True)):
        return "the optimizer's parameters are not exactly model.parameters(), in order"
    if not _uses_every_parameter(model, X_example[0], params):
        return "the model's output does not use every parameter"
    return None


def _uses_every_parameter(model: Any, x: Sequence[float], params: list[Value]) -> bool:
    out = model([float(v) for v in x])
    outs = [out] if isinstance(out, Value) else list(out)
    reached = set(map(id, topological_order(outs)))
    return all(id(p) in reached for p in params)


__all__ = ["FLAT_OPTIMIZERS", "LOSS_NAMES", "CompiledLoss", "CompiledStepper", "compilable",
           "compiled_loss", "compiled_step", "compiled_stepper", "why_not_compiled"]
