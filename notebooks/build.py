"""Build dagrad's notebooks from their readable sources, execute them, check them.

Each notebook is written as a plain Python file in ``notebooks/src/`` in the
"percent" cell format (as jupytext and VS Code read it)::

    # %% [markdown]
    # # A title
    # Some narrative, every line prefixed with ``# ``.

    # %%
    # %matplotlib inline
    x = 1 + 1

A code line ``# %magic ...`` (one ``%``, as jupytext writes IPython magics in
this format) becomes the magic ``%magic ...`` in the notebook, so sources stay
valid Python. This script turns ``src/NN_name.py`` into ``NN_name.ipynb`` with nbformat,
executes it top to bottom in a fresh ``python3`` kernel with nbclient (in a
temporary working directory, so a notebook writes nothing into the repo), and
stores it with its outputs, one stream output per run of prints (consecutive
``stdout`` chunks merged), so a rebuild of an unchanged source gives the same
bytes. The test suite (``tests/test_notebooks.py``) uses the same functions:
it checks that every committed notebook has exactly the cells of its source,
executes it again and compares every output with the committed one.

A code cell whose output cannot repeat (timings) says so with a line
``# output varies`` (a comment, so it stays in the notebook for readers): its
outputs are stored but not compared.

Usage (from the repository root)::

    .venv/bin/python notebooks/build.py            # build and execute all notebooks
    .venv/bin/python notebooks/build.py 02 04      # only those whose name starts so
    .venv/bin/python notebooks/build.py --check    # committed notebooks == a fresh run?
    .venv/bin/python notebooks/build.py --check --no-run   # only the cells, no execution

NB: the source format is jupytext's ``py:percent``; jupytext is not needed.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from nn.io import atomic_write_text

HERE = Path(__file__).resolve().parent
SRC = HERE / "src"

#: The notebooks, in reading order. A missing or extra notebook is an error.
EXPECTED = (
    "01_derivatives_and_the_value_graph",
    "02_backprop_is_dynamic_programming",
    "03_the_delta_rule",
    "04_training_an_mlp",
    "05_gradient_flow",
    "06_higher_order_and_forward_mode",
    "07_beyond_the_mlp",
    "08_speed",
)

#: Largest output a single cell may store, and a whole notebook (bytes of JSON).
MAX_CELL_OUTPUT = 400_000
MAX_NOTEBOOK = 2_000_000

#: Seconds one cell may run before execution fails.
CELL_TIMEOUT = 300

_MARKER = re.compile(r"^# %%(?P<markdown> \[markdown\])?(?P<title>.*)$")
_VARIES = re.compile(r"^# output varies\b", re.M)
_MAGIC = re.compile(r"^# (?=%[A-Za-z])")


class SourceError(ValueError):
    """A notebook source file is not in the expected ``# %%`` cell format."""


def parse_source(text: str, name: str = "<source>") -> list[tuple[str, str]]:
    """Split a percent-format source into cells.

    Args:
        text: The source text.
        name: The file name, for error messages.

    Returns:
        A list of ``(cell_type, source)`` pairs, ``cell_type`` being ``"code"``
        or ``"markdown"``; markdown lines lose their ``# `` prefix, commented
        magics (``# %matplotlib inline``) are uncommented, and each cell loses
        leading and trailing blank lines.

    Raises:
        SourceError: Text before the first marker, an empty cell, or a
            markdown line that does not start with ``#``.

    >>> parse_source("# %% [markdown]\\n# Hi *there*\\n\\n# %%\\n# %time x = 1\\n")
    [('markdown', 'Hi *there*'), ('code', '%time x = 1')]
    """
    cells: list[tuple[str, list[str], int]] = []
    for lineno, line in enumerate(text.splitlines(), start=1):
        match = _MARKER.match(line)
        if match:
            kind = "markdown" if match["markdown"] else "code"
            cells.append((kind, [], lineno))
        elif not cells:
            if line.strip():
                raise SourceError(f"{name}:{lineno}: text before the first '# %%' marker")
        else:
            cells[-1][1].append(line)
    result = []
    for kind, lines, lineno in cells:
        if kind == "markdown":
            stripped = []
            for offset, line in enumerate(lines, start=1):
                if line.strip() and not line.startswith("#"):
                    raise SourceError(
                        f"{name}:{lineno + offset}: a markdown line must start with '#': {line!r}"
                    )
                stripped.append(line[2:] if line.startswith("# ") else line[1:])
            lines = stripped
        else:
            lines = [_MAGIC.sub("", line) for line in lines]
        body = "\n".join(lines).strip("\n")
        if not body.strip():
            raise SourceError(f"{name}:{lineno}: empty {kind} cell")
        result.append((kind, body))
    if not result:
        raise SourceError(f"{name}: no cells")
    return result


