"""Computation graph -> DOT text: a pure function of the graph.

:func:`draw` walks the graph with the engine's own traversal
(:func:`engine.topological_order`, constants included) and names every DOT
node by its topological index (``v0``, ``v1``, ...; op nodes ``o<i>``,
collapsed groups ``g<j>``), never by ``id()``, so the same graph gives the
same text on every run and can be compared with a golden file without the
``dot`` program. Nothing is printed or written here; :mod:`viz.render` writes
files and :mod:`viz.runner` runs Graphviz (for the notebook display too).

What a picture shows:

* **value nodes**: the name (from ``params=dict(model.named_parameters())``,
  else the node's ``label``), ``data`` and ``grad`` (``not computed`` until
  backward has run, never a misleading 0; constants have no grad);
* **op nodes**: small, separate, labelled with the op's symbol from the rule
  table (so user-defined primitives show their own names);
* **colours by role** from the one table in :mod:`viz.style`, with a legend;
* **gradient flow** (``flow=True``): every edge ``parent -> op`` is labelled
  with the contribution that flows back along it, ``d node / d parent x
  adjoint[node]``, coloured by sign and widened by size; ``shade=True``
  fills nodes by ``|grad|``;
* **the DP view**: ``order=True`` numbers each node ``#k`` with its position in
  the backward (reverse topological) order, ``table=True`` adds the adjoint
  table beside the graph;
* **large graphs**: ``max_nodes`` fails fast with advice; ``collapse`` draws
  each neuron or layer as one node and ``cluster`` boxes them (groups come
  from parameter *names* such as ``layers.0.neurons.3.w.1``, so ``viz``
  needs no ``nn``); ``depth`` keeps nodes near the root; ``show_ops=False``
  folds op symbols into the value nodes.

Every label is an HTML-like label whose text goes through
:func:`viz.style.esc`, so quotes, ``<``, ``>``, ``&``, ``{``, ``|`` and
newlines render literally.

NB: torchviz's ``make_dot`` takes ``params`` the same way; unlike it, names
here do not depend on ``id()``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from html import unescape as html_unescape

import graphviz

from engine import Value, topological_order
from engine import adjoints as engine_adjoints
from viz import style
from viz.runner import notebook_bundle

#: How many DOT nodes :func:`draw` accepts by default before asking for a smaller view.
MAX_NODES = 1000

#: Top to bottom with ``table=True``, the graph's parts and the DP table are packed in
#: one row of up to this many columns (the table, drawn last, at the right).
TABLE_PACK_COLUMNS = 64

#: ``rankdir="auto"`` draws top to bottom when left to right would be wider than this
#: and top to bottom narrower (points, as estimated by :func:`_widths`, which is
#: within about 12% of dot's layouts; 750 pt are 1,000 CSS pixels at 100% zoom).
AUTO_WIDTH = 820.0

#: A parent filling this many operand slots of one node gets one edge labelled ``×k``.
MERGE_PARALLEL = 3

#: Beyond this many ranks crossed by edges in all, Graphviz's layout is bounded (see
#: :func:`_layout_limits`).
LAYOUT_BUDGET = 2000

GroupSpec = str | Callable[[str], str | None] | None


class GraphTooLargeError(ValueError):
    """The picture would have more nodes than ``max_nodes`` (Graphviz would take minutes).

    Attributes:
        reason: The size found, without the advice (in Python's terms) that ends
            the message.
        nodes: How many nodes the picture would have.
        limit: The ``max_nodes`` it exceeds.
    """

    def __init__(self, message: str, *, reason: str | None = None,
                 nodes: int | None = None, limit: int | None = None) -> None:
        super().__init__(message)
        self.reason = message if reason is None else reason
        self.nodes, self.limit = nodes, limit


class Graph(graphviz.Digraph):
    """A :class:`graphviz.Digraph` that displays itself well in Jupyter.

    It is a plain ``Digraph`` (``.source``, ``.pipe()``, ``.render()`` all
    work). In a notebook it shows as inline SVG inside a ``<div>`` that
    scrolls when the graph is wider than the cell (the SVG keeps its natural
    size: no ``size`` attribute clips it, and ``max-width`` is lifted so
    text stays legible). Without the ``dot`` program it shows how to install
    Graphviz and the DOT source instead of a traceback.
    """

    def _repr_mimebundle_(self, include=None, exclude=None, **_) -> dict[str, str]:
        return notebook_bundle(self, include, exclude)

    def __repr__(self) -> str:
        """Counts, not an address: a notebook showing a graph rebuilds byte for byte."""
        nodes = sum(1 for line in self.body if re.match(r"\t(?!graph |node |edge )\w+ \[", line))
        edges = sum(1 for line in self.body if " -> " in line)
        return f"<dagrad graph: {nodes} nodes, {edges} edges; .source is its DOT text>"


def group_of_name(name: str, level: str) -> str | None:
    """The neuron or layer a parameter belongs to, read from its dotted name.

    The owning module is the name without its trailing indices and attribute
    (``layers.0.neurons.3.w.1`` -> ``layers.0.neurons.3``); its layer is the
    shortest prefix ending in an index (``layers.0``).

    Args:
        name: A parameter name, as ``named_parameters()`` gives it.
        level: ``"neuron"`` (the owning module) or ``"layer"``.

    Returns:
        The group's name, or ``None`` for a top-level parameter.

    Raises:
        ValueError: ``level`` is neither ``"neuron"`` nor ``"layer"``.

    >>> group_of_name("layers.0.neurons.3.w.1", "neuron")
    'layers.0.neurons.3'
    >>> group_of_name("layers.0.neurons.3.b", "layer")
    'layers.0'
    >>> group_of_name("w", "neuron") is None
    True
    """
    if level not in ("neuron", "layer"):
        raise ValueError(f"group level must be 'neuron' or 'layer' (or a function), got {level!r}")
    parts = name.split(".")
    while parts and parts[-1].isdigit():
        parts.pop()
    parts = parts[:-1]
    if not parts:
        return None
    if level == "layer":
        for i, part in enumerate(parts):
            if part.isdigit():
                return ".".join(parts[: i + 1])
    return ".".join(parts)


@dataclass
class FrameState:
    """What one backward step knows: for drawing a frame of the animation.

    Attributes:
        current: The node being processed.
        done: Nodes whose adjoint is final (processed, the current one included).
        known: Adjoints known so far (final or partial sums).
    """

    current: Value
    done: set = field(default_factory=set)
    known: dict = field(default_factory=dict)


class Scene:
    """Everything about a graph that a picture needs, computed once.

    :func:`draw` is ``Scene(...).emit(...)``; the backward animation reuses
    one scene for all its frames.

    Args:
        root: The output node, or several.
        params: Parameter names: a mapping ``name -> Value`` (or the pairs of
            ``model.named_parameters()``), inverted by identity.
        grads: Where gradients come from: ``"grad"`` reads ``.grad`` (shown
            as not computed while ``None``); ``"adjoints"`` computes
            :func:`engine.adjoints` (``.grad`` untouched); or a mapping
            ``node -> adjoint``.
        collapse: Draw each group as one node: ``"neuron"``, ``"layer"`` or a
            function ``parameter name -> group name or None``.
        cluster: Box each group's nodes (same choices as ``collapse``).
        depth: Keep only nodes at most this many steps from the root.
        show_ops: Draw op nodes (else the op symbol goes into the value node).

    Raises:
        TypeError: A root or a parameter is not a ``Value``.
        ValueError: A bad ``grads``, ``depth`` or group option.
    """

    def __init__(self, root: Value | Iterable[Value], params: Mapping[str, Value] |
                 Iterable[tuple[str, Value]] | None = None, *, grads: str | Mapping = "grad",
                 collapse: GroupSpec = None, cluster: GroupSpec = None, depth: int | None = None,
                 show_ops: bool = True) -> None:
        self.roots = _as_roots(root)
        self.order = topological_order(self.roots, include_constants=True)
        self.index = {n: i for i, n in enumerate(self.order)}
        self.names = _param_names(params)
        self.table = _grad_table(grads, self.roots)
        # .grad values in a graph whose roots never ran backward come from an earlier
        # backward (say, before opt.step() and this forward pass): shown as stale
        self.stale = self.table is None and all(r.grad is None for r in self.roots)
        self.backward_order = list(reversed(topological_order(self.roots)))
        self.steps = {n: k for k, n in enumerate(self.backward_order, 1)}
        self.rootset = set(self.roots)
        self.show_ops = bool(show_ops)
        self.visible, self.cut = self._depth(depth)
        self.group = self._groups(collapse, "collapse")
        self.bundles = self._bundle_constants() if self.group else set()
        self.cluster = self._groups(cluster, "cluster")

    # -- what is drawn --------------------------------------------------------
    def _depth(self, depth: int | None) -> tuple[set, set]:
        if depth is None:
            return set(self.order), set()
        if isinstance(depth, bool) or not isinstance(depth, int) or depth < 0:
            raise ValueError(f"depth must be a non-negative int or None, got {depth!r}")
        dist = dict.fromkeys(self.roots, 0)
        for node in reversed(self.order):
            d = dist.get(node)
            if d is None or d >= depth:
                continue
            for p in node.parents:
                if dist.get(p, depth + 1) > d + 1:
                    dist[p] = d + 1
        visible = set(dist)
        cut = {n for n in visible if any(p not in visible for p in n.parents)}
        return visible, cut

    def _groups(self, spec: GroupSpec, what: str) -> dict[Value, str]:
        if spec is None:
            return {}
        if isinstance(spec, str):
            level = spec
            group_of_name("x.0.w", level)  # validates the level
            key = lambda name: group_of_name(name, level)  # noqa: E731
        elif callable(spec):
            key = spec
        else:
            raise ValueError(f"{what} must be 'neuron', 'layer', a function or None, "
                             f"got {spec!r}")
        if not self.names:
            raise ValueError(f"{what}={spec!r} needs params=dict(model.named_parameters()): "
                             "the groups come from the parameter names")
        group: dict[Value, str] = {}
        for node in self.order:
            if node not in self.visible or node in self.rootset:  # roots stay in sight
                continue
            name = self.names.get(node)
            if name is not None:
                g = key(name)
                if g is not None:
                    group[node] = str(g)
                continue
            if not node.parents or not node.requires_grad:
                continue
            from_params = {group.get(p) for p in node.parents if p in self.names}
            if from_params:
                if len(from_params) == 1 and None not in from_params:
                    group[node] = from_params.pop()
                continue
            inherited = {group.get(p) for p in node.parents}
            if len(inherited) == 1 and None not in inherited:
                group[node] = inherited.pop()
        return group

    def _bundle_constants(self) -> set[str]:
        """In a collapsed view, merge constant leaves (data) that feed only groups into one
        node per set of groups they feed: the inputs of 100 samples become one node."""
        feeds: dict[Value, set] = {}
        for node in self.order:
            if node not in self.visible or not node.parents:
                continue
            target = self.group.get(node)
            for p in node.parents:
                if not p.requires_grad and not p.parents and p not in self.names:
                    feeds.setdefault(p, set()).add(target)
        bundles = set()
        for leaf, targets in feeds.items():
            if None in targets or leaf not in self.visible:
                continue
            key = "constants into " + ", ".join(sorted(targets, key=_natural))
            self.group[leaf] = key
            bundles.add(key)
        return bundles

    def count(self) -> int:
        """How many DOT nodes the picture has (values, ops and groups)."""
        singles = [n for n in self.visible if n not in self.group]
        ops = sum(1 for n in singles if n.parents) if self.show_ops else 0
        return len(singles) + ops + len(set(self.group.values()))

    def check_size(self, max_nodes: int | None) -> None:
        """Raise :class:`GraphTooLargeError` if the picture exceeds ``max_nodes``."""
        if max_nodes is None:
            return
        n = self.count()
        if n > max_nodes:
            reason = (f"draw: the picture would have {n:,} nodes, more than "
                      f"max_nodes={max_nodes:,} (Graphviz would take minutes).")
            raise GraphTooLargeError(
                f"{reason} Draw less: collapse='neuron' or "
                "collapse='layer' (one node per neuron or layer; needs "
                "params=dict(model.named_parameters())), depth=3 (only nodes within 3 steps "
                "of the root), show_ops=False (no op nodes), or pass a larger max_nodes",
                reason=reason, nodes=n, limit=max_nodes,
            )

    # -- per node ---------------------------------------------------------------
    def role(self, node: Value) -> str:
        """``root``, ``parameter``, ``constant``, ``input`` or ``intermediate``."""
        if node in self.rootset:
            return "root"
        if node in self.names:
            return "parameter"
        if not node.requires_grad:
            return "constant"
        return "intermediate" if node.parents else "input"

    def name(self, node: Value) -> str:
        """The parameter name, else the node's label, else ``""``."""
        return self.names.get(node) or node.label

    def describe(self, node: Value) -> str:
        """A short description for tables and captions, in the picture's own words: the
        name, else the op and the ``#k`` the picture shows (its place in the backward
        order), e.g. ``add #2``; a constant is ``constant <data>``."""
        name = self.name(node)
        if name:
            return name
        what = node.op.name if node.op is not None else "leaf"
        if node in self.steps:
            return f"{what} #{self.steps[node]}"
        return f"constant {style.fmt(node.data)}" if node.op is None else f"{what} (constant)"

    def grad_of(self, node: Value) -> float | None:
        """The node's gradient from the chosen source, or ``None`` if not computed."""
        if not node.requires_grad:
            return None
        g = node.grad if self.table is None else self.table.get(node)
        return None if g is None else float(g)

    def status(self, node: Value, frame: FrameState | None) -> tuple[float | None, str]:
        """``(gradient, "final" | "partial" | "stale" | "unknown")`` for a node."""
        if frame is None:
            g = self.grad_of(node)
            if g is None:
                return None, "unknown"
            return g, ("stale" if self.stale else "final")
        if node in frame.done:
            return float(frame.known[node]), "final"
        if node in frame.known:
            return float(frame.known[node]), "partial"
        return None, "unknown"

    def contributions(self, node: Value, frame: FrameState | None) -> list[float | None]:
        """Per operand slot: the gradient flowing back to that parent, or ``None``."""
        local = node.local_grads
        g, status = self.status(node, frame)
        if local is None or g is None or status != "final":
            return [None] * len(node.parents)
        return [g * float(d) if p.requires_grad else None
                for p, d in zip(node.parents, local, strict=True)]

    # -- DOT ---------------------------------------------------------------------
    def emit(self, *, rankdir: str = "auto", flow: bool = False, shade: bool = False,
             order: bool = False, table: bool = False, legend: bool = True,
             precision: int = 4, frame: FrameState | None = None,
             grad_texts: Mapping[Value, str] | None = None) -> Graph:
        """Build the ``Digraph``. Arguments as :func:`draw`; ``frame`` draws a backward
        step (the current node highlighted, partial sums marked) and ``grad_texts``
        replaces the grad text of some nodes (the animation sizes its cells this way)."""
        if rankdir not in ("auto", "LR", "TB", "RL", "BT"):
            raise ValueError(f"rankdir must be 'auto', 'LR', 'TB', 'RL' or 'BT', got {rankdir!r}")
        numbered = order or table
        g = Graph(
            name="dagrad",
            graph_attr={"rankdir": rankdir, "fontname": style.FONT, "nodesep": "0.25",
                        "ranksep": "0.35"},
            node_attr={"fontname": style.FONT, "fontsize": "10", "shape": "box",
                       "style": "rounded,filled", "penwidth": "1.2"},
            edge_attr={"fontname": style.FONT, "fontsize": "9", "arrowsize": "0.6",
                       "color": style.EDGE["plain"]},
        )
        edges = self._edges(flow, frame)
        largest = max((abs(c) for *_, c in edges if c is not None and math.isfinite(c)),
                      default=0.0)
        grads = (self.status(n, frame)[0] for n in self.visible if n not in self.group)
        top = max((abs(g) for g in grads if g is not None and math.isfinite(g)), default=0.0)

        clusters: dict[str | None, list[tuple[str, dict]]] = {None: []}
        groups: dict[str, list[Value]] = {}
        for node in self.order:
            if node not in self.visible:
                continue
            if node in self.group:
                groups.setdefault(self.group[node], []).append(node)
                continue
            box = clusters.setdefault(self.cluster.get(node), [])
            i = self.index[node]
            box.append((f"v{i}", self._value_attrs(node, frame, numbered, shade, top,
                                                   precision, grad_texts)))
            if self.show_ops and node.op is not None:
                box.append((f"o{i}", self._op_attrs(node, frame)))
        groups = {key: groups[key] for key in sorted(groups, key=_natural)}
        gnames = {key: f"g{j}" for j, key in enumerate(groups)}
        for key, members in groups.items():
            box = clusters.setdefault(self.cluster.get(members[-1]), [])
            box.append((gnames[key], self._group_attrs(key, members, shade, top, precision)))

        for name, attrs in clusters.pop(None):
            g.node(name, **attrs)
        for j, key in enumerate(sorted(clusters, key=_natural)):
            nodes = clusters[key]
            with g.subgraph(name=f"cluster_{j}") as c:
                c.attr(label=f"<{style.esc(key)}>", style="rounded,dashed",
                       color=style.ROLES["group"]["border"], fontname=style.FONT,
                       fontsize="10")
                for name, attrs in nodes:
                    c.node(name, **attrs)

        seen: set[tuple[str, str]] = set()
        edge_kinds: set[str] = set()  # for the legend: what the edges show
        for src, dst, eid, attrs, c in edges:
            src = gnames.get(src, src)
            dst = gnames.get(dst, dst)
            if src == dst:
                continue
            if eid is None:
                if (src, dst) in seen:
                    continue
                seen.add((src, dst))
                eid = f"h{len(seen)}"
            attrs = dict(attrs)
            k = attrs.pop("multiplicity", None)
            if k is not None:
                attrs["label"] = f"<&#215;{k}>"
            if c is not None:
                edge_kinds.add("nan" if c != c else "zero" if c == 0 else
                               "positive" if c > 0 else "negative")
                text = style.esc(style.fmt(c, precision))
                attrs.update(label=f"<&#215;{k}: {text}>" if k else f"<{text}>",
                             **style.edge_style(c, largest))
            if attrs.get("style") == "dashed":
                edge_kinds.add("constant_edge")
            g.edge(src, dst, id=eid, **attrs)
        g.graph_attr.update(_layout_limits(self, len(edges), flow))

        lr, tb = _widths(g.body, flow)
        if table:  # beside the graph, at its right, whichever the direction
            table_width = 30.0 + 6.0 * _label_chars(self._table_label(frame, precision))
            lr, tb = lr + 25.0 + table_width, tb + 25.0 + table_width
        if rankdir == "auto":
            rankdir = "TB" if lr > AUTO_WIDTH and tb < lr else "LR"
        g.graph_attr["rankdir"] = rankdir
        wide = lr if rankdir in ("LR", "RL") else tb

        if table:
            g.node("adjoint_table", shape="plain", style="", id="adjoint_table",
                   label=self._table_label(frame, precision))
            if rankdir in ("LR", "RL"):  # the last rank: the right (left for RL) side
                g.body.append("\t{rank=sink; adjoint_table}\n")
            else:
                # top to bottom, the last rank would put the tall table under the graph:
                # the table (an unconnected node) is laid out on its own and packed to
                # the right of the graph, top-aligned, with its height added to no rank
                # (and a margin for fonts wider than the metrics dot lays out with)
                g.graph_attr.update(pack="16", packmode=f"array_t{TABLE_PACK_COLUMNS}",
                                    pad="0.15")
        if legend:
            kinds = self._legend_kinds(frame)
            label = style.legend_label(flow=flow and bool(edge_kinds & {"positive", "negative"}),
                                       shade=shade, depth_cut=bool(self.cut),
                                       numbered=numbered, ops=kinds["ops"], roles=kinds["roles"],
                                       edges=edge_kinds, stale=kinds["stale"],
                                       columns=max(2, min(4, int(wide // 150))))
            # the graph's own label, under the graph: it adds no width to an LR layout
            g.body.append(f"\tgraph [label={label} labelloc=b labeljust=l fontsize=9]\n")
        return g

    def _edges(self, flow: bool, frame: FrameState | None) -> list[tuple]:
        """``(src, dst, id or None, attrs, contribution or None)`` for every edge drawn.

        Sources and destinations that are collapsed are named by their group key
        (renamed to ``g<j>`` by ``emit``); such edges are drawn once per pair. A
        parent that fills :data:`MERGE_PARALLEL` or more operand slots of one node
        (``sum([x] * 100)``) gets one edge labelled ``×k`` carrying the summed
        contribution, with the id of its first slot: many parallel edges between
        one pair of nodes make Graphviz's layout slow and the picture unreadable."""
        out = []
        for node in self.order:
            if node not in self.visible or not node.parents:
                continue
            i = self.index[node]
            mine = self.group.get(node)
            dst = mine if mine is not None else (f"o{i}" if self.show_ops else f"v{i}")
            contribs = self.contributions(node, frame) if flow else [None] * len(node.parents)
            slots: dict[Value, list[int]] = {}
            for slot, p in enumerate(node.parents):
                slots.setdefault(p, []).append(slot)
            for slot, (p, c) in enumerate(zip(node.parents, contribs, strict=True)):
                if p not in self.visible:
                    continue
                theirs = self.group.get(p)
                if mine is not None and theirs == mine:
                    continue
                src = theirs if theirs is not None else f"v{self.index[p]}"
                # gradient paths pull harder than constants: a chain stays straight
                attrs = {"weight": "3"}
                if not p.requires_grad:
                    attrs = {"style": "dashed", "color": style.EDGE["constant"]}
                if mine is not None or theirs is not None:
                    out.append((src, dst, None, attrs, None))
                    continue
                mine_slots = slots[p]
                if len(mine_slots) >= MERGE_PARALLEL:
                    if slot != mine_slots[0]:
                        continue
                    attrs = {**attrs, "multiplicity": len(mine_slots)}
                    parts = [contribs[k] for k in mine_slots]
                    c = None if any(x is None for x in parts) else math.fsum(parts)
                out.append((src, dst, f"e{i}_{slot}", attrs, c))
            if mine is None and self.show_ops:
                out.append((f"o{i}", f"v{i}", f"e{i}", {"weight": "3"}, None))
        return out

    def _legend_kinds(self, frame: FrameState | None) -> dict:
        """What the picture contains, for a legend that lists exactly that."""
        drawn = [n for n in self.visible if n not in self.group]
        roles = {self.role(n) for n in drawn}
        if any(k not in self.bundles for k in set(self.group.values())):
            roles.add("group")
        if any(k in self.bundles for k in set(self.group.values())):
            roles.add("constant")
        return {"roles": roles,
                "ops": self.show_ops and any(n.parents for n in drawn),
                "stale": any(self.status(n, frame)[1] == "stale" for n in drawn)}

    def _value_attrs(self, node: Value, frame: FrameState | None, numbered: bool,
                     shade: bool, top: float, precision: int,
                     grad_texts: Mapping[Value, str] | None) -> dict[str, str]:
        role = style.ROLES[self.role(node)]
        head = []  # the first line: #k, the name, the op symbol
        if numbered and node in self.steps:
            head.append(f"#{self.steps[node]}")
        name = self.name(node)
        if name:
            head.append(f"<B>{style.esc(name)}</B>")
        if not self.show_ops and node.op is not None:
            head.append(f"<I>{style.esc(node.op.symbol or node.op.name)}</I>")
        lines = [f"data {style.esc(style.fmt(node.data, precision))}"]
        g, status = self.status(node, frame)
        if node.requires_grad:
            if grad_texts is not None and node in grad_texts:
                text = style.esc(grad_texts[node])
            else:
                text = style.esc(grad_text(g, status, precision))
            if status == "partial":
                text = f'<FONT COLOR="{style.PARTIAL_FONT}"><I>{text}</I></FONT>'
            elif status == "stale":
                text = f'<FONT COLOR="{style.STALE_FONT}"><I>{text}</I></FONT>'
            lines.append(text)
        # stacked lines keep value nodes narrow, so a left-to-right graph stays narrow
        rows = [f"<TR><TD>{' '.join(head)}</TD></TR>"] if head else []  # "#3 b", centred
        rows += [f"<TR><TD>{c}</TD></TR>" for c in lines]
        label = ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                 + "".join(rows) + "</TABLE>>")
        fill = role["fill"]
        if shade and g is not None and status != "stale":
            fill = style.mix(*style.SHADE, style.strength(g, top))
        attrs = {"id": f"v{self.index[node]}", "label": label, "fillcolor": fill,
                 "color": role["border"], "margin": _margin([" ".join(head), *lines])}
        if node in self.cut:
            attrs["style"] = "rounded,filled,dashed"
        if frame is not None and node is frame.current:
            attrs.update(fillcolor=style.CURRENT["fill"], color=style.CURRENT["border"],
                         penwidth=style.CURRENT["penwidth"])
        return attrs

    def _op_attrs(self, node: Value, frame: FrameState | None) -> dict[str, str]:
        i = self.index[node]
        attrs = {"id": f"o{i}", "label": f"<{style.esc(node.op.symbol or node.op.name)}>",
                 "shape": "ellipse", "style": "filled", "fillcolor": style.OP["fill"],
                 "color": style.OP["border"], "fontsize": style.OP["fontsize"],
                 "width": "0.3", "height": "0.3", "margin": "0.04,0.02"}
        if frame is not None and node is frame.current:
            attrs.update(color=style.CURRENT["border"], penwidth=style.CURRENT["penwidth"])
        return attrs

    def _group_attrs(self, key: str, members: list[Value], shade: bool, top: float,
                     precision: int) -> dict[str, str]:
        if key in self.bundles:
            targets = key.removeprefix("constants into ").split(", ")
            into = targets[0] if len(targets) == 1 else (
                f"{targets[0]} ... {targets[-1]} ({len(targets)} groups)")
            label = ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                     f"<TR><TD><B>{len(members)} constants</B></TD></TR>"
                     f"<TR><TD>inputs of {style.esc(into)}</TD></TR></TABLE>>")
            return {"label": label, "fillcolor": style.ROLES["constant"]["fill"],
                    "color": style.ROLES["constant"]["border"], "penwidth": "1.6",
                    "margin": _margin([f"inputs of {into}"])}
        role = style.ROLES["group"]
        params = [n for n in members if n in self.names]
        grads = [abs(g) for g in map(self.grad_of, params) if g is not None]
        rows = [f"<B>{style.esc(key)}</B>", f"{len(params)} parameters, "
                f"{len(members) - len(params)} ops"]
        if grads:
            rows.append(f"max |grad| {style.esc(style.fmt(max(grads), precision))}")
        label = ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="0" CELLPADDING="1">'
                 + "".join(f"<TR><TD>{r}</TD></TR>" for r in rows) + "</TABLE>>")
        fill = role["fill"]
        if shade and grads:
            fill = style.mix(*style.SHADE, style.strength(max(grads), top or max(grads)))
        return {"label": label, "fillcolor": fill, "color": role["border"],
                "penwidth": "1.6", "margin": _margin(rows)}

    def _table_label(self, frame: FrameState | None, precision: int) -> str:
        rows = ['<TR><TD COLSPAN="3"><B>adjoint table (DP)</B></TD></TR>',
                "<TR><TD><I>step</I></TD><TD><I>node</I></TD>"
                "<TD><I>d root / d node</I></TD></TR>"]
        for node in self.backward_order:
            if node not in self.visible or node in self.group:
                continue
            g, status = self.status(node, frame)
            text = style.esc(grad_text(g, status, precision).removeprefix("grad "))
            if status == "partial":
                text = f'<FONT COLOR="{style.PARTIAL_FONT}"><I>{text}</I></FONT>'
            bg = ' BGCOLOR="' + style.CURRENT["fill"] + '"' if (
                frame is not None and node is frame.current) else ""
            rows.append(f"<TR><TD{bg}>#{self.steps[node]}</TD>"
                        f"<TD{bg} ALIGN=\"LEFT\">{style.esc(self.describe(node))}</TD>"
                        f"<TD{bg} ALIGN=\"RIGHT\">{text}</TD></TR>")
        return ('<<TABLE BORDER="1" CELLBORDER="0" CELLSPACING="0" CELLPADDING="3" '
                f'COLOR="{style.TABLE["border"]}" BGCOLOR="{style.TABLE["fill"]}">'
                + "".join(rows) + "</TABLE>>")


def grad_text(g: float | None, status: str, precision: int = 4) -> str:
    """How a gradient reads in a node: ``grad 0.7864``, ``grad 1.5 (partial)``,
    ``grad 0.2 (stale)`` or ``grad not computed``.

    >>> grad_text(None, "unknown"), grad_text(0.5, "partial"), grad_text(0.2, "stale")
    ('grad not computed', 'grad 0.5 (partial)', 'grad 0.2 (stale)')
    """
    if g is None or status == "unknown":
        return f"grad {style.NOT_COMPUTED}"
    text = f"grad {style.fmt(g, precision)}"
    return text + f" ({status})" if status in ("partial", "stale") else text


def draw(root: Value | Iterable[Value], params: Mapping[str, Value] |
         Iterable[tuple[str, Value]] | None = None, *, rankdir: str = "auto",
         grads: str | Mapping = "grad", flow: bool = False, shade: bool = False,
         order: bool = False, table: bool = False, collapse: GroupSpec = None,
         cluster: GroupSpec = None, depth: int | None = None, show_ops: bool = True,
         legend: bool = True, max_nodes: int | None = MAX_NODES, precision: int = 4) -> Graph:
    """Draw the computation graph behind ``root`` as a ``graphviz.Digraph``.

    Jupyter displays the result inline (and lets wide graphs scroll); use
    :func:`viz.to_svg` or :func:`viz.save` for files. Needs no ``dot``
    program: only rendering does.

    Args:
        root: The output node (or several).
        params: Names for the parameters, found by identity: a model (its
            ``named_parameters()``), ``dict(model.named_parameters())`` or
            ``(name, Value)`` pairs.
        rankdir: ``"auto"`` (the default: left to right, or top to bottom when
            that keeps the picture within about 1,000 pixels where left to right
            would not), ``"LR"`` (left to right) or ``"TB"`` (top to bottom).
        grads: ``"grad"`` (read ``.grad``; ``not computed`` while ``None``;
            when no root has a ``.grad`` yet, any ``.grad`` found in the graph
            was left by an earlier backward, say before ``opt.step()`` and this
            forward pass, and is shown as ``grad 0.3 (stale)``, in its own
            colour, explained by the legend), ``"adjoints"`` (compute the DP
            table of this graph without touching ``.grad``: always fresh) or a
            mapping ``node -> adjoint``.
        flow: Label each edge with the gradient flowing back along it
            (``d node / d parent x adjoint[node]``), coloured by sign and sized
            by magnitude.
        shade: Fill nodes by ``|grad|`` (the border keeps the role colour).
        order: Number each node ``#k`` with its position in the backward order.
        table: Add the adjoint table (backward order, node, adjoint) beside the
            graph; implies the ``#k`` numbers.
        collapse: ``"neuron"`` or ``"layer"`` (or a function from parameter
            name to group name): draw each group of an ``nn`` model as one node.
            A node joins the group of the parameters it reads directly (a
            neuron's ``dot``), or of its parents when they all belong to one
            group (its activation); losses stay outside. Constant inputs that
            feed only groups are drawn as one node per set of groups they feed.
        cluster: The same choices: box each group's nodes instead.
        depth: Keep only nodes at most this many steps from the root (nodes
            whose inputs are hidden get a dashed border).
        show_ops: Draw op nodes; ``False`` puts the op symbol in the value node.
        legend: Add the legend explaining the colours.
        max_nodes: Refuse pictures with more DOT nodes than this (``None``: no limit).
        precision: Significant digits of the numbers shown.

    Returns:
        A :class:`Graph` (a ``graphviz.Digraph``); ``.source`` is the DOT text.

    Raises:
        GraphTooLargeError: More than ``max_nodes`` nodes; the message says how
            to draw less.
        TypeError: ``root`` or a parameter is not a ``Value``.
        ValueError: A bad option value.

    >>> from engine import Value
    >>> x = Value(0.5, label="x"); w = Value(-3.0, label="w")
    >>> y = (x * w).tanh()
    >>> src = draw(y).source
    >>> "grad not computed" in src and "rankdir=LR" in src
    True
    >>> y.backward()
    >>> "grad -0.5421" in draw(y).source  # dy/dx = w (1 - tanh(xw)^2)
    True
    """
    scene = Scene(root, params, grads=grads, collapse=collapse, cluster=cluster, depth=depth,
                  show_ops=show_ops)
    scene.check_size(max_nodes)
    return scene.emit(rankdir=rankdir, flow=flow, shade=shade, order=order, table=table,
                      legend=legend, precision=precision)


def _layout_limits(scene: Scene, n_edges: int, flow: bool) -> dict[str, str]:
    """Graph attributes that keep ``dot`` fast on graphs with long edges.

    ``dot`` routes an edge that spans ``k`` ranks through ``k`` virtual nodes;
    a leaf read at every step of a long chain (``x + x + ... + x``) spans them
    all, and network simplex and spline routing over those virtual nodes took
    minutes (100 terms). When the ranks crossed in all exceed
    :data:`LAYOUT_BUDGET`, network simplex gets one pass per node
    (``nslimit``, ``nslimit1``) and edges are straight lines (``splines=line``):
    seconds instead of minutes, at the cost of a less polished layout. Small
    graphs are laid out as usual.
    """
    rank: dict[Value, int] = {}
    per_op = 2 if scene.show_ops else 1
    crossed = 0
    for node in scene.order:
        if node not in scene.visible:
            continue
        parents = [p for p in node.parents if p in scene.visible]
        rank[node] = max((rank[p] for p in parents), default=-per_op) + per_op
        crossed += sum(rank[node] - rank[p] for p in set(parents))
    if flow:  # edge labels sit in ranks of their own
        crossed *= 2
    if crossed + n_edges <= LAYOUT_BUDGET:
        return {}
    return {"nslimit": "1", "nslimit1": "1", "splines": "line"}


_NODE = re.compile(r"^\t(\w+) \[(.*)\]$")
_EDGE = re.compile(r"^\t(\w+) -> (\w+) ")
_TAGS = re.compile(r"<[^>]*>")


def _widths(body: list[str], flow: bool = False) -> tuple[float, float]:
    """Estimated widths (points) of the picture laid out left to right and top to bottom
    (``rankdir="auto"`` picks top to bottom when left to right would be wider than
    :data:`AUTO_WIDTH` and top to bottom narrower).

    Widths are estimated from the DOT text (about 5 pt per character of a
    10 pt label, plus padding; more space between ranks with ``flow``'s edge
    labels), with ranks as ``dot`` assigns them (the longest
    path from a source, a source one rank before its nearest consumer): left to
    right, the picture is as wide as the sum over ranks of each rank's widest
    node; top to bottom, as its widest rank.
    """
    width: dict[str, float] = {}
    succ: dict[str, list[str]] = {}
    indeg: dict[str, int] = {}
    for line in body:
        m = _NODE.match(line)
        if m and m.group(1) not in ("adjoint_table", "graph", "node", "edge"):
            label = m.group(2).split(" color=")[0]
            width[m.group(1)] = 16.0 + 5.0 * _label_chars(label) if "TABLE" in label else 30.0
            continue
        m = _EDGE.match(line)
        if m:
            succ.setdefault(m.group(1), []).append(m.group(2))
            indeg[m.group(2)] = indeg.get(m.group(2), 0) + 1
    rank = dict.fromkeys((n for n in width if not indeg.get(n)), 0)
    queue = list(rank)
    left = dict(indeg)
    while queue:
        n = queue.pop()
        for d in succ.get(n, ()):
            rank[d] = max(rank.get(d, 0), rank[n] + 1)
            left[d] -= 1
            if left[d] == 0:
                queue.append(d)
    for n in width:  # dot pulls a source next to its nearest consumer
        if not indeg.get(n) and succ.get(n):
            rank[n] = min(rank.get(d, 1) for d in succ[n]) - 1
    by_rank: dict[int, list[float]] = {}
    for n, w in width.items():
        by_rank.setdefault(rank.get(n, 0), []).append(w)
    gap = 33.0 if flow else 25.0  # edge labels widen the space between ranks
    lr = sum(max(ws) for ws in by_rank.values()) + gap * (len(by_rank) - 1)
    tb = max(sum(ws) + 18.0 * (len(ws) - 1) for ws in by_rank.values())
    return lr, tb


def _label_chars(label: str) -> int:
    """Characters on the longest line of an HTML-like label (a table row or a line)."""
    rows = [_TAGS.sub("", r) for r in re.split(r"</TR>|<BR/>", label)]
    return max((len(html_unescape(r)) for r in rows), default=1)


def _margin(lines: Iterable[str]) -> str:
    """A node's ``margin`` (inches): room for its longest line in a wider font.

    ``dot`` sizes labels with Helvetica's metrics, but a reader's browser may
    draw them in DejaVu Sans (the usual sans-serif font on Linux), about 12%
    wider: each side gets 0.08 in plus 0.2 pt (0.0028 in) per character of the
    longest line.

    >>> _margin(["data 0.5", "<B>grad</B> not computed"])
    '0.13,0.04'
    """
    longest = max((len(html_unescape(_TAGS.sub("", s))) for s in lines), default=0)
    return f"{0.08 + 0.0028 * longest:.2f},0.04"


def _natural(key: str) -> list:
    """Sort key putting ``layers.2`` before ``layers.10``."""
    return [int(t) if t.isdigit() else t for t in re.split(r"(\d+)", key)]


def _as_roots(root: object) -> tuple[Value, ...]:
    roots = (root,) if isinstance(root, Value) else tuple(root) if isinstance(
        root, (list, tuple)) else None
    if not roots or not all(isinstance(r, Value) for r in roots):
        raise TypeError(f"draw: expected a Value (or a list of Values) to draw, got "
                        f"{type(root).__name__} {root!r:.60}")
    return roots


def _param_names(params: object) -> dict[Value, str]:
    if params is None:
        return {}
    expected = ("params must be a model (its named_parameters() are used), a dict "
                "name -> Value such as dict(model.named_parameters()), or (name, Value) pairs")
    if callable(getattr(params, "named_parameters", None)):  # an nn.Module (or alike)
        params = params.named_parameters()
    if isinstance(params, (str, bytes, Value)):
        raise TypeError(f"{expected}; got {type(params).__name__}")
    try:
        items = params.items() if isinstance(params, Mapping) else iter(params)
    except TypeError:
        raise TypeError(f"{expected}; got {type(params).__name__}") from None
    names: dict[Value, str] = {}
    for item in items:
        try:
            name, value = item
        except (TypeError, ValueError):
            raise TypeError("params must be a dict name -> Value (e.g. "
                            f"dict(model.named_parameters())), got an item {item!r:.60}") from None
        if not isinstance(value, Value):
            raise TypeError(f"params[{name!r}] is a {type(value).__name__}, not a Value")
        names.setdefault(value, str(name))
    return names


def _grad_table(grads: object, roots: tuple[Value, ...]) -> dict | None:
    if isinstance(grads, str):
        if grads == "grad":
            return None
        if grads == "adjoints":
            live = tuple(r for r in roots if r.requires_grad)
            return engine_adjoints(live) if live else {}
        raise ValueError(f"grads must be 'grad', 'adjoints' or a mapping node -> adjoint, "
                         f"got {grads!r}")
    if isinstance(grads, Mapping):
        return dict(grads)
    raise ValueError(f"grads must be 'grad', 'adjoints' or a mapping node -> adjoint, "
                     f"got {type(grads).__name__}")
