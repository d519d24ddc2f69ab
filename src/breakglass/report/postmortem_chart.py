"""The post-mortem's pictures: the incident timeline and the fund flow.

Each picture is laid out once as a list of plain shapes (top-left origin), then drawn as SVG
with ElementTree (every text escaped) for HTML, or as a reportlab ``Drawing`` for the PDF.
"""

from __future__ import annotations

import math
import xml.etree.ElementTree as ET
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from reportlab.graphics.shapes import (  # type: ignore[import-untyped]
    Circle,
    Drawing,
    Line,
    Polygon,
    Rect,
    String,
)
from reportlab.lib.colors import HexColor  # type: ignore[import-untyped]

from breakglass.store.models import FundMovement, Incident, TimelineEvent

__all__ = [
    "Shape",
    "flow_drawing",
    "flow_layout",
    "flow_svg",
    "timeline_drawing",
    "timeline_layout",
    "timeline_svg",
]

KIND_COLORS = {
    "alert": "#d62728",
    "action": "#1f77b4",
    "status": "#2ca02c",
    "note": "#7f7f7f",
    "comms": "#9467bd",
    "tx": "#ff7f0e",
    "external": "#8c564b",
    "task": "#17becf",
    "regulatory": "#e377c2",
}


@dataclass(frozen=True, slots=True)
class Shape:
    """One drawn element. ``kind`` is line, circle, rect, polygon or text; ``points`` are
    (x, y) pairs from the top left; ``text``, ``size`` and ``anchor`` are for text."""

    kind: str
    points: tuple[float, ...]
    color: str = "#333333"
    fill: str | None = None
    text: str = ""
    size: float = 9
    anchor: str = "start"


Picture = tuple[list[Shape], float, float]


def timeline_layout(
    events: Sequence[TimelineEvent], incident: Incident, width: float = 720
) -> Picture:
    """Events as dots in one lane per kind on a UTC time axis, with the incident's
    milestones (start, detection, acknowledgement, containment, resolution) as markers.
    Task events are left out: action items are added long after and would squash the axis."""
    events = [e for e in events if e.kind != "task"]
    milestones = [
        (label, at)
        for label, at in (
            ("start", incident.started_at),
            ("detected", incident.detected_at),
            ("acknowledged", incident.acknowledged_at),
            ("contained", incident.contained_at),
            ("resolved", incident.resolved_at),
        )
        if at is not None
    ]
    times = [e.at for e in events] + [at for _, at in milestones]
    kinds = list(dict.fromkeys(e.kind for e in events)) or ["status"]
    left, top, lane = 80.0, 56.0, 22.0
    height = top + lane * len(kinds) + 60
    lo, hi = (min(times), max(times)) if times else (incident.detected_at, incident.detected_at)
    span = max((hi - lo).total_seconds(), 1.0)
    plot = width - left - 20

    def x_of(at: datetime) -> float:
        return left + plot * (at - lo).total_seconds() / span

    axis_y = top + lane * len(kinds) + 6
    shapes = [Shape("text", (8, 16), text="Incident timeline (UTC)", size=11)]
    for row, kind in enumerate(kinds):
        y = top + lane * row + lane / 2
        shapes.append(Shape("text", (8, y + 3), text=kind, size=8))
        shapes.append(Shape("line", (left, y, left + plot, y), color="#dddddd"))
    for i, (label, at) in enumerate(milestones):  # labels staggered so close ones stay legible
        x, label_y = x_of(at), top - 6 - 9 * (i % 3)
        shapes.append(Shape("line", (x, label_y, x, axis_y), color="#999999"))
        near_end = x > left + plot * 0.85
        shapes.append(
            Shape(
                "text",
                (x - 2 if near_end else x + 2, label_y),
                text=label,
                size=7,
                color="#555555",
                anchor="end" if near_end else "start",
            )
        )
    for event in events:
        y = top + lane * kinds.index(event.kind) + lane / 2
        color = KIND_COLORS.get(event.kind, "#333333")
        shapes.append(Shape("circle", (x_of(event.at), y, 4), color=color, fill=color))
    shapes.append(Shape("line", (left, axis_y, left + plot, axis_y)))
    for i in range(3):
        at = lo + (hi - lo) * (i / 2)
        x = left + plot * i / 2
        anchor = ("start", "middle", "end")[i]
        shapes.append(Shape("line", (x, axis_y, x, axis_y + 4)))
        label = at.strftime("%Y-%m-%d %H:%M:%S")
        shapes.append(Shape("text", (x, axis_y + 16), text=label, size=8, anchor=anchor))
    return shapes, width, height


