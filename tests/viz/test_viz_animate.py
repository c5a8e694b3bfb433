"""The backward animation: frames replay the DP exactly; the HTML file is
self-contained and works in a real (headless) browser."""

from __future__ import annotations

import html
import json
import math
import os
import re
import shutil
import subprocess

import pytest
from viz_graphs import hand_mlp, needs_dot, neuron

import engine
from engine import Value
from viz import GraphTooLargeError, animate, backward_steps, save_backward_html
from viz.style import CURRENT, fmt

TANH_SLOPE = 1.0 - math.tanh(0.5) ** 2


def test_one_frame_per_node_root_first_and_the_last_frame_is_the_dp_table():
    out, x, w, b = neuron()
    frames = list(backward_steps(out))
    order = engine.topological_order(out)
    assert len(frames) == len(order) == 6
    assert [f.node for f in frames] == list(reversed(order))
    assert [f.step for f in frames] == [1, 2, 3, 4, 5, 6]
    assert frames[0].node is out and frames[0].adjoint == 1.0
    table = engine.adjoints(out)
    assert frames[-1].adjoints == table  # the same loop, the same sums, bit for bit
    assert frames[-1].done == frozenset(order)
    assert x.grad is None  # nothing written into .grad


def test_frames_send_hand_derived_contributions():
    out, x, w, b = neuron()
    frames = list(backward_steps(out))
    tanh_step = frames[0]
    ((n, slot, c),) = tanh_step.sent
    assert slot == 0 and c == pytest.approx(TANH_SLOPE)
    mul_step = next(f for f in frames if f.node.op is not None and f.node.op.name == "mul")
    sent = {p: c for p, _slot, c in mul_step.sent}
    assert sent[x] == pytest.approx(-3.0 * TANH_SLOPE)
    assert sent[w] == pytest.approx(0.5 * TANH_SLOPE)
    assert "sends 0.7864 x 1 = 0.7864 to add" in tanh_step.caption
    assert "x has its final adjoint -2.359" in frames[-1].caption
    assert "leaf" in frames[-1].caption


def test_partial_sums_before_a_node_is_final():
    x = Value(1.0, label="x")
    y = (x * x).exp() + x  # x receives 1 (from +) first, then 2 x e^(x^2) = 2e: 1 + 2e
    frames = list(backward_steps(y))
    first = frames[0]
    assert first.adjoints[x] == 1.0 and x not in first.done
    src = first.graph.source
    assert "grad 1 (partial)" in src
    assert "grad not computed" in src  # x*x is not reached yet
    assert f'fillcolor="{CURRENT["fill"]}"' in src  # the root is highlighted
    assert frames[-1].adjoints[x] == pytest.approx(1 + 2 * math.e) and frames[-1].node is x
    assert frames[-1].adjoints[x] == engine.adjoints(y)[x]


def test_frame_graph_shows_table_and_highlight():
    out, *_ = neuron()
    frames = list(backward_steps(out))
    src = frames[2].graph.source
    (line,) = [ln for ln in src.splitlines() if ln.strip().startswith("v3 [")]  # b, step 3
    assert CURRENT["fill"] in line
    assert "adjoint table (DP)" in src
    assert src.count(CURRENT["fill"]) >= 2  # the node and its row in the table


def test_refuses_a_constant_root_and_huge_graphs():
    with pytest.raises(RuntimeError, match="does not require grad"):
        list(backward_steps(Value(1.0, requires_grad=False) * 2))
    x = Value(1.0)
    y = x
    for _ in range(200):
        y = y * 1.01
    with pytest.raises(GraphTooLargeError):
        backward_steps(y)
    assert len(list(backward_steps(y, max_nodes=None))) == 201


def _frames_json(page: str) -> dict:
    m = re.search(r'<script class="dagrad-frames" type="application/json">(.*?)</script>',
                  page, re.S)
    return json.loads(m.group(1))


@needs_dot
def test_html_has_one_frame_per_node_and_no_external_url(tmp_path):
    out, *_ = neuron()
    path = save_backward_html(out, tmp_path / "steps.html")
    page = path.read_text()
    data = _frames_json(page)
    order = engine.topological_order(out)
    assert len(data["frames"]) == len(order)
    assert sorted(f["node"] for f in data["frames"]) == sorted(f"v{i}" for i in range(6))
    for bad in (r"https?://", r"//cdn", r"\bsrc\s*=", r"<link\b", r"@import", r"url\("):
        assert not re.search(bad, page, re.I), bad
    assert page.count("<svg") == 1 and "<?xml" not in page


@needs_dot
def test_html_escapes_labels(tmp_path):
    x = Value(2.0, label='</script><b>"x"</b>')
    page = save_backward_html(x * x, tmp_path / "steps.html", title="a < b").read_text()
    assert "<title>a &lt; b</title>" in page
    assert page.count("</script>") == page.count("<script")  # the label did not close a tag
    assert _frames_json(page)["rows"][1][2] == '</script><b>"x"</b>'


def _chromium() -> str | None:
    for exe in ("/usr/bin/chromium", shutil.which("chromium"), shutil.which("chromium-browser")):
        if exe and os.access(exe, os.X_OK):
            return exe
    return None


