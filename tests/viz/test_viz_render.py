"""Rendering with Graphviz's ``dot`` (skipped when it is missing), file output by
suffix, the notebook display, and the error that says how to install Graphviz."""

from __future__ import annotations

import math
import os
import shutil
import subprocess
import time
import xml.etree.ElementTree as ET

import graphviz
import pytest
from viz_graphs import hand_mlp, needs_dot, neuron

import engine
from engine import Value
from viz import GraphvizNotFoundError, Scene, draw, group_of_name, save, to_svg
from viz.render import FORMATS, RenderError, RenderTimeoutError, notebook_bundle, pipe

SVG = "{http://www.w3.org/2000/svg}"


def svg_texts(svg: str) -> list[str]:
    root = ET.fromstring(svg)
    return ["".join(t.itertext()).strip() for t in root.iter(f"{SVG}text")]


@needs_dot
def test_svg_parses_and_shows_every_label_and_number():
    out, x, w, b = neuron()
    out.backward()
    texts = svg_texts(to_svg(out, flow=True, order=True))
    for expected in ("x", "w", "b", "data 0.5", "data -3", "data 2", "data 0.4621",
                     "grad -2.359", "grad 0.3932", "grad 0.7864", "grad 1", "tanh", "*", "+",
                     "#1", "#6", "-2.359", "0.3932"):
        assert expected in texts, expected


@needs_dot
def test_svg_shows_not_computed_before_backward():
    out, *_ = neuron()
    texts = svg_texts(to_svg(out))
    assert texts.count("grad not computed") == 6


@needs_dot
def test_nasty_label_renders_literally():
    nasty = 'q"<>{}|&\\n' + "\nline2 'x'"
    y = Value(1.0, label=nasty) * 2
    texts = svg_texts(to_svg(y))
    assert 'q"<>{}|&\\n' in texts
    assert "line2 'x'" in texts


@needs_dot
@pytest.mark.parametrize(("suffix", "magic"), [(".svg", b"<?xml"), (".png", b"\x89PNG\r\n\x1a\n"),
                                               (".pdf", b"%PDF-")])
def test_save_picks_the_format_from_the_suffix(tmp_path, suffix, magic):
    out, *_ = neuron()
    path = save(out, tmp_path / f"graph{suffix}", flow=True)
    assert path.read_bytes().startswith(magic)
    assert [p.name for p in tmp_path.iterdir()] == [f"graph{suffix}"]  # no temporary left over
    assert oct(path.stat().st_mode & 0o777) == oct(0o666 & ~_umask())


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def test_save_dot_needs_no_graphviz_and_bad_suffix_is_refused(tmp_path):
    out, *_ = neuron()
    path = save(draw(out), tmp_path / "graph.gv")
    assert path.read_text() == draw(out).source
    with pytest.raises(ValueError, match=r"\.svg, \.png, \.pdf"):
        save(out, tmp_path / "graph.xyz")
    with pytest.raises(ValueError, match="unknown format 'bmp2'"):
        save(out, tmp_path / "graph", format="bmp2")
    with pytest.raises(TypeError, match="already drawn"):
        save(draw(out), tmp_path / "graph.svg", flow=True)
    with pytest.raises(FileNotFoundError, match="does not exist"):
        save(out, tmp_path / "missing" / "graph.gv")


def test_missing_dot_keeps_the_source_and_says_how_to_install(monkeypatch, tmp_path):
    out, *_ = neuron()
    out.backward()
    monkeypatch.setenv("PATH", str(tmp_path))  # no dot anywhere
    graph = draw(out, flow=True)
    assert isinstance(graph, graphviz.Digraph)
    assert graph.source.startswith("digraph dagrad {")
    with pytest.raises(GraphvizNotFoundError) as err:
        to_svg(graph)
    msg = str(err.value)
    for hint in ("apt-get install graphviz", "brew install graphviz",
                 "conda install -c conda-forge graphviz"):
        assert hint in msg
    with pytest.raises(GraphvizNotFoundError):
        save(out, tmp_path / "g.png")
    assert not (tmp_path / "g.png").exists()
    bundle = notebook_bundle(graph)
    assert "brew install graphviz" in bundle["text/plain"]
    assert graph.source in bundle["text/plain"]
    monkeypatch.undo()
    if shutil.which("dot"):  # the source written without dot is valid DOT
        subprocess.run(["dot", "-Tsvg"], input=graph.source.encode(), check=True,
                       capture_output=True)


