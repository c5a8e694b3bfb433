"""Measuring rendered SVGs as a reader sees them: size on screen at 100% zoom, the
smallest text, the legend's area against the graph's, and text that would be
clipped or overlap when the browser's font is DejaVu Sans (wider than the
Helvetica metrics Graphviz may have laid out with).

Graphviz writes sizes in points (``width="700pt"``); a browser at 100% zoom
draws one point as 4/3 CSS pixels.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass

SVG = "{http://www.w3.org/2000/svg}"
PX_PER_PT = 4 / 3


@dataclass
class Text:
    text: str
    x0: float
    x1: float
    y: float
    size: float
    group: str  # id of the enclosing node or edge ("" for the graph's own label)


def size_px(svg: str) -> tuple[float, float]:
    """Width and height at 100% zoom, in CSS pixels."""
    root = ET.fromstring(svg)
    w, h = (float(root.get(k).removesuffix("pt")) for k in ("width", "height"))
    return w * PX_PER_PT, h * PX_PER_PT


def _width(text: str, size: float, bold: bool) -> float:
    from matplotlib.font_manager import FontProperties
    from matplotlib.textpath import TextToPath

    prop = FontProperties(family="DejaVu Sans", size=size, weight="bold" if bold else "normal")
    w, _h, _d = TextToPath().get_text_width_height_descent(text, prop, ismath=False)
    return w


def _offset(root: ET.Element) -> tuple[float, float]:
    g = root.find(f"{SVG}g")
    m = re.search(r"translate\(([-\d.]+) ([-\d.]+)\)", g.get("transform", ""))
    return (float(m.group(1)), float(m.group(2))) if m else (0.0, 0.0)


def texts(svg: str) -> list[Text]:
    """Every text with its horizontal extent in DejaVu Sans, in viewBox units."""
    root = ET.fromstring(svg)
    dx, _dy = _offset(root)
    out = []
    graph = root.find(f"{SVG}g")

    def walk(el: ET.Element, group: str) -> None:
        for child in el:
            if child.tag == f"{SVG}g":
                walk(child, child.get("id", group) if "node" in child.get("class", "")
                     or "edge" in child.get("class", "") else group)
            elif child.tag == f"{SVG}text":
                s = "".join(child.itertext())
                if not s.strip():
                    continue
                size = float(child.get("font-size", "14"))
                w = _width(s, size, child.get("font-weight") == "bold")
                x = float(child.get("x")) + dx
                anchor = child.get("text-anchor", "start")
                x0 = x - (w if anchor == "end" else w / 2 if anchor == "middle" else 0.0)
                out.append(Text(s, x0, x0 + w, float(child.get("y")), size, group))

    walk(graph, "")
    return out


def min_text_px(svg: str, shown_width_px: float | None = None) -> float:
    """The smallest font size on screen, in CSS pixels, when the picture is shown
    ``shown_width_px`` wide (default: its natural width)."""
    w, _h = size_px(svg)
    scale = 1.0 if shown_width_px is None else shown_width_px / w
    return min(t.size for t in texts(svg)) * PX_PER_PT * scale


def clipped(svg: str) -> list[str]:
    """Texts that would run past the picture's edges in DejaVu Sans."""
    root = ET.fromstring(svg)
    width = float(root.get("viewBox").split()[2])
    return [t.text for t in texts(svg) if t.x0 < -0.5 or t.x1 > width + 0.5]


def overlapping(svg: str, group: str) -> list[tuple[str, str]]:
    """Pairs of texts on one line of one node (a table) that overlap in DejaVu Sans."""
    rows: dict[float, list[Text]] = {}
    for t in texts(svg):
        if t.group == group:
            rows.setdefault(round(t.y), []).append(t)
    pairs = []
    for row in rows.values():
        row.sort(key=lambda t: t.x0)
        pairs += [(a.text, b.text) for a, b in zip(row, row[1:], strict=False) if a.x1 > b.x0]
    return pairs


def _points(el: ET.Element) -> list[tuple[float, float]]:
    if el.tag == f"{SVG}ellipse":
        cx, cy, rx, ry = (float(el.get(k)) for k in ("cx", "cy", "rx", "ry"))
        return [(cx - rx, cy - ry), (cx + rx, cy + ry)]
    raw = el.get("points") or el.get("d") or ""
    nums = [float(v) for v in re.findall(r"-?\d+(?:\.\d+)?", raw)]
    return list(zip(nums[::2], nums[1::2], strict=False))


def areas(svg: str) -> tuple[float, float]:
    """``(legend area, graph area)`` in square points: the bounding box of the
    graph's own label (the legend) and that of every node and edge."""
    root = ET.fromstring(svg)
    graph = root.find(f"{SVG}g")
    legend: list[tuple[float, float]] = []
    drawn: list[tuple[float, float]] = []
    for child in graph:
        cls = child.get("class", "")
        if child.tag == f"{SVG}g" and ("node" in cls or "edge" in cls or "cluster" in cls):
            for el in child.iter():
                if el.tag in (f"{SVG}polygon", f"{SVG}path", f"{SVG}ellipse", f"{SVG}polyline"):
                    drawn += _points(el)
        elif child.tag in (f"{SVG}polygon", f"{SVG}text") and child is not graph[1]:
            if child.tag == f"{SVG}polygon" and child.get("fill") == "white" and \
                    child.get("stroke") == "transparent":
                continue  # the background
            legend += _points(child) if child.tag == f"{SVG}polygon" else []
    for t in texts(svg):
        if t.group == "":
            legend += [(t.x0 - _offset(root)[0], t.y - t.size), (t.x1 - _offset(root)[0], t.y)]

    def box(pts: list[tuple[float, float]]) -> float:
        if not pts:
            return 0.0
        xs, ys = [p[0] for p in pts], [p[1] for p in pts]
        return (max(xs) - min(xs)) * (max(ys) - min(ys))

    return box(legend), box(drawn)


def outside_nodes(svg: str) -> list[str]:
    """Texts of nodes (value, op, group boxes) that run past their node's outline in
    DejaVu Sans, or come within ``2 pt`` of it."""
    root = ET.fromstring(svg)
    dx, _dy = _offset(root)
    bounds: dict[str, tuple[float, float]] = {}
    for g in root.iter(f"{SVG}g"):
        if "node" not in g.get("class", ""):
            continue
        shape = next((el for el in g if el.tag in (f"{SVG}path", f"{SVG}polygon",
                                                     f"{SVG}ellipse")), None)
        if shape is not None and g.get("id") != "adjoint_table":
            xs = [x for x, _y in _points(shape)]
            bounds[g.get("id")] = (min(xs) + dx, max(xs) + dx)
    return [t.text for t in texts(svg) if t.group in bounds
            and (t.x0 < bounds[t.group][0] + 2 or t.x1 > bounds[t.group][1] - 2)]


def node_boxes(svg: str) -> dict[str, tuple[float, float, float, float]]:
    """Every node's ``(x0, x1, y0, y1)`` from its outlines (any table included), by id,
    in the SVG's own units."""
    root = ET.fromstring(svg)
    boxes = {}
    for g in root.iter(f"{SVG}g"):
        if "node" not in g.get("class", "").split():
            continue
        pts = [p for el in g.iter() if el.tag in (f"{SVG}path", f"{SVG}polygon",
                                                   f"{SVG}ellipse") for p in _points(el)]
        if pts:
            xs, ys = [x for x, _ in pts], [y for _, y in pts]
            boxes[g.get("id")] = (min(xs), max(xs), min(ys), max(ys))
    return boxes
