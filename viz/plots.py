"""Training plots with matplotlib: loss and accuracy curves, a 2-D decision
boundary, and per-layer gradient magnitudes (to see vanishing gradients).

matplotlib is optional (``pip install dagrad[plots]``) and imported only
when a function here is called. Figures are made with
``matplotlib.figure.Figure`` directly, not through ``pyplot``: nothing global
changes, no window opens, files are written with the Agg canvas, and the
returned Figure still displays inline in Jupyter. With ``path`` the figure is
also saved (atomically; the format comes from the suffix).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

from engine import Value, no_grad

_HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "test_loss", "test_acc")


def _mpl() -> Any:
    try:
        import matplotlib
        import matplotlib.figure
    except ImportError:
        raise ImportError("viz.plots needs matplotlib: pip install dagrad[plots] "
                          "(or pip install matplotlib)") from None
    return matplotlib


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
    fig.savefig(buf, format=path.suffix[1:].lower(), dpi=120, bbox_inches="tight")
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
        fig = mpl.figure.Figure(figsize=(10 if has_acc else 5.5, 4), layout="constrained")
        axes = fig.subplots(1, 2) if has_acc else [fig.subplots(), None]
    elif isinstance(ax, Sequence):
        axes = list(ax)
        fig = axes[0].figure
    else:
        axes = [ax, ax.twinx() if has_acc else None]
        fig = ax.figure
    loss_ax, acc_ax = axes[0], axes[1]
    for key, style in (("train_loss", "-"), ("test_loss", "--")):
        if curves[key]:
            loss_ax.plot(epochs, curves[key], style, label=key.replace("_", " "))
    loss_ax.set_xlabel("epoch")
    loss_ax.set_ylabel("loss")
    loss_ax.set_title("loss")
    loss_ax.legend(loc="upper left")
    if acc_ax is not None:
        for key, style in (("train_acc", "-"), ("test_acc", "--")):
            if curves[key]:
                acc_ax.plot(epochs, curves[key], style, color="tab:green" if key == "train_acc"
                            else "tab:olive", label=key.replace("_", " "))
        acc_ax.set_ylabel("accuracy")
        acc_ax.set_title("accuracy")
        acc_ax.set_xlabel("epoch")
        acc_ax.legend(loc="lower right")
    _save(fig, path)
    return fig


def plot_decision_boundary(model: Callable[[list[float]], Value | Sequence[Value]],
                           X: Sequence[Sequence[float]], y: Sequence[float],
                           path: str | os.PathLike | None = None, *, threshold: float = 0.0,
                           resolution: int = 60, margin: float = 0.5, ax: Any = None,
                           title: str | None = None) -> Any:
    """The regions a 2-D classifier assigns to each class, with the data points.

    The grid is evaluated under :func:`engine.no_grad` (no graph is recorded).

    Args:
        model: Called with a list of 2 floats; returns one ``Value`` (binary:
            class 1 where it exceeds ``threshold``) or a list of ``Value``
            (the class is the argmax).
        X: The points, one pair of coordinates each.
        y: Their labels (binary labels such as ``-1/1`` or ``0/1``, or class
            indices ``0..k-1``).
        path: Also save the figure there.
        threshold: The binary decision threshold (0 for a raw score or a
            tanh output, 0.5 for a sigmoid output).
        resolution: Grid points per axis.
        margin: Space around the data, in data units.
        ax: Draw into these axes (default: a new figure).
        title: The axes title.

    Returns:
        The matplotlib ``Figure``.

    Raises:
        ImportError: matplotlib is not installed.
        ValueError: Points are not 2-D, ``X`` and ``y`` differ in length, or
            ``X`` is empty.
        TypeError: ``model`` returns something other than a Value or a list of them.
    """
    mpl = _mpl()
    points = [tuple(float(c) for c in p) for p in X]
    labels = [float(v) for v in y]
    if not points:
        raise ValueError("plot_decision_boundary: X is empty")
    for i, p in enumerate(points):
        if len(p) != 2:
            raise ValueError(f"plot_decision_boundary: expected 2 features per point, got "
                             f"{len(p)} at row {i}")
    if len(points) != len(labels):
        raise ValueError(f"plot_decision_boundary: {len(points)} points but {len(labels)} "
                         "labels")
    if resolution < 2:
        raise ValueError(f"resolution must be at least 2, got {resolution}")
    classes = sorted(set(labels))
    xs = [p[0] for p in points]
    ys = [p[1] for p in points]
    x0, x1 = min(xs) - margin, max(xs) + margin
    y0, y1 = min(ys) - margin, max(ys) + margin
    gx = [x0 + (x1 - x0) * i / (resolution - 1) for i in range(resolution)]
    gy = [y0 + (y1 - y0) * j / (resolution - 1) for j in range(resolution)]
    with no_grad():
        grid = [[_predict(model, [a, b], threshold) for a in gx] for b in gy]
    if ax is None:
        fig = mpl.figure.Figure(figsize=(5.5, 5), layout="constrained")
        ax = fig.subplots()
    else:
        fig = ax.figure
    k = max(len(classes), 1 + max(max(row) for row in grid))
    cmap = mpl.colormaps["coolwarm" if k <= 2 else "tab10"]
    levels = [c - 0.5 for c in range(k + 1)]
    ax.contourf(gx, gy, grid, levels=levels, cmap=cmap, alpha=0.3, vmin=0, vmax=max(k - 1, 1))
    colour_index = [classes.index(v) if k <= 2 else int(v) for v in labels]
    ax.scatter(xs, ys, c=colour_index, cmap=cmap, vmin=0, vmax=max(k - 1, 1), s=18,
               edgecolors="black", linewidths=0.4)
    ax.set_xlim(x0, x1)
    ax.set_ylim(y0, y1)
    ax.set_title(title or "decision boundary")
    _save(fig, path)
    return fig


def _predict(model: Callable, point: list[float], threshold: float) -> int:
    out = model(point)
    if isinstance(out, Value):
        return int(out.data > threshold)
    if isinstance(out, Sequence) and out and all(isinstance(o, Value) for o in out):
        scores = [o.data for o in out]
        if len(scores) == 1:
            return int(scores[0] > threshold)
        return max(range(len(scores)), key=scores.__getitem__)
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
        fig = mpl.figure.Figure(figsize=(6, 4), layout="constrained")
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
    ax.legend()
    _save(fig, path)
    return fig
