"""Training plots with matplotlib: loss and accuracy curves, a 2-D decision
boundary, and per-layer gradient magnitudes (to see vanishing gradients).

matplotlib is optional (``pip install dagrad[plots]``) and imported only
when a function here is called. Figures are made with
``matplotlib.figure.Figure`` directly, not through ``pyplot``: nothing global
changes, no window opens, files are written with the Agg canvas, and the
returned Figure still displays inline in Jupyter, as SVG (crisp at any
screen resolution, and the same bytes on every run: no date, fixed ids). With
``path`` the figure is also saved (atomically; the format comes from the
suffix; PNGs at 2x resolution). Colours come from :mod:`viz.style`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine import Value, no_grad
from viz import style

#: Resolution of saved raster images: 2x a 100-dpi screen, crisp on high-DPI displays.
SAVE_DPI = 200

_HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")


def _mpl() -> Any:
    try:
        import matplotlib
        import matplotlib.colors
        import matplotlib.figure
        import matplotlib.lines
        import matplotlib.patches
        import matplotlib.ticker
    except ImportError:
        raise ImportError("viz.plots needs matplotlib: pip install dagrad[plots] "
                          "(or pip install matplotlib)") from None
    return matplotlib


def _figure(mpl: Any, **kwargs: Any) -> Any:
    """A new Figure that Jupyter shows as deterministic SVG (see :func:`figure_svg`)."""

    class PlotFigure(mpl.figure.Figure):
        def _repr_mimebundle_(self, include=None, exclude=None, **_):
            return {"image/svg+xml": figure_svg(self), "text/plain": repr(self)}

    return PlotFigure(**kwargs)


def figure_svg(fig: Any) -> str:
    """``fig`` as SVG text, identical on every run (no date; element ids from a fixed
    salt), so notebooks that show it rebuild byte for byte."""
    import io

    import matplotlib

    buf = io.StringIO()
    with matplotlib.rc_context({"svg.hashsalt": "dagrad", "svg.fonttype": "path"}):
        fig.savefig(buf, format="svg", metadata={"Date": None}, bbox_inches="tight")
    return buf.getvalue()


def _as_dict(history: object) -> dict[str, Any]:
    if hasattr(history, "as_dict"):
        history = history.as_dict()
    if not isinstance(history, Mapping):
        raise TypeError("history must be a dict of lists (epoch, train_loss, train_acc, "
                        f"test_loss, test_acc) or have .as_dict(); got {type(history).__name__}")
    return dict(history)


def _series(h: dict, key: str, n: int | None) -> list[float]:
    values = h.get(key)
    if values is None:
        return []
    try:
        values = [float(v) for v in values]
    except (TypeError, ValueError):
        raise ValueError(f"history[{key!r}] must be a list of numbers") from None
    if n is not None and values and len(values) != n:
        raise ValueError(f"history[{key!r}] has {len(values)} entries but history['epoch'] "
                         f"has {n}")
    return values


def _save(fig: Any, path: str | os.PathLike | None) -> None:
    if path is None:
        return
    path = Path(path)
    if not path.suffix:
        raise ValueError(f"cannot tell the image format of {str(path)!r}: add a suffix such "
                         "as .png, .svg or .pdf")
    import io

    from viz.render import write_atomic

    buf = io.BytesIO()
    fmt = path.suffix[1:].lower()
    if fmt == "svg":
        write_atomic(path, figure_svg(fig))
        return
    fig.savefig(buf, format=fmt, dpi=SAVE_DPI, bbox_inches="tight")
    write_atomic(path, buf.getvalue())


def plot_history(history: object, path: str | os.PathLike | None = None, ax: Any = None) -> Any:
    """Loss and accuracy curves of a training run.

    Args:
        history: An object with ``as_dict()`` or a dict of lists with keys
            ``epoch, train_loss, train_acc, test_loss, test_acc`` (test lists
            and accuracies may be missing or empty).
        path: Also save the figure there (``.png``, ``.svg``, ``.pdf``...).
        ax: Draw into these axes: a pair ``(loss_ax, acc_ax)``, or one Axes
            (accuracy then goes on a twin y axis). Default: a new figure.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: ``train_loss`` is missing, or lists differ in length.
    """
    mpl = _mpl()
    h = _as_dict(history)
    train_loss = _series(h, "train_loss", None)
    if not train_loss:
        raise ValueError(f"history has no 'train_loss' (keys: {sorted(h)})")
    epochs = _series(h, "epoch", None) or list(range(1, len(train_loss) + 1))
    n = len(epochs)
    curves = {k: _series(h, k, n) for k in _HISTORY_KEYS[1:]}
    has_acc = bool(curves["train_acc"] or curves["test_acc"])
    if ax is None:
        fig = _figure(mpl, figsize=(10 if has_acc else 5.5, 4), layout="constrained")
        axes = fig.subplots(1, 2) if has_acc else [fig.subplots(), None]
    elif isinstance(ax, Sequence):
        axes = list(ax)
        fig = axes[0].figure
    else:
        axes = [ax, ax.twinx() if has_acc else None]
        fig = ax.figure
    loss_ax, acc_ax = axes[0], axes[1]
    for key, line in (("train_loss", "-"), ("test_loss", "--")):
        if curves[key]:
            loss_ax.plot(epochs, curves[key], line, color=style.CURVES[key],
                         label=key.replace("_", " "))
    integer = mpl.ticker.MaxNLocator(integer=True)
    loss_ax.xaxis.set_major_locator(integer)
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss")
    loss_ax.legend(loc="best")  # the corner with the least data under it
    if acc_ax is not None:
        for key, line in (("train_acc", "-"), ("test_acc", "--")):
            if curves[key]:
                acc_ax.plot(epochs, curves[key], line, color=style.CURVES[key],
                            label=key.replace("_", " "))
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_title("accuracy")
        acc_ax.set_xlabel("epoch")
        acc_ax.xaxis.set_major_locator(mpl.ticker.MaxNLocator(integer=True))
        acc_ax.legend(loc="best")
    _save(fig, path)
    return fig


def plot_decision_boundary(model: Callable[[list[float]], Value | Sequence[Value]],
                           X: Sequence[Sequence[float]], y: Sequence[float],
                           path: str | os.PathLike | None = None, *, threshold: float = 0.0,
                           resolution: int = 100, margin: float = 0.5, ax: Any = None,
                           title: str | None = None, X_test: Sequence[Sequence[float]] | None
                           = None, y_test: Sequence[float] | None = None,
                           feature_names: Sequence[str] = ("x[0]", "x[1]"),
                           class_names: Sequence[str] | None = None) -> Any:
    """The regions a 2-D classifier assigns to each class, with the data points.

    Each region is filled with its class's colour (colour-blind safe, up to 10
    classes, :func:`viz.style.class_colours`), never a colour between two
    classes: the regions are ``{x : class c wins}``, drawn as filled contours
    of the margin ``score_c(x) - max_{j != c} score_j(x)`` at 0 (so boundaries
    are smooth lines, not staircases of grid cells) over a grid of the
    predicted class indices. Training points are filled circles, test points
    (``X_test``) triangles; a legend names the classes and the two kinds of
    point. A model with ``eval()``/``train()`` (an ``nn.Module``) is evaluated
    in evaluation mode (Dropout off, BatchNorm's running statistics), then put
    back in the mode it was in, as PyTorch's ``model.eval()`` idiom; the grid
    is evaluated under :func:`engine.no_grad` (no graph is recorded).

    Args:
        model: Called with a list of 2 floats; returns one ``Value`` (binary:
            class 1 where it exceeds ``threshold``) or a list of ``Value``
            (the class is the argmax).
        X: The training points, one pair of coordinates each.
        y: Their labels (binary labels such as ``-1/1`` or ``0/1``, or class
            indices ``0..k-1``).
        path: Also save the figure there.
        threshold: The binary decision threshold (0 for a raw score or a
            tanh output, 0.5 for a sigmoid output).
        resolution: Grid points per axis (the model is called ``resolution**2``
            times).
        margin: Space around the data, in data units.
        ax: Draw into these axes (default: a new figure).
        title: The axes title.
        X_test: Test points, drawn as triangles (optional).
        y_test: Their labels.
        feature_names: The axis labels.
        class_names: Names of the classes in the legend, by class index
            (default: the labels, ``class 0``, ``class 1``...).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: Points are not 2-D, ``X`` and ``y`` (or ``X_test`` and
            ``y_test``) differ in length, ``X`` is empty, or there are more
            than 10 classes.
        TypeError: ``model`` returns something other than a Value or a list of them.
    """
    mpl = _mpl()
    points, labels = _points(X, y, "X", "y")
    if not points:
        raise ValueError("plot_decision_boundary: X is empty")
    test_points, test_labels = _points(X_test or [], y_test or [], "X_test", "y_test")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    classes = sorted(set(labels) | set(test_labels))
    every = points + test_points
    xs = [p[0] for p in every]
    ys = [p[1] for p in every]
    x0, x1 = min(xs) - margin, max(xs) + margin
    y0, y1 = min(ys) - margin, max(ys) + margin
    gx = [x0 + (x1 - x0) * i / (resolution - 1) for i in range(resolution)]
    gy = [y0 + (y1 - y0) * j / (resolution - 1) for j in range(resolution)]
    with evaluation_mode(model), no_grad():
        scores = [[_scores(model, [a, b], threshold) for a in gx] for b in gy]
    n_out = len(scores[0][0])
    binary = n_out == 1
    k = 2 if binary else n_out
    if not binary and len(classes) > k:
        raise ValueError(f"plot_decision_boundary: the model has {k} outputs but the labels "
                         f"have {len(classes)} classes")
    if binary and len(classes) > 2:
        raise ValueError(f"plot_decision_boundary: a model with one output separates 2 "
                         f"classes, but the labels have {len(classes)}: {classes}")
    colours = style.class_colours(k)
    light = [style.mix(c, style.PAPER, style.REGION_LIGHTEN) for c in colours]

    def index(label: float) -> int:
        return classes.index(label) if binary else int(label)

    if class_names is None:
        names = ([_label_text(c) for c in classes] + ["", ""])[:2] if binary else [
            f"class {c}" for c in range(k)]
    else:
        names = [str(c) for c in class_names]
        if len(names) != k:
            raise ValueError(f"class_names has {len(names)} names for {k} classes")
    margins = [[[_margin(row, c) for row in line] for line in scores] for c in range(k)]
    winner = [[max(range(k), key=lambda c, r=row: _margin(r, c)) for row in line]
              for line in scores]

    if ax is None:
        fig = _figure(mpl, figsize=(6.4, 5), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    cmap = mpl.colors.ListedColormap(light)
    # the grid of predicted classes (no interpolation between class numbers) under
    # smooth region outlines: contours of each class's margin at 0, one colour each
    ax.imshow(winner, origin="lower", extent=(x0, x1, y0, y1), cmap=cmap, vmin=-0.5,
              vmax=k - 0.5, interpolation="nearest", aspect="auto")
    for c in range(k):
        ax.contourf(gx, gy, margins[c], levels=[0.0, math.inf], colors=[light[c]],
                    antialiased=False)
    for pts, labs, marker, size in ((points, labels, "o", 22), (test_points, test_labels,
                                                                  "^", 34)):
        if pts:
            ax.scatter([p[0] for p in pts], [p[1] for p in pts], marker=marker, s=size,
                       c=[colours[index(v)] for v in labs], edgecolors="black",
                       linewidths=0.5, zorder=3)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_xlabel(feature_names[0])
    ax.set_ylabel(feature_names[1])
    ax.set_title(title or "decision boundary")
    handles = [mpl.patches.Patch(facecolor=light[c], edgecolor=colours[c], label=names[c])
               for c in range(k) if names[c]]
    kinds = [("o", "train")] + ([("^", "test")] if test_points else [])
    handles += [mpl.lines.Line2D([], [], linestyle="", marker=m, markerfacecolor=style.KEY,
                                 markeredgecolor="black", label=text) for m, text in kinds]
    ax.legend(handles=handles, loc="upper left", bbox_to_anchor=(1.02, 1.0),
              borderaxespad=0.0, fontsize="small")
    _save(fig, path)
    return fig


def _points(X: Sequence, y: Sequence, xname: str, yname: str
            ) -> tuple[list[tuple[float, ...]], list[float]]:
    points = [tuple(float(c) for c in p) for p in X]
    labels = [float(v) for v in y]
    for i, p in enumerate(points):
        if len(p) != 2:
            raise ValueError(f"plot_decision_boundary: expected 2 features per point, got "
                             f"{len(p)} at row {i} of {xname}")
    if len(points) != len(labels):
        raise ValueError(f"plot_decision_boundary: {len(points)} points but {len(labels)} "
                         f"labels ({xname} and {yname} differ in length)")
    return points, labels


def _label_text(label: float) -> str:
    return f"class {int(label)}" if float(label).is_integer() else f"class {label:g}"


def _margin(scores: list[float], c: int) -> float:
    """How far class ``c`` wins at a grid point: its score minus the best other one
    (for one output: the score minus the threshold, negated for class 0)."""
    if len(scores) == 1:
        return scores[0] if c == 1 else -scores[0]
    others = [s for j, s in enumerate(scores) if j != c]
    return scores[c] - max(others)


class evaluation_mode:  # noqa: N801 (a context manager used like a function)
    """Put a model in evaluation mode for a ``with`` block, then back as it was.

    For anything with ``eval()``, ``train(mode)`` and ``training`` (an
    ``nn.Module``, a PyTorch module); other callables are left alone. Every viz
    helper that predicts uses it (PyTorch's ``model.eval()`` idiom).

    >>> class M:
    ...     training = True
    ...     def eval(self): self.training = False
    ...     def train(self, mode=True): self.training = mode
    >>> m = M()
    >>> with evaluation_mode(m):
    ...     print(m.training)
    False
    >>> m.training
    True
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.was = getattr(model, "training", None)

    def __enter__(self) -> Any:
        if self.was is not None and callable(getattr(self.model, "eval", None)):
            self.model.eval()
        return self.model

    def __exit__(self, *exc: object) -> None:
        if self.was is not None and callable(getattr(self.model, "train", None)):
            self.model.train(self.was)


def _scores(model: Callable, point: list[float], threshold: float) -> list[float]:
    """The model's scores at ``point``: ``[output - threshold]`` for one output, else
    the outputs."""
    out = model(point)
    if isinstance(out, Value):
        return [out.data - threshold]
    if isinstance(out, Sequence) and out and all(isinstance(o, Value) for o in out):
        if len(out) == 1:
            return [out[0].data - threshold]
        return [o.data for o in out]
    raise TypeError("plot_decision_boundary: the model must return a Value or a list of "
                    f"Values, got {type(out).__name__}")


def plot_grad_magnitudes(history: object, path: str | os.PathLike | None = None,
                         ax: Any = None) -> Any:
    """Mean ``|grad|`` of each layer over training, on a log scale.

    Vanishing gradients show as the early layers' curves falling decades
    below the last layer's (typical of deep sigmoid nets, not of relu).

    Args:
        history: As for :func:`plot_history`, with ``grad_norms``: a dict
            layer name -> list of mean ``|grad|`` per epoch.
        path: Also save the figure there.
        ax: Draw into these axes (default: a new figure).

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: ``grad_norms`` is missing or empty.
    """
    mpl = _mpl()
    h = _as_dict(history)
    norms = h.get("grad_norms")
    if not isinstance(norms, Mapping) or not norms:
        raise ValueError("history has no 'grad_norms' (a dict layer name -> list of mean "
                         "|grad| per epoch); record it during training")
    if ax is None:
        fig = _figure(mpl, figsize=(6, 4), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    epochs = _series(h, "epoch", None)
    for name, values in norms.items():
        values = _series(norms, name, None)
        x = epochs if len(epochs) == len(values) else list(range(1, len(values) + 1))
        ax.plot(x, values, marker="o", markersize=3, label=str(name))
    ax.set_yscale("log", nonpositive="mask")
    ax.set_xlabel("epoch")
    ax.set_ylabel("mean |grad|")
    ax.set_title("gradient magnitude per layer")
    ax.legend(loc="best")
    _save(fig, path)
    return fig