def source_path(name: str) -> Path:
    """The source file of notebook ``name``."""
    return SRC / f"{name}.py"


def notebook_path(name: str) -> Path:
    """The committed ``.ipynb`` of notebook ``name``."""
    return HERE / f"{name}.ipynb"


def make_notebook(name: str) -> Any:
    """An unexecuted ``nbformat`` notebook with the cells of ``src/<name>.py``.

    Cell ids are deterministic (``c01``, ``c02``, ...) so rebuilding an
    unchanged source gives an unchanged file.
    """
    import nbformat

    path = source_path(name)
    cells = parse_source(path.read_text(encoding="utf-8"), str(path))
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {
        "name": "python3", "display_name": "Python 3 (ipykernel)", "language": "python",
    }
    nb.metadata["language_info"] = {"name": "python"}
    for i, (kind, body) in enumerate(cells, start=1):
        new = nbformat.v4.new_markdown_cell if kind == "markdown" else nbformat.v4.new_code_cell
        cell = new(body)
        cell["id"] = f"c{i:02d}"
        nb.cells.append(cell)
    return nb


def execute(nb: Any, workdir: str | os.PathLike[str] | None = None,
            timeout: int = CELL_TIMEOUT) -> Any:
    """Execute ``nb`` top to bottom in a fresh ``python3`` kernel.

    Args:
        nb: An ``nbformat`` notebook (modified in place and returned).
        workdir: The kernel's working directory; a fresh temporary directory
            (removed afterwards) when None, so notebooks write nothing here.
        timeout: Seconds allowed per cell.

    Returns:
        The notebook with outputs.

    Raises:
        nbclient.exceptions.CellExecutionError: A cell raised; the message
            names the cell and shows its traceback.
    """
    from nbclient import NotebookClient

    def run(path: str) -> Any:
        client = NotebookClient(nb, timeout=timeout, kernel_name="python3",
                                record_timing=False, resources={"metadata": {"path": path}},
                                extra_arguments=["--IPKernelApp.log_level=ERROR"])
        return client.execute()

    if workdir is not None:
        return merge_streams(run(os.fspath(workdir)))
    with tempfile.TemporaryDirectory(prefix="dagrad-nb-") as tmp:
        return merge_streams(run(tmp))


def merge_streams(nb: Any) -> Any:
    """Merge consecutive stream outputs of the same name (``stdout``/``stderr``) into
    one, in place: how prints are split into chunks depends on timing, not on
    the notebook, so a rebuild must not depend on it.

    >>> import nbformat
    >>> cell = nbformat.v4.new_code_cell("print(1); print(2)")
    >>> cell.outputs = [nbformat.v4.new_output("stream", name="stdout", text="1\\n"),
    ...                 nbformat.v4.new_output("stream", name="stdout", text="2\\n")]
    >>> nb = nbformat.v4.new_notebook(cells=[cell])
    >>> [o["text"] for o in merge_streams(nb).cells[0].outputs]
    ['1\\n2\\n']
    """
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        merged: list = []
        for out in cell.get("outputs", []):
            last = merged[-1] if merged else None
            if (out.get("output_type") == "stream" and last is not None
                    and last.get("output_type") == "stream"
                    and last.get("name") == out.get("name")):
                last["text"] = _text(last["text"]) + _text(out["text"])
            else:
                merged.append(out)
        cell.outputs = merged
    return nb


def _text(text: str | list[str]) -> str:
    return "".join(text) if isinstance(text, list) else text


def varies(cell: Any) -> bool:
    """Whether a code cell is marked ``# output varies`` (its outputs are not compared)."""
    return cell.cell_type == "code" and bool(_VARIES.search(cell.source))


def _comparable(cell: Any) -> list:
    """A code cell's outputs as compared between runs: text joined, empty metadata dropped."""
    outs = []
    for out in cell.get("outputs", []):
        out = dict(out)
        if "text" in out:
            out["text"] = _text(out["text"])
        if "data" in out:
            out["data"] = {k: _text(v) for k, v in out["data"].items()}
        if not out.get("metadata"):
            out.pop("metadata", None)
        outs.append(out)
    return outs


