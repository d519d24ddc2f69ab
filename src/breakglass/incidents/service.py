"""Incident operations: plain functions, session first. They flush but never commit: the
caller owns the transaction. The CLI and the API call these."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.incidents.errors import IncidentError, IncidentNotFound, TaskNotFound
from breakglass.incidents.lifecycle import (
    FINAL,
    Status,
    check_transition,
    choice,
    parse_severity,
    parse_status,
)
from breakglass.incidents.roles import assign_plan_roles, current_roles
from breakglass.incidents.status_events import emit_status_changed
from breakglass.incidents.timeline import EventKind, record_event, timeline, utcnow
from breakglass.plan.models import Plan
from breakglass.store.models import Incident, Task, TimelineEvent

if TYPE_CHECKING:  # Apprise is slow to import; the caller brings the notifier
    from breakglass.notify import Notifier

__all__ = [
    "Milestones",
    "TaskKind",
    "TaskSource",
    "TaskStatus",
    "acknowledge",
    "add_note",
    "add_task",
    "durations",
    "edit_incident",
    "get_incident",
    "list_incidents",
    "list_tasks",
    "open_incident",
    "set_funds_at_risk_tokens",
    "set_task_status",
    "timeline",
    "transition",
]


class TaskKind(StrEnum):
    DETECTIVE = "detective"
    PREVENTATIVE = "preventative"
    CORRECTIVE = "corrective"


class TaskSource(StrEnum):
    INCIDENT = "incident"
    POST_MORTEM = "post-mortem"


class TaskStatus(StrEnum):
    OPEN = "open"
    DONE = "done"
    CANCELLED = "cancelled"


def open_incident(
    session: Session,
    plan: Plan,
    *,
    title: str,
    kind: str,
    severity: str,
    chains: list[str],
    contracts: list[str],
    detected_at: datetime,
    started_at: datetime | None = None,
    summary: str = "",
    actor: str = "breakglass",
    authored: bool = False,
) -> Incident:
    """Open an incident in ``detected``, give the plan's roles to their first members and
    start its timeline. ``started_at`` is the first exploit block's time, if known;
    ``authored`` says a person wrote the title and summary (not an alert)."""
    if not title.strip():
        raise IncidentError("an incident needs a title")
    incident = Incident(
        title=title,
        kind=kind,
        severity=parse_severity(severity),
        status=str(Status.DETECTED),
        chains=list(chains),
        contracts=list(contracts),
        summary=summary,
        title_authored=authored,
        summary_authored=authored and bool(summary.strip()),
        duplicate_of=None,
        funds_at_risk_usd=None,
        started_at=started_at,
        detected_at=detected_at,
        updated_at=detected_at,
    )
    session.add(incident)
    session.flush()
    record_event(
        session,
        incident.id,
        EventKind.STATUS,
        f"incident opened: {incident.severity} {kind}: {title}",
        at=detected_at,
        actor=actor,
        data={"to": str(Status.DETECTED)},
    )
    assign_plan_roles(session, plan, incident.id, actor=actor, at=detected_at)
    return incident


def get_incident(session: Session, incident_id: int) -> Incident:
    """The incident, or :class:`IncidentNotFound`."""
    incident = session.get(Incident, incident_id)
    if incident is None:
        raise IncidentNotFound(incident_id)
    return incident


def list_incidents(
    session: Session, *, status: str | None = None, limit: int = 50
) -> list[Incident]:
    """Incidents, newest first, optionally only those in ``status``."""
    query = select(Incident).order_by(Incident.detected_at.desc(), Incident.id.desc())
    if status is not None:
        query = query.where(Incident.status == str(parse_status(status)))
    return list(session.scalars(query.limit(limit)))


def transition(
    session: Session,
    incident_id: int,
    to: str,
    *,
    actor: str,
    note: str | None = None,
    duplicate_of: int | None = None,
    at: datetime | None = None,
    notifier: Notifier | None = None,
    detail: Mapping[str, Any] | None = None,
) -> Incident:
    """Move the incident to ``to`` if the lifecycle allows it, stamping the milestone it
    reaches (triaged also acknowledges; contained; recovered resolves; a final status
    closes), and emit its ``IncidentChanged`` in this transaction, with ``detail`` for the
    templates, so channels hear of a person's move as of the desk's. ``duplicate`` needs
    ``duplicate_of``, the other incident's id. With ``notifier``, reaching a final status
    stops the incident's pages and queues a resolve for every PagerDuty or Opsgenie target
    paged for it, in this transaction."""
    incident = get_incident(session, incident_id)
    target = check_transition(incident.status, to)
    when = at or utcnow()
    if target is Status.DUPLICATE:
        if duplicate_of is None:
            raise IncidentError("a duplicate needs the id of the incident it duplicates")
        if duplicate_of == incident_id:
            raise IncidentError("an incident cannot duplicate itself")
        get_incident(session, duplicate_of)
        incident.duplicate_of = duplicate_of
    elif duplicate_of is not None:
        raise IncidentError("duplicate_of is only for the duplicate status")
    previous = incident.status
    incident.status = str(target)
    if target is Status.TRIAGED and incident.acknowledged_at is None:
        incident.acknowledged_at = when
    if target is Status.CONTAINED:
        incident.contained_at = when
    if target is Status.RECOVERED:
        incident.resolved_at = when
    if target in FINAL:
        incident.closed_at = when
        incident.next_update_at = None
        if incident.resolved_at is None:
            incident.resolved_at = when
    incident.updated_at = when
    summary = f"{previous} → {target}"
    if duplicate_of is not None:
        summary += f" of #{duplicate_of}"
    record_event(
        session,
        incident_id,
        EventKind.STATUS,
        summary + (f": {note}" if note else ""),
        at=when,
        actor=actor,
        data={"from": previous, "to": str(target), "note": note, "duplicate_of": duplicate_of},
    )
    emit_status_changed(
        session, incident, before=previous, actor=actor, note=note, when=when, extra=detail
    )
    if notifier is not None and target in FINAL:
        from breakglass.notify.external_paging import resolve_pages  # noqa: PLC0415

        resolve_pages(notifier, incident_id=incident_id, session=session)
    return incident


def acknowledge(
    session: Session, incident_id: int, *, actor: str, at: datetime | None = None
) -> Incident:
    """Record that a person took the incident; only the first acknowledgement counts."""
    incident = get_incident(session, incident_id)
    if incident.acknowledged_at is not None:
        return incident
    when = at or utcnow()
    incident.acknowledged_at = when
    incident.updated_at = when
    record_event(
        session,
        incident_id,
        EventKind.NOTE,
        f"acknowledged by {actor}",
        at=when,
        actor=actor,
        data={"acknowledged": True},
    )
    return incident


def add_note(
    session: Session, incident_id: int, text: str, *, actor: str, at: datetime | None = None
) -> TimelineEvent:
    """Add a note to the incident's timeline."""
    get_incident(session, incident_id)
    if not text.strip():
        raise IncidentError("a note needs text")
    return record_event(session, incident_id, EventKind.NOTE, text, at=at, actor=actor)