@needs_dot
def test_notebook_display_scrolls_instead_of_clipping():
    out, *_ = neuron()
    graph = draw(out)
    bundle = graph._repr_mimebundle_()
    html = bundle["text/html"]
    assert html.startswith('<div style="max-width:100%;overflow:auto"><svg style="max-width:none"')
    assert "<?xml" not in html and "<!DOCTYPE" not in html
    ET.fromstring(bundle["image/svg+xml"])
    assert list(graph._repr_mimebundle_(include=["image/svg+xml"])) == ["image/svg+xml"]


@needs_dot
def test_collapsed_view_of_a_5000_node_graph_renders():
    loss, params = hand_mlp(sizes=(2, 16, 16, 1), samples=90, seed=1)
    loss.backward()
    scene = Scene(loss, params)
    assert len(scene.order) >= 5000
    graph = draw(loss, params, collapse="neuron", show_ops=False, flow=True, shade=True)
    texts = svg_texts(to_svg(graph))
    names = {group_of_name(name, "neuron") for name in params}
    assert len(names) == 33
    for name in names:
        assert name in texts


@needs_dot
def test_collapsed_view_of_an_nn_model():
    nn = pytest.importorskip("nn")
    model = nn.MLP(2, [4, 4, 1], rng=0)
    loss = (model([0.5, -1.0]) - 1.0) ** 2
    loss.backward()
    params = dict(model.named_parameters())
    texts = svg_texts(to_svg(loss, params, collapse="layer"))
    assert {"layers.0", "layers.1", "layers.2"} <= set(texts)
    texts = svg_texts(to_svg(loss, params, collapse="neuron", cluster="layer"))
    assert "layers.1.neurons.3" in texts and "layers.2" in texts


@needs_dot
def test_jupyter_picks_the_scrolling_html(tmp_path, monkeypatch):
    formatters = pytest.importorskip("IPython.core.formatters")
    out, *_ = neuron()
    data, _meta = formatters.DisplayFormatter().format(draw(out))
    assert "overflow:auto" in data["text/html"]
    assert "image/svg+xml" in data


