"""Training: ``fit`` (the loop, its ``History`` and progress bar) and the command line.

``fit(model, X, y, loss=..., optimizer=..., epochs=...)`` runs epochs of
batches (full, stochastic or mini-batch; see :mod:`nn.data`) and returns a
:class:`History` of loss and accuracy per epoch, for the training set and an
optional test set. One training step (forward over the batch, loss, backward)
is the function :func:`dynamic_step`; ``fit(step=...)`` swaps it for another
implementation with the same signature (e.g. a compiled one).

The command line trains on a toy data set and writes the model, the history
and, when matplotlib and :mod:`viz.plots` are importable, two pictures::

    python -m nn.train --dataset moons --hidden 16 16 --epochs 100 --out runs/demo
    dagrad-train --dataset spirals --loss cross_entropy --optimizer adam --lr 0.05 --out runs/s

Its defaults are micrograd's demo: an MLP 16-16 with relu, the SVM hinge
loss with L2 1e-4, full-batch SGD from lr 1.0 decaying linearly to 0.1.

This is the one module of :mod:`nn` that imports :mod:`viz` (lazily, in the
command line only).
"""

from __future__ import annotations

import argparse
import csv
import gc
import io as _io
import json
import math
import os
import random
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from engine import Value, no_grad
from nn import data as datasets
from nn.layers import MLP
from nn.losses import LOSSES, l2_penalty
from nn.module import Module, layer_of
from nn.optim import OPTIMIZERS, CosineAnnealingLR, LinearLR, LRScheduler, Optimizer, StepLR

#: Learning rates ``fit`` uses for an optimizer given by name without ``lr``.
DEFAULT_LR = {"sgd": 0.1, "adam": 0.01, "adamw": 0.01}


