"""The one style table of every picture ``viz`` draws, and the legend that explains it.

Every colour, shape and width lives here, keyed by the *role* a node plays
(input, parameter, constant, intermediate, root, collapsed group) or by what
an edge carries (a positive or negative gradient contribution). The DOT
builder (:mod:`viz.dot`) and the backward animation (:mod:`viz.animate`)
only look styles up; change a colour here and every picture follows.

NB: as ``torchviz``'s one-table style, with roles instead of tensor kinds.
"""

from __future__ import annotations

import html
import math
import re
from collections.abc import Iterable

FONT = "Helvetica"

#: Node roles: fill colour, border colour and the legend's explanation.
ROLES: dict[str, dict[str, str]] = {
    "input": {"fill": "#dbe9f6", "border": "#2b6cb0", "text": "input (leaf)"},
    "parameter": {"fill": "#d5efcf", "border": "#2f855a", "text": "parameter"},
    "constant": {"fill": "#eeeeee", "border": "#8a8a8a", "text": "constant (no grad)"},
    "intermediate": {"fill": "#ffffff", "border": "#4a5568", "text": "intermediate"},
    "root": {"fill": "#fde0c5", "border": "#c05621", "text": "root (output)"},
    "group": {"fill": "#ece2f6", "border": "#6b46c1", "text": "collapsed neuron or layer"},
}

#: The small op nodes between values.
OP = {"fill": "#f4f4f4", "border": "#9a9a9a", "fontsize": "9"}

#: Edge colours: light (small |contribution|) to dark (the largest), per sign.
EDGE = {
    "positive": ("#b3cde3", "#08519c"),
    "negative": ("#f9c0b0", "#a50f15"),
    "zero": "#b0b0b0",
    "nan": "#8e44ad",
    "plain": "#555555",
    "constant": "#bbbbbb",
}
#: Edge width runs from ``PEN[0]`` (no contribution) to ``PEN[1]`` (the largest).
PEN = (1.0, 4.5)

#: Node shading by ``|grad|``: from the first colour (0) to the second (the largest).
SHADE = ("#ffffff", "#f6a04d")

#: The node being processed in a backward step, and partial sums not yet final.
CURRENT = {"fill": "#ffe066", "border": "#d9480f", "penwidth": "3"}
PARTIAL_FONT = "#6b7a8f"

#: The animation page: text, frames and rules, the background, adjoints not reached
#: yet, and edges that carry nothing yet.
PAGE = {"text": "#222222", "frame": "#dddddd", "rule": "#eeeeee", "paper": "#ffffff",
        "unknown": "#999999", "pending": "#d0d0d0"}

#: The adjoint table beside a graph: its border and background.
TABLE = {"border": "#999999", "fill": "#ffffff"}

#: Plots: the background regions are lightened towards, and the neutral colour of
#: the train / test marker keys in a legend.
PAPER = "#ffffff"
KEY = "#bbbbbb"

#: Text colour of a grad left over from an earlier backward (see ``Scene``'s ``stale``).
STALE_FONT = "#b7791f"

#: Class colours of the plots, safe for colour-blind readers: Okabe and Ito's palette
#: (https://jfly.uni-koeln.de/color/, without black) for up to 7 classes, Paul Tol's
#: "muted" scheme (https://personal.sron.nl/~pault/) for 8 to 10.
CLASS_COLOURS = ("#0072B2", "#E69F00", "#009E73", "#CC79A7", "#56B4E9", "#D55E00", "#F0E442")
CLASS_COLOURS_10 = ("#332288", "#88CCEE", "#44AA99", "#117733", "#999933", "#DDCC77",
                    "#CC6677", "#882255", "#AA4499", "#DDDDDD")

#: How far a decision region's fill is lightened towards white (its points keep the
#: full colour).
REGION_LIGHTEN = 0.6

#: Training curves: train solid, test dashed; loss and accuracy in their own colours.
CURVES = {"train_loss": "#0072B2", "test_loss": "#0072B2", "train_acc": "#009E73",
          "test_acc": "#009E73"}


def class_colours(k: int) -> tuple[str, ...]:
    """The colours of ``k`` classes (at most 10).

    >>> class_colours(2)
    ('#0072B2', '#E69F00')

    Raises:
        ValueError: More than 10 classes.
    """
    if k > len(CLASS_COLOURS_10):
        raise ValueError(f"cannot colour {k} classes: at most {len(CLASS_COLOURS_10)}")
    return CLASS_COLOURS[:k] if k <= len(CLASS_COLOURS) else CLASS_COLOURS_10[:k]


