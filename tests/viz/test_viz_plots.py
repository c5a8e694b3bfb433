"""matplotlib plots: each writes a non-empty image and returns the Figure it drew."""

from __future__ import annotations

import builtins
import math
import sys

import pytest

import engine
from engine import Value
from viz import plot_decision_boundary, plot_grad_magnitudes, plot_history
from viz.style import class_colours

mpl = pytest.importorskip("matplotlib")
from matplotlib.figure import Figure  # noqa: E402

PNG = b"\x89PNG\r\n\x1a\n"

HISTORY = {"epoch": [1, 2, 3], "train_loss": [1.0, 0.5, 0.25], "train_acc": [0.5, 0.75, 0.9],
           "test_loss": [1.1, 0.6, 0.4], "test_acc": [0.45, 0.7, 0.85],
           "grad_norms": {"layers.0": [1e-3, 1e-4, 1e-5], "layers.1": [0.1, 0.05, 0.02]}}


class History:
    """As nn's training history: an object with as_dict()."""

    def as_dict(self):
        return {"epoch": [1, 2], "train_loss": [0.9, 0.3], "train_acc": [], "test_loss": [],
                "test_acc": []}


def test_plot_history_writes_a_png_with_the_curves(tmp_path):
    fig = plot_history(HISTORY, tmp_path / "history.png")
    assert isinstance(fig, Figure)
    data = (tmp_path / "history.png").read_bytes()
    assert data.startswith(PNG) and len(data) > 1000
    loss_ax, acc_ax = fig.axes
    curves = {line.get_label(): list(line.get_ydata()) for line in loss_ax.lines}
    assert curves == {"train loss": [1.0, 0.5, 0.25], "test loss": [1.1, 0.6, 0.4]}
    assert [line.get_label() for line in acc_ax.lines] == ["train acc", "test acc"]
    assert list(loss_ax.lines[0].get_xdata()) == [1, 2, 3]


def test_plot_history_accepts_as_dict_and_empty_test_lists(tmp_path):
    fig = plot_history(History(), tmp_path / "h.svg")
    assert len(fig.axes) == 1  # no accuracy recorded: one panel
    assert (tmp_path / "h.svg").read_text().lstrip().startswith("<?xml")
    assert plot_history(HISTORY) is not None  # no path: nothing written


def test_plot_history_into_given_axes():
    fig = Figure()
    ax = fig.subplots()
    assert plot_history(HISTORY, ax=ax) is fig
    assert len(fig.axes) == 2  # accuracy on a twin axis


def test_plot_history_bad_input():
    with pytest.raises(ValueError, match="train_loss"):
        plot_history({"epoch": [1]})
    with pytest.raises(ValueError, match="has 2 entries"):
        plot_history({"epoch": [1, 2, 3], "train_loss": [1, 2, 3], "test_loss": [1, 2]})
    with pytest.raises(TypeError, match="as_dict"):
        plot_history([1, 2, 3])


def test_plot_decision_boundary_binary_separates_the_classes(tmp_path):
    X = [[-1.0, -1.0], [-0.5, -0.8], [1.0, 1.0], [0.8, 0.4]]
    y = [-1, -1, 1, 1]
    calls = []

    def model(p):
        calls.append(engine.is_grad_enabled())
        return Value(p[0]) + Value(p[1])  # class 1 above the line x0 + x1 = 0

    fig = plot_decision_boundary(model, X, y, tmp_path / "boundary.png", resolution=11)
    assert isinstance(fig, Figure)
    assert (tmp_path / "boundary.png").read_bytes().startswith(PNG)
    assert len(calls) == 121 and not any(calls)  # the grid is evaluated under no_grad
    (ax,) = fig.axes
    regions = ax.collections[0]
    assert regions is not None
    # the scatter colours the points by class index: -1 -> 0, 1 -> 1
    first, second = (mpl.colors.to_rgba(c) for c in class_colours(2))
    faces = [tuple(c) for c in ax.collections[-1].get_facecolors()]
    assert faces == [first, first, second, second]


def test_plot_decision_boundary_threshold_and_multiclass(tmp_path):
    X = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0]]
    fig = plot_decision_boundary(lambda p: engine.sigmoid(Value(p[0] - 1.0)), X, [0, 1, 1],
                                 threshold=0.5, resolution=5)
    assert isinstance(fig, Figure)

    def three(p):
        return [Value(-p[0]), Value(p[1]), Value(p[0] - 1.5)]

    plot_decision_boundary(three, X, [0, 1, 2], tmp_path / "multi.png", resolution=9)
    assert (tmp_path / "multi.png").stat().st_size > 1000


def test_plot_decision_boundary_bad_input():
    with pytest.raises(ValueError, match="2 features per point, got 3 at row 1"):
        plot_decision_boundary(lambda p: Value(0.0), [[0, 0], [1, 2, 3]], [0, 1])
    with pytest.raises(ValueError, match="2 points but 3 labels"):
        plot_decision_boundary(lambda p: Value(0.0), [[0, 0], [1, 2]], [0, 1, 1])
    with pytest.raises(TypeError, match="must return a Value"):
        plot_decision_boundary(lambda p: 0.5, [[0, 0]], [0], resolution=2)


def test_plot_grad_magnitudes_on_a_log_scale(tmp_path):
    fig = plot_grad_magnitudes(HISTORY, tmp_path / "grads.png")
    assert (tmp_path / "grads.png").read_bytes().startswith(PNG)
    (ax,) = fig.axes
    assert ax.get_yscale() == "log"
    lines = {line.get_label(): list(line.get_ydata()) for line in ax.lines}
    assert lines["layers.0"] == [1e-3, 1e-4, 1e-5]
    assert math.log10(lines["layers.1"][-1] / lines["layers.0"][-1]) > 3  # vanishing
    with pytest.raises(ValueError, match="grad_norms"):
        plot_grad_magnitudes({"epoch": [1], "train_loss": [1.0]})


