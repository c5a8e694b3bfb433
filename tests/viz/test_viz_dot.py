"""DOT-source tests: no Graphviz program needed.

The neuron ``tanh(x*w + b)`` at x=0.5, w=-3, b=2 has n = 0.5, out = tanh(0.5) =
0.46211715726, and d out / d n = 1 - tanh(0.5)^2 = 0.78644773296, so (by hand)
dL/db = 0.7864, dL/dw = x * 0.7864 = 0.3932, dL/dx = w * 0.7864 = -2.359.
Topological order: x=v0, w=v1, x*w=v2, b=v3, n=v4, out=v5.
"""

from __future__ import annotations

import math
import re

import pytest
from viz_graphs import hand_mlp, neuron

import engine
from engine import Value
from engine.ops import Op
from viz import GraphTooLargeError, Scene, draw, group_of_name
from viz.style import EDGE, ROLES, SHADE, STALE_FONT, edge_style, esc, fmt

TANH_SLOPE = 1.0 - math.tanh(0.5) ** 2  # 0.78644773296


def node_line(src: str, name: str) -> str:
    (line,) = [ln for ln in src.splitlines() if ln.strip().startswith(f"{name} [")]
    return line


def edge_line(src: str, eid: str) -> str:
    (line,) = [ln for ln in src.splitlines() if re.search(rf"\bid={eid}\b", ln) and "->" in ln]
    return line


def legend(src: str) -> str:
    """The legend: the graph's own label, set on the last line of the DOT text."""
    (line,) = [ln for ln in src.splitlines() if ln.strip().startswith("graph [label=")]
    return line


def edge_label(src: str, eid: str) -> str | None:
    m = re.search(r"label=<([^>]*)>", edge_line(src, eid))
    return m and m.group(1)


def test_before_backward_grads_show_not_computed_never_zero():
    out, *_ = neuron()
    src = draw(out).source
    for i in (0, 1, 3, 4, 5):
        assert "grad not computed" in node_line(src, f"v{i}")
    assert "grad 0" not in src
    assert "data 0.5" in node_line(src, "v0") and "data -3" in node_line(src, "v1")
    assert "<B>x</B>" in node_line(src, "v0")
    assert "data 0.4621" in node_line(src, "v5")


def test_after_backward_nodes_show_hand_derived_grads():
    out, x, w, b = neuron()
    out.backward()
    src = draw(out).source
    assert "grad -2.359" in node_line(src, "v0")   # w * (1 - tanh^2)
    assert "grad 0.3932" in node_line(src, "v1")   # x * (1 - tanh^2)
    assert "grad 0.7864" in node_line(src, "v3")
    assert "grad 1<" in node_line(src, "v5") or "grad 1</TD>" in node_line(src, "v5")
    assert x.grad == pytest.approx(-3.0 * TANH_SLOPE)


def test_constants_have_no_grad_and_the_constant_colour():
    x = Value(2.0, label="x")
    y = x * 3.0
    y.backward()
    src = draw(y).source
    line = node_line(src, "v1")
    assert "data 3" in line and "grad" not in line
    assert ROLES["constant"]["fill"] in line
    assert 'style=dashed' in edge_line(src, "e2_1")


def test_roles_colour_the_nodes():
    p = Value(1.5)
    x = Value(2.0, label="x")
    y = p * x
    src = draw(y, {"layer.w": p}).source
    assert ROLES["parameter"]["fill"] in node_line(src, "v0")
    assert ROLES["input"]["fill"] in node_line(src, "v1")
    assert ROLES["root"]["fill"] in node_line(src, "v2")
    z = (p * x).exp()
    assert ROLES["intermediate"]["fill"] in node_line(draw(z).source, "v2")


def test_legend_lists_exactly_the_kinds_present():
    out, *_ = neuron()
    out.backward()
    text = legend(draw(out, flow=True).source)
    for role in ("input", "intermediate", "root"):
        assert ROLES[role]["text"] in text
    for role in ("parameter", "constant", "group"):  # none in the neuron
        assert ROLES[role]["text"] not in text
    assert "positive flow" in text and "negative flow" in text
    assert "dashed: no gradient" not in text and "zero flow" not in text
    assert ">op<" in text and "#k" not in text and "|grad|" not in text
    assert "graph [label=" not in draw(out, legend=False).source
    p = Value(1.5)
    y = p * 3.0  # a parameter and a constant; no flow: no edge colours explained
    y.backward()
    text = legend(draw(y, {"w": p}, show_ops=False).source)
    assert ROLES["parameter"]["text"] in text and ROLES["constant"]["text"] in text
    assert "dashed: no gradient" in text and "flow" not in text and ">op<" not in text
    assert ROLES["input"]["text"] not in text and ROLES["intermediate"]["text"] not in text