@dataclass
class History:
    """What ``fit`` measured, one entry per epoch.

    Attributes:
        epoch: 1, 2, ...
        train_loss: The objective minimised (data loss plus the L2 penalty),
            averaged over the epoch's batches, computed before each update as
            micrograd's demo prints it.
        train_acc: Training accuracy in [0, 1] from the same forward passes
            (empty when the loss has no notion of accuracy).
        test_loss: Data loss on the test set after the epoch (empty without one).
        test_acc: Test accuracy after the epoch (empty without a test set).
        lr: The learning rate used in the epoch.
        grad_norms: With ``track_grads``: ``{layer name: [mean |grad| per epoch]}``,
            a layer being a direct child of the model (``layers.0``).
    """

    epoch: list[int] = field(default_factory=list)
    train_loss: list[float] = field(default_factory=list)
    train_acc: list[float] = field(default_factory=list)
    test_loss: list[float] = field(default_factory=list)
    test_acc: list[float] = field(default_factory=list)
    lr: list[float] = field(default_factory=list)
    grad_norms: dict[str, list[float]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        """A plain dict of lists (and ``grad_norms``, a dict of lists): JSON-able."""
        return {
            "epoch": list(self.epoch), "train_loss": list(self.train_loss),
            "train_acc": list(self.train_acc), "test_loss": list(self.test_loss),
            "test_acc": list(self.test_acc), "lr": list(self.lr),
            "grad_norms": {k: list(v) for k, v in self.grad_norms.items()},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> History:
        """The inverse of :meth:`as_dict` (missing fields are empty)."""
        h = cls()
        for name in ("epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"):
            setattr(h, name, list(d.get(name) or []))
        h.grad_norms = {k: list(v) for k, v in (d.get("grad_norms") or {}).items()}
        return h

    def to_json(self) -> str:
        """JSON text; non-finite numbers (a diverged loss) become ``null``."""
        return json.dumps(_finite_or_none(self.as_dict()), indent=1) + "\n"

    def to_csv(self) -> str:
        """CSV text: one row per epoch; ``grad_norm/<layer>`` columns when tracked.

        >>> print(History([1], [0.5], [1.0], [], [], [0.1]).to_csv().strip())
        epoch,train_loss,train_acc,test_loss,test_acc,lr
        1,0.5,1.0,,,0.1
        """
        cols = ["epoch", "train_loss", "train_acc", "test_loss", "test_acc", "lr"]
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


# -- targets and accuracy ------------------------------------------------------------


def _loss_name(loss: str | Callable | None) -> str | None:
    if isinstance(loss, str):
        return loss
    for name, fn in LOSSES.items():
        if fn is loss:
            return name
    return None


def prepare_targets(loss: str | None, y: Sequence[Any], nout: int) -> list[Any]:
    """Targets in the form ``loss`` expects, from class labels where needed.

    ``hinge`` maps 0/1 labels to -1/+1; ``bce``/``bce_logits`` map -1/+1 to
    0/1; ``mse`` one-hot encodes int labels for a model with several outputs.
    Anything else is passed through.

    >>> prepare_targets("hinge", [0, 1, 1], 1), prepare_targets("mse", [2, 0], 3)
    ([-1, 1, 1], [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    """
    y = list(y)
    labels = set(y) if all(isinstance(t, int) and not isinstance(t, bool) for t in y) else None
    if loss == "hinge" and labels is not None and labels <= {0, 1}:
        return [2 * t - 1 for t in y]
    if loss in ("bce", "bce_logits") and labels is not None and labels <= {-1, 1}:
        return [(t + 1) // 2 for t in y]
    if loss == "mse" and nout > 1 and labels is not None:
        if not all(0 <= t < nout for t in y):
            raise ValueError(f"mse: class labels must be in 0..{nout - 1} for a model with "
                             f"{nout} outputs")
        return [[1.0 if j == t else 0.0 for j in range(nout)] for t in y]
    return y


def accuracy(loss: str | None, outputs: Sequence[Any], targets: Sequence[Any]) -> float | None:
    """Fraction of correct predictions, read the way ``loss`` reads outputs.

    ``hinge``: sign of the score; ``bce``: probability above 0.5;
    ``bce_logits``: logit above 0; ``cross_entropy``: argmax; ``mse``: argmax
    for several outputs, else a threshold halfway between the two label values.
    Returns None when accuracy does not apply (e.g. regression targets).

    Args:
        loss: The loss name.
        outputs: Model outputs as floats (or lists of floats).
        targets: Targets as prepared by :func:`prepare_targets`.

    >>> accuracy("cross_entropy", [[0.1, 2.0], [3.0, 1.0]], [1, 1])
    0.5
    """
    if not outputs:
        return None
    multi = isinstance(outputs[0], list)
    if loss == "cross_entropy" or (loss == "mse" and multi):
        if loss == "mse":
            targets = [_argmax(t) for t in targets]
        return sum(_argmax(o) == t for o, t in zip(outputs, targets, strict=True)) / len(outputs)
    if multi:
        outputs = [v for o in outputs for v in o]
        targets = [v for t in targets for v in (t if isinstance(t, list) else [t])]
    if loss == "hinge":
        cut, tcut = 0.0, 0.0
    elif loss == "bce":
        cut, tcut = 0.5, 0.5
    elif loss == "bce_logits":
        cut, tcut = 0.0, 0.5
    elif loss == "mse" and set(targets) <= {0, 1}:
        cut, tcut = 0.5, 0.5
    elif loss == "mse" and set(targets) <= {-1, 1}:
        cut, tcut = 0.0, 0.0
    else:
        return None
    right = sum((o > cut) == (t > tcut) for o, t in zip(outputs, targets, strict=True))
    return right / len(outputs)


def _argmax(xs: Sequence[float]) -> int:
    return max(range(len(xs)), key=xs.__getitem__)


def _data(out: Any) -> Any:
    if isinstance(out, Value):
        return out.data
    return [v.data for v in out]


# -- one step --------------------------------------------------------------------------


def dynamic_step(model: Module, params: list[Value], X: Sequence[Any], y: Sequence[Any],
                 loss_fn: Callable[..., Value], l2: float) -> tuple[float, list[Any]]:
    """One training step's gradient work on one batch, with the dynamic graph.

    Forward every sample, take the loss (plus ``l2 * sum(p * p)``), reset the
    gradients and backpropagate. The optimizer's update is left to the caller.

    Args:
        model: The model (called on each input).
        params: Its parameters (their ``grad`` is reset, then filled).
        X: The batch's inputs.
        y: The batch's targets (as the loss expects them).
        loss_fn: ``loss_fn(outputs, targets) -> Value``.
        l2: The L2 penalty coefficient (0 for none).

    Returns:
        ``(loss, outputs)``: the objective's value and the outputs as floats.

    Python's cyclic garbage collector is paused during the step: the engine
    makes no reference cycles, so there is nothing for it to find, and its
    scans of the thousands of live nodes cost about a tenth of the step.
    """
    paused = gc.isenabled()
    gc.disable()
    try:
        outputs = [model(x) for x in X]
        loss = loss_fn(outputs, y)
        if l2:
            loss = loss + l2_penalty(params, l2)
        for p in params:
            p.grad = None
        loss.backward()
    finally:
        if paused:
            gc.enable()
    return loss.data, [_data(o) for o in outputs]


def evaluate(model: Module, X: Sequence[Any], y: Sequence[Any],
             loss: str | Callable = "cross_entropy") -> tuple[float, float | None]:
    """Data loss and accuracy of ``model`` on ``(X, y)``, without building a graph.

    Args:
        model: The model; evaluated in eval mode, then put back in its mode.
        X: Inputs.
        y: Targets, as given to :func:`fit` (class labels are converted).
        loss: A loss name or function.

    Returns:
        ``(loss, accuracy)``; accuracy is None when it does not apply.
    """
    name = _loss_name(loss)
    loss_fn = LOSSES[name] if isinstance(loss, str) else loss
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            outputs = [model(x) for x in X]
            nout = 1 if isinstance(outputs[0], Value) else len(outputs[0])
            targets = prepare_targets(name, y, nout)
            value = loss_fn(outputs, targets).data
    finally:
        model.train(was_training)
    return value, accuracy(name, [_data(o) for o in outputs], targets)


# -- progress --------------------------------------------------------------------------


class _Progress:
    """tqdm on a terminal when installed, else a plain line; nothing when quiet."""

    def __init__(self, epochs: int, verbose: bool) -> None:
        self.epochs, self.verbose, self.bar = epochs, verbose, None
        self.every = max(1, epochs // 10)
        if verbose and sys.stderr.isatty():
            try:
                from tqdm.auto import tqdm
            except ImportError:
                pass
            else:
                self.bar = tqdm(total=epochs, unit="epoch", leave=True)

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
    """The model's output count: its ``nout``, else from one forward pass in eval
    mode without a graph (so layers with running statistics are not changed)."""
    nout = getattr(model, "nout", None)
    if isinstance(nout, int):
        return nout
    was_training = model.training
    model.eval()
    try:
        with no_grad():
            out = model(x)
    finally:
        model.train(was_training)
    return 1 if isinstance(out, Value) else len(out)


def _make_optimizer(optimizer: Optimizer | str | None, lr: float | None,
                    params: list[Value]) -> Optimizer:
    if isinstance(optimizer, Optimizer):
        if lr is not None:
            optimizer.lr = lr
        return optimizer
    name = "sgd" if optimizer is None else optimizer
    if name not in OPTIMIZERS:
        raise ValueError(f"fit: unknown optimizer {optimizer!r}; expected an Optimizer or one "
                         f"of {', '.join(OPTIMIZERS)}")
    return OPTIMIZERS[name](params, lr=DEFAULT_LR[name] if lr is None else lr)


def fit(model: Module, X: Sequence[Any], y: Sequence[Any], *,
        loss: str | Callable[..., Value] | None = None,
        optimizer: Optimizer | str | None = None, lr: float | None = None,
        epochs: int = 100, batch_size: int | None = None,
        X_test: Sequence[Any] | None = None, y_test: Sequence[Any] | None = None,
        l2: float = 0.0,
        schedule: LRScheduler | Callable[[int], float] | None = None,
        rng: random.Random | int | None = 0, verbose: bool = True,
        track_grads: bool = False,
        callback: Callable[[int, History], Any] | None = None,
        step: Callable[..., tuple[float, list[Any]]] | None = None,
        backend: str = "auto") -> History:
    """Train ``model`` on ``(X, y)`` and return the per-epoch :class:`History`.

    Each epoch walks the batches; for each batch ``step`` (by default
    :func:`dynamic_step`) computes the loss and gradients and the optimizer
    updates the parameters. After the epoch the schedule advances and the
    test set, if any, is evaluated without a graph.

    Args:
        model: The model to train (in place).
        X: Training inputs (lists of numbers).
        y: Training targets: class labels (converted as the loss needs, see
            :func:`prepare_targets`) or target values.
        loss: A name (``"mse"``, ``"bce"``, ``"bce_logits"``,
            ``"cross_entropy"``, ``"hinge"``) or a function
            ``loss(outputs, targets) -> Value``. Default: ``"bce_logits"`` for
            a model with one output, ``"cross_entropy"`` otherwise.
        optimizer: An :class:`~nn.optim.Optimizer`, or ``"sgd"``, ``"adam"``,
            ``"adamw"`` (default ``"sgd"``), built over ``model.parameters()``.
        lr: Learning rate for an optimizer given by name (default
            :data:`DEFAULT_LR`), or a new one for a given optimizer.
        epochs: Number of passes over the training set.
        batch_size: None for full batch, 1 for stochastic, ``k`` for mini-batches.
        X_test: Optional test inputs.
        y_test: Optional test targets.
        l2: L2 penalty coefficient added to the objective.
        schedule: An :class:`~nn.optim.LRScheduler` (stepped after every
            epoch) or a function ``epoch index (from 0) -> lr``.
        rng: ``random.Random`` or seed for shuffling the batches.
        verbose: Show progress (tqdm on a terminal, else a line now and then).
        track_grads: Record the mean ``|grad|`` per layer per epoch.
        callback: Called as ``callback(epoch, history)`` after every epoch.
        step: Replaces :func:`dynamic_step` (same signature and result).
        backend: Who does a step's gradient work when ``step`` is not given:
            ``"dynamic"`` (the scalar graph, :func:`dynamic_step`),
            ``"compiled"`` (:func:`nn.compiled.compiled_step`: traced once to
            numpy, the same results to about 1e-15, many times faster), or
            ``"auto"`` (compiled when numpy is installed and the loss is given
            by name, dynamic otherwise; models with dropout, batch norm or
            data-dependent control flow fall back to dynamic by themselves).

    Returns:
        The :class:`History`.

    Raises:
        ValueError: Bad settings or data (unknown names, empty or mismatched data).
    """
    if isinstance(epochs, bool) or not isinstance(epochs, int) or epochs < 0:
        raise ValueError(f"fit: epochs must be an int >= 0, got {epochs!r}")
    X, y = list(X), list(y)
    if not X or len(X) != len(y):
        raise ValueError(f"fit: got {len(X)} inputs and {len(y)} targets; need the same, "
                         "non-zero number")
    if (X_test is None) != (y_test is None):
        raise ValueError("fit: give both X_test and y_test, or neither")
    params = model.parameters()
    nout = _num_outputs(model, X[0])
    if loss is None:
        loss = "bce_logits" if nout == 1 else "cross_entropy"
    name = _loss_name(loss)
    if isinstance(loss, str):
        if loss not in LOSSES:
            raise ValueError(f"fit: unknown loss {loss!r}; expected one of {', '.join(LOSSES)}")
        loss_fn = LOSSES[loss]
    elif callable(loss):
        loss_fn = loss
    else:
        raise TypeError(f"fit: loss must be a name or a function, got {type(loss).__name__}")
    opt = _make_optimizer(optimizer, lr, params)
    targets = prepare_targets(name, y, nout)
    loader = datasets.Batches(X, targets, batch_size, shuffle=True, rng=rng)
    step = _choose_step(backend, loss) if step is None else step
    groups = _layer_groups(model) if track_grads else []
    history = History(grad_norms={g: [] for g, _ in groups})
    progress = _Progress(epochs, verbose)
    model.train()
    try:
        for k in range(epochs):
            if callable(schedule) and not isinstance(schedule, LRScheduler):
                opt.lr = float(schedule(k))
            total = 0.0
            outs: list[Any] = []
            seen: list[Any] = []
            grad_sums = [0.0] * len(groups)
            for Xb, yb in loader:
                value, batch_out = step(model, params, Xb, yb, loss_fn, l2)
                total += value * len(Xb)
                outs.extend(batch_out)
                seen.extend(yb)
                for i, (_, ps) in enumerate(groups):
                    grad_sums[i] += sum(abs(float(p.grad)) for p in ps
                                        if p.grad is not None) / len(ps)
                opt.step()
            history.epoch.append(k + 1)
            history.lr.append(opt.lr)
            history.train_loss.append(value if len(loader) == 1 else total / len(X))
            acc = accuracy(name, outs, seen)
            if acc is not None:
                history.train_acc.append(acc)
            for (g, _), s in zip(groups, grad_sums, strict=True):
                history.grad_norms[g].append(s / len(loader))
            if isinstance(schedule, LRScheduler):
                schedule.step()
            stats = {"loss": history.train_loss[-1], "acc": acc}
            if X_test is not None:
                test_loss, test_acc = evaluate(model, X_test, y_test, loss)
                history.test_loss.append(test_loss)
                if test_acc is not None:
                    history.test_acc.append(test_acc)
                stats.update(test_loss=test_loss, test_acc=test_acc)
            progress.update(k + 1, stats)
            if callback is not None:
                callback(k + 1, history)
    finally:
        progress.close()
    return history


def _choose_step(backend: str, loss: Any) -> Callable[..., tuple[float, list[Any]]]:
    """The step function for ``fit(backend=...)``."""
    if backend not in ("auto", "dynamic", "compiled"):
        raise ValueError(f"fit: unknown backend {backend!r}; expected 'auto', 'dynamic' or "
                         "'compiled'")
    if backend == "dynamic":
        return dynamic_step
    from nn.compiled import compiled_step  # numpy, if any, is imported only here

    step = compiled_step(loss)
    if step is None:
        if backend == "compiled":
            raise ValueError("fit: backend='compiled' needs numpy (pip install 'dagrad[speed]') "
                             "and a loss given by name, not a function")
        return dynamic_step
    return step


# -- the command line -------------------------------------------------------------------

_NOISE = {"moons": 0.1, "circles": 0.05, "spirals": 0.2, "xor": 0.1, "blobs": 0.8}


def _positive_int(text: str) -> int:
    try:
        n = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if n < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {n}")
    return n


def _nonneg_float(text: str) -> float:
    try:
        x = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not x >= 0 or math.isinf(x):
        raise argparse.ArgumentTypeError(f"expected a finite number >= 0, got {text}")
    return x


def _positive_float(text: str) -> float:
    x = _nonneg_float(text)
    if x == 0:
        raise argparse.ArgumentTypeError("expected a number > 0, got 0")
    return x


def build_parser() -> argparse.ArgumentParser:
    """The ``dagrad-train`` argument parser."""
    p = argparse.ArgumentParser(
        prog="dagrad-train",
        description="Train a dagrad MLP on a toy 2-D data set; write the model, its history "
                    "and (with matplotlib) a loss curve and a decision boundary.",
    )
    p.add_argument("--dataset", choices=sorted(datasets.DATASETS), default="moons")
    p.add_argument("--samples", type=_positive_int, default=200, help="points (default 200)")
    p.add_argument("--noise", type=_nonneg_float, default=None,
                   help="data noise (default: per data set; blobs: cluster std)")
    p.add_argument("--classes", type=_positive_int, default=3,
                   help="classes for spirals and blobs (default 3)")
    p.add_argument("--hidden", type=_positive_int, nargs="*", default=[16, 16],
                   help="hidden layer widths (default 16 16)")
    p.add_argument("--activation", choices=["relu", "tanh", "sigmoid", "linear"],
                   default="relu")
    p.add_argument("--init", choices=["uniform", "xavier", "he", "xavier_normal", "he_normal"],
                   default="uniform")
    p.add_argument("--loss", choices=["auto", *LOSSES], default="auto",
                   help="default: hinge for 2 classes (micrograd's demo), else cross_entropy")
    p.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default="sgd")
    p.add_argument("--lr", type=_positive_float, default=None,
                   help="learning rate (default: 1.0 for sgd, 0.05 for adam/adamw)")
    p.add_argument("--momentum", type=_nonneg_float, default=0.0, help="SGD momentum")
    p.add_argument("--schedule", choices=["none", "linear", "step", "cosine"], default="linear",
                   help="lr schedule over the epochs (default linear: lr -> 0.1 lr)")
    p.add_argument("--epochs", type=_positive_int, default=100)
    p.add_argument("--batch-size", type=_positive_int, default=None,
                   help="default: full batch")
    p.add_argument("--l2", type=_nonneg_float, default=1e-4, help="L2 penalty (default 1e-4)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--test-size", type=float, default=0.25,
                   help="test fraction in [0, 1) (default 0.25; 0: no test set)")
    p.add_argument("--backend", choices=["auto", "dynamic", "compiled"], default="auto",
                   help="compiled numpy path (auto: when numpy is installed) or the scalar graph")
    p.add_argument("--history-format", choices=["json", "csv"], default="json")
    p.add_argument("--no-plots", action="store_true", help="skip the PNG pictures")
    p.add_argument("--out", default="runs/train", help="output folder (default runs/train)")
    p.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; returns the exit status (argparse exits 2 on bad arguments)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.samples < 4:
        parser.error(f"--samples must be at least 4, got {args.samples}")
    if not 0 <= args.test_size < 1:
        parser.error(f"--test-size must be in [0, 1), got {args.test_size}")
    noise = _NOISE[args.dataset] if args.noise is None else args.noise
    say = (lambda *a: None) if args.quiet else print
    gen = args.dataset
    if gen == "spirals":
        X, y = datasets.make_spirals(args.samples, args.classes, noise, rng=args.seed)
    elif gen == "blobs":
        X, y = datasets.make_blobs(args.samples, args.classes, cluster_std=noise,
                                   center_box=(-3.0, 3.0), rng=args.seed)
    else:
        X, y = datasets.DATASETS[gen](args.samples, noise=noise, rng=args.seed)
    n_classes = max(y) + 1
    loss = args.loss
    if loss == "auto":
        loss = "hinge" if n_classes == 2 else "cross_entropy"
    if loss in ("hinge", "bce", "bce_logits") and n_classes != 2:
        parser.error(f"--loss {loss} needs 2 classes but {gen} has {n_classes}; "
                     "use cross_entropy or mse")
    nout = 1 if loss in ("hinge", "bce", "bce_logits") or (loss == "mse" and n_classes == 2) \
        else n_classes
    if args.test_size > 0:
        try:
            X_train, X_test, y_train, y_test = datasets.train_test_split(
                X, y, args.test_size, rng=args.seed)
        except ValueError as e:
            parser.error(str(e))
    else:
        X_train, X_test, y_train, y_test = X, None, y, None
    model = MLP(2, [*args.hidden, nout], activation=args.activation,
                output_activation="sigmoid" if loss == "bce" else None, init=args.init,
                rng=random.Random(args.seed))
    lr = args.lr if args.lr is not None else (1.0 if args.optimizer == "sgd" else 0.05)
    if args.optimizer == "sgd":
        opt = OPTIMIZERS["sgd"](model, lr=lr, momentum=args.momentum)
    else:
        opt = OPTIMIZERS[args.optimizer](model, lr=lr)
    schedule: LRScheduler | None = {
        "none": lambda: None,
        "linear": lambda: LinearLR(opt, 1.0, 0.1, args.epochs),
        "step": lambda: StepLR(opt, max(1, args.epochs // 3), 0.3),
        "cosine": lambda: CosineAnnealingLR(opt, args.epochs, 0.0),
    }[args.schedule]()
    say(f"dagrad-train: {gen} ({len(X_train)} train"
        + (f", {len(X_test)} test" if X_test is not None else "")
        + f" points), MLP 2 -> {[*args.hidden, nout]} {args.activation}, "
        + f"{model.num_parameters()} parameters, {loss} loss, {args.optimizer} lr {lr}")
    start = time.perf_counter()
    history = fit(model, X_train, y_train, loss=loss, optimizer=opt, epochs=args.epochs,
                  batch_size=args.batch_size, X_test=X_test, y_test=y_test, l2=args.l2,
                  schedule=schedule, rng=args.seed, verbose=not args.quiet, track_grads=True,
                  backend=args.backend)
    elapsed = time.perf_counter() - start
    from nn.io import atomic_write_text, save

    os.makedirs(args.out, exist_ok=True)
    written = [os.path.join(args.out, "model.json")]
    save(model, written[0])
    hist_path = os.path.join(args.out, f"history.{args.history_format}")
    atomic_write_text(hist_path, history.to_json() if args.history_format == "json"
                      else history.to_csv())
    written.append(hist_path)
    if not args.no_plots:
        written += _plots(model, history, X, y, args.out, say)
    summary = f"train loss {history.train_loss[-1]:.4f}"
    if history.train_acc:
        summary += f", train accuracy {100 * history.train_acc[-1]:.1f}%"
    if history.test_acc:
        summary += f", test accuracy {100 * history.test_acc[-1]:.1f}%"
    say(f"done in {elapsed:.1f} s: {summary}")
    say("wrote " + ", ".join(written))
    return 0


def _plots(model: Module, history: History, X: list, y: list, out: str,
           say: Callable[..., Any]) -> list[str]:
    """Draw the loss curve and the decision boundary with :mod:`viz.plots`, if importable."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        say("note: matplotlib is not installed, so no PNGs (pip install 'dagrad[plots]')")
        return []
    try:
        from viz import plots
    except ImportError as e:
        say(f"note: viz.plots is not importable ({e}), so no PNGs")
        return []
    loss_png = os.path.join(out, "loss.png")
    boundary_png = os.path.join(out, "decision_boundary.png")
    plots.plot_history(history, path=loss_png)
    plots.plot_decision_boundary(model, X, y, path=boundary_png)
    return [loss_png, boundary_png]


if __name__ == "__main__":
    sys.exit(main())
