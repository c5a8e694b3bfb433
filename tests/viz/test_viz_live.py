"""viz.live.LiveView: a fit callback that redraws a figure in place, or prints a line."""

from __future__ import annotations

import io
import math

import pytest

from nn import MLP
from nn.data import make_moons
from nn.train import fit
from viz import LiveView
from viz.live import in_notebook

X, Y = make_moons(20, noise=0.1, rng=0)


def _train(view, epochs, **kwargs):
    model = view.model
    return fit(model, X, Y, loss="bce_logits", optimizer="adam", lr=0.05, epochs=epochs,
               verbose=False, callback=view, rng=0, **kwargs)


def _view(**kwargs):
    return LiveView(MLP(2, [4, 4, 1], activation="tanh", init="xavier", rng=0), X, Y,
                    resolution=8, **kwargs)


def test_text_mode_prints_one_line_per_redraw_with_the_history_values():
    out = io.StringIO()
    view = _view(every=3, epochs=10, display="text", file=out)
    history = _train(view, 10)
    assert view.redraws == 4                                     # epochs 3, 6, 9 and the last
    printed = out.getvalue().splitlines()
    assert printed == view.lines and len(printed) == 4
    for line, epoch in zip(printed, (3, 6, 9, 10), strict=True):
        assert line.startswith(f"epoch {epoch}/10: loss {history.train_loss[epoch - 1]:.4f}")
        assert f"acc {history.train_acc[epoch - 1]:.3f}" in line
    assert view.figure is None                                   # no figure without a display


def test_text_mode_shows_test_values_and_gradients_when_recorded():
    view = _view(every=2, display="text", file=io.StringIO())
    Xt, yt = make_moons(10, noise=0.1, rng=1)
    history = _train(view, 4, X_test=Xt, y_test=yt, track_grads=True)
    last = view.lines[-1]
    assert last.startswith("epoch 4: ")
    assert f"test_loss {history.test_loss[-1]:.4f}" in last
    for name, values in history.grad_norms.items():
        assert f"{name} {values[-1]:.1e}" in last
    assert view.redraws == 2


def test_auto_mode_outside_a_kernel_falls_back_to_a_printed_line(capsys):
    assert not in_notebook()
    view = _view(every=1, display="auto")
    assert view.mode == "text"
    history = _train(view, 2)
    printed = capsys.readouterr().out.splitlines()
    assert printed == [f"epoch {k}: loss {history.train_loss[k - 1]:.4f}  "
                       f"acc {history.train_acc[k - 1]:.3f}" for k in (1, 2)]


class _Handle:
    def __init__(self):
        self.updates = []

    def update(self, obj):
        self.updates.append(obj)


def test_notebook_mode_displays_once_then_updates_in_place(monkeypatch):
    pytest.importorskip("matplotlib")
    ipython_display = pytest.importorskip("IPython.display")
    shown, handle = [], _Handle()

    def fake_display(obj, display_id=None):
        shown.append((obj, display_id))
        return handle

    monkeypatch.setattr(ipython_display, "display", fake_display)
    view = _view(every=2, epochs=5, display="notebook")
    history = _train(view, 5, track_grads=True)
    assert view.redraws == 3                                     # epochs 2, 4 and 5
    assert len(shown) == 1 and shown[0][1] is True and len(handle.updates) == 2
    for image in (shown[0][0], *handle.updates):
        assert isinstance(image, ipython_display.Image) and image.format == "png"
        assert image.data.startswith(b"\x89PNG\r\n\x1a\n") and len(image.data) > 5000
    assert handle.updates[-1].data != shown[0][0].data           # a new picture each time
    boundary, losses, grads = view.figure.axes
    assert boundary.get_title() == f"epoch 5, accuracy {history.train_acc[-1]:.0%}"
    (grid,) = boundary.images                                    # predicted class per cell
    assert set(grid.get_array().ravel().tolist()) <= {0, 1}
    *regions, points = boundary.collections                     # one region per class, the data
    assert [type(r).__name__ for r in regions] == ["QuadContourSet"] * 2
    assert all(list(r.levels) == [0.0, math.inf] for r in regions)
    assert [list(p) for p in points.get_offsets()] == [list(p) for p in X]
    (train_line,) = [line for line in losses.lines if line.get_label() == "train loss"]
    assert list(train_line.get_ydata()) == history.train_loss
    assert list(train_line.get_xdata()) == [1, 2, 3, 4, 5]
    curves = {line.get_label(): list(line.get_ydata()) for line in grads.lines}
    assert curves == history.grad_norms and len(curves) == 3
    assert grads.get_yscale() == "log"