def test_params_names_found_by_identity_not_by_value():
    w = Value(-3.0)
    twin = Value(-3.0)
    y = w * twin
    src = draw(y, params={"layers.0.neurons.0.w.0": w}).source
    assert "<B>layers.0.neurons.0.w.0</B>" in node_line(src, "v0")
    assert "<B>" not in node_line(src, "v1")
    # the pairs of named_parameters() work as well as the dict
    assert draw(y, params=[("a", w)]).source.count("<B>a</B>") == 1


def test_params_must_be_values():
    y = Value(1.0) * 2
    with pytest.raises(TypeError, match=r"params\['w'\] is a float"):
        draw(y, params={"w": 1.0})
    with pytest.raises(TypeError, match="expected a Value"):
        draw(3.0)


def test_left_to_right_by_default_top_to_bottom_on_request_and_no_size():
    out, *_ = neuron()
    assert "rankdir=LR" in draw(out).source
    src = draw(out, rankdir="TB").source
    assert "rankdir=TB" in src
    assert not re.search(r"\bsize=", src)
    with pytest.raises(ValueError, match="rankdir"):
        draw(out, rankdir="sideways")


def test_op_nodes_are_small_and_separate():
    out, *_ = neuron()
    src = draw(out).source
    assert "label=<*>" in node_line(src, "o2")
    assert "label=<+>" in node_line(src, "o4")
    assert "label=<tanh>" in node_line(src, "o5")
    assert "o2 -> v2" in src and "v0 -> o2" in src and "v1 -> o2" in src


def test_user_defined_primitive_shows_its_own_symbol():
    scale = Op("scale3", "x3<&>", 1, lambda x: 3.0 * x, lambda m, out, x: (3.0,))
    y = engine.apply(scale, Value(1.0))
    y.backward()
    src = draw(y).source
    assert "label=<x3&lt;&amp;&gt;>" in node_line(src, "o1")
    assert "grad 3" in node_line(src, "v0")


def test_flow_labels_edges_with_hand_derived_contributions():
    out, *_ = neuron()
    out.backward()
    src = draw(out, flow=True).source
    assert edge_label(src, "e5_0") == "0.7864"   # n -> tanh: (1 - tanh^2) * 1
    assert edge_label(src, "e4_0") == "0.7864"   # x*w -> +
    assert edge_label(src, "e4_1") == "0.7864"   # b -> +
    assert edge_label(src, "e2_0") == "-2.359"   # x -> *: w * 0.7864
    assert edge_label(src, "e2_1") == "0.3932"   # w -> *: x * 0.7864
    # colour by sign, width by magnitude: x's edge carries the largest |contribution|
    assert EDGE["negative"][1] in edge_line(src, "e2_0")
    assert "penwidth=4.5" in edge_line(src, "e2_0")
    pen = lambda eid: float(re.search(r"penwidth=([\d.]+)", edge_line(src, eid)).group(1))  # noqa: E731
    assert pen("e2_1") < pen("e5_0") < pen("e2_0")
    assert edge_style(0.3932, 2.359)["color"] in edge_line(src, "e2_1")


def test_contributions_sum_to_each_adjoint_and_match_finite_differences():
    out, x, w, b = neuron()
    out.backward()
    scene = Scene(out)
    into: dict[Value, float] = {}
    for node in scene.order:
        for p, c in zip(node.parents, scene.contributions(node, None), strict=True):
            if c is not None:
                into[p] = into.get(p, 0.0) + c
    for node, total in into.items():
        assert total == pytest.approx(node.grad, rel=1e-12)
    numeric = engine.numerical_grad(lambda x, w, b: (x * w + b).tanh(), [0.5, -3.0, 2.0])
    assert [into[x], into[w], into[b]] == pytest.approx(numeric, rel=1e-6)