def _short(address: str) -> str:
    return address if len(address) <= 14 else f"{address[:8]}…{address[-4:]}"


def flow_layout(movements: Sequence[FundMovement], width: float = 720) -> Picture:
    """Fund movements as a left-to-right graph: a box per address, an arrow per movement
    labelled with its amount and asset; columns by distance from the first origins."""
    nodes: list[str] = []
    kinds: dict[str, str] = {}
    for move in movements:
        nodes += [a for a in (move.origin, move.destination) if a not in nodes]
        kinds.setdefault(move.destination, move.destination_kind)
    targets = {m.destination for m in movements if m.destination != m.origin}
    depth = {n: 0 for n in nodes if n not in targets} or {nodes[0]: 0} if nodes else {}
    for _ in nodes:  # relax along edges; bounded, so cycles cannot loop forever
        for move in movements:
            if move.origin in depth and move.destination != move.origin:
                proposed = depth[move.origin] + 1
                if move.destination not in depth or (
                    proposed > depth[move.destination] and proposed < len(nodes)
                ):
                    depth[move.destination] = proposed
    for node in nodes:
        depth.setdefault(node, 0)
    columns = max(depth.values(), default=0) + 1
    rows: dict[int, int] = {}
    cell: dict[str, tuple[float, float]] = {}
    box_w, box_h, gap = 120.0, 34.0, 60.0
    col_w = max((width - 40 - box_w) / max(columns - 1, 1), box_w + 20)
    for node in nodes:
        col = depth[node]
        row = rows.get(col, 0)
        rows[col] = row + 1
        cell[node] = (20 + col * col_w, 36 + row * (box_h + gap))
    height = 36 + max(rows.values(), default=1) * (box_h + gap)
    width = max(width, 40 + box_w + col_w * (columns - 1))
    shapes = [Shape("text", (8, 16), text="Fund flow", size=11)]
    for i, move in enumerate(movements):
        (x1, y1), (x2, y2) = cell[move.origin], cell[move.destination]
        start = (x1 + box_w, y1 + box_h / 2)
        end = (x2, y2 + box_h / 2) if x2 > x1 else (x2 + box_w / 2, y2 + (box_h if y2 < y1 else 0))
        if move.origin == move.destination:
            continue
        shapes.append(Shape("line", (*start, *end), color="#555555"))
        angle = math.atan2(end[1] - start[1], end[0] - start[0])
        head = []
        for turn in (math.pi - 0.4, math.pi + 0.4):
            head += [end[0] + 9 * math.cos(angle + turn), end[1] + 9 * math.sin(angle + turn)]
        shapes.append(Shape("polygon", (*end, *head), color="#555555", fill="#555555"))
        mid = ((start[0] + end[0]) / 2, (start[1] + end[1]) / 2 - 4 - 10 * (i % 2))
        label = f"{move.amount} {_short(move.asset)} ({move.recovery_status})"
        shapes.append(Shape("text", mid, text=label, size=7, anchor="middle"))
    for node in nodes:
        x, y = cell[node]
        kind = kinds.get(node, "origin")
        fill = "#fde0dd" if kind in ("mixer", "unknown") else "#e5f5e0"
        shapes.append(Shape("rect", (x, y, box_w, box_h), fill=fill))
        shapes.append(Shape("text", (x + box_w / 2, y + 14), text=_short(node), anchor="middle"))
        shapes.append(Shape("text", (x + box_w / 2, y + 27), text=kind, size=7, anchor="middle"))
    return shapes, width, height


