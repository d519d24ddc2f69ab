"""One drawing module for every picture breakglass draws: laid out once as plain shapes, then
written as SVG (HTML, the dashboard, ``analyze tx --format svg``) or as a reportlab drawing
(the PDF post-mortem), so the two can never disagree.

:func:`flow_picture` lays out a fund flow: a box per address, a curved arrow per transfer with
a numbered marker, and a legend under the graph that carries each arrow's amount. Amounts
live in the legend, not on the arrows, because labels on curves collide as soon as a flash
loan sends money back and forth between the same boxes; markers are small and are moved
along their curve until they touch neither another marker nor a box. Columns follow the money
from where it starts, so money paid back points left.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections import defaultdict, deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]

__all__ = ["FlowEdge", "Picture", "Shape", "flow_picture", "text_width", "to_drawing", "to_svg"]


@dataclass(frozen=True, slots=True)
class Shape:
    """One drawn element. ``kind`` is line, circle, rect, polygon, curve (a quadratic Bézier:
    start, control, end) or text; ``points`` are (x, y) pairs from the top left; ``title`` is
    a tooltip in SVG."""

    kind: str
    points: tuple[float, ...]
    color: str = "#333333"
    fill: str | None = None
    text: str = ""
    size: float = 9
    anchor: str = "start"
    title: str = ""
    css: str = ""


@dataclass(frozen=True, slots=True)
class Picture:
    """Shapes on a ``width`` by ``height`` canvas (points in the PDF, pixels in SVG)."""

    shapes: list[Shape]
    width: float
    height: float


def text_width(text: str, size: float) -> float:
    """The width of ``text`` in Helvetica at ``size``: what the PDF uses, and close to the
    browser's sans-serif, so boxes and legends are sized to their words."""
    from reportlab.pdfbase.pdfmetrics import stringWidth  # type: ignore[import-untyped]  # noqa: PLC0415

    return float(stringWidth(text.replace("…", "..."), "Helvetica", size))


# --- SVG -----------------------------------------------------------------------------------


def _svg_element(parent: ET.Element, s: Shape) -> ET.Element:
    p = [f"{v:.1f}" for v in s.points]
    if s.kind == "line":
        return ET.SubElement(parent, "line", x1=p[0], y1=p[1], x2=p[2], y2=p[3], stroke=s.color)
    if s.kind == "circle":
        return ET.SubElement(
            parent, "circle", cx=p[0], cy=p[1], r=p[2], fill=s.fill or "none", stroke=s.color
        )
    if s.kind == "rect":
        attrs = {"fill": s.fill or "none", "stroke": s.color, "rx": "4"}
        return ET.SubElement(parent, "rect", attrs, x=p[0], y=p[1], width=p[2], height=p[3])
    if s.kind == "polygon":
        points = " ".join(f"{p[i]},{p[i + 1]}" for i in range(0, len(p), 2))
        return ET.SubElement(parent, "polygon", points=points, fill=s.fill or s.color)
    if s.kind == "curve":
        d = f"M {p[0]} {p[1]} Q {p[2]} {p[3]} {p[4]} {p[5]}"
        return ET.SubElement(
            parent, "path", {"stroke-width": "1.4"}, d=d, fill="none", stroke=s.color
        )
    attrs = {"font-size": f"{s.size:g}", "fill": s.color, "text-anchor": s.anchor}
    element = ET.SubElement(parent, "text", attrs, x=p[0], y=p[1])
    element.text = s.text
    return element


def to_svg(picture: Picture, *, xml_declaration: bool = False) -> str:
    """The picture as an SVG element (every text escaped by ElementTree)."""
    svg = ET.Element(
        "svg",
        {"font-family": "Helvetica, Arial, sans-serif", "xmlns": "http://www.w3.org/2000/svg"},
        width=f"{picture.width:.0f}",
        height=f"{picture.height:.0f}",
        viewBox=f"0 0 {picture.width:.0f} {picture.height:.0f}",
    )
    for shape in picture.shapes:
        parent = svg
        if shape.title or shape.css:
            parent = ET.SubElement(svg, "g", {"class": shape.css} if shape.css else {})
            if shape.title:
                ET.SubElement(parent, "title").text = shape.title
        _svg_element(parent, shape)
    text = ET.tostring(svg, encoding="unicode", xml_declaration=xml_declaration)
    return text + ("\n" if xml_declaration else "")


