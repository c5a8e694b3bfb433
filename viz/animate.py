"""The backward pass as an animation: one frame per step of the dynamic programme.

Backward fills the table ``adjoint[v] = d root / d v`` in reverse
topological order: at step ``k`` the node ``u_k`` has its final adjoint (all
its consumers are done) and adds ``d u_k / d p x adjoint[u_k]`` to each
parent ``p``. :func:`backward_steps` runs exactly that loop (the engine's own
generator :func:`engine.dp_steps`, so the last frame equals
:func:`engine.adjoints`) and yields a :class:`Frame` per step: the node being
processed, the adjoints known so far (final, or partial sums), and a picture
with the node highlighted.

:func:`save_backward_html` writes one self-contained HTML file: one SVG (laid
out once by Graphviz, so nodes stay put) plus the frames as data and a few
lines of inline JavaScript that fill in the picture and the adjoint table,
with first / previous / play / next / last buttons, a slider and the arrow
keys. No network, no external script. The page can drive itself for tests
and links: ``#step=5`` or ``#step=last`` opens at that frame, ``#play`` starts
playing, ``#autostep`` clicks through every frame with the page's own buttons
at load.
"""

from __future__ import annotations

import html
import json
import os
import re
from collections.abc import Iterable, Iterator, Mapping
from importlib import resources
from pathlib import Path

from engine import Value, dp_steps
from viz import style
from viz.dot import FrameState, Graph, Scene, grad_text
from viz.runner import RENDER_TIMEOUT

#: The animation redraws every frame: keep it for graphs a learner can follow.
MAX_ANIMATED_NODES = 300

#: The page's HTML, CSS and script, shipped with the package in ``viz/templates/``.
TEMPLATE = "backward.html"


class Frame:
    """One step of the backward DP.

    Attributes:
        step: 1-based position in the backward order.
        total: Number of steps (nodes that need a gradient).
        node: The node processed in this step (its adjoint is final now).
        adjoint: Its adjoint ``d root / d node``.
        adjoints: The table after this step: ``node -> adjoint`` for every node
            reached so far (final for processed nodes, partial sums otherwise).
        done: The nodes whose adjoint is final (processed so far).
        sent: ``(parent, slot, contribution)`` for what this step added to
            each parent (``slot`` is the operand position).
    """

    def __init__(self, scene: Scene, step: int, node: Value, adjoints: dict, done: frozenset,
                 sent: tuple, local: tuple, options: dict) -> None:
        self.step = step
        self.total = len(scene.backward_order)
        self.node = node
        self.adjoint = float(adjoints[node])
        self.adjoints = adjoints
        self.done = done
        self.sent = sent
        self._local = local
        self._scene = scene
        self._options = options
        self._graph: Graph | None = None

    @property
    def caption(self) -> str:
        """What happens in this step, in words."""
        s = self._scene
        p = self._options.get("precision", 4)
        head = (f"Step {self.step} of {self.total}: {s.describe(self.node)} has its final "
                f"adjoint {style.fmt(self.adjoint, p)}")
        if not self.node.parents:
            return head + "; it is a leaf, so nothing flows further."
        if not self.sent:
            return head + "; its inputs are constants, so nothing flows further."
        local = self._local
        parts = [f"{style.fmt(local[slot], p)} x {style.fmt(self.adjoint, p)} = "
                 f"{style.fmt(c, p)} to {s.describe(parent)}" for parent, slot, c in self.sent]
        return head + "; it sends " + ", ".join(parts) + "."

    @property
    def graph(self) -> Graph:
        """The picture of this step (drawn on first use)."""
        if self._graph is None:
            state = FrameState(self.node, set(self.done), self.adjoints)
            self._graph = self._scene.emit(frame=state, order=True, **self._options)
        return self._graph

    def _repr_mimebundle_(self, include=None, exclude=None, **_) -> dict[str, str]:
        return self.graph._repr_mimebundle_(include, exclude)

    def __repr__(self) -> str:
        return f"Frame(step={self.step}/{self.total}, node={self.node!r})"


