"""Training: ``fit`` (the loop), its ``History``, the steppers that run a batch, checkpoints.

``fit(model, X, y, loss=..., optimizer=..., epochs=...)`` runs epochs of
batches (full, stochastic or mini-batch; see :mod:`nn.data`) and returns a
:class:`History` of loss and accuracy per epoch, for the training set and an
optional test (and validation) set.

How the targets are read. ``X`` and ``y`` may be lists, tuples, numpy arrays
or pandas objects (:mod:`nn.arrays` converts and checks them before any
training). Class labels (ints, bools or strings) are found, sorted and encoded
as the loss wants them (the loss registry's ``encode``: +-1 for ``hinge``, 0/1
for ``bce``, class indices for ``cross_entropy``, one-hot rows for ``mse``
with several outputs); the classes, the loss and any input scaling go into
``model.meta`` so that ``model.predict(X)`` answers in the user's labels.
Numbers that are not labels are regression targets.

How a batch runs. A *stepper* does one batch's forward, backward and
optimizer update (``stepper.step(X, targets) -> (loss, outputs)``), evaluates
without a graph (``stepper.forward``) and writes its parameters back into the
model and its state into the optimizer (``stepper.sync()``, at the end of each
epoch and whenever training stops). ``fit`` hands it each data set once
(``stepper.dataset``: the compiled path keeps numpy arrays, checked once) and
then batches of it by row numbers (``stepper.step_rows``,
``stepper.forward_rows``); the compiled path's outputs are ``(B, k)`` arrays,
the dynamic one's lists. :func:`make_stepper` is the one place that picks the
backend: :class:`DynamicStepper` (the scalar graph) or the compiled numpy path.

Beside it: :mod:`nn.targets` (how targets are read and encoded),
:mod:`nn.checkpoint` (checkpoint files), :mod:`nn.predict` and
:mod:`nn.metrics` (predictions and metrics). The command lines live in
:mod:`nn.cli`; ``python -m nn.train`` runs ``dagrad-train``.
"""

from __future__ import annotations

import csv
import functools
import gc
import io as _io
import json
import math
import os
import random
import sys
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import Value, no_grad
from nn import data as datasets
from nn.arrays import as_inputs, as_targets
from nn.checkpoint import load_checkpoint, write_checkpoint
from nn.losses import LOSSES, l2_penalty
from nn.module import Module, layer_of
from nn.optim import OPTIMIZERS, LRScheduler, Optimizer
from nn.predict import apply_scaler, batch_layers, fit_scaler, loss_spec, run_model
from nn.targets import (
    Targets,
    class_weights,
    loss_name,
    loss_options,
    output_activation,
    weighted_loss,
)

#: What a callback returns to stop training after the current epoch.
STOP = True


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch.

    Attributes:
        epoch: 1, 2, ...
        train_loss: The objective minimised (data loss plus the L2 penalty),
            averaged over the epoch's batches, computed before each update as
            micrograd's demo prints it.
        train_acc: Training accuracy in [0, 1] from the same forward passes
            (empty when the task is not classification).
        test_loss: Data loss on the test set after the epoch (empty without one).
        test_acc: Test accuracy after the epoch (empty without a test set).
        lr: The learning rate used in the epoch.
        grad_norms: With ``track_grads``: ``{layer name: [mean |grad| per epoch]}``,
            a layer being a direct child of the model (``layers.0``).
        val_loss: Data loss on the validation split (``early_stopping``).
        val_acc: Accuracy on the validation split.
        stop_reason: Why training ended: ``"completed"``, ``"early_stopping"``,
            ``"callback"``, ``"interrupted"`` (Ctrl-C) or ``"error: <type>"``.
        stopped_epoch: The last epoch that finished.
        best_epoch: With ``early_stopping``: the epoch with the best monitored value.
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)
    val_loss: list[float] = field(default_factory=list)
    val_acc: list[float] = field(default_factory=list)
    stop_reason: str = ""
    stopped_epoch: int = 0
    best_epoch: int | None = None

    _LISTS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr", "val_loss",
              "val_acc")

    def as_dict(self) -> dict[str, Any]:
        """A plain dict of lists (and ``grad_norms``, a dict of lists): JSON-able."""
        d: dict[str, Any] = {name: list(getattr(self, name)) for name in self._LISTS}
        d["grad_norms"] = {k: list(v) for k, v in self.grad_norms.items()}
        d.update(stop_reason=self.stop_reason, stopped_epoch=self.stopped_epoch,
                 best_epoch=self.best_epoch)
        return d

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """The inverse of :meth:`as_dict` (missing fields are empty)."""
        h = cls()
        for name in cls._LISTS:
            setattr(h, name, list(d.get(name) or []))
        h.grad_norms = {k: list(v) for k, v in (d.get("grad_norms") or {}).items()}
        h.stop_reason = d.get("stop_reason") or ""
        h.stopped_epoch = int(d.get("stopped_epoch") or 0)
        h.best_epoch = d.get("best_epoch")
        return h

    def to_json(self) -> str:
        """JSON text; non-finite numbers (a diverged loss) become ``null``."""
        return json.dumps(_finite_or_none(self.as_dict()), indent=1) + "\n"

    def to_csv(self) -> str:
        """CSV text: one row per epoch; ``val_*`` columns when a validation split
        was used; ``grad_norm/<layer>`` columns when tracked.

        >>> print(History([1], [0.5], [1.0], [], [], [0.1]).to_csv().strip())
        epoch,train_loss,train_acc,test_loss,test_acc,lr
        1,0.5,1.0,,,0.1
        """
        cols = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"]
        cols += [c for c in ("val_loss", "val_acc") if getattr(self, c)]
        columns = [getattr(self, c) for c in cols]
        for name, values in self.grad_norms.items():
            cols.append(f"grad_norm/{name}")
            columns.append(values)
        out = _io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(cols)
        for i in range(len(self.epoch)):
            writer.writerow([repr(c[i]) if i < len(c) else "" for c in columns])
        return out.getvalue()