#: Text shown for a gradient that backward has not computed (never a misleading 0).
NOT_COMPUTED = "not computed"

#: Characters shown as an escape code: control characters and lone surrogates (which no
#: encoding can write, so they would make Graphviz's input fail to encode). ``\r`` is
#: turned into a newline first.
_UNPRINTABLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ud800-\udfff]")


def printable(text: object) -> str:
    """``text`` with control characters (but newline and tab) shown as ``\\xNN`` and lone
    surrogates (which no encoding can write) as ``\\uNNNN``: safe to encode as UTF-8.

    >>> printable("bell\\x07 half\\ud800 ok")
    'bell\\\\x07 half\\\\ud800 ok'
    """
    def code(m: re.Match) -> str:
        n = ord(m.group())
        return f"\\x{n:02x}" if n < 0x100 else f"\\u{n:04x}"

    return _UNPRINTABLE.sub(code, str(text))


def esc(text: object) -> str:
    """Escape ``text`` for a Graphviz HTML-like label, so it renders literally.

    Quotes, ``<``, ``>``, ``&``, braces and bars are shown as typed; a newline
    starts a new line. A backslash is doubled, so Graphviz's escapes (``\\N``
    the node's name, ``\\G`` the graph's, ``\\E``, ``\\L``, ``\\l``...) show as
    typed. Other control characters are shown as ``\\xNN`` and a lone surrogate
    (``"\\ud800"``, which no encoding can write) as ``\\ud800``.

    >>> esc('a<b & "c" {d|e}')
    'a&lt;b &amp; &quot;c&quot; {d|e}'
    >>> esc("two\\nlines")
    'two<BR/>lines'
    >>> print(esc("\\\\N \\ud800"))
    \\\\N \\\\ud800
    """
    out = str(text).replace("\r\n", "\n").replace("\r", "\n").replace("\t", " ")
    out = html.escape(printable(out), quote=True).replace("&#x27;", "&#39;")
    return "<BR/>".join(out.replace("\\", "\\\\").split("\n"))


def fmt(x: float, precision: int = 4) -> str:
    """A number as pictures show it: ``precision`` significant digits, and a zero
    as ``0`` whatever its sign (the backward pass starts its sums at ``-0.0`` to keep
    IEEE signed zeros; the value stays ``-0.0``, only its picture drops the sign).

    >>> fmt(0.7864477), fmt(-3.0), fmt(1e-9), fmt(float("nan")), fmt(-0.0), fmt(-1e-300)
    ('0.7864', '-3', '1e-09', 'nan', '0', '-1e-300')
    """
    x = float(x)
    return "0" if x == 0 else format(x, f".{precision}g")


def mix(c0: str, c1: str, t: float) -> str:
    """The colour a fraction ``t`` (0..1) of the way from ``c0`` to ``c1``.

    >>> mix("#000000", "#ffffff", 0.5)
    '#808080'
    """
    t = 0.0 if not t > 0.0 else min(t, 1.0)
    a = [int(c0[i:i + 2], 16) for i in (1, 3, 5)]
    b = [int(c1[i:i + 2], 16) for i in (1, 3, 5)]
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b, strict=True))


def strength(value: float, largest: float) -> float:
    """Where ``|value|`` sits between 0 and ``largest``, on a square-root scale (0..1).

    The square root keeps small contributions visible next to a large one.

    >>> strength(1.0, 4.0), strength(-4.0, 4.0), strength(0.0, 0.0)
    (0.5, 1.0, 0.0)
    """
    v = abs(value)
    if v != v or not largest > 0.0:
        return 0.0
    if math.isinf(v):
        return 1.0
    if math.isinf(largest):
        return 0.0
    return min(1.0, math.sqrt(v / largest))


def edge_style(contribution: float, largest: float) -> dict[str, str]:
    """DOT attributes of an edge carrying ``contribution``: colour by sign, width by size.

    Args:
        contribution: The gradient flowing back along the edge.
        largest: The largest finite ``|contribution|`` in the picture.

    Returns:
        ``color``, ``fontcolor`` and ``penwidth`` attributes.

    >>> edge_style(-2.0, 2.0)
    {'color': '#a50f15', 'fontcolor': '#a50f15', 'penwidth': '4.5'}
    """
    if contribution != contribution:
        colour, t = EDGE["nan"], 1.0
    elif contribution == 0.0:
        colour, t = EDGE["zero"], 0.0
    else:
        t = strength(contribution, largest)
        light, dark = EDGE["positive" if contribution > 0 else "negative"]
        colour = mix(light, dark, 0.35 + 0.65 * t)
    pen = PEN[0] + (PEN[1] - PEN[0]) * t
    return {"color": colour, "fontcolor": colour, "penwidth": f"{pen:.3g}"}