def _dump_dom(exe: str, url: str, profile, *extra: str) -> tuple[str, str]:
    proc = subprocess.run(
        [exe, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run",
         "--disable-dev-shm-usage", f"--user-data-dir={profile}", "--enable-logging=stderr",
         "--v=0", *extra, "--dump-dom", url],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr[-2000:]
    return proc.stdout, proc.stderr


@needs_dot
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: chromium)")
def test_html_works_in_a_real_browser(tmp_path):
    out, x, w, b = neuron()
    path = save_backward_html(out, tmp_path / "steps.html")
    table = engine.adjoints(out)
    order = engine.topological_order(out)
    for hash_ in ("#autostep", "#step=last"):
        dom, log = _dump_dom(_chromium(), path.resolve().as_uri() + hash_, tmp_path / "profile")
        assert not re.search(r"Uncaught|CONSOLE.*(Error|error)", log), log[-2000:]
        assert re.search(r'<pre id="errors"></pre>', dom)  # window.onerror saw nothing
        assert f'data-step="{len(order)}"' in dom  # on the last frame
        if hash_ == "#autostep":  # the page's own next button was clicked to the end
            assert f'data-autostep="{len(order) - 1}"' in dom
        for i, node in enumerate(order):
            cell = re.search(rf'data-adj="v{i}">([^<]*)<', dom).group(1)
            assert cell == fmt(table[node])
        assert "grad -2.359" in html.unescape(dom)  # x's node in the picture, filled in
        assert "not computed" not in dom.split("<tbody>")[1].split("</tbody>")[0]


@needs_dot
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: chromium)")
def test_html_first_frame_in_a_real_browser(tmp_path):
    x = Value(1.0, label="x")
    path = save_backward_html((x * x).exp() + x, tmp_path / "steps.html")
    dom, log = _dump_dom(_chromium(), path.resolve().as_uri() + "#step=1", tmp_path / "profile")
    assert 'data-step="1"' in dom
    assert re.search(r'<tr data-node="v0" class="partial">.*?data-adj="v0">1 \(partial\)<',
                     dom)
    assert re.search(r'<tr data-node="v1" class="unknown">', dom)  # x*x not reached yet
    assert re.search(r'<tr data-node="v3" class="final current">', dom)  # the root


@needs_dot
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: chromium)")
def test_html_play_runs_to_the_last_frame_in_a_real_browser(tmp_path):
    out, *_ = neuron()
    path = save_backward_html(out, tmp_path / "steps.html")
    # virtual time: the page's timer fires as if 30 s had passed, without waiting for them
    dom, log = _dump_dom(_chromium(), path.resolve().as_uri() + "#play", tmp_path / "profile",
                         "--virtual-time-budget=30000")
    assert not re.search(r"Uncaught", log), log[-2000:]
    assert 'data-step="6"' in dom
    assert re.search(r'<button data-k="play"[^>]*>play</button>', dom)  # stopped at the end


def test_last_frame_matches_pytorch_float64():
    torch = pytest.importorskip("torch")
    x = Value(1.0, label="x")
    y = Value(2.0, label="y")
    a = x * y
    b = (a + x).tanh()
    L = a * b + a.exp()
    table = list(backward_steps(L))[-1].adjoints
    tx = torch.tensor(1.0, dtype=torch.float64, requires_grad=True)
    ty = torch.tensor(2.0, dtype=torch.float64, requires_grad=True)
    ta = tx * ty
    ta.retain_grad()
    tb = (ta + tx).tanh()
    tb.retain_grad()
    (ta * tb + ta.exp()).backward()
    for node, tensor in ((x, tx), (y, ty), (a, ta), (b, tb)):
        assert table[node] == pytest.approx(tensor.grad.item(), rel=1e-12)


@needs_dot
def test_html_template_is_filled_in_one_pass(tmp_path):
    x = Value(2.0, label="%DATA%")
    root = (x * x).tanh()
    root.label = "%SVG%"
    page = save_backward_html(root, tmp_path / "steps.html").read_text()
    assert page.count("<svg") == 1  # the root's label did not receive the picture
    assert "<title>Backward pass of %SVG%: 3 steps</title>" in page
    data = _frames_json(page)  # the node labelled %DATA% did not receive the JSON
    assert [r[2] for r in data["rows"]] == ["%SVG%", "mul #2", "%DATA%"]
    assert page.count('{"frames": [') == 1
    assert "%TITLE%" not in page


def test_the_page_template_ships_with_the_package():
    import tomllib
    from importlib import resources
    from pathlib import Path

    from viz.animate import TEMPLATE, fill_template, read_template

    assert resources.files("viz").joinpath("templates", TEMPLATE).is_file()
    text = read_template(TEMPLATE)
    assert {"%TITLE%", "%SVG%", "%DATA%", "%COLOURS%"} == set(re.findall(r"%[A-Z]+%", text))
    with pytest.raises(KeyError, match="%SVG%"):
        fill_template(text, {"TITLE": "t", "DATA": "{}", "COLOURS": ""})
    root = Path(__file__).resolve().parents[2]
    wheel = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["hatch"]["build"][
        "targets"]["wheel"]
    assert "viz" in wheel["packages"] and not wheel.get("exclude")  # hatch ships every file
    assert "templates" not in (root / ".gitignore").read_text()