def backward_steps(root: Value, params: Mapping[str, Value] | Iterable | None = None, *,
                   gradient: float = 1.0, rankdir: str = "auto", flow: bool = True,
                   table: bool = True, show_ops: bool = True, legend: bool = True,
                   precision: int = 4, max_nodes: int | None = MAX_ANIMATED_NODES
                   ) -> Iterator[Frame]:
    """Replay backward on ``root`` one DP step at a time. Does not touch ``.grad``.

    Args:
        root: The output node.
        params: Parameter names, as for :func:`viz.draw`.
        gradient: The seed ``adjoint[root]``.
        rankdir: Layout direction of the frames' pictures.
        flow: Show the contributions already sent on the edges.
        table: Show the adjoint table beside each picture.
        show_ops: Draw op nodes.
        legend: Add the legend.
        precision: Significant digits shown.
        max_nodes: Refuse larger graphs (``None``: no limit).

    Yields:
        One :class:`Frame` per node that needs a gradient, root first.

    Raises:
        RuntimeError: ``root`` does not require grad.
        GraphTooLargeError: The graph has more than ``max_nodes`` nodes to draw.

    >>> from engine import Value
    >>> x = Value(3.0, label="x"); y = x * x
    >>> [(f.step, f.node.label or f.node.op.name, f.adjoint) for f in backward_steps(y)]
    [(1, 'mul', 1.0), (2, 'x', 6.0)]
    """
    if not isinstance(root, Value):
        raise TypeError(f"backward_steps: expected a Value, got {type(root).__name__}")
    if not root.requires_grad:
        raise RuntimeError("backward_steps: the root does not require grad (it is a constant), "
                           "so backward has no steps")
    scene = Scene(root, params, show_ops=show_ops)
    scene.check_size(max_nodes)
    options = {"rankdir": rankdir, "flow": flow, "table": table, "legend": legend,
               "precision": precision}
    return _steps(scene, float(gradient), options)


def _steps(scene: Scene, seed: float, options: dict) -> Iterator[Frame]:
    """One :class:`Frame` per step of the engine's own DP loop (:func:`engine.dp_steps`)."""
    done: list[Value] = []
    for k, step in enumerate(dp_steps(scene.roots[0], seed), 1):
        done.append(step.node)
        yield Frame(scene, k, step.node, dict(step.table), frozenset(done), step.sent,
                    tuple(step.partials), options)


def save_backward_html(root: Value, path: str | os.PathLike,
                       params: Mapping[str, Value] | Iterable | None = None, *,
                       title: str | None = None, gradient: float = 1.0, rankdir: str = "auto",
                       show_ops: bool = True, legend: bool = True, precision: int = 4,
                       max_nodes: int | None = MAX_ANIMATED_NODES,
                       timeout: float | None = RENDER_TIMEOUT) -> Path:
    """Write the backward animation of ``root`` as one self-contained HTML file.

    Args:
        root: The output node.
        path: The ``.html`` file to write (atomically).
        params: Parameter names, as for :func:`viz.draw`.
        title: The page title (default: describes the root).
        gradient: The seed ``adjoint[root]``.
        rankdir: Layout direction (``"auto"``: as :func:`viz.draw`).
        show_ops: Draw op nodes.
        legend: Add the legend.
        precision: Significant digits shown.
        max_nodes: Refuse larger graphs (``None``: no limit).
        timeout: Seconds Graphviz's ``dot`` may take to lay out the picture.

    Returns:
        The path written.

    Raises:
        RuntimeError: ``root`` does not require grad.
        GraphvizNotFoundError: The ``dot`` program is missing (it lays out the picture).
    """
    from viz.render import write_atomic

    anim = animate(root, params, title=title, gradient=gradient, rankdir=rankdir,
                   show_ops=show_ops, legend=legend, precision=precision, max_nodes=max_nodes,
                   timeout=timeout)
    write_atomic(path, anim.page.encode("utf-8"))
    return Path(path)


class Animation:
    """The backward animation, ready to show: ``.page`` is a self-contained HTML page;
    in Jupyter the object displays itself as an inline player (the same controls,
    scoped to its cell: keys act when the player has focus). No external script,
    style or URL.

    Attributes:
        page: The whole HTML page (what :func:`save_backward_html` writes).
        frames: The :class:`Frame` of each DP step.
    """

    def __init__(self, page: str, frames: list[Frame]) -> None:
        self.page = page
        self.frames = frames

    def _repr_html_(self) -> str:
        start = self.page.index("<!-- player -->")
        end = self.page.index("<!-- /player -->") + len("<!-- /player -->")
        return self.page[start:end]

    def save(self, path: str | os.PathLike) -> Path:
        """Write :attr:`page` to ``path`` (atomically); returns the path."""
        from viz.render import write_atomic

        write_atomic(path, self.page.encode("utf-8"))
        return Path(path)

    def __repr__(self) -> str:
        return f"Animation({len(self.frames)} steps)"


