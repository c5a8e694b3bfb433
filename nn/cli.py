"""The command lines: ``dagrad-train`` (train, write model and reports) and ``dagrad-predict``.

``dagrad-train`` trains on a generated toy set, on one of scikit-learn's
bundled data sets, or on your own file, and writes into ``--out``: the model
(``model.json``, with the label encoding and the scaling in its ``meta``), the
history, ``metrics.json`` (scikit-learn's metrics on the test split) and,
with matplotlib, the loss curve, the decision boundary (2-D sets) and the
confusion matrix::

    python -m nn.train --dataset moons --hidden 16 16 --epochs 100 --out runs/demo
    dagrad-train --data iris.csv --target species --out runs/iris
    dagrad-train --dataset diabetes --task regress --out runs/diabetes
    dagrad-predict runs/iris/model.json iris.csv --out predictions.csv

The toy sets' defaults are micrograd's demo: an MLP 16-16 with relu, the SVM
hinge loss with L2 1e-4, full-batch SGD from lr 1.0 decaying linearly to 0.1.
Data from files (and scikit-learn's sets) is standardized by default and split
stratified for classification; the loss is cross-entropy (classification) or
MSE (regression), and the optimizer Adam (lr 0.01, its ``default_lr``).

This is the one module of :mod:`nn` that imports :mod:`viz` (lazily, for the
pictures).
"""

from __future__ import annotations

import argparse
import csv
import io as _io
import json
import math
import os
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from typing import Any

from nn import data as datasets
from nn.layers import MLP
from nn.losses import LOSSES, REGISTRY
from nn.module import Module
from nn.optim import OPTIMIZERS, CosineAnnealingLR, LinearLR, LRScheduler, StepLR
from nn.train import History, fit

__all__ = ["build_parser", "build_predict_parser", "main", "predict_main", "train_main"]

_NOISE = {"moons": 0.1, "circles": 0.05, "spirals": 0.2, "xor": 0.1, "blobs": 0.8}
_MULTICLASS_TOYS = ("spirals", "blobs")
#: A target of integers with at most this many distinct values is read as class labels.
MAX_INFERRED_CLASSES = 20


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


def _class_weight(text: str) -> str | dict[str, float]:
    """``balanced`` or ``label=weight,label=weight``."""
    if text == "balanced":
        return text
    out: dict[str, float] = {}
    for part in text.split(","):
        label, sep, w = part.partition("=")
        try:
            if not sep:
                raise ValueError
            out[label.strip()] = float(w)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected 'balanced' or label=weight pairs such as 0=1,1=5, got {text!r}") \
                from None
    return out


class _DefaultsHelpFormatter(argparse.HelpFormatter):
    """argparse's ``ArgumentDefaultsHelpFormatter``, except that it appends
    ``(default: ...)`` only where the help text does not already state a default and the
    default is not None, so no help line states its default twice or as "None"."""

    def _get_help_string(self, action: argparse.Action) -> str:
        text = action.help or ""
        if ("default" in text or action.default is None or action.default is argparse.SUPPRESS
                or not (action.option_strings
                        or action.nargs in (argparse.OPTIONAL, argparse.ZERO_OR_MORE))):
            return text
        return text + " (default: %(default)s)"