def _svg(picture: Picture) -> str:
    shapes, width, height = picture
    svg = ET.Element(
        "svg",
        {"font-family": "sans-serif", "xmlns": "http://www.w3.org/2000/svg"},
        width=f"{width:.0f}",
        height=f"{height:.0f}",
        viewBox=f"0 0 {width:.0f} {height:.0f}",
    )
    for s in shapes:
        p = [f"{v:.1f}" for v in s.points]
        if s.kind == "line":
            ET.SubElement(svg, "line", x1=p[0], y1=p[1], x2=p[2], y2=p[3], stroke=s.color)
        elif s.kind == "circle":
            ET.SubElement(svg, "circle", cx=p[0], cy=p[1], r=p[2], fill=s.fill or "none")
        elif s.kind == "rect":
            attrs = {"fill": s.fill or "none", "stroke": s.color, "rx": "4"}
            ET.SubElement(svg, "rect", attrs, x=p[0], y=p[1], width=p[2], height=p[3])
        elif s.kind == "polygon":
            points = " ".join(f"{p[i]},{p[i + 1]}" for i in range(0, len(p), 2))
            ET.SubElement(svg, "polygon", points=points, fill=s.fill or s.color)
        else:
            anchor = {"start": "start", "middle": "middle", "end": "end"}[s.anchor]
            attrs = {"font-size": f"{s.size:g}", "fill": s.color, "text-anchor": anchor}
            ET.SubElement(svg, "text", attrs, x=p[0], y=p[1]).text = s.text
    return ET.tostring(svg, encoding="unicode")


def _drawing(picture: Picture, scale: float) -> Drawing:
    shapes, width, height = picture
    drawing = Drawing(width * scale, height * scale)

    def y(value: float) -> float:
        return (height - value) * scale

    for s in shapes:
        p = [v * scale for v in s.points]
        stroke = HexColor(s.color)
        if s.kind == "line":
            drawing.add(Line(p[0], y(s.points[1]), p[2], y(s.points[3]), strokeColor=stroke))
        elif s.kind == "circle":
            fill = HexColor(s.fill or s.color)
            drawing.add(Circle(p[0], y(s.points[1]), p[2], fillColor=fill, strokeColor=stroke))
        elif s.kind == "rect":
            fill = HexColor(s.fill) if s.fill else None
            bottom = y(s.points[1] + s.points[3])
            drawing.add(Rect(p[0], bottom, p[2], p[3], fillColor=fill, strokeColor=stroke))
        elif s.kind == "polygon":
            flat = [v if i % 2 == 0 else y(s.points[i]) for i, v in enumerate(p)]
            fill = HexColor(s.fill or s.color)
            drawing.add(Polygon(flat, fillColor=fill, strokeColor=stroke))
        else:
            drawing.add(
                String(
                    p[0],
                    y(s.points[1]),
                    s.text,
                    fontSize=s.size * scale,
                    fillColor=stroke,
                    textAnchor=s.anchor,
                )
            )
    return drawing


def timeline_svg(events: Sequence[TimelineEvent], incident: Incident) -> str:
    """The timeline chart as an inline SVG element."""
    return _svg(timeline_layout(events, incident))


def flow_svg(movements: Sequence[FundMovement]) -> str:
    """The fund-flow diagram of the stored movements as an inline SVG element."""
    return _svg(flow_layout(movements))


def _fit(picture: Picture, max_width: float) -> float:
    return min(1.0, max_width / picture[1])


def timeline_drawing(
    events: Sequence[TimelineEvent], incident: Incident, max_width: float
) -> Drawing:
    """The timeline chart as a reportlab drawing, scaled to fit ``max_width`` points."""
    picture = timeline_layout(events, incident)
    return _drawing(picture, _fit(picture, max_width))


def flow_drawing(movements: Sequence[FundMovement], max_width: float) -> Drawing:
    """The fund-flow diagram as a reportlab drawing, scaled to fit ``max_width`` points."""
    picture = flow_layout(movements)
    return _drawing(picture, _fit(picture, max_width))