def compare_outputs(stored: Any, fresh: Any, name: str = "notebook") -> list[str]:
    """Problems where the outputs of ``fresh`` (a new run) differ from ``stored``.

    Cells marked ``# output varies`` are skipped. Each problem names the cell
    and shows where its output first differs.
    """
    problems = []
    pairs = zip(stored.cells, fresh.cells, strict=False)
    for old, new in pairs:
        if old.cell_type != "code" or varies(old):
            continue
        a, b = json.dumps(_comparable(old), sort_keys=True), json.dumps(
            _comparable(new), sort_keys=True)
        if a != b:
            at = next((i for i, (x, y) in enumerate(zip(a, b, strict=False)) if x != y),
                      min(len(a), len(b)))
            problems.append(f"{name}: cell {old.get('id', '?')} output differs from a fresh "
                            f"run at ...{a[max(0, at - 40):at + 40]!r}... vs "
                            f"...{b[max(0, at - 40):at + 40]!r}... (rebuild it, or mark "
                            "the cell '# output varies' if it shows timings)")
    return problems


def check_run(name: str) -> list[str]:
    """Execute notebook ``name`` afresh and compare its outputs with the committed ones
    (:func:`compare_outputs`); plus the problems of :func:`check`."""
    import nbformat

    problems = check(name)
    path = notebook_path(name)
    if not path.exists():
        return problems
    stored = nbformat.read(path, as_version=4)
    fresh = execute(make_notebook(name))
    return problems + compare_outputs(stored, fresh, path.name)


def output_sizes(nb: Any) -> list[tuple[str, int]]:
    """``(cell id, bytes of JSON)`` of every code cell's stored outputs."""
    return [(cell.get("id", "?"), len(json.dumps(cell.get("outputs", []))))
            for cell in nb.cells if cell.cell_type == "code"]


def check(name: str) -> list[str]:
    """Problems with the committed notebook ``name`` (an empty list when it is fine).

    It must exist, have exactly the cells (types and text) of its source, have
    every code cell executed in order, and keep its outputs small.
    """
    import nbformat

    path = notebook_path(name)
    if not path.exists():
        return [f"{path.name}: missing (run: python notebooks/build.py {name[:2]})"]
    stored = nbformat.read(path, as_version=4)
    want = make_notebook(name)
    problems = []
    got = [(c.cell_type, c.source) for c in stored.cells]
    expected = [(c.cell_type, c.source) for c in want.cells]
    if got != expected:
        first = next((i for i, (a, b) in enumerate(zip(got, expected, strict=False)) if a != b),
                     min(len(got), len(expected)))
        problems.append(f"{path.name}: cells differ from src/{name}.py (first at cell "
                        f"{first + 1}; {len(got)} vs {len(expected)} cells); rebuild it")
    counts = [c.get("execution_count") for c in stored.cells if c.cell_type == "code"]
    if counts != list(range(1, len(counts) + 1)):
        problems.append(f"{path.name}: not executed top to bottom (execution counts {counts})")
    for cell_id, size in output_sizes(stored):
        if size > MAX_CELL_OUTPUT:
            problems.append(f"{path.name}: cell {cell_id} stores {size:,} bytes of output "
                            f"(limit {MAX_CELL_OUTPUT:,})")
    total = path.stat().st_size
    if total > MAX_NOTEBOOK:
        problems.append(f"{path.name}: {total:,} bytes (limit {MAX_NOTEBOOK:,})")
    return problems


def build(name: str) -> float:
    """Build, execute and store notebook ``name`` (atomically). Returns the seconds taken."""
    import nbformat

    start = time.perf_counter()
    nb = execute(make_notebook(name))
    text = nbformat.writes(nb)
    atomic_write_text(notebook_path(name), text if text.endswith("\n") else text + "\n")
    return time.perf_counter() - start


def _select(prefixes: list[str]) -> list[str]:
    if not prefixes:
        return list(EXPECTED)
    chosen = [n for n in EXPECTED if any(n.startswith(p) for p in prefixes)]
    unknown = [p for p in prefixes if not any(n.startswith(p) for n in EXPECTED)]
    if unknown:
        raise SystemExit(f"build.py: no notebook starts with {', '.join(unknown)}; "
                         f"known: {', '.join(EXPECTED)}")
    return chosen


def main(argv: list[str] | None = None) -> int:
    """The command line: build (default) or ``--check`` the notebooks."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("names", nargs="*", help="notebook name prefixes (default: all)")
    parser.add_argument("--check", action="store_true",
                        help="check that committed notebooks match their sources and a fresh "
                        "run's outputs (nothing is written)")
    parser.add_argument("--no-run", action="store_true",
                        help="with --check: compare the cells only, without executing")
    args = parser.parse_args(argv)
    names = _select(args.names)
    if args.check:
        checker = check if args.no_run else check_run
        problems = [p for name in names for p in checker(name)]
        for p in problems:
            print(p, file=sys.stderr)
        return 1 if problems else 0
    total = 0.0
    for name in names:
        seconds = build(name)
        total += seconds
        size = notebook_path(name).stat().st_size
        print(f"{name}.ipynb  {seconds:6.1f} s  {size / 1024:7.1f} KiB")
    print(f"total {total:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