# --- reportlab -----------------------------------------------------------------------------


def to_drawing(picture: Picture, max_width: float) -> Drawing:
    """The picture as a reportlab drawing, scaled down (never up) to ``max_width`` points."""
    from reportlab.graphics.shapes import (  # noqa: PLC0415 - only the PDF needs reportlab
        Circle,
        Drawing,
        Line,
        Path,
        Polygon,
        Rect,
        String,
    )
    from reportlab.lib.colors import HexColor  # type: ignore[import-untyped]  # noqa: PLC0415

    scale = min(1.0, max_width / picture.width)
    drawing = Drawing(picture.width * scale, picture.height * scale)

    def xy(points: Sequence[float]) -> list[float]:
        return [
            v * scale if i % 2 == 0 else (picture.height - v) * scale for i, v in enumerate(points)
        ]

    for s in picture.shapes:
        stroke = HexColor(s.color)
        p = xy(s.points)
        shape: Any
        if s.kind == "line":
            shape = Line(p[0], p[1], p[2], p[3], strokeColor=stroke)
        elif s.kind == "circle":
            fill = HexColor(s.fill) if s.fill else None
            shape = Circle(p[0], p[1], s.points[2] * scale, fillColor=fill, strokeColor=stroke)
        elif s.kind == "rect":
            fill = HexColor(s.fill) if s.fill else None
            bottom = (picture.height - s.points[1] - s.points[3]) * scale
            w, h = s.points[2] * scale, s.points[3] * scale
            shape = Rect(p[0], bottom, w, h, rx=3, ry=3, fillColor=fill, strokeColor=stroke)
        elif s.kind == "polygon":
            shape = Polygon(p, fillColor=HexColor(s.fill or s.color), strokeColor=stroke)
        elif s.kind == "curve":  # quadratic as the cubic with the same shape
            (x0, y0, cx, cy, x1, y1) = p
            shape = Path(strokeColor=stroke, fillColor=None, strokeWidth=1.2)
            shape.moveTo(x0, y0)
            shape.curveTo(
                x0 + 2 / 3 * (cx - x0),
                y0 + 2 / 3 * (cy - y0),
                x1 + 2 / 3 * (cx - x1),
                y1 + 2 / 3 * (cy - y1),
                x1,
                y1,
            )
        else:
            shape = String(
                p[0],
                p[1],
                s.text.translate(_PDF_TEXT),
                fontName="Helvetica",
                fontSize=s.size * scale,
                fillColor=stroke,
                textAnchor=s.anchor,
            )
        drawing.add(shape)
    return drawing


# --- fund flow -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class FlowEdge:
    """One arrow: money from ``sender`` to ``receiver``; ``label`` is its legend text (the
    amount in its unit), ``note`` an optional tooltip."""

    sender: str
    receiver: str
    label: str
    note: str = ""


_PDF_TEXT = str.maketrans({"→": "->"})
"""Characters outside the WinAnsi set of the PDF's standard Helvetica."""

_BOX_H, _COL_GAP, _ROW_GAP, _MARGIN, _TOP = 38.0, 110.0, 46.0, 24.0, 40.0
_MARK_R = 7.0