def build_parser() -> argparse.ArgumentParser:
    """The ``dagrad-train`` argument parser."""
    p = argparse.ArgumentParser(
        prog="dagrad-train", formatter_class=_DefaultsHelpFormatter,
        description="Train a dagrad MLP on a toy 2-D data set, one of scikit-learn's data "
                    "sets, or your own CSV/.npy/.npz file; write the model, its history, "
                    "metrics.json and (with matplotlib) pictures.",
    )
    src = p.add_argument_group("data")
    src.add_argument("--dataset", default="moons",
                     choices=[*sorted(datasets.DATASETS), *datasets.SKLEARN_DATASETS],
                     help="a generated toy set, or scikit-learn's copy of a real one "
                          "(needs scikit-learn: pip install 'dagrad[datasets]')")
    src.add_argument("--data", metavar="FILE", default=None,
                     help="your own data: a .csv (header detected), .npy or .npz file "
                          "(overrides --dataset)")
    src.add_argument("--target", metavar="COLUMN", default=None,
                     help="the target column of --data: a header name or an index "
                          "(default: the last column)")
    src.add_argument("--task", choices=["auto", "classify", "regress"], default="auto",
                     help="auto: strings, bools and integers with at most "
                          f"{MAX_INFERRED_CLASSES} distinct values are classes, else regression")
    src.add_argument("--standardize", action=argparse.BooleanOptionalAction, default=None,
                     help="scale features to mean 0, std 1 (saved in the model; default: on "
                          "for files and scikit-learn's sets, off for the toy sets)")
    src.add_argument("--samples", type=_positive_int, default=200,
                     help="points of a toy set")
    src.add_argument("--noise", type=_nonneg_float, default=None,
                     help="toy set noise (default: per data set; blobs: cluster std)")
    src.add_argument("--classes", type=_positive_int, default=None,
                     help="classes for spirals and blobs (default: 3)")
    src.add_argument("--test-size", type=float, default=0.25,
                     help="test fraction in [0, 1) (0: no test set)")
    net = p.add_argument_group("model and training")
    net.add_argument("--hidden", type=_positive_int, nargs="*", default=[16, 16],
                     help="hidden layer widths")
    net.add_argument("--activation", choices=["relu", "tanh", "sigmoid", "linear"],
                     default="relu", help="hidden layers' activation")
    net.add_argument("--init", choices=["uniform", "xavier", "he", "xavier_normal",
                                        "he_normal"], default=None,
                     help="weight initialisation (default: uniform on the toy sets, as "
                          "micrograd's demo; he for relu and xavier otherwise on real data)")
    net.add_argument("--loss", choices=["auto", *LOSSES], default="auto",
                     help="auto: hinge for 2-class toy sets (micrograd's demo), else "
                          "cross_entropy for classes and mse for regression")
    net.add_argument("--optimizer", choices=sorted(OPTIMIZERS), default=None,
                     help="optimizer (nn.optim) (default: sgd on the toy sets, as micrograd's "
                          "demo; adam for --data files and scikit-learn's sets)")
    net.add_argument("--lr", type=_positive_float, default=None,
                     help="learning rate (default: 1.0 for sgd on the toy sets, as micrograd's "
                          "demo; else the optimizer's default_lr)")
    net.add_argument("--momentum", type=_nonneg_float, default=0.0, help="SGD momentum")
    net.add_argument("--schedule", choices=["none", "linear", "step", "cosine"],
                     default="linear", help="lr schedule over the epochs (linear: lr -> 0.1 lr)")
    net.add_argument("--epochs", type=_positive_int, default=100,
                     help="passes over the training set")
    net.add_argument("--batch-size", type=_positive_int, default=None,
                     help="mini-batch size (default: full batch)")
    net.add_argument("--l2", type=_nonneg_float, default=1e-4, help="L2 penalty")
    net.add_argument("--class-weight", type=_class_weight, default=None,
                     help="'balanced' or label=weight pairs (scikit-learn's class_weight)")
    net.add_argument("--early-stopping", action="store_true",
                     help="stop when the validation loss stops improving; keep the best weights")
    net.add_argument("--patience", type=_positive_int, default=10,
                     help="epochs without improvement before --early-stopping stops")
    net.add_argument("--seed", type=int, default=0, help="seed of data, weights and shuffling")
    net.add_argument("--backend", choices=["auto", "dynamic", "compiled"], default="auto",
                     help="compiled numpy path (auto: when it can run) or the scalar graph")
    out = p.add_argument_group("output")
    out.add_argument("--out", default="runs/train", help="output folder")
    out.add_argument("--checkpoint-every", type=_positive_int, default=None,
                     help="write checkpoint.json every N epochs (and at the end)")
    out.add_argument("--resume", metavar="CHECKPOINT", default=None,
                     help="continue a run from its checkpoint.json (same other arguments)")
    out.add_argument("--history-format", choices=["json", "csv"], default="json",
                     help="history file format")
    out.add_argument("--no-plots", action="store_true", help="skip the PNG pictures")
    out.add_argument("--quiet", action="store_true", help="print nothing but errors")
    return p