@needs_dot
def test_html_with_a_lone_surrogate_label(tmp_path):
    x = Value(2.0, label="x\ud800")
    page = save_backward_html(x * x, tmp_path / "steps.html", title="t\udfff").read_text()
    assert "<title>t\\udfff</title>" in page and "x\\ud800" in page


def _viewport_steps(tmp_path, root, name, params=None):
    path = save_backward_html(root, tmp_path / f"{name}.html", params)
    dom, log = _dump_dom(_chromium(), path.resolve().as_uri() + "#autostep",
                         tmp_path / f"profile-{name}", "--window-size=1280,800")
    assert not re.search(r"Uncaught", log), log[-2000:]
    overflow = int(re.search(r'data-overflow-x="([0-9]+)"', dom).group(1))
    return re.search(r'data-inview="([01]*)"', dom).group(1), overflow


@needs_dot
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: chromium)")
def test_current_node_is_in_the_viewport_at_every_step(tmp_path):
    """At 1280x800 the picture starts fitted to its box's width (no horizontal scroll),
    and the current node is inside the viewport at every step."""
    out, *_ = neuron()
    seen, overflow = _viewport_steps(tmp_path, out, "neuron")
    assert seen == "1" * 6 and overflow == 0
    loss, params = hand_mlp(sizes=(3, 4, 2, 1), samples=2, seed=4)
    n = len(engine.topological_order(loss))
    assert n == 60  # a 60-node graph
    seen, overflow = _viewport_steps(tmp_path, loss, "mlp", params)
    assert seen == "1" * n
    assert overflow == 0  # the default view fits the width: nothing cut off at the right


@needs_dot
def test_inline_player_for_jupyter():
    out, *_ = neuron()
    anim = animate(out)
    html_ = anim._repr_html_()
    assert html_.startswith("<!-- player -->") and html_.endswith("<!-- /player -->")
    assert "<html" not in html_ and "<body" not in html_ and "window.__errors" not in html_
    for bad in (r"https?://", r"\bsrc\s*=", r"<link\b", r"@import", r"url\("):
        assert not re.search(bad, html_, re.I), bad
    assert 'id="' not in html_.split("<svg")[0]  # the player's own elements use no ids
    assert html_.count("<svg") == 1 and len(anim.frames) == 6
    assert anim._repr_html_() == animate(out)._repr_html_()  # the same bytes every run
    formatters = pytest.importorskip("IPython.core.formatters")
    data, _meta = formatters.DisplayFormatter().format(anim)
    assert data["text/html"] == html_ and data["text/plain"] == "Animation(6 steps)"


def test_captions_name_nodes_as_the_picture_does():
    x = Value(1.0, label="x")
    y = (x * x).exp() + x
    frames = list(backward_steps(y))
    src = frames[0].graph.source
    for f in frames:
        for name in re.findall(r"\b(\w+) #(\d+)", f.caption):
            assert re.search(rf"<TD>#{name[1]}\b", src)  # the #k is drawn in the picture
        assert not re.search(r"\(v\d+\)|\bv\d+\b", f.caption)
    assert "Step 1 of 4: add #1 has its final adjoint 1" in frames[0].caption
    assert "to exp #2" in frames[0].caption and "to x" in frames[0].caption


@needs_dot
def test_page_colours_come_from_the_style_table(tmp_path):
    from viz.style import PAGE, PARTIAL_FONT

    page = save_backward_html(neuron()[0], tmp_path / "s.html").read_text()
    for colour in (CURRENT["fill"], CURRENT["border"], PARTIAL_FONT, PAGE["unknown"],
                   PAGE["pending"]):
        assert colour in page
    from viz.animate import TEMPLATE, read_template

    assert not re.search(r"#[0-9a-fA-F]{3,6}\b", read_template(TEMPLATE))  # no colour of its own


@needs_dot
@pytest.mark.skipif(_chromium() is None, reason="Chromium is not installed (Debian: chromium)")
def test_two_inline_players_on_one_page_work_apart(tmp_path):
    """As in a notebook with two animation cells: each player finds its own elements."""
    out, *_ = neuron()
    x = Value(2.0, label="x")
    cells = [animate(out)._repr_html_(), animate(x * x)._repr_html_()]
    page = tmp_path / "notebook.html"
    page.write_text("<!DOCTYPE html><html><body>" + "".join(
        f'<div class="cell">{c}</div>' for c in cells) + "</body></html>")
    dom, log = _dump_dom(_chromium(), page.resolve().as_uri(), tmp_path / "profile")
    assert not re.search(r"Uncaught", log), log[-2000:]
    assert re.findall(r'class="counter">([^<]*)<', dom) == ["step 1 / 6", "step 1 / 2"]
    assert len(re.findall(r'<tr data-node="v\d+" class="final current">', dom)) == 2
