"""The safe expression parser and the ``dagrad-draw`` / ``python -m viz`` command line."""

from __future__ import annotations

import math
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest
from viz_graphs import needs_dot

import engine
from viz.__main__ import main
from viz.expr import ExpressionError, parse_expression

TANH_SLOPE = 1.0 - math.tanh(0.5) ** 2


def test_parse_builds_the_graph_with_named_leaves():
    root, leaves = parse_expression("tanh(x*w + b)", {"x": 0.5, "w": -3, "b": 2})
    assert root.data == pytest.approx(math.tanh(0.5))
    assert root.op.name == "tanh"
    root.backward()
    assert leaves["x"].grad == pytest.approx(-3.0 * TANH_SLOPE)
    assert leaves["w"].label == "w"
    numeric = engine.numerical_grad(lambda x, w, b: (x * w + b).tanh(), [0.5, -3.0, 2.0])
    assert [leaves[k].grad for k in "xwb"] == pytest.approx(numeric, rel=1e-6)


@pytest.mark.parametrize(("text", "expected"), [
    ("x**2 / 4 - -x", 2.25 + 3.0),
    ("+x * 2", 6.0),
    ("sigmoid(0) + relu(-x) + abs(-x) + sqrt(x*3) + exp(0) + log(1) + sin(0) + cos(0)",
     0.5 + 0 + 3 + 3 + 1 + 0 + 0 + 1),
    ("1/0", math.inf),          # the engine's IEEE semantics, not a Python exception
    ("10**400", math.inf),      # floats only: no huge integers
    ("2*3", 6.0),               # constants only: a constant root
])
def test_whitelisted_expressions(text, expected):
    root, _ = parse_expression(text, {"x": 3.0})
    assert root.data == pytest.approx(expected)


def test_deep_expressions_do_not_hit_the_recursion_limit():
    root, leaves = parse_expression("+".join(["x"] * 900), {"x": 1.0})
    root.backward()
    assert root.data == 900.0 and leaves["x"].grad == 900.0
    root, _ = parse_expression("-" * 1999 + "x", {"x": 1.0})
    assert root.data == -1.0
    with pytest.raises(ExpressionError, match="nested"):
        parse_expression("exp(" * 300 + "x" + ")" * 300, {"x": 1.0})


@pytest.mark.parametrize(("text", "message"), [
    ("__import__('os')", "calling '__import__'"),
    ("__import__('os').system('true')", "attribute access"),
    ("x.data", "attribute access"),
    ("x.__class__", "attribute access"),
    ("x[0]", "subscripts"),
    ("(lambda: 1)()", "can be called"),
    ("lambda: 1", "lambda"),
    ("[x for x in (1, 2)]", "comprehensions"),
    ("exp(x=1)", "keyword arguments"),
    ("exp(x, x)", "exactly one argument"),
    ("exp(*[x])", "exactly one argument"),
    ("exp", "is a function"),
    ("'a' * 3", "not a real number"),
    ("True + x", "not a real number"),
    ("1j * x", "not a real number"),
    ("x % 2", "operator Mod"),
    ("x < 2", "comparisons"),
    ("x if x else 1", "if/else"),
    ("(y := 2)", "assignment"),
    ("x +", "not a valid expression"),
    ("import os", "not a valid expression"),
    ("x" * 3000, "more than 2000"),
])
def test_rejected_expressions(text, message):
    with pytest.raises(ExpressionError, match=message.replace("(", r"\(").replace("*", r"\*")):
        parse_expression(text, {"x": 1.0})


def test_unknown_variables_are_all_named():
    with pytest.raises(ExpressionError) as err:
        parse_expression("a*x + b*y", {"x": 1.0})
    assert err.value.unknown == ("a", "b", "y")
    assert "--set" in str(err.value)


@needs_dot
def test_cli_writes_an_svg_with_backward_run(tmp_path, capsys):
    out = tmp_path / "graph.svg"
    code = main(["tanh(x*w + b)", "--set", "x=0.5", "w=-3", "b=2", "-o", str(out), "--flow"])
    assert code == 0
    texts = ["".join(t.itertext()) for t in ET.parse(out).getroot().iter(
        "{http://www.w3.org/2000/svg}text")]
    assert "grad -2.359" in texts and "grad 0.3932" in texts and "grad 0.7864" in texts
    assert "-2.359" in texts  # the edge contribution (--flow)
    assert "wrote" in capsys.readouterr().err


@needs_dot
def test_cli_formats_rankdir_and_stdout(tmp_path, capsys):
    assert main(["x*x", "--set", "x=3", "-o", str(tmp_path / "g.png")]) == 0
    assert (tmp_path / "g.png").read_bytes().startswith(b"\x89PNG")
    assert main(["x*x", "--set", "x=3", "--format", "dot", "--rankdir", "TB"]) == 0
    dot = capsys.readouterr().out
    assert dot.startswith("digraph dagrad") and "rankdir=TB" in dot and "grad 6" in dot
    assert main(["x*x", "--set", "x=3", "-o", str(tmp_path / "steps.html")]) == 0
    assert "<script" in (tmp_path / "steps.html").read_text()