def _finite_or_none(x: Any) -> Any:
    if isinstance(x, float):
        return x if math.isfinite(x) else None
    if isinstance(x, dict):
        return {k: _finite_or_none(v) for k, v in x.items()}
    if isinstance(x, list):
        return [_finite_or_none(v) for v in x]
    return x


# -- steppers --------------------------------------------------------------------------


def _data(out: Any) -> Any:
    if isinstance(out, Value):
        return out.data
    return [v.data for v in out]


def dynamic_step(model: Module, params: list[Value], X: Sequence[Any], y: Sequence[Any],
                 loss_fn: Callable[..., Value], l2: float,
                 decayed: list[Value] | None = None) -> tuple[float, list[Any]]:
    """One training step's gradient work on one batch, with the dynamic graph.

    Forward every sample, take the loss (plus ``l2 * sum(p * p)`` over
    ``decayed``, default ``params``), reset the gradients and backpropagate.
    The optimizer's update is left to the caller.

    Args:
        model: The model (called on each input).
        params: Its parameters (their ``grad`` is reset, then filled).
        X: The batch's inputs.
        y: The batch's targets (as the loss expects them).
        loss_fn: ``loss_fn(outputs, targets) -> Value``.
        l2: The L2 penalty coefficient (0 for none).
        decayed: The parameters the penalty covers (default: all of ``params``).

    Returns:
        ``(loss, outputs)``: the objective's value and the outputs as floats.

    Python's cyclic garbage collector is paused during the step: the engine
    makes no reference cycles, so there is nothing for it to find, and its
    scans of the thousands of live nodes cost about a tenth of the step.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        outputs = run_model(model, X)
        loss = loss_fn(outputs, y)
        if l2:
            loss = loss + l2_penalty(params if decayed is None else decayed, l2)
        for p in params:
            p.grad = None
        loss.backward()
    finally:
        if paused:
            gc.enable()
    return loss.data, [_data(o) for o in outputs]


def _forward(model: Module, X: Sequence[Any], y: Sequence[Any],
             loss_fn: Callable[..., Value]) -> tuple[float, list[Any]]:
    """Data loss and outputs in evaluation mode, without a graph; the mode is restored."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = run_model(model, X)
            value = loss_fn(outputs, y).data
    finally:
        model.train(was_training)
    return value, [_data(o) for o in outputs]


class DynamicStepper:
    """Runs batches on the scalar graph (C5's stepper protocol).

    Args:
        model: The model.
        loss_fn: ``loss_fn(outputs, targets) -> Value`` (the batch mean).
        optimizer: Its ``step()`` follows each backward pass.
        l2: The L2 coefficient.
        l2_bias: Whether the penalty covers biases too (True: every
            parameter, micrograd's demo; False: only parameters whose name
            does not end in ``b``/``bias``, as a PyTorch parameter group
            without weight decay on biases).
        step_fn: Replaces :func:`dynamic_step` (``fit(step=...)``).
    """

    def __init__(self, model: Module, loss_fn: Callable[..., Value], optimizer: Optimizer,
                 l2: float = 0.0, l2_bias: bool = True,
                 step_fn: Callable[..., tuple[float, list[Any]]] | None = None) -> None:
        self.model, self.loss_fn, self.optimizer, self.l2 = model, loss_fn, optimizer, l2
        self.l2_bias = l2_bias
        self.step_fn = step_fn

    @functools.cached_property
    def params(self) -> list[Value]:
        """``model.parameters()``, found at the first step (``fit(backend='auto')`` makes
        this stepper beside the compiled one, which most often never hands over)."""
        return self.model.parameters()

    @functools.cached_property
    def decayed(self) -> list[Value] | None:
        """The parameters the L2 penalty covers (None: all of them)."""
        return None if self.l2_bias else decayed_parameters(self.model)

    def step(self, X: Sequence[Any], targets: Sequence[Any]) -> tuple[float, list[Any]]:
        """Forward, backward and one optimizer update; ``(loss, outputs)``."""
        if self.step_fn is not None:
            value, outputs = self.step_fn(self.model, self.params, X, targets, self.loss_fn,
                                          self.l2)
        else:
            value, outputs = dynamic_step(self.model, self.params, X, targets, self.loss_fn,
                                          self.l2, self.decayed)
        self.optimizer.step()
        return value, outputs

    def forward(self, X: Sequence[Any], targets: Sequence[Any]) -> tuple[float, list[Any]]:
        """Data loss and outputs in evaluation mode, no graph kept."""
        return _forward(self.model, X, targets, self.loss_fn)

    def dataset(self, X: Sequence[Any], targets: Sequence[Any]) -> tuple[list, list]:
        """The data as :meth:`step_rows` takes it: the lists themselves."""
        return X, targets

    def step_rows(self, data: tuple[list, list], rows: Sequence[int]) -> tuple[float, list[Any]]:
        """:meth:`step` on the samples ``rows`` (row numbers) of ``data``."""
        X, targets = data
        if isinstance(rows, range) and rows == range(len(X)):
            return self.step(X, targets)
        return self.step([X[i] for i in rows], [targets[i] for i in rows])

    def forward_rows(self, data: tuple[list, list]) -> tuple[float, list[Any]]:
        """:meth:`forward` on the whole of ``data``."""
        return self.forward(*data)

    def grad_means(self, groups: list[tuple[str, list[Value]]]) -> list[float]:
        """The last step's mean ``|grad|`` in each group of parameters (``fit``'s
        ``track_grads``; a parameter without a gradient adds nothing)."""
        return [sum(abs(float(p.grad)) for p in ps if p.grad is not None) / len(ps)
                for _, ps in groups]

    def sync(self) -> None:
        """Nothing to write back: the parameters are the model's own."""