def edit_incident(
    session: Session,
    incident_id: int,
    *,
    actor: str,
    title: str | None = None,
    summary: str | None = None,
    at: datetime | None = None,
) -> Incident:
    """The incident lead writes the incident's title and summary for readers; from then on
    they replace the generated ones everywhere. Only the person holding ``incident_lead``
    may edit (anyone while nobody holds it); the old words stay on the timeline.

    Raises:
        IncidentError: nothing to change, an empty text, or ``actor`` is not the lead.
    """
    incident = get_incident(session, incident_id)
    if title is None and summary is None:
        raise IncidentError("give a new title, a new summary, or both")
    lead = current_roles(session, incident_id).get("incident_lead")
    if lead is not None and actor != lead:
        raise IncidentError(f"only the incident lead ({lead}) edits incident #{incident_id}")
    changes: dict[str, str] = {}
    for field, value in (("title", title), ("summary", summary)):
        if value is None:
            continue
        text = " ".join(value.split()) if field == "title" else value.strip()
        if not text:
            raise IncidentError(f"the {field} cannot be empty")
        changes[field] = text
    when = at or utcnow()
    before = {"title": incident.title, "summary": incident.summary}
    if "title" in changes:
        incident.title, incident.title_authored = changes["title"], True
    if "summary" in changes:
        incident.summary, incident.summary_authored = changes["summary"], True
    incident.updated_at = when
    record_event(
        session,
        incident_id,
        EventKind.NOTE,
        f"{' and '.join(changes)} written by {actor}",
        at=when,
        actor=actor,
        data={"edited": sorted(changes), "before": {k: before[k] for k in changes}},
    )
    return incident


