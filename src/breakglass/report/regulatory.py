"""Regulatory clocks: shipped reporting regimes (data) and the deadlines they set an incident.

A regime is a YAML file in ``report/regimes/`` (models in :mod:`breakglass.report.regime`).
A deadline runs for an offset in ``hours`` (exact, UTC), ``calendar-days`` or ``months``
(wall clock in the regime's time zone, optionally to the end of that day) or
``business-days`` (the Nth working day after the start date in the regime's holiday
calendar, to its cutoff), and may be capped by ``not_later_than`` (the earlier bound wins).

The times are recorded on the incident as ``regulatory`` timeline events; see
:func:`record_event`, :func:`record_filing` and :func:`incident_records`.
"""

from __future__ import annotations

import calendar as cal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from enum import StrEnum
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.errors import BreakglassError
from breakglass.plan.models import Plan
from breakglass.report.regime import (
    EVENTS,
    Bound,
    Calendar,
    DeadlineSpec,
    Regime,
    get_regime,
    holidays_of,
    load_regimes,
    parse_regime,
)
from breakglass.store.models import Incident, TimelineEvent

__all__ = [
    "EVENTS",
    "TIMELINE_KIND",
    "Bound",
    "Calendar",
    "Deadline",
    "DeadlineSpec",
    "IncidentRecords",
    "Regime",
    "Status",
    "clocks_for_incident",
    "deadlines",
    "due_time",
    "get_regime",
    "incident_clocks",
    "incident_records",
    "load_regimes",
    "parse_regime",
    "record_event",
    "record_filing",
    "reminders_due",
]


class Status(StrEnum):
    """Where a deadline stands: its clock has not started, it runs, it passed, or it was met."""

    NOT_STARTED = "not-started"
    DUE = "due"
    OVERDUE = "overdue"
    FILED = "filed"


@dataclass(frozen=True)
class Deadline:
    """Where one deadline of one regime stands at ``now``. Times are UTC."""

    regime: str
    name: str
    description: str | None
    recipient: str
    start_event: str
    started_at: datetime | None
    due: datetime | None
    status: Status
    time_left: timedelta | None
    filed_at: datetime | None = None
    capped_by: str | None = None  # the not_later_than bound, when it is the earlier one

    @property
    def late(self) -> bool:
        """Filed after the due time."""
        return self.filed_at is not None and self.due is not None and self.filed_at > self.due


def _add_months(moment: datetime, months: int) -> datetime:
    index = moment.month - 1 + months
    year, month = moment.year + index // 12, index % 12 + 1
    return moment.replace(
        year=year, month=month, day=min(moment.day, cal.monthrange(year, month)[1])
    )


def _day_end(day: date, cutoff: time | None, zone: ZoneInfo) -> datetime:
    if cutoff is None:
        return datetime.combine(day + timedelta(days=1), time(), zone)
    return datetime.combine(day, cutoff, zone)


def due_time(start: datetime, bound: Bound, regime: Regime) -> datetime:
    """When ``bound`` ends for a clock started at ``start``, in UTC."""
    if bound.unit == "hours":  # elapsed time: add in UTC, never on a local wall clock
        return start.astimezone(UTC) + timedelta(hours=bound.offset)
    zone = ZoneInfo(regime.timezone)
    local = start.astimezone(zone)
    end_of_day = isinstance(bound, DeadlineSpec) and bound.end_of_day
    cutoff = bound.cutoff if isinstance(bound, DeadlineSpec) else None
    if bound.unit == "business-days":
        assert regime.calendar is not None  # checked when the regime loads
        closed = holidays_of(regime.calendar)
        day, counted = local.date(), 0
        while counted < bound.offset:
            day += timedelta(days=1)
            counted += day.weekday() < 5 and not any(day in h for h in closed)
        return _day_end(day, cutoff, zone).astimezone(UTC)
    if bound.unit == "calendar-days":
        wall = (local.replace(tzinfo=None) + timedelta(days=bound.offset)).replace(tzinfo=zone)
    else:
        wall = _add_months(local, bound.offset)
    if end_of_day or cutoff is not None:
        wall = _day_end(wall.date(), cutoff, zone)
    return wall.astimezone(UTC)


def _start(
    event: str, events: Mapping[str, datetime], filings: Mapping[str, datetime]
) -> datetime | None:
    if event.startswith("previous:"):
        return filings.get(event.removeprefix("previous:"))
    return events.get(event)


def deadlines(
    regime: Regime,
    events: Mapping[str, datetime],
    *,
    now: datetime,
    filings: Mapping[str, datetime] | None = None,
) -> list[Deadline]:
    """Every deadline of ``regime`` at ``now``, given the events that happened (name → time)
    and the filings made (deadline name → time)."""
    filed = dict(filings or {})
    result = []
    for spec in regime.deadlines:
        started = _start(spec.start, events, filed)
        due, capped = None, None
        if started is not None:
            due = due_time(started, spec, regime)
            cap = spec.not_later_than
            cap_start = _start(cap.start, events, filed) if cap is not None else None
            if cap is not None and cap_start is not None:
                cap_due = due_time(cap_start, cap, regime)
                if cap_due < due:
                    due, capped = cap_due, f"{cap.offset} {cap.unit} from {cap.start}"
        filed_at = filed.get(spec.name)
        if filed_at is not None:
            status, left = Status.FILED, None
        elif due is None:
            status, left = Status.NOT_STARTED, None
        else:
            left = due - now.astimezone(UTC)
            status = Status.OVERDUE if left <= timedelta(0) else Status.DUE
        result.append(
            Deadline(
                regime=regime.id,
                name=spec.name,
                description=spec.description,
                recipient=regime.recipient,
                start_event=spec.start,
                started_at=started.astimezone(UTC) if started is not None else None,
                due=due,
                status=status,
                time_left=left,
                filed_at=filed_at.astimezone(UTC) if filed_at is not None else None,
                capped_by=capped,
            )
        )
    return result