def test_flow_without_backward_leaves_edges_plain_and_adjoints_mode_computes_them():
    out, x, *_ = neuron()
    src = draw(out, flow=True).source
    assert edge_label(src, "e2_0") is None
    src = draw(out, flow=True, grads="adjoints").source
    assert edge_label(src, "e2_0") == "-2.359"
    assert "grad -2.359" in node_line(src, "v0")
    assert x.grad is None  # adjoints mode does not touch .grad


def test_grads_from_a_mapping():
    out, x, *_ = neuron()
    src = draw(out, grads={x: 42.0}).source
    assert "grad 42" in node_line(src, "v0")
    assert "grad not computed" in node_line(src, "v1")
    with pytest.raises(ValueError, match="grads must be"):
        draw(out, grads="everything")


def test_shade_fills_by_abs_grad():
    out, *_ = neuron()
    out.backward()
    src = draw(out, shade=True).source
    assert f'fillcolor="{SHADE[1]}"' in node_line(src, "v0")  # |-2.359| is the largest
    assert f'fillcolor="{SHADE[1]}"' not in node_line(src, "v1")
    text = legend(src)
    assert "fill: |grad|" in text
    # shading replaced the role fills: the roles keep their borders, drawn on white
    assert f'BGCOLOR="#ffffff" COLOR="{ROLES["input"]["border"]}"' in text
    assert ROLES["input"]["fill"] not in text and ROLES["root"]["fill"] not in text


def test_order_numbers_follow_the_backward_order():
    out, *_ = neuron()
    src = draw(out, order=True).source
    backward = list(reversed(engine.topological_order(out)))
    assert len(backward) == 6
    # root first; every node's number is larger than all of its consumers' numbers
    expected = {5: 1, 4: 2, 3: 3, 2: 4, 1: 5, 0: 6}
    for i, k in expected.items():
        assert re.search(rf"<TD>#{k}\b", node_line(src, f"v{i}"))  # the node's first line
    assert "<TD>#" not in draw(out).source


def test_table_lists_adjoints_in_backward_order():
    out, *_ = neuron()
    out.backward()
    src = draw(out, table=True).source
    table = node_line(src, "adjoint_table")
    rows = re.findall(r"<TR><TD>#(\d+)</TD><TD ALIGN=\"LEFT\">([^<]*)</TD>"
                      r"<TD ALIGN=\"RIGHT\">([^<]*)</TD></TR>", table)
    assert [r[0] for r in rows] == ["1", "2", "3", "4", "5", "6"]
    assert rows[0][2] == "1" and rows[-1] == ("6", "x", "-2.359")
    assert ("3", "b", "0.7864") in rows
    assert "rank=sink" in src


def test_nasty_labels_are_escaped():
    nasty = 'q"<>{}|&\\n' + "\nline2\x07"
    y = Value(1.0, label=nasty) * 2
    src = draw(y).source
    line = node_line(src, "v0")
    # a backslash is doubled in DOT (Graphviz reads \\ as one backslash)
    assert "q&quot;&lt;&gt;{}|&amp;\\\\n<BR/>line2\\\\x07" in line
    assert esc("a'b") == "a&#39;b"
    assert "\x07" not in src


def test_two_builds_give_identical_text():
    def build():
        loss, params = hand_mlp(samples=2, seed=3)
        loss.backward()
        return draw(loss, params, flow=True, order=True, table=True, shade=True).source
    a, b = build(), build()
    assert a == b
    assert "id(" not in a and not re.search(r"\b\d{9,}\b", a)


def test_max_nodes_error_suggests_smaller_views():
    loss, params = hand_mlp(sizes=(2, 8, 8, 1), samples=3)
    n = Scene(loss, params).count()
    with pytest.raises(GraphTooLargeError) as err:
        draw(loss, params, max_nodes=n - 1)
    msg = str(err.value)
    assert f"{n:,} nodes" in msg
    for hint in ("collapse='neuron'", "depth=", "show_ops=False", "max_nodes"):
        assert hint in msg
    assert draw(loss, params, max_nodes=n).source
    assert draw(loss, params, max_nodes=None).source


def test_group_names_from_parameter_names():
    assert group_of_name("layers.0.neurons.3.w.1", "neuron") == "layers.0.neurons.3"
    assert group_of_name("layers.0.neurons.3.w.1", "layer") == "layers.0"
    assert group_of_name("layers.2.weight", "neuron") == "layers.2"
    assert group_of_name("encoder.layers.1.attn.q", "layer") == "encoder.layers.1"
    with pytest.raises(ValueError, match="neuron"):
        group_of_name("a.b", "block")


