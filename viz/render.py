"""Running Graphviz: SVG text, files by suffix, notebook display, and a clear error
when the ``dot`` program is missing.

:func:`to_svg` and :func:`save` accept a ``Value`` (drawn with :func:`viz.draw`
and its options) or a graph already drawn. Files are written atomically (a
temporary file in the same folder, then a rename), so an interrupted run
never leaves half a picture. Without the ``dot`` program, :func:`viz.draw`
still works (its ``.source`` is valid DOT); rendering raises
:class:`GraphvizNotFoundError`, which says how to install Graphviz.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path

import graphviz

from engine import Value

#: The formats :func:`save` writes, by file suffix (``.dot``/``.gv`` need no Graphviz).
FORMATS = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".dot": "dot", ".gv": "dot"}

INSTALL_HINT = (
    "Graphviz's `dot` program is needed to render graphs but was not found on PATH. "
    "Install it with:\n"
    "  Debian/Ubuntu: sudo apt-get install graphviz\n"
    "  macOS:         brew install graphviz\n"
    "  conda:         conda install -c conda-forge graphviz\n"
    "(the Python package `graphviz` alone is not enough). The DOT text is still "
    "available as draw(...).source."
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not installed; the message says how to install it."""


def pipe(graph: graphviz.Digraph, fmt: str) -> bytes:
    """Render ``graph`` with Graphviz to ``fmt`` (``svg``, ``png``, ``pdf``) bytes.

    Args:
        graph: A drawn graph.
        fmt: A Graphviz output format.

    Returns:
        The rendered bytes.

    Raises:
        GraphvizNotFoundError: The ``dot`` program is missing.
        RuntimeError: ``dot`` failed (its message is included).
    """
    if fmt == "dot":
        return graph.source.encode("utf-8")
    try:
        return graph.pipe(format=fmt)
    except graphviz.ExecutableNotFound as exc:
        raise GraphvizNotFoundError(INSTALL_HINT) from exc
    except graphviz.CalledProcessError as exc:
        err = exc.stderr.decode("utf-8", "replace") if isinstance(exc.stderr, bytes) else exc.stderr
        raise RuntimeError(f"Graphviz's dot failed to render {fmt}: {err}".strip()) from exc


def _graph(what: Value | graphviz.Digraph, params, kwargs: dict) -> graphviz.Digraph:
    if isinstance(what, (graphviz.Digraph, graphviz.Graph, graphviz.Source)):
        if params is not None or kwargs:
            raise TypeError("drawing options apply to a Value, not to a graph already drawn")
        return what
    from viz.dot import draw

    return draw(what, params, **kwargs)


def to_svg(what: Value | graphviz.Digraph, params=None, **kwargs) -> str:
    """The picture as SVG text.

    Args:
        what: A ``Value`` to draw, or a graph from :func:`viz.draw`.
        params: Parameter names, as for :func:`viz.draw`.
        **kwargs: Options of :func:`viz.draw`.

    Returns:
        The SVG document.

    Raises:
        GraphvizNotFoundError: The ``dot`` program is missing.
    """
    return pipe(_graph(what, params, kwargs), "svg").decode("utf-8")


def save(what: Value | graphviz.Digraph, path: str | os.PathLike, params=None, *,
         format: str | None = None, **kwargs) -> Path:  # noqa: A002 (graphviz's name)
    """Write the picture to ``path``, as SVG, PNG or PDF chosen by its suffix.

    ``.dot`` and ``.gv`` write the DOT text (no Graphviz needed).

    Args:
        what: A ``Value`` to draw, or a graph from :func:`viz.draw`.
        path: The file to write; its suffix picks the format.
        params: Parameter names, as for :func:`viz.draw`.
        format: Override the suffix (``"svg"``, ``"png"``, ``"pdf"``, ``"dot"``).
        **kwargs: Options of :func:`viz.draw`.

    Returns:
        The path written.

    Raises:
        ValueError: The suffix (or ``format``) is not one of ``.svg .png .pdf .dot .gv``.
        GraphvizNotFoundError: The ``dot`` program is missing.
    """
    path = Path(path)
    if format is None:
        fmt = FORMATS.get(path.suffix.lower())
        if fmt is None:
            raise ValueError(f"save: cannot tell the format from {str(path)!r}: use a file "
                             f"ending in {', '.join(FORMATS)} (or pass format=)")
    else:
        fmt = format.lower().lstrip(".")
        if fmt not in set(FORMATS.values()):
            raise ValueError(f"save: unknown format {format!r}; choose svg, png, pdf or dot")
    data = pipe(_graph(what, params, kwargs), fmt)
    write_atomic(path, data)
    return path


def write_atomic(path: str | os.PathLike, data: bytes) -> None:
    """Write ``data`` to ``path`` through a temporary file and a rename (permissions
    as a plain ``open`` would give, from the umask).

    Raises:
        FileNotFoundError: The folder of ``path`` does not exist.
    """
    path = Path(path)
    folder = path.parent if str(path.parent) else Path(".")
    if not folder.is_dir():
        raise FileNotFoundError(f"cannot write {str(path)!r}: folder {str(folder)!r} "
                                "does not exist")
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)


def inline_svg(svg: str) -> str:
    """SVG text ready to sit inside HTML: no XML prolog, DOCTYPE or comments, and no
    ``max-width`` limit (so a wide graph scrolls instead of shrinking)."""
    svg = _PROLOG.sub("", svg, count=1)
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.replace("<svg ", '<svg style="max-width:none" ', 1)


def notebook_bundle(graph: graphviz.Digraph, include=None, exclude=None) -> dict[str, str]:
    """The Jupyter display of a graph: SVG in a ``<div>`` that scrolls when wide.

    Without ``dot``, a plain-text message with install instructions and the DOT source.
    """
    try:
        svg = pipe(graph, "svg").decode("utf-8")
    except GraphvizNotFoundError as exc:
        return {"text/plain": f"{exc}\n\n{graph.source}"}
    bundle = {
        "text/html": '<div style="max-width:100%;overflow:auto">' + inline_svg(svg) + "</div>",
        "image/svg+xml": svg,
    }
    if include is not None:
        bundle = {k: v for k, v in bundle.items() if k in set(include)}
    if exclude is not None:
        bundle = {k: v for k, v in bundle.items() if k not in set(exclude)}
    return bundle