class _FallbackStepper:
    """The compiled stepper, until a model's trace cannot be reused (Python control
    flow on the data: ``TraceError``, raised before any update); then the dynamic
    stepper for good, from the parameters and optimizer state the compiled one
    wrote back. Its data sets are pairs: the compiled one's and the dynamic one's."""

    def __init__(self, compiled: Any, dynamic: DynamicStepper) -> None:
        from engine.compile import TraceError

        self.compiled, self.dynamic, self._error = compiled, dynamic, TraceError

    def _run(self, method: str, compiled_args: tuple, dynamic_args: tuple
             ) -> tuple[float, Any]:
        if self.compiled is not None:
            try:
                return getattr(self.compiled, method)(*compiled_args)
            except self._error:
                self.compiled.sync()
                self.compiled = None
        return getattr(self.dynamic, method)(*dynamic_args)

    def step(self, X: Sequence[Any], targets: Sequence[Any]) -> tuple[float, Any]:
        return self._run("step", (X, targets), (X, targets))

    def forward(self, X: Sequence[Any], targets: Sequence[Any]) -> tuple[float, Any]:
        return self._run("forward", (X, targets), (X, targets))

    def dataset(self, X: Sequence[Any], targets: Sequence[Any]) -> tuple[Any, Any]:
        compiled = self.compiled.dataset(X, targets) if self.compiled is not None else None
        return compiled, self.dynamic.dataset(X, targets)

    def step_rows(self, data: tuple[Any, Any], rows: Sequence[int]) -> tuple[float, Any]:
        return self._run("step_rows", (data[0], rows), (data[1], rows))

    def forward_rows(self, data: tuple[Any, Any]) -> tuple[float, Any]:
        return self._run("forward_rows", (data[0],), (data[1],))

    def grad_means(self, groups: list[tuple[str, list[Value]]]) -> list[float]:
        return (self.compiled or self.dynamic).grad_means(groups)

    def sync(self) -> None:
        if self.compiled is not None:
            self.compiled.sync()


def make_stepper(backend: str, model: Module, loss: str | None,
                 loss_fn: Callable[..., Value], optimizer: Optimizer, l2: float,
                 X_example: Sequence[Any], *, l2_bias: bool = True,
                 loss_options: dict[str, Any] | None = None, track_grads: bool = False) -> Any:
    """The stepper for ``fit(backend=...)``: the one place the backend is chosen.

    ``"dynamic"``: :class:`DynamicStepper`. ``"compiled"``: the compiled
    numpy path (``nn.compiled.compiled_stepper``), an error when it cannot
    be used. ``"auto"``: compiled when it can be used, else dynamic. A
    compiled stepper whose trace cannot be reused (Python control flow on the
    data) hands over to the dynamic one (:class:`_FallbackStepper`).
    ``loss_options`` are the loss's (``weight``, ``pos_weight``) as ``loss_fn``
    applies them; ``track_grads`` asks for each step's gradients in ``p.grad``.

    Raises:
        ValueError: An unknown backend, or ``"compiled"`` when it cannot run.
    """
    if backend not in ("auto", "dynamic", "compiled"):
        raise ValueError(f"fit: unknown backend {backend!r}; expected 'auto', 'dynamic' or "
                         "'compiled'")
    stepper = None
    registered = loss is not None and (loss_fn is LOSSES.get(loss) or bool(loss_options))
    if backend != "dynamic" and registered:
        from nn.compiled import compiled_stepper

        stepper = compiled_stepper(
            model, loss, optimizer, l2, X_example, **(loss_options or {}),
            l2_params=None if l2_bias else decayed_parameters(model), write_grads=track_grads,
            strict=backend == "compiled")
        if stepper is not None and backend == "auto":
            stepper = _FallbackStepper(stepper, DynamicStepper(model, loss_fn, optimizer, l2,
                                                               l2_bias))
    if stepper is None and backend != "dynamic" and registered:
        from nn.compiled import FallbackWarning, not_compilable_reason

        why = not_compilable_reason(model, X_example)  # backend='compiled' raised above
        if why is not None:
            warnings.warn(f"fit: training on the dynamic engine, not the compiled path: {why}",
                          FallbackWarning, stacklevel=3)
    if stepper is None:
        if backend == "compiled":  # not registered: compiled_stepper(strict=True) raised else
            try:
                import numpy  # noqa: F401
            except ImportError:
                raise ValueError("fit: backend='compiled' cannot run: numpy is not installed "
                                 "(pip install 'dagrad[speed]')") from None
            raise ValueError("fit: backend='compiled' cannot run: the loss is a function; give "
                             f"it by name (one of {sorted(LOSSES)}) or use backend='dynamic'")
        stepper = DynamicStepper(model, loss_fn, optimizer, l2, l2_bias)
    return stepper


