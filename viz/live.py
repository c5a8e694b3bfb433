"""Watch a network learn: a ``fit`` callback that redraws one figure as training runs.

:class:`LiveView` is called by ``nn.train.fit(..., callback=view)`` after
every epoch as ``view(epoch, history)``. Every ``every`` epochs (and at the
last one, when ``epochs`` is given) it redraws, in one matplotlib figure,
the three things TensorFlow Playground shows:

1. the model's **decision boundary** with the training points (2-D inputs);
2. the **loss curves** (training, and test when ``history`` has it);
3. the **per-layer gradient magnitudes** (``history.grad_norms``, recorded by
   ``fit(track_grads=True)``), on a log scale: vanishing gradients show as
   the first layers' curves falling decades below the last layer's.

In a Jupyter kernel the figure is shown once, as a PNG, and then updated
**in place** (``IPython.display.display(image, display_id=True)``, then
``handle.update``),
so the cell shows one picture that changes. Elsewhere (a script, a terminal,
a test) there is no figure to update: each redraw prints one plain progress
line instead (``epoch 20: loss 0.3512  acc 0.900  test_loss 0.4011  grad
layers.0 3.1e-03 ...``).

matplotlib (and IPython, for the notebook mode) are optional and imported
only when needed; the figure is a ``matplotlib.figure.Figure`` made without
``pyplot`` (no window, no global state). ``viz`` never imports ``nn``: the
model is any callable taking a list of 2 floats (as for
:func:`viz.plot_decision_boundary`), and ``history`` is anything with the
fields of ``nn.train.History`` or its ``as_dict()``.

NB: the idea is TensorFlow Playground's (playground.tensorflow.org); with
PyTorch one writes the same loop by hand with ``IPython.display`` handles.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from collections.abc import Callable, Mapping, Sequence
from typing import Any, TextIO

from viz.plots import _as_dict, _mpl, plot_decision_boundary

#: The display modes of :class:`LiveView`.
MODES = ("auto", "notebook", "text")

#: The figure's size in inches (three panels side by side).
FIGSIZE = (13.0, 4.2)

#: The notebook PNG has this many pixels per displayed pixel (2: high-DPI screens).
PNG_SCALE = 2


def in_notebook() -> bool:
    """Whether code runs in a Jupyter kernel, where a figure can be updated in place.

    False in plain Python, in terminal IPython, and when IPython is not installed.
    """
    ipython = sys.modules.get("IPython")
    if ipython is None:
        return False
    shell = ipython.get_ipython()
    return shell is not None and getattr(shell, "kernel", None) is not None


class LiveView:
    """A ``fit`` callback that redraws the decision boundary, the losses and the gradients.

    Args:
        model: The model being trained: called with a list of 2 floats, it
            returns one ``Value`` (binary: class 1 where it exceeds
            ``threshold``) or a list of ``Value`` (the class is the argmax).
        X: The training points (pairs of coordinates), drawn with the boundary.
        y: Their labels (as for :func:`viz.plot_decision_boundary`).
        every: Redraw every this many epochs (and at epoch ``epochs``).
        epochs: The number of epochs ``fit`` will run, if known: the last
            one is always drawn, and the progress line shows ``20/100``.
        threshold: The binary decision threshold (0 for a logit or a score).
        resolution: Grid points per axis of the decision boundary (each is
            one forward pass of the model, so keep it small).
        display: ``"notebook"`` (update a figure in place; needs IPython),
            ``"text"`` (print a progress line per redraw), or ``"auto"``
            (notebook inside a Jupyter kernel, text elsewhere).
        file: Where text mode prints (default ``sys.stdout``).
        title: A title over the figure.
        dpi: Dots per inch of the figure as shown in a notebook (its displayed
            width is ``13 * dpi`` pixels); the PNG itself is rendered at twice
            that (:data:`PNG_SCALE`), crisp on high-DPI screens.

    Attributes:
        redraws: How many times the view has drawn (figure or line).
        lines: The progress lines printed in text mode.
        figure: The matplotlib ``Figure`` (None until first drawn in notebook
            mode, or until :meth:`draw` is called).

    Raises:
        ValueError: ``every`` or ``epochs`` is not a positive int, ``display``
            is unknown, the points are not 2-D, or ``X`` and ``y`` differ in
            length or are empty.
        TypeError: ``model`` is not callable.
        ImportError: ``display="notebook"`` without IPython (raised here,
            before any training).

    >>> view = LiveView(lambda p: None, [[0.0, 1.0], [1.0, 0.0]], [0, 1], every=2,
    ...                 display="text")
    >>> view(1, {"epoch": [1], "train_loss": [0.7]})       # not a redraw epoch
    >>> view(2, {"epoch": [1, 2], "train_loss": [0.7, 0.5], "train_acc": [0.5, 1.0]})
    epoch 2: loss 0.5000  acc 1.000
    >>> view.redraws
    1
    """

    def __init__(self, model: Callable[[list[float]], Any], X: Sequence[Sequence[float]],
                 y: Sequence[float], *, every: int = 5, epochs: int | None = None,
                 threshold: float = 0.0, resolution: int = 30, display: str = "auto",
                 file: TextIO | None = None, title: str | None = None, dpi: int = 72) -> None:
        for name, value in (("every", every), ("epochs", epochs)):
            if value is None and name == "epochs":
                continue
            if isinstance(value, bool) or not isinstance(value, int) or value < 1:
                raise ValueError(f"LiveView: {name} must be a positive int, got {value!r}")
        if display not in MODES:
            raise ValueError(f"LiveView: display must be one of {', '.join(MODES)}, "
                             f"got {display!r}")
        points = [list(p) for p in X]
        if not points or len(points) != len(y):
            raise ValueError(f"LiveView: got {len(points)} points and {len(y)} labels; need "
                             "the same, non-zero number")
        for i, p in enumerate(points):
            if len(p) != 2:
                raise ValueError(f"LiveView: the decision boundary needs 2-D points; point {i} "
                                 f"has {len(p)} coordinates")
        if not callable(model):
            raise TypeError(f"LiveView: model must be callable, got {type(model).__name__}")
        self.model, self.X, self.y = model, points, list(y)
        self.every, self.epochs = every, epochs
        self.threshold, self.resolution, self.title = threshold, resolution, title
        self.dpi = dpi
        self.mode = ("notebook" if in_notebook() else "text") if display == "auto" else display
        if self.mode == "notebook" and importlib.util.find_spec("IPython") is None:
            raise ImportError("LiveView(display='notebook') needs IPython (pip install ipython); "
                              "use display='text' for progress lines")
        self.file = file
        self.redraws = 0
        self.lines: list[str] = []
        self.figure: Any = None
        self._handle: Any = None

    # -- the fit callback --------------------------------------------------------------
    def __call__(self, epoch: int, history: object) -> None:
        """Called by ``fit`` after each epoch; redraws when ``epoch`` is due."""
        if epoch % self.every and epoch != self.epochs:
            return
        h = _as_dict(history)
        if self.mode == "text":
            line = self.progress_line(epoch, h)
            self.lines.append(line)
            print(line, file=self.file or sys.stdout, flush=True)
        else:
            image = self.png(h)
            if self._handle is None:
                from IPython.display import display

                self._handle = display(image, display_id=True)
            else:
                self._handle.update(image)
        self.redraws += 1

    def png(self, history: object) -> Any:
        """:meth:`draw`, rendered as an ``IPython.display.Image`` (PNG).

        A PNG shows the same under every matplotlib backend and in saved
        notebooks, where a ``Figure`` object would depend on the inline backend.
        It is rendered at :data:`PNG_SCALE` times ``dpi`` and shown ``13 * dpi``
        pixels wide (the image's ``width``), so it is crisp on high-DPI screens
        and no larger on others.

        Raises:
            ImportError: IPython or matplotlib is not installed.
        """
        import io

        from IPython.display import Image

        buffer = io.BytesIO()
        figure = self.draw(history)
        figure.savefig(buffer, format="png", dpi=PNG_SCALE * self.dpi)
        return Image(data=buffer.getvalue(), format="png",
                     width=round(figure.get_figwidth() * self.dpi))

    def progress_line(self, epoch: int, history: object) -> str:
        """The text-mode line for ``epoch``: the latest loss, accuracy, test values, gradients."""
        h = _as_dict(history)
        shown = f"{epoch}/{self.epochs}" if self.epochs else f"{epoch}"
        parts = []
        for key, label, fmt in (("train_loss", "loss", ".4f"), ("train_acc", "acc", ".3f"),
                                ("test_loss", "test_loss", ".4f"),
                                ("test_acc", "test_acc", ".3f")):
            values = h.get(key) or []
            if values:
                parts.append(f"{label} {values[-1]:{fmt}}")
        norms = h.get("grad_norms") or {}
        if norms:
            parts.append("grad " + " ".join(f"{name} {values[-1]:.1e}"
                                            for name, values in norms.items() if values))
        return f"epoch {shown}: " + "  ".join(parts)

    # -- the picture -------------------------------------------------------------------
    def draw(self, history: object) -> Any:
        """Draw (or redraw) the three panels for ``history``; returns the ``Figure``.

        Raises:
            ImportError: matplotlib is not installed.
            ValueError: ``history`` has no ``train_loss``.
        """
        mpl = _mpl()
        h = _as_dict(history)
        losses = [float(v) for v in h.get("train_loss") or []]
        if not losses:
            raise ValueError(f"LiveView: history has no 'train_loss' (keys: {sorted(h)})")
        if self.figure is None:
            self.figure = mpl.figure.Figure(figsize=FIGSIZE, layout="constrained")
            self.figure.get_layout_engine().set(w_pad=0.08, wspace=0.04)
            self.figure.subplots(1, 3)
        boundary_ax, loss_ax, grad_ax = self.figure.axes
        for ax in self.figure.axes:
            ax.clear()
        epochs = list(h.get("epoch") or range(1, len(losses) + 1))
        accs = h.get("train_acc") or []
        acc = f", accuracy {accs[-1]:.0%}" if accs else ""
        # The boundary is what the model predicts: in evaluation mode (dropout
        # off, batch norm on its running statistics), then back to its mode.
        training = getattr(self.model, "training", False) is True
        if training and callable(getattr(self.model, "train", None)):
            self.model.train(False)
        try:
            plot_decision_boundary(self.model, self.X, self.y, threshold=self.threshold,
                                   resolution=self.resolution, ax=boundary_ax,
                                   title=f"epoch {epochs[-1]}{acc}")
        finally:
            if training:
                self.model.train(True)
        # the class legend goes under the map, in one row, not beside it against the
        # loss panel (constrained layout leaves room for it)
        legend = boundary_ax.get_legend()
        if legend is not None:
            handles = list(legend.legend_handles)
            labels = [t.get_text() for t in legend.get_texts()]
            legend.remove()
            boundary_ax.legend(handles, labels, loc="upper center", bbox_to_anchor=(0.5, -0.16),
                               ncols=min(len(handles), 4), fontsize=9, frameon=False,
                               borderaxespad=0.0, columnspacing=1.2, handletextpad=0.4)
        loss_ax.plot(epochs, losses, label="train loss")
        test = h.get("test_loss") or []
        if len(test) == len(epochs):
            loss_ax.plot(epochs, test, "--", label="test loss")
        if all(v > 0 for v in losses):
            loss_ax.set_yscale("log")
        loss_ax.set_xlabel("epoch")
        loss_ax.set_title("loss")
        loss_ax.legend(loc="best", fontsize=9)
        self._draw_grads(grad_ax, epochs, h.get("grad_norms") or {})
        if self.title:
            self.figure.suptitle(self.title)
        return self.figure

    @staticmethod
    def _draw_grads(ax: Any, epochs: list, norms: Mapping[str, Sequence[float]]) -> None:
        ax.set_title("mean |grad| per layer")
        ax.set_xlabel("epoch")
        if not norms:
            ax.text(0.5, 0.5, "no gradients recorded:\nfit(..., track_grads=True)",
                    ha="center", va="center", transform=ax.transAxes)
            return
        for name, values in norms.items():
            xs = epochs if len(epochs) == len(values) else list(range(1, len(values) + 1))
            ax.plot(xs, [float(v) for v in values], marker="o", markersize=2, label=str(name))
        if any(float(v) > 0 and math.isfinite(float(v)) for vs in norms.values() for v in vs):
            ax.set_yscale("log", nonpositive="mask")
        ax.legend(fontsize=9, loc="best")