def test_draw_without_gradients_says_how_to_record_them():
    pytest.importorskip("matplotlib")
    view = _view(display="text")
    fig = view.draw({"epoch": [1, 2], "train_loss": [0.7, 0.6], "test_loss": [0.8, 0.7]})
    assert len(fig.axes) == 3
    _, losses, grads = fig.axes
    assert {line.get_label() for line in losses.lines} == {"train loss", "test loss"}
    assert not grads.lines and "track_grads=True" in grads.texts[0].get_text()
    assert view.draw({"epoch": [1], "train_loss": [0.5]}) is fig      # redraws the same figure
    assert len(fig.axes) == 3 and len(fig.axes[1].lines) == 1


@pytest.mark.parametrize("kwargs, problem", [
    ({"every": 0}, "every must be a positive int"),
    ({"epochs": 2.5}, "epochs must be a positive int"),
    ({"display": "window"}, "display must be one of"),
])
def test_bad_settings_raise_a_clear_error(kwargs, problem):
    with pytest.raises(ValueError, match=problem):
        _view(**kwargs)


def test_points_must_be_two_dimensional_and_match_the_labels():
    with pytest.raises(ValueError, match="point 1 has 3 coordinates"):
        LiveView(lambda p: p, [[0.0, 1.0], [1.0, 2.0, 3.0]], [0, 1])
    with pytest.raises(ValueError, match="2 points and 1 labels"):
        LiveView(lambda p: p, [[0.0, 1.0], [1.0, 2.0]], [0])


def test_draw_needs_a_training_loss():
    pytest.importorskip("matplotlib")
    with pytest.raises(ValueError, match="no 'train_loss'"):
        _view(display="text").draw({"epoch": []})


def test_a_model_that_is_not_callable_is_refused():
    with pytest.raises(TypeError, match="model must be callable, got int"):
        LiveView(3, [[0.0, 1.0]], [0])


def test_the_boundary_is_drawn_in_evaluation_mode_and_the_mode_restored():
    pytest.importorskip("matplotlib")
    model = MLP(2, [3, 1], rng=0)
    modes = []

    def predict(point):
        modes.append(model.training)
        return model(point)

    predict.training = True
    predict.train = model.train
    view = LiveView(predict, X, Y, resolution=3, display="text")
    assert model.training
    view.draw({"epoch": [1], "train_loss": [0.5]})
    assert modes == [False] * 9 and model.training


def test_notebook_png_is_2x_with_its_width_kept_and_the_legend_clear_of_other_panels():
    """A crisp figure (rendered at 2x dpi, shown at 13 * dpi px) whose class legend
    collides with no other panel and stays inside the picture."""
    pytest.importorskip("matplotlib")
    pytest.importorskip("IPython.display")
    import struct

    from viz.live import FIGSIZE, PNG_SCALE

    view = _view(every=2, epochs=2, display="text", file=io.StringIO(), dpi=72)
    history = _train(view, 2, track_grads=True)
    image = view.png(history)
    assert image.width == round(FIGSIZE[0] * 72) == 936             # displayed as before
    width, height = struct.unpack(">II", image.data[16:24])        # the PNG's own size
    assert PNG_SCALE == 2 and width == 2 * image.width
    assert abs(height - 2 * 72 * FIGSIZE[1]) < 1
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    fig = view.figure
    canvas = FigureCanvasAgg(fig)
    canvas.draw()  # the constrained layout, as in the PNG
    renderer = canvas.get_renderer()
    boundary, losses, grads = fig.axes
    legend = boundary.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["class 0", "class 1", "train"]
    box = legend.get_window_extent(renderer)
    for other in (losses, grads):
        assert not box.overlaps(other.get_tightbbox(renderer)), other.get_title()
    page = fig.bbox
    assert page.x0 <= box.x0 and box.x1 <= page.x1 and page.y0 <= box.y0 and box.y1 <= page.y1
    for leg in (losses.get_legend(), grads.get_legend()):
        assert all(t.get_fontsize() >= 9 for t in leg.get_texts())