def decayed_parameters(model: Module) -> list[Value]:
    """The parameters L2 decays when biases are left out: every parameter whose
    dotted name's last part is not ``b`` or ``bias``."""
    return [p for name, p in model.named_parameters()
            if name.rsplit(".", 1)[-1] not in ("b", "bias")]


# -- evaluation ---------------------------------------------------------------------------


def evaluate_loss(model: Module, X: Any, y: Any,
                  loss: str | Callable = "cross_entropy") -> tuple[float, float | None]:
    """Data loss and accuracy of ``model`` on ``(X, y)``, without building a graph.

    This is the training loop's view (``fit``'s ``test_loss`` and
    ``test_acc``); :func:`nn.evaluate` gives the full metrics.

    Args:
        model: The model; evaluated in eval mode, then put back in its mode.
        X: Inputs (any array-like).
        y: Targets, as given to :func:`fit` (labels are encoded with the
            classes in ``model.meta`` when ``fit`` trained it, else as ``fit``
            would).
        loss: A loss name or function.

    Returns:
        ``(loss, accuracy)``; accuracy is None when it does not apply.
    """
    name = loss_name(loss)
    loss_fn = LOSSES[name] if isinstance(loss, str) else loss
    rows = as_inputs(X, "X")
    targets_in = as_targets(y, "y")
    meta = getattr(model, "meta", None) or {}
    rows = apply_scaler(rows, meta.get("scaler"), "X")
    nout = _num_outputs(model, rows[0])
    if meta.get("task") == "classify" and meta.get("loss") == name:
        plan = Targets("classify", name, meta["classes"], nout, meta.get("threshold"))
    else:
        plan = Targets.infer(targets_in, name, nout, custom=name is None)
    targets, idx = plan.encode(targets_in)
    if plan.task == "regress":
        targets = _scale_targets(targets, meta.get("target_scaler"))
    value, outputs = _forward(model, rows, targets, loss_fn)
    return value, plan.accuracy(outputs, idx)


def _scale_targets(targets: list, scaler: dict[str, list[float]] | None) -> list:
    """Regression targets (numbers or rows) standardized by ``scaler`` (None: unchanged)."""
    if scaler is None:
        return targets
    rows = apply_scaler([t if isinstance(t, list) else [t] for t in targets], scaler, "y")
    return rows if isinstance(targets[0], list) else [r[0] for r in rows]


#: ``nn.train.evaluate``: the loss-and-accuracy view under its former name.
evaluate = evaluate_loss


# -- progress --------------------------------------------------------------------------