def animate(root: Value, params: Mapping[str, Value] | Iterable | None = None, *,
            title: str | None = None, gradient: float = 1.0, rankdir: str = "auto",
            show_ops: bool = True, legend: bool = True, precision: int = 4,
            max_nodes: int | None = MAX_ANIMATED_NODES,
            timeout: float | None = RENDER_TIMEOUT) -> Animation:
    """The backward animation of ``root``: shown inline by Jupyter, or ``.save(path)``.

    The picture is laid out once by Graphviz (nodes stay put); each step fills
    in the adjoint that became final and the partial sums it sent, highlights
    the node (kept in view: the picture and the table scroll to it), and says
    in the caption what happened, naming nodes as the picture does (``#k``).
    Controls: first / previous / play / next / last, a slider, "fit width",
    and the keys left, right, space, Home, End and f. Arguments as
    :func:`save_backward_html`.

    Returns:
        An :class:`Animation`.

    Raises:
        RuntimeError: ``root`` does not require grad.
        GraphvizNotFoundError: The ``dot`` program is missing.

    >>> from engine import Value
    >>> import shutil
    >>> x = Value(3.0, label="x")
    >>> anim = animate(x * x) if shutil.which("dot") else None
    >>> anim is None or "<script" in anim._repr_html_()
    True
    """
    from viz.runner import inline_svg, pipe

    frames = list(backward_steps(root, params, gradient=gradient, show_ops=show_ops,
                                 max_nodes=max_nodes, precision=precision))
    scene = frames[0]._scene
    final = frames[-1].adjoints
    ids = {n: f"v{scene.index[n]}" for n in scene.backward_order}

    texts: dict[Value, list[str]] = {n: [grad_text(None, "unknown")] for n in ids}
    data_frames = []
    for f in frames:
        updates = [[ids[f.node], grad_text(f.adjoint, "final", precision), "final"]]
        for parent, _slot, _c in f.sent:
            t = grad_text(f.adjoints[parent], "partial", precision)
            texts[parent].append(t)
            updates.append([ids[parent], t, "partial"])
        texts[f.node].append(updates[0][1])
        i = scene.index[f.node]
        data_frames.append({
            "node": ids[f.node], "op": f"o{i}" if show_ops and f.node.parents else None,
            "caption": f.caption, "set": updates,
            "edges": [f"e{i}_{slot}" for _p, slot, _c in f.sent],
        })
    widest = {n: max(t, key=len) for n, t in texts.items()}
    base = scene.emit(rankdir=rankdir, flow=True, order=True, table=False, legend=legend,
                      precision=precision, frame=FrameState(None, set(ids), final),
                      grad_texts=widest)
    svg = inline_svg(pipe(base, "svg", timeout=timeout).decode("utf-8"))
    data = {
        "frames": data_frames,
        "start": {ids[n]: grad_text(None, "unknown") for n in scene.backward_order},
        "rows": [[ids[n], f"#{scene.steps[n]}", scene.describe(n)]
                 for n in scene.backward_order],
    }
    title = title or f"Backward pass of {scene.describe(root)}: {len(frames)} steps"
    page = fill_template(read_template(TEMPLATE), {
        "TITLE": html.escape(style.printable(title)),
        "SVG": svg,
        "DATA": json.dumps(data).replace("<", "\\u003c"),
        "COLOURS": _css_colours(),
    })
    return Animation(page, frames)


def _css_colours() -> str:
    """The page's colours, from :mod:`viz.style`, as CSS custom properties."""
    colours = {"current-fill": style.CURRENT["fill"], "current-border": style.CURRENT["border"],
               "partial": style.PARTIAL_FONT, **style.PAGE}
    return " ".join(f"--{name}: {value};" for name, value in colours.items())


def read_template(name: str) -> str:
    """The text of a template shipped in ``viz/templates/``."""
    return resources.files("viz").joinpath("templates", name).read_text(encoding="utf-8")


_SLOT = re.compile(r"%([A-Z]+)%")


def fill_template(template: str, values: Mapping[str, str]) -> str:
    """Replace every ``%NAME%`` slot of ``template`` by ``values[NAME]`` in ONE pass.

    Text put into a slot is never searched again, so a label that reads
    ``%SVG%`` or ``%DATA%`` stays that text (chained ``str.replace`` calls would
    fill it too).

    >>> fill_template("<t>%TITLE%</t><b>%SVG%</b>", {"TITLE": "%SVG%", "SVG": "<svg/>"})
    '<t>%SVG%</t><b><svg/></b>'

    Raises:
        KeyError: The template has a slot that ``values`` does not fill.
    """
    def one(m: re.Match) -> str:
        if m.group(1) not in values:
            raise KeyError(f"template slot %{m.group(1)}% has no value")
        return values[m.group(1)]

    return _SLOT.sub(one, template)
