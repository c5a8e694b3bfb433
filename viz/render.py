"""Running Graphviz: SVG text, files by suffix, notebook display, and a clear error
when the ``dot`` program is missing.

:func:`to_svg` and :func:`save` accept a ``Value`` (drawn with :func:`viz.draw`
and its options) or a graph already drawn. Files are written atomically
(:func:`nn.io.atomic_write`: a temporary file in the same folder, fsync, then a
rename), so an interrupted run never leaves half a picture. Without the
``dot`` program, :func:`viz.draw` still works (its ``.source`` is valid DOT);
rendering raises
:class:`GraphvizNotFoundError`, which says how to install Graphviz.
"""

from __future__ import annotations

import os
from pathlib import Path

import graphviz

from engine import Value
from viz.dot import draw
from viz.runner import (  # noqa: F401 (the public names of rendering live here too)
    INSTALL_HINT,
    RENDER_TIMEOUT,
    WRITABLE,
    GraphvizNotFoundError,
    RenderError,
    RenderTimeoutError,
    inline_svg,
    notebook_bundle,
    pipe,
)

#: The formats :func:`save` writes, by file suffix: every format Graphviz's ``dot``
#: writes (``.svg .png .pdf .jpg .jpeg .gif .ps .eps .json ...``); ``.dot`` and ``.gv``
#: are the DOT text itself (no Graphviz needed).
FORMATS = {f".{fmt}": fmt for fmt in sorted(WRITABLE)} | {".dot": "dot", ".gv": "dot"}


def _graph(what: Value | graphviz.Digraph, params, kwargs: dict) -> graphviz.Digraph:
    if isinstance(what, (graphviz.Digraph, graphviz.Graph, graphviz.Source)):
        if params is not None or kwargs:
            raise TypeError("drawing options apply to a Value, not to a graph already drawn")
        return what
    return draw(what, params, **kwargs)


def to_svg(what: Value | graphviz.Digraph, params=None, *,
           timeout: float | None = RENDER_TIMEOUT, **kwargs) -> str:
    """The picture as SVG text.

    Args:
        what: A ``Value`` to draw, or a graph from :func:`viz.draw`.
        params: Parameter names, as for :func:`viz.draw`.
        timeout: Seconds ``dot`` may take (``None``: no limit).
        **kwargs: Options of :func:`viz.draw`.

    Returns:
        The SVG document.

    Raises:
        GraphvizNotFoundError: The ``dot`` program is missing.
        RenderTimeoutError: ``dot`` took longer than ``timeout``; the message
            suggests smaller views.
        RenderError: ``dot`` failed (its own message is included).
    """
    return pipe(_graph(what, params, kwargs), "svg", timeout=timeout).decode("utf-8")


def format_of(path: str | os.PathLike, format: str | None = None) -> str:  # noqa: A002
    """The output format for ``path``: ``format`` if given, else from the suffix.

    >>> format_of("g.JPG"), format_of("g.gv"), format_of("g", format=".svg")
    ('jpg', 'dot', 'svg')

    Raises:
        ValueError: The suffix (or ``format``) is not a format Graphviz's ``dot`` writes.
    """
    common = ".svg, .png, .pdf, .jpg, .gif, .ps, .eps, .json, .dot, .gv"
    if format is None:
        fmt = FORMATS.get(Path(path).suffix.lower())
        if fmt is None:
            raise ValueError(f"cannot tell the format from {str(path)!r}: use a file ending "
                             f"in a format Graphviz's dot writes ({common}, ...) or pass "
                             "format=")
        return fmt
    fmt = str(format).lower().lstrip(".")
    if f".{fmt}" not in FORMATS:
        raise ValueError(f"unknown format {format!r}: Graphviz's dot writes "
                         f"{', '.join(sorted(set(FORMATS.values())))}")
    return FORMATS[f".{fmt}"]


def save(what: Value | graphviz.Digraph, path: str | os.PathLike, params=None, *,
         format: str | None = None, timeout: float | None = RENDER_TIMEOUT,  # noqa: A002
         **kwargs) -> Path:
    """Write the picture to ``path``, in the format its suffix names.

    Every format Graphviz's ``dot`` writes is accepted (``.svg .png .pdf .jpg
    .jpeg .gif .ps .eps .json .svgz ...``, see :data:`FORMATS`); ``.dot`` and
    ``.gv`` write the DOT text (no Graphviz needed).

    Args:
        what: A ``Value`` to draw, or a graph from :func:`viz.draw`.
        path: The file to write; its suffix picks the format.
        params: Parameter names, as for :func:`viz.draw`.
        format: Override the suffix (``"svg"``, ``"png"``, ``"jpg"``, ``"dot"``...).
        timeout: Seconds ``dot`` may take (``None``: no limit).
        **kwargs: Options of :func:`viz.draw`.

    Returns:
        The path written.

    Raises:
        ValueError: The suffix (or ``format``) is not a format ``dot`` writes.
        GraphvizNotFoundError: The ``dot`` program is missing.
        RenderTimeoutError: ``dot`` took longer than ``timeout``.
        RenderError: ``dot`` failed (its own message is included).
    """
    path = Path(path)
    try:
        fmt = format_of(path, format)
    except ValueError as exc:
        raise ValueError(f"save: {exc}") from None
    data = pipe(_graph(what, params, kwargs), fmt, timeout=timeout)
    write_atomic(path, data)
    return path


def write_atomic(path: str | os.PathLike, data: bytes | str) -> None:
    """Write ``data`` to ``path`` atomically: dagrad's one writer,
    :func:`nn.io.atomic_write` (temporary file in the same folder, fsync, rename;
    permissions as a plain ``open`` would give).

    Raises:
        FileNotFoundError: The folder of ``path`` does not exist.
        OSError: The file cannot be written (the message names ``path``).
    """
    from nn.io import atomic_write  # nn never imports viz; viz reads nn only here

    atomic_write(path, data)