def _columns(nodes: list[str], edges: Sequence[FlowEdge], first: str | None) -> dict[str, int]:
    """Each node's column: its distance, along the money, from where the money starts (the
    transaction's sender when given, and every address that only sends). Money paid back
    (a flash loan's repay) then points left instead of stacking every box in one column."""
    successors: dict[str, list[str]] = defaultdict(list)
    receivers = set()
    for edge in edges:
        if edge.sender != edge.receiver and edge.receiver not in successors[edge.sender]:
            successors[edge.sender].append(edge.receiver)
            receivers.add(edge.receiver)
    column: dict[str, int] = {}
    starts = ([first] if first else []) + [n for n in nodes if n not in receivers]
    starts = starts or nodes[:1]
    while len(column) < len(nodes):
        queue = deque((start, 0) for start in starts if start not in column)
        while queue:
            node, depth = queue.popleft()
            if node in column:
                continue
            column[node] = depth
            queue.extend((n, depth + 1) for n in successors[node] if n not in column)
        starts = [next(n for n in nodes if n not in column)] if len(column) < len(nodes) else []
    return column


def _bezier(
    p0: tuple[float, float], c: tuple[float, float], p1: tuple[float, float], t: float
) -> tuple[float, float]:
    u = 1 - t
    return (
        u * u * p0[0] + 2 * u * t * c[0] + t * t * p1[0],
        u * u * p0[1] + 2 * u * t * c[1] + t * t * p1[1],
    )


def _edge_point(
    box: tuple[float, float, float, float], toward: tuple[float, float]
) -> tuple[float, float]:
    """Where the segment from the box's centre toward ``toward`` leaves the box."""
    x, y, w, h = box
    cx, cy = x + w / 2, y + h / 2
    dx, dy = toward[0] - cx, toward[1] - cy
    scale = min(
        (w / 2 + 3) / abs(dx) if dx else math.inf, (h / 2 + 3) / abs(dy) if dy else math.inf
    )
    scale = min(scale, 1.0)
    return cx + dx * scale, cy + dy * scale


def _inside(point: tuple[float, float], boxes: list[tuple[float, float, float, float]]) -> bool:
    return any(
        x - _MARK_R <= point[0] <= x + w + _MARK_R and y - _MARK_R <= point[1] <= y + h + _MARK_R
        for x, y, w, h in boxes
    )


def flow_picture(
    edges: Sequence[FlowEdge],
    *,
    title: str,
    names: dict[str, tuple[str, str]],
    first: str | None = None,
) -> Picture:
    """A fund-flow picture of ``edges``.

    Args:
        edges: the arrows, in the order the money moved.
        title: the line above the graph.
        names: per address, the box's two lines (name, and a second line such as its kind).
        first: an address to draw first (the transaction's sender).
    """
    nodes: list[str] = [first] if first else []
    for edge in edges:
        nodes += [a for a in (edge.sender, edge.receiver) if a not in nodes]
    column = _columns(nodes, edges, first)
    widths = {
        n: max(110.0, max(text_width(t, 9) for t in names.get(n, (n, ""))) + 18) for n in nodes
    }
    col_w: dict[int, float] = defaultdict(float)
    for node in nodes:
        col_w[column[node]] = max(col_w[column[node]], widths[node])
    col_x: dict[int, float] = {}
    x = _MARGIN
    for col in range(max(column.values(), default=0) + 1):
        col_x[col] = x
        x += col_w[col] + _COL_GAP
    row_of: dict[int, int] = defaultdict(int)
    boxes: dict[str, tuple[float, float, float, float]] = {}
    for node in nodes:
        col = column[node]
        y = _TOP + row_of[col] * (_BOX_H + _ROW_GAP)
        row_of[col] += 1
        boxes[node] = (col_x[col] + (col_w[col] - widths[node]) / 2, y, widths[node], _BOX_H)
    graph_h = _TOP + max(row_of.values(), default=1) * (_BOX_H + _ROW_GAP)
    shapes = [Shape("text", (_MARGIN, 20), text=title, size=11)]
    marks: list[tuple[float, float]] = []
    pairs: dict[tuple[str, str], int] = defaultdict(int)
    totals: dict[tuple[str, str], int] = defaultdict(int)
    for edge in edges:
        totals[(edge.sender, edge.receiver)] += 1
    legend: list[str] = []
    box_list = list(boxes.values())
    for number, edge in enumerate(edges, start=1):
        key = (edge.sender, edge.receiver)
        k, n = pairs[key], totals[key]
        pairs[key] += 1
        shapes += _arrow(
            edge, boxes, k, n, (edge.receiver, edge.sender) in totals, number, marks, box_list
        )
        sender = names.get(edge.sender, (edge.sender, ""))[0]
        receiver = names.get(edge.receiver, (edge.receiver, ""))[0]
        legend.append(f"{number}. {sender} → {receiver}: {edge.label}")
    for node in nodes:
        bx, by, bw, bh = boxes[node]
        line1, line2 = names.get(node, (node, ""))
        known = not line1.startswith("0x")
        shapes.append(
            Shape(
                "rect",
                (bx, by, bw, bh),
                fill="#e8f0fe" if known else "#f4f4f4",
                title=node,
                css="address",
            )
        )
        shapes.append(Shape("text", (bx + bw / 2, by + 16), text=line1, anchor="middle"))
        if line2:
            shapes.append(
                Shape(
                    "text",
                    (bx + bw / 2, by + 29),
                    text=line2,
                    size=7.5,
                    anchor="middle",
                    color="#555555",
                )
            )
    y = graph_h - _ROW_GAP + 26
    for line in legend:
        shapes.append(Shape("text", (_MARGIN, y), text=line, size=8.5))
        y += 13
    widest = max([text_width(t, 8.5) for t in legend] + [text_width(title, 11)])
    width = max(x - _COL_GAP + _MARGIN, widest + 2 * _MARGIN)
    return Picture(shapes, width, y + 6)