def incident_clocks(
    plan: Plan,
    incident_events: Mapping[str, datetime],
    filings: Mapping[tuple[str, str], datetime],
    now: datetime,
    *,
    regime_events: Mapping[str, Mapping[str, datetime]] | None = None,
) -> list[Deadline]:
    """The deadlines of every regime the plan lists, for one incident.

    ``incident_events`` hold event times for all regimes; ``regime_events`` override them per
    regime id; ``filings`` map (regime id, deadline name) to when it was filed.
    """
    regulatory = plan.regulatory
    if regulatory is None or not regulatory.applies:
        return []
    clocks: list[Deadline] = []
    for regime_id in regulatory.regimes:
        regime = get_regime(regime_id)
        events = {**incident_events, **(regime_events or {}).get(regime_id, {})}
        filed = {d: at for (r, d), at in filings.items() if r == regime_id}
        clocks.extend(deadlines(regime, events, now=now, filings=filed))
    return clocks


def reminders_due(clocks: Iterable[Deadline], *, now: datetime) -> list[Deadline]:
    """Open deadlines in the last quarter of their time, or overdue, most urgent first."""
    hits = []
    for clock in clocks:
        if clock.status not in (Status.DUE, Status.OVERDUE) or clock.due is None:
            continue
        assert clock.started_at is not None
        if now >= clock.due - (clock.due - clock.started_at) / 4:
            hits.append(clock)
    return sorted(hits, key=lambda c: c.due or now)


TIMELINE_KIND = "regulatory"
"""Timeline kind of recorded events (data ``{record: event, event, regime}``) and filings
(data ``{record: filing, regime, deadline}``)."""


@dataclass(frozen=True)
class IncidentRecords:
    """What an incident's timeline says for its clocks: events (incident-wide, and per regime
    when recorded with one) and filings by (regime, deadline)."""

    events: dict[str, datetime]
    regime_events: dict[str, dict[str, datetime]]
    filings: dict[tuple[str, str], datetime]


def _incident(session: Session, incident_id: int) -> Incident:
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise BreakglassError(f"no incident #{incident_id}")
    return incident


def _add(
    session: Session,
    incident_id: int,
    at: datetime,
    summary: str,
    actor: str | None,
    **data: str | None,
) -> TimelineEvent:
    _incident(session, incident_id)
    row = TimelineEvent(
        incident_id=incident_id, at=at, kind=TIMELINE_KIND, actor=actor, summary=summary, data=data
    )
    session.add(row)
    session.flush()
    return row


def record_event(
    session: Session,
    incident_id: int,
    event: str,
    at: datetime,
    *,
    regime: str | None = None,
    actor: str | None = None,
) -> TimelineEvent:
    """Record that ``event`` happened at ``at`` (for one regime, or all). A later record of
    the same event replaces the earlier one: it is a correction."""
    if event not in EVENTS:
        raise BreakglassError(f"unknown event {event!r}; use one of {', '.join(EVENTS)}")
    scope = f" for {get_regime(regime).id}" if regime is not None else ""
    summary = f"regulatory event: {event}{scope}"
    return _add(
        session, incident_id, at, summary, actor, record="event", event=event, regime=regime
    )


def record_filing(
    session: Session,
    incident_id: int,
    regime: str,
    deadline: str,
    at: datetime,
    *,
    actor: str | None = None,
) -> TimelineEvent:
    """Record that the ``deadline`` report of ``regime`` was filed at ``at``. The first
    filing counts; later ones (updates) do not move the clocks."""
    name = get_regime(regime).spec(deadline).name
    summary = f"regulatory filing: {regime} {name}"
    return _add(
        session, incident_id, at, summary, actor, record="filing", regime=regime, deadline=name
    )


def incident_records(session: Session, incident_id: int) -> IncidentRecords:
    """The events and filings of an incident. ``awareness`` is its ``detected_at`` unless an
    awareness event was recorded: detection is the earliest time the team could know, so
    the clocks never start later than the law's."""
    incident = _incident(session, incident_id)
    records = IncidentRecords({"awareness": incident.detected_at}, {}, {})
    rows = session.scalars(
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id, TimelineEvent.kind == TIMELINE_KIND)
        .order_by(TimelineEvent.id)
    )
    for row in rows:
        data = row.data
        if data.get("record") == "event":
            regime = data.get("regime")
            target = records.regime_events.setdefault(regime, {}) if regime else records.events
            target[str(data["event"])] = row.at
        elif data.get("record") == "filing":
            records.filings.setdefault((str(data["regime"]), str(data["deadline"])), row.at)
    return records


def clocks_for_incident(
    session: Session, plan: Plan, incident_id: int, now: datetime
) -> list[Deadline]:
    """The deadlines of the plan's regimes for a stored incident at ``now``."""
    records = incident_records(session, incident_id)
    return incident_clocks(
        plan, records.events, records.filings, now, regime_events=records.regime_events
    )