def test_collapse_draws_each_neuron_as_one_node():
    loss, params = hand_mlp(sizes=(2, 3, 1), samples=2)
    loss.backward()
    src = draw(loss, params, collapse="neuron").source
    groups = re.findall(r"^\s*(g\d+) \[label=<<TABLE.*?<B>([^<]*)</B>", src, re.M)
    assert [g[1] for g in groups] == ["4 constants", "layers.0.neurons.0", "layers.0.neurons.1",
                                     "layers.0.neurons.2", "layers.1.neurons.0"]
    assert "layers.0.neurons.0.w.0" not in src
    # the 2 samples' 2 inputs each feed only the hidden neurons: one bundled node
    assert "inputs of layers.0.neurons.0 ... layers.0.neurons.2 (3 groups)" in src
    for j in range(1, 4):
        assert len(re.findall(rf"\bg0 -> g{j}\b", src)) == 1
    assert "3 parameters, 4 ops" in src  # 2 samples x (dot + relu)
    assert "4 parameters, 2 ops" in src  # output neuron: 3 w + b; 2 samples x dot
    # every hidden neuron feeds the output neuron once (edges between groups deduplicated)
    for j in range(1, 4):
        assert len(re.findall(rf"\bg{j} -> g4\b", src)) == 1
    assert Scene(loss, params, collapse="neuron").count() < Scene(loss, params).count()


def test_collapse_by_layer_and_clusters():
    loss, params = hand_mlp(sizes=(2, 3, 1), samples=1)
    src = draw(loss, params, collapse="layer").source
    assert re.findall(r"<B>(layers\.\d)</B>", src) == ["layers.0", "layers.1"]
    src = draw(loss, params, cluster="layer").source
    assert "subgraph cluster_0" in src and "label=<layers.0>" in src
    assert "<B>layers.0.neurons.2.b</B>" in src  # members still drawn, inside the box
    src = draw(loss, params, collapse="neuron", cluster="layer").source
    assert "subgraph cluster_1" in src and "<B>layers.1.neurons.0</B>" in src
    with pytest.raises(ValueError, match="needs params"):
        draw(loss, collapse="neuron")
    src = draw(loss, params, collapse=lambda name: name.split(".")[0]).source
    assert "<B>layers</B>" in src


def test_collapse_keeps_the_loss_outside_the_groups():
    loss, params = hand_mlp(sizes=(2, 2, 1), samples=1)
    scene = Scene(loss, params, collapse="neuron")
    assert loss not in scene.group and loss.parents[0] not in scene.group  # (out - 1)**2
    out = loss.parents[0].parents[0].parents[0]  # the output neuron's dot
    assert scene.group[out] == "layers.1.neurons.0"


def test_depth_limit_keeps_nodes_near_the_root():
    out, *_ = neuron()
    src = draw(out, depth=1).source
    assert "v5 [" in src and "v4 [" in src and "v3 [" not in src and "v0 [" not in src
    assert "dashed" in node_line(src, "v4")  # its inputs are hidden
    assert "dashed border: inputs hidden" in legend(src)
    assert Scene(out, depth=0).count() == 2  # the root and its op node
    with pytest.raises(ValueError, match="depth"):
        draw(out, depth=-1)


def test_hide_ops():
    out, *_ = neuron()
    out.backward()
    src = draw(out, show_ops=False, flow=True).source
    assert not re.search(r"^\s*o\d+ \[", src, re.M)
    assert "<I>tanh</I>" in node_line(src, "v5")
    assert "v4 -> v5" in src and edge_label(src, "e5_0") == "0.7864"
    assert Scene(out, show_ops=False).count() == 6


def test_multiple_roots_and_shared_nodes():
    x = Value(3.0, label="x")
    y = x * x   # two edges from x, one per operand slot
    src = draw(y).source
    assert src.count("v0 -> o1") == 2
    z = x + 1
    both = draw([y, z]).source
    assert both.count(ROLES["root"]["fill"]) >= 2