def _arrow(
    edge: FlowEdge,
    boxes: dict[str, tuple[float, float, float, float]],
    k: int,
    n: int,
    both_ways: bool,
    number: int,
    marks: list[tuple[float, float]],
    box_list: list[tuple[float, float, float, float]],
) -> list[Shape]:
    sx, sy, sw, sh = boxes[edge.sender]
    a = (sx + sw / 2, sy + sh / 2)
    if edge.sender == edge.receiver:  # money to itself: a loop above the box
        start, end = (sx + sw * 0.3, sy), (sx + sw * 0.7, sy)
        control = ((start[0] + end[0]) / 2, sy - 40)
    else:
        rx, ry, rw, rh = boxes[edge.receiver]
        b = (rx + rw / 2, ry + rh / 2)
        dx, dy = b[0] - a[0], b[1] - a[1]
        length = math.hypot(dx, dy) or 1.0
        bend = 26.0 * (k + 1) if both_ways else 26.0 * (k - (n - 1) / 2)
        control = ((a[0] + b[0]) / 2 - dy / length * bend, (a[1] + b[1]) / 2 + dx / length * bend)
        start = _edge_point(boxes[edge.sender], control)
        end = _edge_point(boxes[edge.receiver], control)
    angle = math.atan2(end[1] - control[1], end[0] - control[0])
    head: list[float] = [*end]
    for turn in (math.pi - 0.4, math.pi + 0.4):
        head += [end[0] + 8 * math.cos(angle + turn), end[1] + 8 * math.sin(angle + turn)]
    spot = _bezier(start, control, end, 0.5)
    for t in (0.5, 0.4, 0.6, 0.3, 0.7, 0.22, 0.78):
        candidate = _bezier(start, control, end, t)
        clear = all(math.dist(candidate, m) > 2 * _MARK_R + 2 for m in marks)
        if clear and not _inside(candidate, box_list):
            spot = candidate
            break
    marks.append(spot)
    tip = f"{edge.sender} → {edge.receiver}: {edge.label}" + (
        f" ({edge.note})" if edge.note else ""
    )
    return [
        Shape("curve", (*start, *control, *end), color="#666666", title=tip, css="transfer"),
        Shape("polygon", tuple(head), color="#666666", fill="#666666"),
        Shape("circle", (*spot, _MARK_R), color="#a33333", fill="#ffffff"),
        Shape(
            "text",
            (spot[0], spot[1] + 3),
            text=str(number),
            size=8,
            anchor="middle",
            color="#a33333",
        ),
    ]
