"""The post-mortem's pictures: the incident timeline and the fund flow of the stored
movements, laid out as shapes of :mod:`breakglass.analysis.drawing`, the one drawing module
that writes SVG (HTML) and reportlab drawings (PDF)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

from breakglass.analysis.assets import AssetInfo, format_amount, short_address
from breakglass.analysis.drawing import FlowEdge, Picture, Shape, flow_picture, to_drawing, to_svg
from breakglass.store.models import FundMovement, Incident, TimelineEvent

if TYPE_CHECKING:
    from reportlab.graphics.shapes import Drawing  # type: ignore[import-untyped]

__all__ = [
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
        # a span of seconds needs the milliseconds, or every tick reads the same
        label = f"{at:%Y-%m-%d %H:%M:%S.%f}"[:-3] if span < 60 else f"{at:%Y-%m-%d %H:%M:%S}"
        shapes.append(Shape("text", (x, axis_y + 16), text=label, size=8, anchor=anchor))
    return Picture(shapes, width, height)


def _amount(move: FundMovement, units: Mapping[tuple[str, str], AssetInfo]) -> str:
    info = units.get((move.chain, move.asset.lower()))
    if info is not None and info.decimals is not None and move.amount.isdigit():
        symbol = info.symbol or short_address(move.asset)
        return format_amount(int(move.amount), decimals=info.decimals, symbol=symbol)
    return f"{move.amount} base units of {short_address(move.asset)}"


def flow_layout(
    movements: Sequence[FundMovement],
    *,
    names: Mapping[str, str] | None = None,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> Picture:
    """The stored fund movements as a fund-flow picture: a box per address (its plan name,
    and what kind of destination it is), a numbered arrow per movement, amounts in the
    legend in the token's unit where ``units`` knows it, with the recovery status."""
    known = {k.lower(): v for k, v in (names or {}).items()}
    edges = [
        FlowEdge(
            m.origin,
            m.destination,
            f"{_amount(m, units or {})} ({m.recovery_status.replace('-', ' ')})",
        )
        for m in movements
    ]
    boxes: dict[str, tuple[str, str]] = {}
    for move in movements:
        for address, kind in ((move.origin, ""), (move.destination, move.destination_kind)):
            named = known.get(address.lower())
            second = short_address(address) if named else kind.replace("unknown", "unlabelled")
            if address not in boxes or not boxes[address][1]:
                boxes[address] = (named or short_address(address), second)
    return flow_picture(edges, title="Fund flow (recorded movements)", names=boxes)


def timeline_svg(events: Sequence[TimelineEvent], incident: Incident) -> str:
    """The timeline chart as an inline SVG element."""
    return to_svg(timeline_layout(events, incident))


def flow_svg(
    movements: Sequence[FundMovement],
    *,
    names: Mapping[str, str] | None = None,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> str:
    """The fund-flow picture of the stored movements as an inline SVG element."""
    return to_svg(flow_layout(movements, names=names, units=units))


def timeline_drawing(
    events: Sequence[TimelineEvent], incident: Incident, max_width: float
) -> Drawing:
    """The timeline chart as a reportlab drawing, scaled to fit ``max_width`` points."""
    return to_drawing(timeline_layout(events, incident), max_width)


def flow_drawing(
    movements: Sequence[FundMovement],
    max_width: float,
    *,
    names: Mapping[str, str] | None = None,
    units: Mapping[tuple[str, str], AssetInfo] | None = None,
) -> Drawing:
    """The fund-flow picture as a reportlab drawing, scaled to fit ``max_width`` points."""
    return to_drawing(flow_layout(movements, names=names, units=units), max_width)
