"""Pictures sized for where they are shown (issue 17), measured on rendered SVGs.

At 100% zoom a browser draws one SVG point as 4/3 CSS pixels. The README
picture and the notebooks' graphs must be at most about 1,000 px wide there,
their text at least 10 px high, the legend smaller than the graph, and no text
may run out of its box or off the picture when the browser's font is DejaVu
Sans (wider than the Helvetica metrics Graphviz lays out with).
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import svg_measure as M
from viz_graphs import hand_mlp, needs_dot, neuron

import viz
from engine import Value
from viz.__main__ import main
from viz.style import ROLES

pytest.importorskip("matplotlib")  # DejaVu Sans metrics come from matplotlib's copy of it

ROOT = Path(__file__).resolve().parents[2]
README_ARGS = ["tanh(x1*w1 + x2*w2 + b)", "--set", "x1=2", "x2=0", "w1=-3", "w2=1",
               "b=6.8813735870195432", "--flow"]
MAX_WIDTH_PX = 1000
MIN_TEXT_PX = 10


def assert_readable(svg: str, max_width: float = MAX_WIDTH_PX) -> None:
    """At most ``max_width`` px wide at 100% zoom, text at least 10 px, the legend
    smaller than the graph, no text clipped or out of its box in DejaVu Sans."""
    width, _height = M.size_px(svg)
    assert width <= max_width, f"{width:.0f} px wide"
    assert M.min_text_px(svg) >= MIN_TEXT_PX
    legend, graph = M.areas(svg)
    assert legend < graph, (legend, graph)
    assert M.clipped(svg) == []
    assert M.outside_nodes(svg) == []


def test_makefile_draws_the_readme_picture_with_the_documented_command():
    make = (ROOT / "Makefile").read_text()
    readme = (ROOT / "README.md").read_text()
    assert "notebooks/figures/neuron.svg" in make and "](notebooks/figures/neuron.svg)" in readme
    command = " ".join(f'"{a}"' if " " in a else a for a in README_ARGS)
    assert command in " ".join(make.replace("\\\n", " ").split())


@needs_dot
def test_readme_picture_is_readable_at_the_readme_width(tmp_path):
    assert main([*README_ARGS, "-o", str(tmp_path / "neuron.svg")]) == 0
    svg = (tmp_path / "neuron.svg").read_text()
    assert_readable(svg)
    legend = [t.text for t in M.texts(svg) if t.group == ""]
    assert ROLES["input"]["text"] in legend and ROLES["parameter"]["text"] not in legend
    # the committed figure is the one the command draws today
    committed = (ROOT / "notebooks" / "figures" / "neuron.svg").read_text()
    assert_readable(committed)
    assert M.size_px(committed) == M.size_px(svg)


@needs_dot
@pytest.mark.parametrize("options", [dict(flow=True, table=True), dict(order=True, table=True),
                                     dict(flow=True, shade=True)])
def test_dp_view_and_shading_fit_without_clipping(options):
    out, *_ = neuron()
    out.backward()
    svg = viz.to_svg(out, **options)
    assert_readable(svg, max_width=1.1 * MAX_WIDTH_PX)  # auto direction: an estimate
    if options.get("table"):
        assert M.overlapping(svg, "adjoint_table") == []
        cells = [t.text for t in M.texts(svg) if t.group == "adjoint_table"]
        assert "d root / d node" in cells and "-2.359" in cells


@needs_dot
def test_notebook_graphs_are_readable():
    """The graphs notebooks 2 and 5 draw, built the same way here."""
    nn = pytest.importorskip("nn")
    x, y = Value(2.0, label="x"), Value(3.0, label="y")
    a = x * y
    a.label = "a"
    b = a + x
    b.label = "b"
    L = a * b
    L.label = "L"
    assert_readable(viz.to_svg(L, grads="adjoints", table=True, flow=True))

    small = nn.MLP(2, [3, 3, 1], activation="sigmoid", init="xavier", rng=2)
    loss = nn.bce_with_logits_loss(small([0.3, -1.2]), 1.0)
    loss.backward()
    params = dict(small.named_parameters())
    svg = viz.to_svg(loss, params, flow=True, shade=True, precision=2, collapse="neuron")
    assert_readable(svg)
    deep = nn.MLP(2, [8] * 6 + [1], activation="sigmoid", init="xavier", rng=1)
    loss = nn.bce_with_logits_loss(deep([0.3, -1.2]), 1.0)
    loss.backward()
    graph = viz.draw(loss, dict(deep.named_parameters()), collapse="layer", shade=True,
                     precision=2)
    assert "rankdir=TB" in graph.source  # a long chain of layers: top to bottom by default
    assert_readable(viz.to_svg(graph))


@needs_dot
def test_auto_direction_keeps_a_long_chain_narrow():
    x = Value(0.5, label="x")
    y = x
    for _ in range(12):
        y = (y * 1.1).tanh()
    auto = viz.draw(y)
    assert "rankdir=TB" in auto.source
    assert_readable(viz.to_svg(auto), max_width=MAX_WIDTH_PX)
    wide = viz.to_svg(y, rankdir="LR")
    assert M.size_px(wide)[0] > MAX_WIDTH_PX  # what the default avoids
    out, *_ = neuron()
    assert "rankdir=LR" in viz.draw(out).source  # small graphs stay left to right


@needs_dot
def test_legend_is_compact_and_optional():
    loss, params = hand_mlp(sizes=(2, 2, 1), samples=1)
    loss.backward()
    svg = viz.to_svg(loss, params, flow=True)
    legend = [t.text for t in M.texts(svg) if t.group == ""]
    assert ROLES["parameter"]["text"] in legend and ROLES["group"]["text"] not in legend
    assert len(legend) <= 10
    bare = viz.to_svg(loss, params, flow=True, legend=False)
    assert [t for t in M.texts(bare) if t.group == ""] == []
    assert re.search(r"<svg width=", bare)


@needs_dot
@pytest.mark.parametrize("rankdir", ["TB", "BT", "LR"])
def test_dp_table_is_beside_the_graph(rankdir):
    """The DP view puts the adjoint table to the right of the graph, not under a tall
    top-to-bottom graph (issue 17): its x range right of every node's, y ranges
    overlapping, and nothing clipped in DejaVu Sans."""
    x, w, b = Value(0.5, label="x"), Value(-3.0, label="w"), Value(2.0, label="b")
    out = ((x * w + b).tanh() * (x * x - w).tanh() + x * b).sigmoid()
    out.backward()
    svg = viz.to_svg(out, order=True, table=True, rankdir=rankdir)
    boxes = M.node_boxes(svg)
    tx0, tx1, ty0, ty1 = boxes.pop("adjoint_table")
    assert len(boxes) > 10
    gx1 = max(x1 for _x0, x1, _y0, _y1 in boxes.values())
    gy0 = min(y0 for _x0, _x1, y0, _y1 in boxes.values())
    gy1 = max(y1 for _x0, _x1, _y0, y1 in boxes.values())
    assert tx0 > gx1, (tx0, gx1)                   # right of the whole graph
    assert ty0 < gy1 and gy0 < ty1, (ty0, ty1, gy0, gy1)  # side by side, not under it
    assert M.clipped(svg) == [] and M.overlapping(svg, "adjoint_table") == []
    if rankdir != "LR":  # top to bottom the picture is no taller than the graph and table
        _w, h = M.size_px(svg)
        assert h / M.PX_PER_PT < max(gy1 - gy0, ty1 - ty0) + 150