def test_missing_matplotlib_gives_an_install_hint(monkeypatch):
    real_import = builtins.__import__

    def no_matplotlib(name, *args, **kwargs):
        if name == "matplotlib" or name.startswith("matplotlib."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    for mod in [m for m in sys.modules if m == "matplotlib" or m.startswith("matplotlib.")]:
        monkeypatch.delitem(sys.modules, mod)
    with pytest.raises(ImportError, match=r"pip install dagrad\[plots\]"):
        plot_history(HISTORY)


def test_importing_viz_does_not_import_matplotlib():
    import subprocess

    code = "import sys, viz; print('matplotlib' in sys.modules)"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         check=True, timeout=60)
    assert out.stdout.strip() == "False"


def _pixels_of_the_regions(fig, ax):
    """The distinct RGB colours inside the axes, points and legend removed."""
    np = pytest.importorskip("numpy")
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    for coll in list(ax.collections):
        if coll.get_offsets().size and len(coll.get_offsets()) and coll.get_paths() and \
                type(coll).__name__ == "PathCollection":
            coll.remove()
    ax.get_legend().remove()
    canvas = FigureCanvasAgg(fig)
    canvas.draw()
    image = np.asarray(canvas.buffer_rgba())[..., :3]
    box = ax.get_window_extent()
    height = image.shape[0]
    inside = image[int(height - box.y1) + 3:int(height - box.y0) - 3,
                   int(box.x0) + 3:int(box.x1) - 3]
    return {tuple(int(v) for v in rgb) for rgb in inside.reshape(-1, 3)}


def test_three_class_regions_contain_only_the_three_class_colours():
    from viz.style import REGION_LIGHTEN, mix

    X = [[0.0, 0.0], [1.0, 1.0], [2.0, 0.0], [-1.0, 2.0], [2.5, -1.0]]
    y = [0, 1, 2, 1, 2]

    def three(p):  # class boundaries cross at odd angles: no staircase, no third colour
        return [Value(-p[0] + 0.3 * p[1]), Value(p[1] - 0.2 * p[0]), Value(p[0] - 1.5)]

    fig = plot_decision_boundary(three, X, y, resolution=37)
    (ax, ) = fig.axes
    expected = {tuple(int(h[i:i + 2], 16) for i in (1, 3, 5))
                for h in (mix(c, "#ffffff", REGION_LIGHTEN) for c in class_colours(3))}
    seen = _pixels_of_the_regions(fig, ax)
    assert seen == expected  # all three present, nothing between them
    assert ax.get_xlabel() == "x[0]" and ax.get_ylabel() == "x[1]"


def test_decision_boundary_legend_names_classes_and_tells_train_from_test():
    X = [[0.0, 0.0], [1.0, 1.0]]
    fig = plot_decision_boundary(lambda p: Value(p[0] + p[1] - 1.0), X, [-1, 1],
                                 X_test=[[0.2, 0.1], [0.9, 0.8]], y_test=[-1, 1],
                                 resolution=5, feature_names=("length", "width"))
    (ax,) = fig.axes
    texts = [t.get_text() for t in ax.get_legend().get_texts()]
    assert texts == ["class -1", "class 1", "train", "test"]
    markers = [c.get_paths()[0] for c in ax.collections if type(c).__name__ == "PathCollection"]
    assert len(markers) == 2 and markers[0] != markers[1]  # circles and triangles
    assert (ax.get_xlabel(), ax.get_ylabel()) == ("length", "width")
    with pytest.raises(ValueError, match="at most 10"):
        plot_decision_boundary(lambda p: [Value(0.0)] * 11, X, [0, 1], resolution=2)


def test_decision_boundary_predicts_in_eval_mode_and_restores_the_mode():
    nn = pytest.importorskip("nn")
    model = nn.Sequential(nn.Linear(2, 16, rng=0), nn.Tanh(), nn.Dropout(0.5, rng=1),
                          nn.Linear(16, 1, rng=2))
    modes = []
    real = model.forward

    def spy(x):
        modes.append(model.training)
        return real(x)

    model.forward = spy
    X = [[-1.0, -1.0], [1.0, 1.0]]
    first = plot_decision_boundary(model, X, [0, 1], resolution=13)
    second = plot_decision_boundary(model, X, [0, 1], resolution=13)
    assert modes and not any(modes)  # every grid point in evaluation mode (Dropout off)
    assert model.training is True  # put back as it was
    grid = lambda fig: fig.axes[0].images[0].get_array().tolist()  # noqa: E731
    assert grid(first) == grid(second)  # no dropout noise between two calls
    model.eval()
    plot_decision_boundary(model, X, [0, 1], resolution=3)
    assert model.training is False


def test_notebook_display_is_deterministic_svg():
    fig = plot_history(HISTORY)
    bundle = fig._repr_mimebundle_()
    assert bundle["image/svg+xml"].lstrip().startswith("<?xml")
    assert bundle["image/svg+xml"] == plot_history(HISTORY)._repr_mimebundle_()["image/svg+xml"]
    assert bundle["text/plain"] == "<PlotFigure size 1000x400 with 2 Axes>"  # no address
    assert "<dc:date>" not in bundle["image/svg+xml"]


def test_saved_png_is_twice_the_screen_resolution(tmp_path):
    fig = plot_history(HISTORY, tmp_path / "h.png")
    import struct

    data = (tmp_path / "h.png").read_bytes()
    width = struct.unpack(">I", data[16:20])[0]
    assert width >= 1.9 * fig.get_figwidth() * 100  # 2x a 100-dpi screen