@needs_dot
def test_drawing_and_rendering_write_no_files(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(tmp_path)
    out, *_ = neuron()
    out.backward()
    graph = draw(out, flow=True, table=True)
    to_svg(graph)
    graph._repr_mimebundle_()
    assert list(tmp_path.iterdir()) == []
    assert capsys.readouterr() == ("", "")


@needs_dot
def test_nan_and_inf_gradients_render():
    x = Value(0.0, label="x")
    y = x.log() * 2 + x.sqrt()  # log(0) = -inf; d/dx = 2/0 + 0.5/0 = inf
    y.backward()
    assert math.isinf(x.grad)
    graph = draw(y, flow=True, shade=True)
    assert "grad inf" in graph.source and "data -inf" in graph.source
    texts = svg_texts(to_svg(graph))
    assert "grad inf" in texts
    z = Value(1.0, label="z")
    w = z * float("nan")
    w.backward()
    src = draw(w, flow=True, shade=True).source
    assert "grad nan" in src and 'label=<nan> color="#8e44ad"' in src


# -- issue 16: pictures are safe whatever the labels and the graph --------------------------

@needs_dot
@pytest.mark.parametrize("escape", ["\\N", "\\G", "\\E", "\\L", "\\l", "\\n", "\\\\"])
def test_graphviz_escapes_in_labels_render_literally(escape):
    label = f"a{escape}b"
    x = Value(1.0, label=label)
    w = Value(2.0)
    y = x * w
    y.backward()
    params = {f"layer{escape}.0.w": w}
    texts = svg_texts(to_svg(y, params, cluster=lambda name: name.split(".")[0], flow=True,
                             table=True))
    assert label in texts  # the value node, not the node's or the graph's name
    assert f"layer{escape}.0.w" in texts  # a parameter name
    assert f"layer{escape}" in texts  # a cluster's label
    assert not any("dagrad" in t or "v0" == t for t in texts)  # \G, \N never expanded


@needs_dot
def test_lone_surrogate_label_is_shown_as_its_code(tmp_path):
    x = Value(1.0, label="a\ud800b")
    y = x * Value(2.0)
    texts = svg_texts(to_svg(y, {"w\udfff": y.parents[1]}))
    assert "a\\ud800b" in texts and "w\\udfff" in texts
    path = save(y, tmp_path / "g.png")
    assert path.read_bytes().startswith(b"\x89PNG")


@needs_dot
def test_save_accepts_every_format_dot_writes(tmp_path):
    out, *_ = neuron()
    out.backward()
    assert save(out, tmp_path / "g.jpg").read_bytes().startswith(b"\xff\xd8\xff")  # JPEG
    assert save(out, tmp_path / "g.JPEG").read_bytes().startswith(b"\xff\xd8\xff")
    assert save(out, tmp_path / "g.gif").read_bytes().startswith(b"GIF8")
    assert save(out, tmp_path / "g.ps").read_bytes().startswith(b"%!PS")
    assert save(out, tmp_path / "g", format="jpg").read_bytes().startswith(b"\xff\xd8\xff")
    assert save(out, tmp_path / "g.json").read_text().lstrip().startswith("{")
    assert ".jpg" in FORMATS and ".svgz" in FORMATS and ".x11" not in FORMATS


@needs_dot
def test_dot_failure_shows_dots_own_message(tmp_path):
    bad = graphviz.Source("digraph { a -> }")
    with pytest.raises(RenderError, match=r"syntax error in line 1"):
        pipe(bad, "svg")
    listed = subprocess.run(["dot", "-T?"], capture_output=True, text=True).stderr
    if "bmp" not in listed.split("one of:")[-1].split():  # in graphviz's list, not in this dot
        out, *_ = neuron()
        with pytest.raises(RenderError, match=r'Format: "bmp" not recognized'):
            save(out, tmp_path / "g.bmp")
        assert list(tmp_path.iterdir()) == []


def test_dot_crash_is_reported_with_the_signal(tmp_path, monkeypatch):
    fake = tmp_path / "dot"
    fake.write_text("#!/bin/sh\necho 'out of memory in mincross' >&2\nkill -SEGV $$\n")
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    out, *_ = neuron()
    with pytest.raises(RenderError) as err:
        to_svg(out)
    msg = str(err.value)
    assert "SIGSEGV" in msg and "out of memory in mincross" in msg
    assert "depth=3" in msg and "collapse='neuron'" in msg


@needs_dot
def test_render_time_limit_stops_dot_with_advice():
    loss, params = hand_mlp(sizes=(2, 8, 8, 1), samples=2)
    loss.backward()
    start = time.perf_counter()
    with pytest.raises(RenderTimeoutError) as err:
        to_svg(loss, params, flow=True, timeout=0.001)
    assert time.perf_counter() - start < 10
    msg = str(err.value)
    assert "within 0.001 s" in msg and "nodes" in msg
    for hint in ("depth=3", "collapse='neuron'", "show_ops=False", "flow=False", "timeout="):
        assert hint in msg
    assert msg.endswith("or allow more time with a larger timeout= (in seconds).")
    assert err.value.reason.endswith("it was stopped.") and "depth=3" not in err.value.reason


@needs_dot
def test_a_hundred_term_sum_renders_in_seconds():
    from viz.expr import parse_expression

    root, leaves = parse_expression("+".join(["x"] * 100), {"x": 1.0})
    root.backward()
    graph = draw(root, flow=True)
    assert "splines=line" in graph.source and "nslimit=1" in graph.source
    start = time.perf_counter()
    texts = svg_texts(to_svg(graph, timeout=60))
    assert time.perf_counter() - start < 60  # was over two minutes
    assert "grad 100" in texts
    small, *_ = neuron()
    assert "splines" not in draw(small, flow=True).source  # small graphs: dot's defaults


def test_many_parallel_edges_become_one_edge_with_the_multiplicity():
    x = Value(2.0, label="x")
    y = engine.sum([x] * 100)
    y.backward()
    src = draw(y).source
    assert src.count("v0 -> o1") == 1 and "label=<&#215;100>" in src
    src = draw(y, flow=True).source
    (line,) = [ln for ln in src.splitlines() if "v0 -> o1" in ln]
    assert "label=<&#215;100: 100>" in line and "id=e1_0" in line  # summed contributions
    x3 = engine.sum([x, x, x])
    assert draw(x3).source.count("v0 -> o1") == 1
    assert draw(x * x).source.count("v0 -> o1") == 2  # two slots: two edges, as drawn before


def test_no_import_circle_between_drawing_and_rendering():
    """viz.dot builds DOT text and shows it in Jupyter through viz.runner; viz.render
    (files) sits above both: a module knows the layers below it, not above."""
    import ast
    from pathlib import Path

    import viz

    def imports(name: str) -> set[str]:
        tree = ast.parse((Path(viz.__file__).parent / name).read_text())
        return {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}

    assert not {"viz.render", "viz.animate"} & imports("dot.py")
    assert not {"viz.dot", "viz.render", "viz.animate"} & imports("runner.py")