def check_out_dir(path: str) -> str | None:
    """Create ``path`` if needed and prove it writable; the problem as text, or None."""
    try:
        os.makedirs(path, exist_ok=True)
    except FileExistsError:
        return f"--out {path!r} exists and is not a folder"
    except OSError as e:
        return f"cannot create the output folder --out {path!r}: {e.strerror}"
    if not os.path.isdir(path):
        return f"--out {path!r} exists and is not a folder"
    try:
        fd, probe = tempfile.mkstemp(dir=path, prefix=".dagrad-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as e:
        return f"cannot write into the output folder --out {path!r}: {e.strerror}"
    return None


def _toy_data(args: argparse.Namespace) -> tuple[list, list]:
    noise = _NOISE[args.dataset] if args.noise is None else args.noise
    classes = 3 if args.classes is None else args.classes
    if args.dataset == "spirals":
        return datasets.make_spirals(args.samples, classes, noise, rng=args.seed)
    if args.dataset == "blobs":
        return datasets.make_blobs(args.samples, classes, cluster_std=noise,
                                   center_box=(-3.0, 3.0), rng=args.seed)
    return datasets.DATASETS[args.dataset](args.samples, noise=noise, rng=args.seed)


def infer_task(y: list) -> str:
    """``"classify"`` for strings, bools and integers (also written as ``3.0``) with
    at most :data:`MAX_INFERRED_CLASSES` distinct values, else ``"regress"``.

    >>> infer_task(["a", "b"]), infer_task([0, 1, 2, 1]), infer_task([0.5, 1.25])
    ('classify', 'classify', 'regress')
    """
    if any(isinstance(t, (str, bool)) for t in y):
        return "classify"
    if all(float(t).is_integer() for t in y) and len(set(y)) <= MAX_INFERRED_CLASSES:
        return "classify"
    return "regress"


def _schedule(name: str, opt: Any, epochs: int) -> LRScheduler | None:
    return {
        "none": lambda: None,
        "linear": lambda: LinearLR(opt, 1.0, 0.1, epochs),
        "step": lambda: StepLR(opt, max(1, epochs // 3), 0.3),
        "cosine": lambda: CosineAnnealingLR(opt, epochs, 0.0),
    }[name]()


def _default_lr(optimizer: str, toy: bool) -> float:
    if optimizer == "sgd" and toy:
        return 1.0  # micrograd's demo
    return OPTIMIZERS[optimizer].default_lr


def train_main(argv: Sequence[str] | None = None) -> int:
    """Run ``dagrad-train``; returns the exit status (argparse exits 2 on bad arguments,
    130 after Ctrl-C, with the model trained so far saved)."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.samples < 4:
        parser.error(f"--samples must be at least 4, got {args.samples}")
    if not 0 <= args.test_size < 1:
        parser.error(f"--test-size must be in [0, 1), got {args.test_size}")
    toy = args.data is None and args.dataset in datasets.DATASETS
    if args.classes is not None:
        if not toy or args.dataset not in _MULTICLASS_TOYS:
            what = args.data or args.dataset
            parser.error(f"--classes applies to spirals and blobs only; {what} has its own "
                         "classes")
        if args.classes < 2:
            parser.error(f"--classes must be at least 2 (one class has nothing to tell "
                         f"apart), got {args.classes}")
    if args.target is not None and args.data is None:
        parser.error("--target names a column of --data FILE; give --data too")
    say = (lambda *a: None) if args.quiet else print
    problem = check_out_dir(args.out)
    if problem:
        parser.error(problem)
    if toy:
        X, y = _toy_data(args)
        name, features = args.dataset, None
    else:
        try:
            table = datasets.read_table(args.data, args.target) if args.data else \
                datasets.load_sklearn(args.dataset)
        except (ValueError, ImportError) as e:
            parser.error(str(e))
        X, y, features, target_name = table.X, table.y, table.feature_names, table.target_name
        name = os.path.basename(args.data) if args.data else args.dataset
    task = infer_task(y) if args.task == "auto" else args.task
    if task == "regress" and any(isinstance(t, str) for t in y):
        parser.error(f"--task regress needs numeric targets, but {name} has labels such as "
                     f"{next(t for t in y if isinstance(t, str))!r}")
    classes = sorted(set(y)) if task == "classify" else None
    if classes is not None and len(classes) < 2:
        parser.error(f"{name}: the target has a single class {classes[0]!r}; nothing to learn")
    loss = args.loss
    if loss == "auto":
        if task == "regress":
            loss = "mse"
        else:
            loss = "hinge" if toy and len(classes) == 2 else "cross_entropy"
    spec = REGISTRY[loss]
    binary = spec.outputs == "one"  # two classes, one output (hinge, bce, bce_logits)
    if task == "classify" and binary and len(classes) != 2:
        parser.error(f"--loss {loss} needs 2 classes but {name} has {len(classes)}; "
                     "use cross_entropy or mse")
    if task == "regress" and spec.kind != "regress":
        parser.error(f"--loss {loss} is for classes; regression (--task regress) uses mse")
    if task == "classify":
        nout = 1 if binary or (spec.outputs == "any" and len(classes) == 2) else len(classes)
    else:
        nout = len(y[0]) if isinstance(y[0], list) else 1
    stratify = task == "classify" and not toy
    if args.test_size > 0:
        try:
            X_train, X_test, y_train, y_test = datasets.train_test_split(
                X, y, args.test_size, rng=args.seed, stratify=stratify)
        except ValueError as e:
            parser.error(str(e))
    else:
        X_train, X_test, y_train, y_test = X, None, y, None
    standardize = (not toy) if args.standardize is None else args.standardize
    n_features = len(X[0])
    init = args.init or ("uniform" if toy else "he" if args.activation == "relu" else "xavier")
    model = MLP(n_features, [*args.hidden, nout], activation=args.activation,
                output_activation="sigmoid" if spec.output == "probability" else None, init=init,
                rng=args.seed)
    if args.optimizer is None:
        args.optimizer = "sgd" if toy else "adam"
    lr = args.lr if args.lr is not None else _default_lr(args.optimizer, toy)
    if args.optimizer == "sgd":
        opt = OPTIMIZERS["sgd"](model, lr=lr, momentum=args.momentum)
    else:
        opt = OPTIMIZERS[args.optimizer](model, lr=lr)
    schedule = _schedule(args.schedule, opt, args.epochs)
    say(f"dagrad-train: {name} ({len(X_train)} train"
        + (f", {len(X_test)} test" if X_test is not None else "")
        + f" points), MLP {n_features} -> {[*args.hidden, nout]} {args.activation}, "
        + f"{model.num_parameters()} parameters, {loss} loss, {args.optimizer} lr {lr}")
    checkpoint = os.path.join(args.out, "checkpoint.json") \
        if args.checkpoint_every or args.resume else None
    start = time.perf_counter()
    interrupted = False
    try:
        history = fit(model, X_train, y_train, loss=loss, optimizer=opt, epochs=args.epochs,
                      batch_size=args.batch_size, X_test=X_test, y_test=y_test, l2=args.l2,
                      schedule=schedule, rng=args.seed, verbose=not args.quiet,
                      track_grads=True, backend=args.backend, task=task,
                      standardize=standardize, class_weight=_labels_of(args.class_weight, y),
                      early_stopping=args.early_stopping, patience=args.patience,
                      checkpoint=checkpoint, checkpoint_every=args.checkpoint_every or
                      args.epochs, resume=args.resume)
    except KeyboardInterrupt as e:
        history = getattr(e, "history", History())
        interrupted = True
    except ValueError as e:
        history = getattr(e, "history", None)
        if history is None or not history.epoch:
            parser.error(str(e))  # refused before training: nothing to save
        written = _write_outputs(model, history, args, X, y, X_test, y_test, X_train, y_train,
                                 toy, say)
        print(f"dagrad-train: error after epoch {history.stopped_epoch}: {e}; saved the model "
              f"trained so far: {', '.join(written)}", file=sys.stderr)
        return 1
    elapsed = time.perf_counter() - start
    if features is not None:
        model.meta = {**getattr(model, "meta", {}), "features": features,
                      "target": target_name}
    written = _write_outputs(model, history, args, X, y, X_test, y_test, X_train, y_train,
                             toy, say)
    if interrupted:
        say(f"interrupted after epoch {history.stopped_epoch}: saved the model trained so far")
        say("wrote " + ", ".join(written))
        return 130
    summary = f"train loss {history.train_loss[-1]:.4f}" if history.train_loss else "no epoch"
    if history.train_acc:
        summary += f", train accuracy {100 * history.train_acc[-1]:.1f}%"
    if history.test_acc:
        summary += f", test accuracy {100 * history.test_acc[-1]:.1f}%"
    report = _read_metrics(args.out)
    if task == "regress" and report.get("test"):
        summary += f", test R^2 {report['test']['r2']:.3f}"
    if history.stop_reason == "early_stopping":
        summary += f" (early stop at epoch {history.stopped_epoch}, best {history.best_epoch})"
    say(f"done in {elapsed:.1f} s: {summary}")
    say("wrote " + ", ".join(written))
    return 0


def _labels_of(class_weight: Any, y: list) -> Any:
    """Command-line class-weight keys (text) as the labels they name."""
    if not isinstance(class_weight, dict):
        return class_weight
    by_text = {str(t): t for t in set(y)}
    out = {}
    for key, w in class_weight.items():
        if key not in by_text:
            raise ValueError(f"--class-weight names {key!r}, which is not a label of the data "
                             f"({', '.join(sorted(by_text))})")
        out[by_text[key]] = w
    return out


def _read_metrics(out: str) -> dict[str, Any]:
    try:
        with open(os.path.join(out, "metrics.json"), encoding="utf-8") as f:
            return json.load(f)
    except (OSError, ValueError):
        return {}


def _write_outputs(model: Module, history: History, args: argparse.Namespace, X: list, y: list,
                   X_test: list | None, y_test: list | None, X_train: list, y_train: list,
                   toy: bool, say: Callable[..., Any]) -> list[str]:
    from nn.io import atomic_write_text, save
    from nn.metrics import evaluate

    written = [os.path.join(args.out, "model.json")]
    save(model, written[0])
    hist_path = os.path.join(args.out, f"history.{args.history_format}")
    atomic_write_text(hist_path, history.to_json() if args.history_format == "json"
                      else history.to_csv())
    written.append(hist_path)
    metrics: dict[str, Any] = {}
    if getattr(model, "meta", None) and history.epoch:
        metrics["train"] = evaluate(model, X_train, y_train)
        if X_test is not None:
            metrics["test"] = evaluate(model, X_test, y_test)
        metrics["stop_reason"] = history.stop_reason
        metrics_path = os.path.join(args.out, "metrics.json")
        atomic_write_text(metrics_path, json.dumps(metrics, indent=1, default=str) + "\n")
        written.append(metrics_path)
    if not args.no_plots and history.epoch:
        written += _plots(model, history, X, y, metrics, toy, args.out, say)
    return written


def _plots(model: Module, history: History, X: list, y: list, metrics: dict[str, Any],
           toy: bool, out: str, say: Callable[..., Any]) -> list[str]:
    """The loss curve and decision boundary (:mod:`viz.plots`) and the confusion matrix."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        say("note: matplotlib is not installed, so no PNGs (pip install 'dagrad[plots]')")
        return []
    written = []
    try:
        from viz import plots
    except ImportError as e:
        say(f"note: viz.plots is not importable ({e}), so no loss curve")
        plots = None
    if plots is not None:
        loss_png = os.path.join(out, "loss.png")
        plots.plot_history(history, path=loss_png)
        written.append(loss_png)
        if toy:
            boundary_png = os.path.join(out, "decision_boundary.png")
            plots.plot_decision_boundary(model, X, y, path=boundary_png)
            written.append(boundary_png)
    report = metrics.get("test") or metrics.get("train")
    if report and report.get("task") == "classify":
        cm_png = os.path.join(out, "confusion_matrix.png")
        draw = getattr(plots, "plot_confusion_matrix", None) if plots is not None else None
        if draw is not None:
            draw(report["confusion_matrix"], report["labels"], path=cm_png)
        else:
            _plot_confusion_matrix(report["confusion_matrix"], report["labels"], cm_png,
                                   "test" if metrics.get("test") else "train")
        written.append(cm_png)
    return written


def _plot_confusion_matrix(C: list[list[int]], labels: list, path: str, split: str) -> None:
    """Counts as an image, true classes down, predicted across (scikit-learn's layout)."""
    import matplotlib

    matplotlib.use("Agg", force=False)
    from matplotlib.figure import Figure

    k = len(labels)
    fig = Figure(figsize=(1.2 + 0.5 * k, 1.0 + 0.5 * k))
    ax = fig.add_subplot()
    ax.imshow(C, cmap="Blues")
    top = max(max(row) for row in C) or 1
    for i in range(k):
        for j in range(k):
            ax.text(j, i, str(C[i][j]), ha="center", va="center",
                    color="white" if C[i][j] > top / 2 else "black")
    names = [str(label) for label in labels]
    ax.set_xticks(range(k), names, rotation=45 if max(map(len, names)) > 3 else 0, ha="right"
                  if max(map(len, names)) > 3 else "center")
    ax.set_yticks(range(k), names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    accuracy = sum(C[i][i] for i in range(k)) / max(1, sum(map(sum, C)))
    ax.set_title(f"confusion matrix ({split}, accuracy {100 * accuracy:.1f}%)")
    buf = _io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    from nn.io import atomic_write

    atomic_write(path, buf.getvalue())


# -- dagrad-predict -------------------------------------------------------------------------


def build_predict_parser() -> argparse.ArgumentParser:
    """The ``dagrad-predict`` argument parser."""
    p = argparse.ArgumentParser(
        prog="dagrad-predict", formatter_class=_DefaultsHelpFormatter,
        description="Predict with a model written by dagrad-train: read features from a CSV, "
                    ".npy or .npz file and write a CSV of predictions in the training labels "
                    "(with class probabilities where the loss gives them).")
    p.add_argument("model", help="a model.json written by dagrad-train (or nn.save)")
    p.add_argument("data", help="features: the training file's layout (its target column, "
                                "if present, is ignored)")
    p.add_argument("--out", default="-", help="the CSV to write ('-': standard output)")
    p.add_argument("--target", metavar="COLUMN", default=None,
                   help="a column to leave out (default: the training target, if present)")
    p.add_argument("--no-proba", action="store_true", help="only the predicted label")
    return p


def predict_main(argv: Sequence[str] | None = None) -> int:
    """Run ``dagrad-predict``; returns the exit status (2 on bad arguments or files)."""
    from nn.io import ModelFileError, atomic_write_text, load
    from nn.predict import predict, predict_proba

    parser = build_predict_parser()
    args = parser.parse_args(argv)
    try:
        model = load(args.model)
    except (ModelFileError, OSError) as e:
        parser.error(f"cannot load the model {args.model!r}: {e}")
    meta = getattr(model, "meta", None) or {}
    try:
        X = _prediction_inputs(args.data, args.target, meta)
        labels = predict(model, X)
        proba = None
        if meta.get("task") == "classify" and not args.no_proba:
            try:
                proba = predict_proba(model, X)
            except ValueError:
                proba = None  # the loss gives no probabilities (hinge, mse)
    except ValueError as e:
        parser.error(str(e))
    buf = _io.StringIO()
    writer = csv.writer(buf, lineterminator="\n")
    classes = meta.get("classes") or []
    head = ["prediction"]
    if proba is not None:
        head += [f"proba_{c}" for c in classes]
    if labels and isinstance(labels[0], list):
        head = [f"prediction_{j}" for j in range(len(labels[0]))]
    writer.writerow(head)
    for i, label in enumerate(labels):
        row = list(label) if isinstance(label, list) else [label]
        if proba is not None:
            row += [repr(p) for p in proba[i]]
        writer.writerow(row)
    if args.out == "-":
        sys.stdout.write(buf.getvalue())
    else:
        try:
            atomic_write_text(args.out, buf.getvalue())
        except OSError as e:
            parser.error(f"cannot write {args.out!r}: {e.strerror}")
    return 0


def _prediction_inputs(path: str, target: str | None, meta: dict[str, Any]) -> list:
    """The feature rows of ``path`` in the training layout: columns picked by the
    training names when the file has a header, the training target left out."""
    features = meta.get("features")
    target = target if target is not None else (meta.get("target") or None)
    header, width = datasets.peek_columns(path)
    if header is not None:
        if target is not None and target not in header:
            target = None
        table = datasets.read_table(path, target, require_target=False)
        if features and table.feature_names != features:
            missing = [n for n in features if n not in table.feature_names]
            if missing:
                raise ValueError(f"{path}: the model was trained on column(s) "
                                 f"{', '.join(map(repr, missing))}, which the file lacks")
            where = [table.feature_names.index(n) for n in features]
            return [[row[j] for j in where] for row in table.X]
        return table.X
    n = meta.get("n_features")
    if width is not None and n is not None and width == n + 1:
        index = target[1:] if isinstance(target, str) and target[1:].isdigit() else -1
        return datasets.read_table(path, index).X
    return datasets.read_table(path, None, require_target=False).X


#: ``dagrad-train``'s entry point under its former name.
main = train_main


if __name__ == "__main__":
    sys.exit(train_main())