def set_funds_at_risk_tokens(
    session: Session, incident_id: int, amounts: list[tuple[str, str, int]]
) -> None:
    """Record what was at risk, per (chain, token address, base units): the balance the
    attacked contracts held before the first exploit block. Replaces what was stored."""
    if any(amount < 0 for _chain, _asset, amount in amounts):
        raise IncidentError("funds at risk cannot be negative")
    get_incident(session, incident_id).funds_at_risk = [
        {"chain": chain, "asset": asset.lower(), "amount": str(amount)}
        for chain, asset, amount in amounts
    ]
    session.flush()


def add_task(
    session: Session,
    incident_id: int | None,
    title: str,
    *,
    owner: str | None,
    due_at: datetime | None,
    kind: str,
    source: str = "incident",
    actor: str,
) -> Task:
    """Add an action item (of an incident, or standalone with ``incident_id`` None)."""
    choice(kind, TaskKind, "task kind")
    choice(source, TaskSource, "task source")
    if not title.strip():
        raise IncidentError("a task needs a title")
    now = utcnow()
    if incident_id is not None:
        get_incident(session, incident_id)
    task = Task(
        incident_id=incident_id,
        title=title,
        owner=owner,
        due_at=due_at,
        kind=kind,
        source=source,
        status=str(TaskStatus.OPEN),
        created_at=now,
        done_at=None,
    )
    session.add(task)
    session.flush()
    if incident_id is not None:
        record_event(
            session,
            incident_id,
            EventKind.TASK,
            f"task #{task.id} ({kind}): {title}",
            at=now,
            actor=actor,
            data={"task_id": task.id, "owner": owner},
        )
    return task


def set_task_status(session: Session, task_id: int, status: str, *, actor: str) -> Task:
    """Mark a task open, done or cancelled."""
    choice(status, TaskStatus, "task status")
    task = session.get(Task, task_id)
    if task is None:
        raise TaskNotFound(task_id)
    if task.status == status:
        return task
    now = utcnow()
    task.status = status
    task.done_at = now if status != TaskStatus.OPEN else None
    if task.incident_id is not None:
        record_event(
            session,
            task.incident_id,
            EventKind.TASK,
            f"task #{task.id} {status}",
            at=now,
            actor=actor,
            data={"task_id": task.id, "status": status},
        )
    return task


def list_tasks(session: Session, incident_id: int | None = None) -> list[Task]:
    """Tasks, oldest first; of one incident when ``incident_id`` is given."""
    query = select(Task).order_by(Task.id)
    if incident_id is not None:
        query = query.where(Task.incident_id == incident_id)
    return list(session.scalars(query))


def _between(start: datetime | None, end: datetime | None) -> timedelta | None:
    return end - start if start is not None and end is not None else None


class Milestones(Protocol):
    """What :func:`durations` reads: an :class:`Incident`, or a copy of its milestones."""

    @property
    def started_at(self) -> datetime | None: ...
    @property
    def detected_at(self) -> datetime: ...
    @property
    def acknowledged_at(self) -> datetime | None: ...
    @property
    def contained_at(self) -> datetime | None: ...
    @property
    def resolved_at(self) -> datetime | None: ...


def durations(incident: Milestones) -> dict[str, timedelta | None]:
    """The times to detect (from ``started_at``, the first exploit block), and to
    acknowledge, contain and resolve (from detection); None where a milestone is missing."""
    return {
        "time_to_detect": _between(incident.started_at, incident.detected_at),
        "time_to_acknowledge": _between(incident.detected_at, incident.acknowledged_at),
        "time_to_contain": _between(incident.detected_at, incident.contained_at),
        "time_to_resolve": _between(incident.detected_at, incident.resolved_at),
    }
