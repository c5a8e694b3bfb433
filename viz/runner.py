"""Running Graphviz's ``dot`` program: bytes out, a time limit, and clear errors.

This is the lowest layer of ``viz`` that touches Graphviz: :mod:`viz.dot`
(which builds DOT text) uses it to display a graph in Jupyter, and
:mod:`viz.render` (files by suffix) uses it to write pictures. It knows
nothing about ``Value`` graphs.

``dot`` runs as a child process with a time limit (:data:`RENDER_TIMEOUT`):
a graph whose layout would take minutes stops with :class:`RenderTimeoutError`,
which says how to draw a smaller view, and a failing ``dot`` is reported
with its own message (or the signal that killed it).
"""

from __future__ import annotations

import re
import shutil
import signal
import subprocess

import graphviz

#: Seconds ``dot`` may take to lay out and write one picture.
RENDER_TIMEOUT = 60.0

#: Output formats that open a window or need a toolkit instead of writing bytes.
INTERACTIVE = frozenset({"x11", "xlib", "gtk", "cgimage"})

#: Every format ``dot`` writes (graphviz's own list), less the interactive ones.
WRITABLE = frozenset(graphviz.FORMATS) - INTERACTIVE

INSTALL_HINT = (
    "Graphviz's `dot` program is needed to render graphs but was not found on PATH. "
    "Install it with:\n"
    "  Debian/Ubuntu: sudo apt-get install graphviz\n"
    "  macOS:         brew install graphviz\n"
    "  conda:         conda install -c conda-forge graphviz\n"
    "(the Python package `graphviz` alone is not enough). The DOT text is still "
    "available as draw(...).source."
)

SMALLER_VIEWS = (
    "Draw a smaller view: depth=3 (only nodes within 3 steps of the root), "
    "collapse='neuron' or collapse='layer' (one node per neuron or layer; needs "
    "params=dict(model.named_parameters())), show_ops=False (no op nodes), flow=False "
    "(no edge labels); or allow more time with a larger timeout= (in seconds)."
)


class GraphvizNotFoundError(RuntimeError):
    """Graphviz's ``dot`` program is not installed; the message says how to install it."""


class RenderError(RuntimeError):
    """Graphviz's ``dot`` failed; the message carries ``dot``'s own words.

    Attributes:
        reason: What went wrong, without the advice on smaller views that ends
            the message (for callers, such as the command line, that give
            their own advice in their own terms).
    """

    def __init__(self, message: str, *, reason: str | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason


class RenderTimeoutError(RenderError):
    """``dot`` took longer than the time limit; the message suggests smaller views."""


def pipe(graph: graphviz.Digraph | graphviz.Source, fmt: str, *,
         timeout: float | None = RENDER_TIMEOUT) -> bytes:
    """Render ``graph`` with Graphviz's ``dot`` to ``fmt`` bytes.

    Args:
        graph: A drawn graph (anything with a ``.source`` in DOT).
        fmt: An output format of ``dot`` (``svg``, ``png``, ``pdf``, ``jpg``...);
            ``"dot"`` (or ``"gv"``) returns the DOT text itself, without running
            Graphviz.
        timeout: Seconds allowed (``None``: no limit).

    Returns:
        The rendered bytes.

    Raises:
        GraphvizNotFoundError: The ``dot`` program is missing.
        RenderTimeoutError: ``dot`` ran longer than ``timeout`` (it is stopped).
        RenderError: ``dot`` failed; its message (or the signal that killed it)
            is included.
        ValueError: ``fmt`` is not a format ``dot`` writes.
    """
    if fmt in ("dot", "gv"):
        return graph.source.encode("utf-8")
    if fmt not in WRITABLE:
        raise ValueError(f"unknown Graphviz output format {fmt!r}; dot writes "
                         f"{', '.join(sorted(WRITABLE))}")
    exe = shutil.which("dot")
    if exe is None:
        raise GraphvizNotFoundError(INSTALL_HINT)
    source = graph.source.encode("utf-8", "backslashreplace")
    try:
        proc = subprocess.run([exe, f"-T{fmt}"], input=source, capture_output=True,
                              timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        reason = (f"Graphviz's dot did not finish the {fmt} picture within {timeout:g} s "
                  f"({_size(graph.source)}): it was stopped.")
        raise RenderTimeoutError(f"{reason} {SMALLER_VIEWS}", reason=reason) from None
    if proc.returncode != 0:
        said = proc.stderr.decode("utf-8", "replace").strip()
        if proc.returncode < 0:
            try:
                name = signal.Signals(-proc.returncode).name
            except ValueError:
                name = f"signal {-proc.returncode}"
            why = f"dot crashed ({name})" + (f": {said}" if said else "")
            reason = f"Graphviz's dot failed to render {fmt}: {why} ({_size(graph.source)})."
            raise RenderError(f"{reason} {SMALLER_VIEWS}", reason=reason)
        raise RenderError(f"Graphviz's dot failed to render {fmt} (exit code "
                          f"{proc.returncode}): {said or 'no message'}")
    return proc.stdout


def _size(source: str) -> str:
    nodes = len(re.findall(r"^\t\w+ \[", source, re.M))
    edges = len(re.findall(r"^\t\w+ -> \w+", source, re.M))
    return f"{nodes:,} nodes, {edges:,} edges"


_PROLOG = re.compile(r"^.*?(?=<svg\b)", re.DOTALL)


def inline_svg(svg: str) -> str:
    """SVG text ready to sit inside HTML: no XML prolog, DOCTYPE or comments, and no
    ``max-width`` limit (so a wide graph scrolls instead of shrinking).

    >>> inline_svg('<?xml version="1.0"?>\\n<!-- c -->\\n<svg width="8pt"></svg>')
    '<svg style="max-width:none" width="8pt"></svg>'
    """
    svg = _PROLOG.sub("", svg, count=1)
    svg = re.sub(r"<!--.*?-->\n?", "", svg, flags=re.DOTALL)
    svg = re.sub(r'\s+xmlns(:\w+)?="[^"]*"', "", svg)
    return svg.replace("<svg ", '<svg style="max-width:none" ', 1)


def notebook_bundle(graph: graphviz.Digraph, include=None, exclude=None) -> dict[str, str]:
    """The Jupyter display of a graph: its SVG (at natural size, scrolling when wider
    than the cell).

    Without ``dot``, a plain-text message with install instructions and the DOT
    source; if ``dot`` fails or runs out of time, that message and the source.
    """
    try:
        svg = pipe(graph, "svg").decode("utf-8")
    except (GraphvizNotFoundError, RenderError) as exc:
        return {"text/plain": f"{exc}\n\n{graph.source}"}
    bundle = {
        "text/html": ('<div style="max-width:100%;overflow:auto">'
                      + inline_svg(svg) + "</div>"),
        "image/svg+xml": svg,
        "text/plain": repr(graph),
    }
    if include is not None:
        bundle = {k: v for k, v in bundle.items() if k in set(include)}
    if exclude is not None:
        bundle = {k: v for k, v in bundle.items() if k not in set(exclude)}
    return bundle
