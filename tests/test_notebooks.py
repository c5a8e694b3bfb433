"""The notebooks are part of the product: each runs top to bottom in a fresh kernel.

Also checks that exactly the eight expected notebooks are committed and that
each one has the cells of its source in ``notebooks/src/`` (so an edit to one
without rebuilding the other fails). Execution happens in a temporary working
directory, so the notebooks write nothing into the repository.
"""

from __future__ import annotations

import importlib.util
import shutil
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = ROOT / "notebooks"


def _load_builder():
    spec = importlib.util.spec_from_file_location("dagrad_notebook_build", NOTEBOOKS / "build.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


build = _load_builder()


def _need_jupyter() -> None:
    """Skip (with the reason) when the notebook tool chain is not installed."""
    for module in ("nbformat", "nbclient", "ipykernel"):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"{module} is not installed (pip install -e '.[test]')")


def test_exactly_the_expected_notebooks_are_committed():
    committed = sorted(p.stem for p in NOTEBOOKS.glob("*.ipynb"))
    sources = sorted(p.stem for p in (NOTEBOOKS / "src").glob("*.py"))
    assert committed == list(build.EXPECTED)
    assert sources == list(build.EXPECTED)


def test_parse_source_splits_cells_and_strips_markdown_prefix():
    text = ("# %% [markdown]\n# # Title\n#\n# text\n\n# %%\n# %matplotlib inline\nx = 1\n\n"
            "# a comment\ny = 2\n\n# %%\nprint(x)\n")
    assert build.parse_source(text) == [
        ("markdown", "# Title\n\ntext"),
        ("code", "%matplotlib inline\nx = 1\n\n# a comment\ny = 2"),
        ("code", "print(x)"),
    ]


@pytest.mark.parametrize("text, problem", [
    ("x = 1\n# %%\ny = 2\n", "before the first"),
    ("# %% [markdown]\nnot a comment\n", "must start with '#'"),
    ("# %%\n\n# %%\nx = 1\n", "empty code cell"),
])
def test_parse_source_rejects_malformed_sources(text, problem):
    with pytest.raises(build.SourceError, match=problem):
        build.parse_source(text, "nb.py")


def _needs_dot(name: str) -> bool:
    """Whether the notebook renders to a file (inline graphs degrade to DOT text without dot)."""
    source = build.source_path(name).read_text(encoding="utf-8")
    return any(call in source for call in ("save_backward_html(", "to_svg(", "viz.save("))


def test_check_reports_a_notebook_that_differs_from_its_source(tmp_path, monkeypatch):
    _need_jupyter()
    import nbformat

    monkeypatch.setattr(build, "HERE", tmp_path)
    monkeypatch.setattr(build, "SRC", tmp_path / "src")
    (tmp_path / "src").mkdir()
    build.source_path("99_demo").write_text("# %% [markdown]\n# Hi\n\n# %%\nx = 1\n")
    assert build.check("99_demo") == ["99_demo.ipynb: missing (run: python notebooks/build.py 99)"]

    nb = build.make_notebook("99_demo")
    nb.cells[1].execution_count = 1
    nbformat.write(nb, build.notebook_path("99_demo"))
    assert build.check("99_demo") == []

    build.source_path("99_demo").write_text("# %% [markdown]\n# Hi\n\n# %%\nx = 2\n")
    problems = build.check("99_demo")
    assert len(problems) == 1 and "cells differ from src/99_demo.py (first at cell 2" in problems[0]

    nb.cells[1].execution_count = None
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="x" * (build.MAX_CELL_OUTPUT + 1))]
    nbformat.write(nb, build.notebook_path("99_demo"))
    problems = build.check("99_demo")
    assert any("not executed top to bottom" in p for p in problems)
    assert any("bytes of output" in p for p in problems)


@pytest.mark.parametrize("name", build.EXPECTED)
def test_committed_notebook_matches_its_source(name):
    _need_jupyter()
    assert build.check(name) == []


@pytest.mark.parametrize("name", build.EXPECTED)
def test_notebook_runs_top_to_bottom(name, tmp_path):
    _need_jupyter()
    import nbformat
    from nbclient.exceptions import CellExecutionError

    path = build.notebook_path(name)
    if not path.exists():
        pytest.fail(f"{path.name} is missing")
    if shutil.which("dot") is None and _needs_dot(name):
        pytest.skip("Graphviz's dot program is missing and this notebook writes a rendered "
                    "file (apt-get install graphviz)")
    stored = nbformat.read(path, as_version=4)
    nb = nbformat.read(path, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    before = sorted(NOTEBOOKS.rglob("*"))
    try:
        build.execute(nb, workdir=tmp_path)
    except CellExecutionError as error:
        pytest.fail(f"{path.name} failed:\n{error}", pytrace=False)
    counts = [c.execution_count for c in nb.cells if c.cell_type == "code"]
    assert counts == list(range(1, len(counts) + 1))
    assert sorted(NOTEBOOKS.rglob("*")) == before, "the notebook wrote files into notebooks/"
    # the committed outputs are what a fresh run gives (build.py --check): no drift
    assert build.compare_outputs(stored, nb, path.name) == []


def test_check_catches_a_changed_output(tmp_path, monkeypatch):
    _need_jupyter()
    import nbformat

    monkeypatch.setattr(build, "HERE", tmp_path)
    monkeypatch.setattr(build, "SRC", tmp_path / "src")
    monkeypatch.setattr(build, "EXPECTED", ("99_demo",))
    (tmp_path / "src").mkdir()
    build.source_path("99_demo").write_text(
        "# %%\nimport sys\nfor i in range(3):\n    print(i)\n    sys.stdout.flush()\n\n"
        "# %%\n6 * 7\n\n"
        "# %%\n# output varies (a timing)\nimport time\nprint(time.perf_counter())\n")
    build.build("99_demo")
    stored = nbformat.read(build.notebook_path("99_demo"), as_version=4)
    streams = stored.cells[0].outputs
    assert [(o.output_type, o.text) for o in streams] == [("stream", "0\n1\n2\n")]  # one
    assert build.check_run("99_demo") == []  # a fresh run: the same outputs (the timing apart)

    stored.cells[1].outputs[0]["data"]["text/plain"] = "41"
    nbformat.write(stored, build.notebook_path("99_demo"))
    problems = build.check_run("99_demo")
    assert len(problems) == 1 and "cell c02 output differs from a fresh run" in problems[0]
    assert "41" in problems[0] and "42" in problems[0]
    assert build.main(["--check", "99"]) == 1
    assert build.main(["--check", "--no-run", "99"]) == 0  # the cells alone still match