@pytest.mark.parametrize("argv", [
    ["__import__('os')"],
    ["x.__class__", "--set", "x=1"],
    ["x*y", "--set", "x=1"],                          # y unknown
    ["x*2", "--set", "x=abc"],
    ["x*2", "--set", "x"],
    ["x*2", "--set", "exp=1"],
    ["x*2", "--set", "x=1", "x=2"],
    ["x*2", "--set", "x=1", "-o", "graph.xyz"],
    ["x*2", "--set", "x=1", "-o", "graph.svg", "--format", "png"],
    ["x*2", "--rankdir", "sideways"],                 # argparse's own usage error
])
def test_cli_rejects_with_exit_code_2(argv, capsys, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "error" in err
    assert list(tmp_path.iterdir()) == []


def test_cli_expression_starting_with_minus(capsys):
    assert main(["--set", "x=2", "--format", "dot", "--", "-x*3"]) == 0
    src = capsys.readouterr().out
    assert "data -6" in src and "grad -3" in src


def test_cli_names_unknown_variables(capsys):
    assert main(["a*x + b", "--set", "x=1"]) == 2
    assert "unknown variables a, b" in capsys.readouterr().err


def test_cli_missing_dot_exits_1_with_install_hint(capsys, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    assert main(["x*x", "--set", "x=3", "-o", str(tmp_path / "g.svg")]) == 1
    assert "apt-get install graphviz" in capsys.readouterr().err


def test_python_dash_m_viz_subprocess(tmp_path):
    bad = subprocess.run([sys.executable, "-m", "viz", "__import__('os').system('echo hacked')"],
                         capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert bad.returncode == 2
    assert "hacked" not in bad.stdout and "not allowed" in bad.stderr
    good = subprocess.run([sys.executable, "-m", "viz", "x*w", "--set", "x=2", "w=3",
                           "--format", "dot"], capture_output=True, text=True, timeout=60)
    assert good.returncode == 0, good.stderr
    assert "grad 3" in good.stdout and "grad 2" in good.stdout


def test_cli_non_utf8_argument_is_a_clear_error_with_exit_2(tmp_path):
    for argv in ([b"x\xff+1", b"--set", b"x=1", b"--format", b"dot"],
                 [b"x+1", b"--set", b"x=1", b"-o", b"g\xfe.svg"]):
        proc = subprocess.run([sys.executable, "-m", "viz", *argv], capture_output=True,
                              timeout=60, cwd=tmp_path, env={"PYTHONPATH": ":".join(sys.path),
                                                             "LANG": "C.UTF-8"})
        err = proc.stderr.decode("utf-8", "replace")
        assert proc.returncode == 2, err
        assert "is not valid UTF-8 text (byte 0x" in err and "Traceback" not in err
        assert list(tmp_path.iterdir()) == []
    assert main(["x\udcff", "--set", "x=1"]) == 2


@needs_dot
def test_cli_writes_any_format_dot_writes(tmp_path):
    assert main(["x*x", "--set", "x=3", "-o", str(tmp_path / "g.jpg")]) == 0
    assert (tmp_path / "g.jpg").read_bytes().startswith(b"\xff\xd8\xff")
    assert main(["x*x", "--set", "x=3", "--format", "gif", "-o", str(tmp_path / "g.gif")]) == 0
    assert (tmp_path / "g.gif").read_bytes().startswith(b"GIF8")


@needs_dot
def test_cli_time_limit_exits_1_with_advice(tmp_path, capsys):
    code = main(["+".join(["x"] * 40), "--set", "x=1", "--flow", "--timeout", "0.001",
                 "-o", str(tmp_path / "g.svg")])
    assert code == 1
    err = capsys.readouterr().err
    assert "within 0.001 s" in err and "Traceback" not in err
    assert list(tmp_path.iterdir()) == []


@needs_dot
def test_cli_slow_picture_advice_names_the_commands_own_flags(tmp_path, capsys):
    """The advice is complete and in dagrad-draw's flags, not Python's keyword arguments."""
    terms = "+".join(["x"] * 300)
    code = main([terms, "--set", "x=1", "--flow", "--timeout", "0.001",
                 "-o", str(tmp_path / "g.svg")])
    assert code == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("dagrad-draw: error: Graphviz's dot did not finish")
    assert "--no-ops" in err and "leave out --flow" in err
    assert "--timeout SECONDS (more than 0.001)" in err and err.endswith(".")
    for python_only in ("depth=", "collapse=", "params=", "show_ops=", "flow=", "timeout="):
        assert python_only not in err
    assert "Traceback" not in err and list(tmp_path.iterdir()) == []
    # with --no-ops and without --flow, those are no longer suggested
    assert main([terms, "--set", "x=1", "--no-ops", "--timeout", "0.001",
                 "-o", str(tmp_path / "g.svg")]) == 1
    err = capsys.readouterr().err
    assert "--no-ops" not in err and "--flow" not in err and "--timeout SECONDS" in err
    assert main(["x", "--set", "x=1", "--timeout", "0"]) == 2


def test_cli_too_large_animation_names_its_limit_and_flags(tmp_path, capsys):
    terms = "+".join(["exp(x)"] * 280)
    assert main([terms, "--set", "x=1", "-o", str(tmp_path / "g.html")]) == 1
    err = capsys.readouterr().err
    assert "more than dagrad-draw animates (300)" in err and "--no-ops" in err
    assert "max_nodes" not in err and "collapse=" not in err and "Traceback" not in err