def test_identical_text_across_processes_and_hash_seeds(tmp_path):
    import os
    import subprocess
    import sys

    script = (
        "import sys; sys.path.insert(0, sys.argv[1])\n"
        "from viz_graphs import hand_mlp\n"
        "from viz import draw\n"
        "loss, params = hand_mlp(sizes=(2, 3, 2, 1), samples=3, seed=5)\n"
        "loss.backward()\n"
        "print(draw(loss, params, flow=True, table=True, shade=True).source)\n"
        "print(draw(loss, params, collapse='neuron', cluster='layer', flow=True).source)\n"
        "print(draw(loss, params, depth=4, show_ops=False).source)\n"
    )
    here = os.path.dirname(__file__)
    outs = []
    for seed in ("0", "12345"):
        env = {**os.environ, "PYTHONHASHSEED": seed}
        proc = subprocess.run([sys.executable, "-c", script, here], capture_output=True,
                              text=True, env=env, check=True, timeout=60)
        outs.append(proc.stdout)
    assert outs[0] == outs[1] and "subgraph cluster_0" in outs[0]


def test_every_colour_comes_from_the_style_table():
    from pathlib import Path

    import viz

    folder = Path(viz.__file__).parent
    for name in ("dot.py", "animate.py", "plots.py", "render.py", "runner.py", "__main__.py",
                 "templates/backward.html"):
        text = (folder / name).read_text()
        colours = re.findall(r"(?<![&\w])#[0-9a-fA-F]{3}(?:[0-9a-fA-F]{3})?\b", text)
        assert colours == [], (name, colours)
    assert re.findall(r'"#[0-9a-fA-F]{6}"', (folder / "style.py").read_text())


def test_params_may_be_the_model_itself():
    nn = pytest.importorskip("nn")
    model = nn.MLP(2, [2, 1], rng=0)
    y = model([0.5, -1.0])
    by_model = draw(y, params=model).source
    assert by_model == draw(y, params=dict(model.named_parameters())).source
    assert "<B>layers.0.neurons.1.w.0</B>" in by_model
    for bad in (3.0, "w", Value(1.0)):
        with pytest.raises(TypeError, match=r"a model \(its named_parameters\(\) are used\)"):
            draw(y, params=bad)


def test_stale_gradients_are_marked_not_shown_as_fresh():
    """After backward(); opt.step(), the next forward pass's picture must not mix last
    step's parameter gradients with this graph's 'not computed' as if both were current."""
    w = Value(2.0, label="w")
    x = Value(3.0, label="x", requires_grad=False)
    loss = (w * x).tanh()
    loss.backward()
    w.data -= 0.1 * w.grad  # opt.step()
    stale = w.grad
    loss2 = (w * x).tanh()  # the next forward pass: backward not run yet
    src = draw(loss2).source
    assert f"grad {fmt(stale)} (stale)" in node_line(src, "v0")
    assert STALE_FONT in node_line(src, "v0")
    assert "grad not computed" in node_line(src, "v3")  # the new root
    assert "stale" in legend(src)
    fresh = draw(loss2, grads="adjoints").source  # this graph's own adjoints
    assert "(stale)" not in fresh and "stale" not in legend(fresh)
    loss2.backward()
    w.grad = None
    loss2.backward()  # .grad of this graph now: fresh
    src = draw(loss2).source
    assert "(stale)" not in src and "stale" not in legend(src)
    assert f"grad {fmt(w.grad)}<" in node_line(src, "v0") or \
        f"grad {fmt(w.grad)}</TD>" in node_line(src, "v0")


def test_a_signed_zero_is_shown_as_0_in_pictures_tables_and_captions():
    """The DP starts its sums at -0.0 (IEEE signed zeros); pictures show a zero as "0"."""
    from viz import backward_steps
    from viz.expr import parse_expression

    root, leaves = parse_expression("x*0*-1", {"x": -1.0})
    root.backward()
    assert math.copysign(1.0, leaves["x"].grad) == -1.0     # the engine keeps -0.0
    source = draw(root, flow=True, order=True, table=True).source
    texts = re.findall(r"-0(?![.\d])", source.replace("&#45;", "-"))
    assert texts == [], source
    assert "grad 0" in source
    for frame in backward_steps(root):
        assert not re.search(r"-0(?![.\d])", frame.caption), frame.caption
        assert not re.search(r"-0(?![.\d])", frame.graph.source), frame.graph.source
