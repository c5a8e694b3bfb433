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

FONT = "Helvetica"

#: Node roles: fill colour, border colour and the legend's explanation.
ROLES: dict[str, dict[str, str]] = {
    "input": {"fill": "#dbe9f6", "border": "#2b6cb0",
              "text": "input: a leaf that requires grad"},
    "parameter": {"fill": "#d5efcf", "border": "#2f855a",
                  "text": "parameter: named in params="},
    "constant": {"fill": "#eeeeee", "border": "#8a8a8a",
                 "text": "constant: requires_grad=False, no gradient"},
    "intermediate": {"fill": "#ffffff", "border": "#4a5568",
                     "text": "intermediate: made by an op"},
    "root": {"fill": "#fde0c5", "border": "#c05621",
             "text": "root: the output differentiated"},
    "group": {"fill": "#ece2f6", "border": "#6b46c1",
              "text": "collapsed neuron or layer"},
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
    """A number as pictures show it: ``precision`` significant digits.

    >>> fmt(0.7864477), fmt(-3.0), fmt(1e-9), fmt(float("nan"))
    ('0.7864', '-3', '1e-09', 'nan')
    """
    return format(float(x), f".{precision}g")


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


def legend_label(*, flow: bool = False, shade: bool = False, depth_cut: bool = False,
                 groups: bool = False, numbered: bool = False, ops: bool = True) -> str:
    """The legend: an HTML-like label explaining every colour the picture uses.

    Args:
        flow: Explain the edge colours and widths of gradient contributions.
        shade: Explain the node shading by ``|grad|``.
        depth_cut: Explain the dashed border of nodes whose inputs are hidden.
        groups: Include the collapsed-group role.
        numbered: Explain the ``#k`` backward-order numbers.
        ops: Explain the op nodes.

    Returns:
        The label, ready for a DOT ``label=`` attribute.
    """
    rows = ['<TR><TD COLSPAN="2"><B>legend</B></TD></TR>']
    for role, style in ROLES.items():
        if role == "group" and not groups:
            continue
        rows.append(f'<TR><TD BGCOLOR="{style["fill"]}" COLOR="{style["border"]}" BORDER="1" '
                    f'WIDTH="18"> </TD><TD ALIGN="LEFT">{esc(style["text"])}</TD></TR>')
    notes = [(OP["fill"], "op node: the primitive that made the value it points to")] if ops else []
    if flow:
        pos, neg = EDGE["positive"][1], EDGE["negative"][1]
        notes += [(pos, "edge: positive contribution (d node / d input) x adjoint[node]"),
                  (neg, "edge: negative contribution; width grows with its size"),
                  (EDGE["constant"], "dashed edge: no gradient flows (constant input)")]
    if shade:
        notes.append((SHADE[1], "fill: |grad|, white (0) to orange (the largest)"))
    if numbered:
        notes.append(("#ffffff", "#k: position in the backward (reverse topological) order"))
    if depth_cut:
        notes.append(("#ffffff", "dashed border: inputs hidden by the depth limit"))
    for colour, text in notes:
        rows.append(f'<TR><TD BGCOLOR="{colour}" BORDER="1" WIDTH="18"> </TD>'
                    f'<TD ALIGN="LEFT">{esc(text)}</TD></TR>')
    return ('<<TABLE BORDER="0" CELLBORDER="0" CELLSPACING="2" CELLPADDING="2">'
            + "".join(rows) + "</TABLE>>")