#: Legend entries that are not node roles: (swatch fill, swatch border, text).
NOTES: dict[str, tuple[str, str, str]] = {
    "op": (OP["fill"], OP["border"], "op"),
    "positive": (EDGE["positive"][1], EDGE["positive"][1], "positive flow"),
    "negative": (EDGE["negative"][1], EDGE["negative"][1], "negative flow"),
    "zero": (EDGE["zero"], EDGE["zero"], "zero flow"),
    "nan": (EDGE["nan"], EDGE["nan"], "nan flow"),
    "constant_edge": ("#ffffff", EDGE["constant"], "dashed: no gradient"),
    "shade": (SHADE[1], "#999999", "fill: |grad| (0 to largest)"),
    "numbered": ("#ffffff", "#ffffff", "#k: backward order"),
    "depth_cut": ("#ffffff", "#4a5568", "dashed border: inputs hidden"),
    "stale": ("#ffffff", STALE_FONT, "(stale): grad of an earlier backward"),
    "flow_label": ("#ffffff", "#ffffff", "edge label: d node / d input x adjoint[node]"),
}

#: Legend entries per row.
LEGEND_COLUMNS = 3


def legend_label(*, flow: bool = False, shade: bool = False, depth_cut: bool = False,
                 groups: bool = False, numbered: bool = False, ops: bool = True,
                 roles: Iterable[str] | None = None, edges: Iterable[str] | None = None,
                 stale: bool = False, columns: int = LEGEND_COLUMNS) -> str:
    """The legend: an HTML-like label explaining exactly the colours a picture uses.

    Entries sit ``columns`` to a row, so the legend stays small beside the
    graph it explains (one column under a narrow graph).

    Args:
        flow: Edges carry gradient contributions (adds the entry saying what
            an edge label is; edges are wider when they carry more).
        shade: Nodes are filled by ``|grad|``: the shading entry replaces the
            role fills it paints over (roles then show their border colour only;
            constants, which have no grad, keep their fill).
        depth_cut: Explain the dashed border of nodes whose inputs are hidden.
        groups: Include the collapsed-group role (when ``roles`` is None).
        numbered: Explain the ``#k`` backward-order numbers.
        ops: Explain the op nodes.
        roles: The node roles present (default: every role).
        edges: The edge kinds present among ``positive``, ``negative``,
            ``zero``, ``nan`` and ``constant_edge`` (default: the first two and
            the last when ``flow``, else ``constant_edge``).
        stale: Some grads shown are stale (from an earlier backward).
        columns: Entries per row.

    Returns:
        The label, ready for a DOT ``label=`` attribute.

    >>> "parameter" in legend_label(roles=["input", "root"])
    False
    """
    if roles is None:
        roles = [r for r in ROLES if r != "group" or groups]
    if edges is None:
        edges = ["positive", "negative", "constant_edge"] if flow else ["constant_edge"]
    roles, edges = set(roles), set(edges)
    cells = []
    for role, style in ROLES.items():
        if role in roles:
            fill = "#ffffff" if shade and role != "constant" else style["fill"]
            cells.append((fill, style["border"], style["text"]))
    keys = (["op"] if ops else []) + [k for k in ("positive", "negative", "zero", "nan",
                                                  "constant_edge") if k in edges]
    keys += ["flow_label"] if flow else []
    keys += [k for k, on in (("shade", shade), ("numbered", numbered),
                             ("depth_cut", depth_cut), ("stale", stale)) if on]
    cells += [NOTES[k] for k in keys]
    rows = []
    columns = max(1, int(columns))
    for start in range(0, len(cells), columns):
        row = '<TD WIDTH="6"></TD>'.join(
            f'<TD BGCOLOR="{fill}" COLOR="{border}" BORDER="1" WIDTH="10" HEIGHT="10" '
            f'FIXEDSIZE="TRUE"> </TD><TD ALIGN="LEFT">{esc(text)}</TD>'
            for fill, border, text in cells[start:start + columns])
        rows.append(f"<TR>{row}</TR>")
    if not rows:
        return "<>"
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="1" CELLPADDING="1">'
            + "".join(rows) + "</TABLE>>")