class _Progress:
    """tqdm on a terminal when installed, else a plain line; nothing when quiet."""

    def __init__(self, epochs: int, verbose: bool, start: int = 0) -> None:
        self.epochs, self.verbose, self.bar = epochs, verbose, None
        self.every = max(1, epochs // 10)
        if verbose and sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=epochs, initial=start, unit="epoch", leave=True)

    def update(self, epoch: int, stats: dict[str, float | None]) -> None:
        if not self.verbose:
            return
        shown = {k: v for k, v in stats.items() if v is not None}
        if self.bar is not None:
            self.bar.set_postfix({k: f"{v:.4g}" for k, v in shown.items()}, refresh=False)
            self.bar.update(1)
        elif epoch % self.every == 0 or epoch in (1, self.epochs):
            text = " ".join(f"{k} {v:.4f}" for k, v in shown.items())
            print(f"epoch {epoch:>{len(str(self.epochs))}}/{self.epochs} {text}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# -- fit -----------------------------------------------------------------------------


def _layer_groups(model: Module) -> list[tuple[str, list[Value]]]:
    """Parameters grouped by layer (:func:`nn.module.layer_of`)."""
    groups: dict[str, list[Value]] = {}
    for name, p in model.named_parameters():
        groups.setdefault(layer_of(name), []).append(p)
    return list(groups.items())


def _num_outputs(model: Module, x: Any) -> int:
    """The model's output count from one forward pass in eval mode without a
    graph (so layers with running statistics are not changed; the model's own
    error for a wrong input shows before training)."""
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = run_model(model, [x])[0]
    finally:
        model.train(was_training)
    return 1 if isinstance(out, (Value, int, float)) else len(out)


def _check_lr(lr: Any) -> None:
    if isinstance(lr, bool) or not isinstance(lr, (int, float)) or not 0 <= lr < math.inf:
        raise ValueError(f"fit: invalid learning rate lr={lr!r} (expected a finite number >= 0)")


def _make_optimizer(optimizer: Optimizer | str | None, lr: float | None,
                    params: list[Value]) -> Optimizer:
    if lr is not None:
        _check_lr(lr)
    if isinstance(optimizer, Optimizer):
        ids = [id(p) for p in optimizer.params]
        if len(set(ids)) != len(ids):
            i = next(i for i, v in enumerate(ids) if ids.index(v) != i)
            raise ValueError(f"fit: the optimizer's parameter {i} appears twice (it would be "
                             "updated twice per step); give each parameter once")
        if lr is not None:
            optimizer.lr = lr
        return optimizer
    name = "sgd" if optimizer is None else optimizer
    if name not in OPTIMIZERS:
        raise ValueError(f"fit: unknown optimizer {optimizer!r}; expected an Optimizer or one "
                         f"of {', '.join(OPTIMIZERS)}")
    cls = OPTIMIZERS[name]
    return cls(params, lr=cls.default_lr if lr is None else lr)


def _check_batch_norm(model: Module, n: int, batch_size: int | None, drop_last: bool) -> None:
    """A model with BatchNorm trains on whole batches (one call each): every
    training batch needs 2 samples or more, as in PyTorch's training mode."""
    layers = batch_layers(model)
    if not layers:
        return
    size = n if batch_size is None or batch_size >= n else batch_size
    last = n % size if size < n else size
    if size < 2 or (last == 1 and not drop_last):
        what = f"batch_size={batch_size}" if size < 2 else \
            f"batch_size={batch_size} leaves a last batch of 1 sample (use drop_last=True)"
        raise ValueError(f"fit: the BatchNorm layer at {layers[0]!r} normalizes over a batch, "
                         f"which needs 2 or more samples in training mode; {what}")


def _flat(rows: list) -> bool:
    return all(isinstance(r, list) and (not r or not isinstance(r[0], list)) for r in rows)


def _split_validation(n: int, idx: list[int] | None, fraction: float,
                      rng: int) -> tuple[list[int], list[int]]:
    """Training and validation row numbers; stratified by class when ``idx`` is given."""
    if not 0 < fraction < 1:
        raise ValueError(f"fit: validation_fraction must be in (0, 1), got {fraction!r}")
    order = list(range(n))
    try:
        train, val, _, _ = datasets.train_test_split(
            order, order if idx is None else idx, fraction, rng=rng, stratify=idx is not None)
    except ValueError as e:
        raise ValueError(f"fit: cannot split a validation set off {n} samples ({e})") from None
    return train, val


_MONITORS = ("val_loss", "val_acc", "test_loss", "test_acc", "train_loss", "train_acc")


@dataclass
class _Data:
    """The training data as ``fit`` uses it: checked, scaled, encoded and split."""

    plan: Targets
    X: list
    targets: list
    idx: list[int] | None
    X_test: list | None = None
    test_targets: list | None = None
    test_idx: list[int] | None = None
    X_val: list | None = None
    val_targets: list | None = None
    val_idx: list[int] | None = None
    scaler: dict[str, list[float]] | None = None
    target_scaler: dict[str, list[float]] | None = None


def _check_settings(epochs: Any, checkpoint_every: Any, early_stopping: bool, monitor: str,
                    patience: Any, has_test: bool) -> None:
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    if isinstance(checkpoint_every, bool) or not isinstance(checkpoint_every, int) \
            or checkpoint_every < 1:
        raise ValueError(f"fit: checkpoint_every must be an int >= 1, got {checkpoint_every!r}")
    if early_stopping:
        if monitor not in _MONITORS:
            raise ValueError(f"fit: monitor must be one of {', '.join(_MONITORS)}, got "
                             f"{monitor!r}")
        if monitor.startswith("test") and not has_test:
            raise ValueError(f"fit: monitor={monitor!r} needs X_test and y_test")
        if isinstance(patience, bool) or not isinstance(patience, int) or patience < 0:
            raise ValueError(f"fit: patience must be an int >= 0, got {patience!r}")


#: fit warns about classification with more classes than this and, on average, fewer
#: than _FEW_PER_CLASS samples per class (most likely a numeric target read as labels).
_MANY_CLASSES, _FEW_PER_CLASS = 50, 10


def _prepare_data(model: Module, X: Any, y: Any, X_test: Any, y_test: Any, loss: str | None,
                  *, custom: bool, task: str | None, standardize: bool,
                  validation_fraction: float | None, seed: int) -> _Data:
    """Check and convert the data (:mod:`nn.arrays`), scale it, read the targets
    (:class:`nn.targets.Targets`) and split off the validation set."""
    X, y = as_inputs(X, "X"), as_targets(y, "y")
    if len(X) != len(y):
        raise ValueError(f"fit: got {len(X)} inputs and {len(y)} targets; need the same, "
                         "non-zero number")
    if (X_test is None) != (y_test is None):
        raise ValueError("fit: give both X_test and y_test, or neither")
    if X_test is not None:
        X_test, y_test = as_inputs(X_test, "X_test"), as_targets(y_test, "y_test")
        if len(X_test) != len(y_test):
            raise ValueError(f"fit: got {len(X_test)} test inputs and {len(y_test)} test "
                             "targets; need the same number")
    scaler = None
    if standardize:
        if not _flat(X):
            raise ValueError("fit: standardize=True scales columns of flat feature rows; X "
                             "holds nested samples (images, sequences): scale them yourself")
        scaler = fit_scaler(X)
        X = apply_scaler(X, scaler, "X")
        if X_test is not None:
            X_test = apply_scaler(X_test, scaler, "X_test")
    plan = Targets.infer(y, loss, _num_outputs(model, X[0]), task, custom=custom)
    targets, idx = plan.encode(y)
    if idx is not None and len(set(idx)) < 2:
        raise ValueError(f"fit: y holds a single class ({plan.classes[idx[0]]!r}); a classifier "
                         "needs samples of at least two classes: add samples of the others, or "
                         "for a number to predict train a regression (task='regress', "
                         "loss='mse')")
    if idx is not None and len(plan.classes) > _MANY_CLASSES \
            and len(idx) < _FEW_PER_CLASS * len(plan.classes):
        k = len(plan.classes)
        warnings.warn(f"fit: y has {k} classes for {len(idx)} samples ({len(idx) / k:.1f} per "
                      "class on average): if y is a number to predict, train a regression "
                      "(task='regress', loss='mse')", stacklevel=3)
    target_scaler = None
    if standardize and plan.task == "regress":
        target_scaler = fit_scaler([t if isinstance(t, list) else [t] for t in targets])
        targets = _scale_targets(targets, target_scaler)
    data = _Data(plan, X, targets, idx, scaler=scaler, target_scaler=target_scaler)
    if X_test is not None:
        data.X_test = X_test
        data.test_targets, data.test_idx = plan.encode(y_test, "y_test")
        data.test_targets = _scale_targets(data.test_targets, target_scaler)
    if validation_fraction is not None:
        train_rows, val_rows = _split_validation(len(X), idx, validation_fraction, seed)
        data.X_val = [X[i] for i in val_rows]
        data.val_targets = [targets[i] for i in val_rows]
        data.X = [X[i] for i in train_rows]
        data.targets = [targets[i] for i in train_rows]
        if idx is not None:
            data.val_idx = [idx[i] for i in val_rows]
            data.idx = [idx[i] for i in train_rows]
    return data


def fit(model: Module, X: Any, y: Any, *,
        loss: str | Callable[..., Value] | None = None,
        optimizer: Optimizer | str | None = None, lr: float | None = None,
        epochs: int = 100, batch_size: int | None = None, drop_last: bool = False,
        X_test: Any = None, y_test: Any = None,
        l2: float = 0.0, l2_bias: bool = True,
        schedule: LRScheduler | Callable[[int], float] | None = None,
        rng: random.Random | int | None = 0, verbose: bool = True,
        track_grads: bool = False,
        callback: Callable[[int, History], Any] | None = None,
        step: Callable[..., tuple[float, list[Any]]] | None = None,
        backend: str = "auto", task: str | None = None, standardize: bool = False,
        class_weight: str | dict | None = None,
        early_stopping: bool = False, monitor: str = "val_loss", patience: int = 10,
        min_delta: float = 0.0, validation_fraction: float = 0.1,
        restore_best_weights: bool = True,
        checkpoint: str | os.PathLike | None = None, checkpoint_every: int = 1,
        resume: str | os.PathLike | None = None) -> History:
    """Train ``model`` on ``(X, y)`` and return the per-epoch :class:`History`.

    Each epoch walks the batches; for each batch the stepper (see
    :func:`make_stepper`) computes the loss and gradients and updates the
    parameters. After the epoch the schedule advances and the test (and
    validation) set, if any, is evaluated in eval mode without a graph.
    Everything is checked before the first step: data (:mod:`nn.arrays`),
    labels against the loss and the model's outputs, the learning rate, the
    optimizer's parameters.

    Args:
        model: The model to train (in place). Its train/eval mode is the same
            afterwards as before. ``model.meta`` is set (see :mod:`nn.predict`).
            It is called once per sample, or once per batch (``[N][...]``) when
            it holds a BatchNorm layer, which then needs batches of 2 or more.
        X: Training inputs: a list, tuple, numpy array or DataFrame of samples
            (rows of numbers, or nested lists such as ``[C][H][W]`` images).
        y: Training targets: class labels (ints, bools, strings) or numbers
            (regression; rows of numbers for several outputs).
        loss: A name (``"mse"``, ``"bce"``, ``"bce_logits"``,
            ``"cross_entropy"``, ``"hinge"``) or a function
            ``loss(outputs, targets) -> Value`` (the targets are then passed
            as given). Default: ``"bce_logits"`` for labels and one output,
            ``"cross_entropy"`` for labels and several outputs, ``"mse"``
            for regression.
        optimizer: An :class:`~nn.optim.Optimizer`, or a name of
            :data:`nn.optim.OPTIMIZERS` (default ``"sgd"``), built over
            ``model.parameters()``.
        lr: Learning rate for an optimizer given by name (default: the
            class's ``default_lr``), or a new one for a given optimizer.
        epochs: The total number of passes over the training set (with
            ``resume``, the run continues up to this epoch).
        batch_size: None for full batch, 1 for stochastic, ``k`` for mini-batches.
        drop_last: Skip a last mini-batch smaller than ``batch_size`` (PyTorch's).
        X_test: Optional test inputs.
        y_test: Optional test targets (read with the training classes).
        l2: L2 penalty coefficient added to the objective.
        l2_bias: Whether the penalty covers biases (True, micrograd's demo)
            or only weights (False, as a PyTorch parameter group with
            ``weight_decay=0`` for biases).
        schedule: An :class:`~nn.optim.LRScheduler` (stepped after every
            epoch) or a function ``epoch index (from 0) -> lr``.
        rng: ``random.Random`` or seed for shuffling the batches.
        verbose: Show progress (tqdm on a terminal, else a line now and then).
        track_grads: Record the mean ``|grad|`` per layer per epoch.
        callback: Called as ``callback(epoch, history)`` after every epoch;
            returning :data:`STOP` (``True``) stops training after it
            (``history.stop_reason == "callback"``). An exception it raises
            propagates with the history so far as its ``history`` attribute.
        step: Replaces :func:`dynamic_step` (same signature and result).
        backend: ``"dynamic"`` (the scalar graph), ``"compiled"`` (traced
            once to numpy: the same results to about 1e-15, many times
            faster) or ``"auto"`` (compiled when it can run, else dynamic).
        task: ``"classify"`` or ``"regress"`` (default: inferred from ``y``).
        standardize: Scale each input column to mean 0 and standard deviation 1
            (scikit-learn's ``StandardScaler``, fitted on the training set),
            and regression targets too; the scales go into ``model.meta`` and
            every prediction applies them.
        class_weight: ``"balanced"`` or ``{label: weight}``, scikit-learn's
            meaning; passed to the loss as PyTorch's ``weight=``
            (cross-entropy) or ``pos_weight = w1 / w0`` (bce_logits).
        early_stopping: Stop when ``monitor`` has not improved by more than
            ``min_delta`` for ``patience`` epochs (Keras's ``EarlyStopping``).
            With ``monitor="val_loss"``/``"val_acc"``, ``validation_fraction``
            of the training set is split off (stratified for classification,
            as scikit-learn's ``MLPClassifier``).
        monitor: One of ``val_loss``, ``val_acc``, ``test_loss``,
            ``test_acc``, ``train_loss``, ``train_acc``.
        patience: Epochs without improvement before stopping.
        min_delta: The smallest change that counts as an improvement.
        validation_fraction: The share of the training set held out.
        restore_best_weights: On an early stop, put back the parameters of the
            best epoch (Keras's ``restore_best_weights``).
        checkpoint: A file to write atomically every ``checkpoint_every``
            epochs and at the end: model, optimizer, schedule, random streams,
            epoch, history and early-stopping state (JSON).
        checkpoint_every: Epochs between checkpoints.
        resume: A checkpoint to continue from: the run goes on bit for bit as
            if it had never stopped (build the model, optimizer and schedule
            as for the first run; their state is loaded).

    Returns:
        The :class:`History`; ``stop_reason`` says why training ended.

    Raises:
        ValueError: Bad settings or data, named before the first step.
        KeyboardInterrupt: Ctrl-C; the model keeps the parameters trained so
            far and the exception carries ``history``.
    """
    _check_settings(epochs, checkpoint_every, early_stopping, monitor, patience,
                    X_test is not None or y_test is not None)
    params = model.parameters()
    if not params:
        raise ValueError("fit: the model has no trainable parameters")
    name = loss_name(loss)
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"fit: unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
    elif loss is not None and not callable(loss):
        raise TypeError(f"fit: loss must be a name or a function, got {type(loss).__name__}")
    data = _prepare_data(model, X, y, X_test, y_test, name, custom=loss is not None and
                         name is None, task=task, standardize=standardize,
                         validation_fraction=validation_fraction if early_stopping and
                         monitor.startswith("val") else None,
                         seed=rng if isinstance(rng, int) else 0)
    plan, X, targets, idx = data.plan, data.X, data.targets, data.idx
    nout = plan.n_outputs
    if plan.task is not None:
        name = plan.loss
    loss_fn = None if isinstance(loss, str) or loss is None else loss
    act = output_activation(model)
    if plan.task == "classify" and act == "sigmoid" and nout == 1 and name != "bce" \
            and name is not None and plan.spec.output != "probability":
        warnings.warn(f"fit: the model ends in a sigmoid but loss={name!r} expects "
                      f"{plan.spec.output} (unbounded scores); training goes on, and accuracy "
                      "is read at output > 0.5, the sigmoid's midpoint. Drop the sigmoid, or "
                      "use loss='bce'", stacklevel=2)
        plan.threshold = 0.5
    if class_weight is not None and plan.task != "classify":
        raise ValueError("fit: class_weight needs class labels (a classification task)")
    weights = class_weights(class_weight, idx, plan.classes) if class_weight is not None \
        else None
    options: dict[str, Any] = {}
    if loss_fn is None or (name is not None and loss_fn is LOSSES.get(name)):
        options = loss_options(name, weights)
        loss_fn = weighted_loss(name, options)
    if plan.task is not None:
        loss_spec(name).check(targets, nout)
    held_out = [(split, Xs, ts, ix) for split, Xs, ts, ix in (
        ("test", data.X_test, data.test_targets, data.test_idx),
        ("val", data.X_val, data.val_targets, data.val_idx)) if Xs is not None]
    _check_batch_norm(model, len(X), batch_size, drop_last)
    loader = datasets.Batches(X, targets, batch_size, shuffle=True, rng=rng,
                              drop_last=drop_last)
    if len(loader) == 0:
        raise ValueError(f"fit: batch_size={batch_size} with drop_last=True leaves no batch of "
                         f"the {len(X)} training samples")
    opt = _make_optimizer(optimizer, lr, params)
    if plan.task is not None:
        model.meta = {**plan.meta(), "scaler": data.scaler,
                      "target_scaler": data.target_scaler,
                      "n_features": len(X[0]) if _flat(X) else None}
    groups = _layer_groups(model) if track_grads else []
    history = History(grad_norms={g: [] for g, _ in groups})
    early: dict[str, Any] | None = None
    if early_stopping:
        early = {"best": None, "best_epoch": None, "wait": 0, "best_state": None}
    start = 0
    if resume is not None:
        start, saved, early = load_checkpoint(resume, model, opt, schedule, loader.rng, early)
        history = History.from_dict(saved)
    stepper = make_stepper(backend, model, name, loss_fn, opt, l2, X, l2_bias=l2_bias,
                           loss_options=options) \
        if step is None else DynamicStepper(model, loss_fn, opt, l2, l2_bias, step_fn=step)
    progress = _Progress(epochs, verbose, start)
    was_training = model.training
    model.train()
    reason = "completed"
    epoch = start
    try:
        # the data as the stepper holds it for the run (the compiled path: numpy arrays,
        # checked once); batches are taken from it by row numbers
        train_set = stepper.dataset(X, targets)
        held_sets = [(split, stepper.dataset(Xs, ts), ix) for split, Xs, ts, ix in held_out]
        for k in range(start, epochs):
            if callable(schedule) and not isinstance(schedule, LRScheduler):
                opt.lr = float(schedule(k))
                _check_lr(opt.lr)
            total = 0.0
            outs: list[Any] = []
            seen: list[int] = []
            grad_sums = [0.0] * len(groups)
            value = 0.0
            lr_used = opt.lr
            for rows in loader.index_batches():
                value, batch_out = stepper.step_rows(train_set, rows)
                total += value * len(rows)
                outs.append(batch_out)
                seen.extend(rows)
                if groups:
                    for i, mean in enumerate(stepper.grad_means(groups)):
                        grad_sums[i] += mean
            stepper.sync()  # callbacks, early stopping and checkpoints read the model
            epoch = k + 1
            n_seen = len(seen)
            history.epoch.append(epoch)
            history.lr.append(lr_used)
            history.train_loss.append(value if len(loader) == 1 else total / n_seen)
            acc = plan.accuracy(_joined(outs), [idx[i] for i in seen]) \
                if idx is not None else None
            if acc is not None:
                history.train_acc.append(acc)
            for (g, _), s in zip(groups, grad_sums, strict=True):
                history.grad_norms[g].append(s / len(loader))
            if isinstance(schedule, LRScheduler):
                schedule.step()
            stats = {"loss": history.train_loss[-1], "acc": acc}
            for split, data_set, ix in held_sets:  # the test set, then the validation split
                split_loss, split_out = stepper.forward_rows(data_set)
                split_acc = plan.accuracy(split_out, ix)
                getattr(history, f"{split}_loss").append(split_loss)
                if split_acc is not None:
                    getattr(history, f"{split}_acc").append(split_acc)
                stats.update({f"{split}_loss": split_loss, f"{split}_acc": split_acc})
            progress.update(epoch, stats)
            history.stopped_epoch = epoch
            stop = False
            if early is not None:
                stop = _early_step(early, history, monitor, min_delta, patience, model, epoch)
                if stop:
                    reason = "early_stopping"
            if callback is not None and callback(epoch, history) is STOP and not stop:
                stop, reason = True, "callback"
            if checkpoint is not None and (epoch % checkpoint_every == 0 or epoch == epochs
                                           or stop):
                history.stop_reason = reason if (stop or epoch == epochs) else ""
                write_checkpoint(os.fspath(checkpoint), model=model, optimizer=opt,
                                 schedule=schedule, shuffle_rng=loader.rng,
                                 history=history.as_dict(), epoch=epoch, early=early)
            if stop:
                break
    except BaseException as e:
        stepper.sync()
        history.stop_reason = "interrupted" if isinstance(e, KeyboardInterrupt) \
            else f"error: {type(e).__name__}"
        history.stopped_epoch = epoch
        e.history = history  # type: ignore[attr-defined]
        raise
    finally:
        progress.close()
        model.train(was_training)
    if reason == "early_stopping" and restore_best_weights and early["best_state"] is not None:
        model.load_state_dict(early["best_state"])
    history.stop_reason = reason
    history.stopped_epoch = epoch
    if early is not None:
        history.best_epoch = early["best_epoch"]
    return history


def _joined(batches: list[Any]) -> Any:
    """One epoch's outputs from its batches': one ``(N, k)`` array when every batch
    gave an array (the compiled path), else a list per sample."""
    if batches and all(hasattr(b, "ndim") for b in batches):
        import numpy as np

        return np.concatenate(batches)
    return [o for b in batches for o in (b.tolist() if hasattr(b, "ndim") else b)]


def _early_step(early: dict[str, Any], history: History, monitor: str, min_delta: float,
                patience: int, model: Module, epoch: int) -> bool:
    """Keras's EarlyStopping after one epoch; True when training should stop."""
    values = getattr(history, monitor)
    if not values:
        raise ValueError(f"fit: monitor={monitor!r} has no values (is there accuracy for "
                         "this task?)")
    current = values[-1]
    better_is_lower = monitor.endswith("loss")
    best = early["best"]
    if best is None or (current < best - min_delta if better_is_lower
                        else current > best + min_delta):
        early.update(best=current, best_epoch=epoch, wait=0, best_state=model.state_dict())
        history.best_epoch = epoch
        return False
    early["wait"] += 1
    return early["wait"] >= patience


if __name__ == "__main__":
    from nn.cli import train_main

    sys.exit(train_main())
