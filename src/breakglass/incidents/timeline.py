"""The incident timeline: typed UTC events, and their import from alerts and playbook runs.

Event kinds: ``alert``, ``action`` (a phase of a playbook step), ``status``, ``note``,
``comms``, ``tx`` (hash and block), ``external`` and ``task``. Imported events carry a
``source`` key in ``data`` (``alert:7``, ``step-event:12``, ``tx:0xab…``), which makes
:func:`sync_timeline` idempotent: it adds what is missing and never duplicates.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.store.models import (
    AlertRecord,
    Incident,
    IncidentAlert,
    IncidentRun,
    PlaybookRun,
    StepEvent,
    StepRun,
    TimelineEvent,
)

__all__ = [
    "EventKind",
    "add_chains",
    "alert_event",
    "link_runs",
    "record_event",
    "sync_timeline",
    "timeline",
    "touched_chains",
    "utcnow",
]


class EventKind(StrEnum):
    ALERT = "alert"
    ACTION = "action"
    STATUS = "status"
    NOTE = "note"
    COMMS = "comms"
    TX = "tx"
    EXTERNAL = "external"
    TASK = "task"


def utcnow() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def record_event(
    session: Session,
    incident_id: int,
    kind: EventKind,
    summary: str,
    *,
    at: datetime | None = None,
    actor: str | None = None,
    tx_hash: str | None = None,
    block_number: int | None = None,
    public: bool = False,
    data: dict[str, Any] | None = None,
) -> TimelineEvent:
    """Add one event to an incident's timeline (flushed, not committed)."""
    event = TimelineEvent(
        incident_id=incident_id,
        at=at or utcnow(),
        kind=str(kind),
        actor=actor,
        summary=summary,
        tx_hash=tx_hash,
        block_number=block_number,
        public=public,
        data=data or {},
    )
    session.add(event)
    session.flush()
    return event


def timeline(session: Session, incident_id: int) -> list[TimelineEvent]:
    """An incident's events, oldest first (ties in recording order)."""
    query = (
        select(TimelineEvent)
        .where(TimelineEvent.incident_id == incident_id)
        .order_by(TimelineEvent.at, TimelineEvent.id)
    )
    return list(session.scalars(query))


def _sources(session: Session, incident_id: int) -> dict[str, TimelineEvent]:
    events = session.scalars(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id))
    return {str(e.data["source"]): e for e in events if e.data.get("source")}


def alert_event(session: Session, incident_id: int, alert: AlertRecord) -> TimelineEvent:
    """The ``alert`` event of ``alert`` on the incident's timeline, added if missing."""
    source = f"alert:{alert.id}"
    existing = _sources(session, incident_id).get(source)
    if existing is not None:
        return existing
    return _add_alert(session, incident_id, alert, source)


def _add_alert(
    session: Session, incident_id: int, alert: AlertRecord, source: str
) -> TimelineEvent:
    return record_event(
        session,
        incident_id,
        EventKind.ALERT,
        f"[{alert.severity}] {alert.title}",
        at=alert.block_time,
        actor=f"rule:{alert.rule}",
        tx_hash=alert.tx_hash,
        block_number=alert.block_number,
        data={"source": source, "alert_id": alert.id, "rule": alert.rule, "chain": alert.chain},
    )


def link_runs(session: Session, incident_id: int) -> list[int]:
    """Link to the incident the live playbook runs its alerts triggered (a run's ``trigger``
    is the alert's dedupe key) and the fallback runs those started; returns new run ids."""
    keys = session.scalars(
        select(AlertRecord.dedupe_key)
        .join(IncidentAlert, IncidentAlert.alert_id == AlertRecord.id)
        .where(IncidentAlert.incident_id == incident_id)
    ).all()
    linked_anywhere = set(session.scalars(select(IncidentRun.run_id)))
    found: list[int] = []
    if keys:
        runs = session.scalars(
            select(PlaybookRun.id).where(
                PlaybookRun.trigger.in_(keys), PlaybookRun.dry_run.is_(False)
            )
        ).all()
        found.extend(r for r in runs if r not in linked_anywhere)
    mine = set(
        session.scalars(select(IncidentRun.run_id).where(IncidentRun.incident_id == incident_id))
    )
    frontier = mine | set(found)
    while frontier:  # fallback runs hang off a step of a linked run
        children = session.scalars(
            select(PlaybookRun.id)
            .join(StepRun, StepRun.id == PlaybookRun.parent_step_id)
            .where(StepRun.run_id.in_(frontier))
        ).all()
        frontier = {c for c in children if c not in linked_anywhere and c not in found}
        found.extend(sorted(frontier))
    for run_id in found:
        session.add(IncidentRun(incident_id=incident_id, run_id=run_id))
    session.flush()
    return found


def add_chains(incident: Incident, chains: list[str]) -> None:
    """Add to the incident's chains those of ``chains`` it does not name yet, in order."""
    missing = [c for c in dict.fromkeys(chains) if c not in incident.chains]
    if missing:
        incident.chains = [*incident.chains, *missing]


def touched_chains(session: Session, incident_id: int) -> list[str]:
    """The chains of the incident's attached alerts and of its linked playbook runs."""
    alert_chains = session.scalars(
        select(AlertRecord.chain)
        .join(IncidentAlert, IncidentAlert.alert_id == AlertRecord.id)
        .where(IncidentAlert.incident_id == incident_id)
        .order_by(AlertRecord.id)
    ).all()
    run_chains = session.scalars(
        select(PlaybookRun.chain)
        .join(IncidentRun, IncidentRun.run_id == PlaybookRun.id)
        .where(IncidentRun.incident_id == incident_id, PlaybookRun.chain.is_not(None))
        .order_by(PlaybookRun.id)
    ).all()
    return list(dict.fromkeys(c for c in [*alert_chains, *run_chains] if c))


def sync_timeline(session: Session, incident_id: int) -> list[TimelineEvent]:
    """Import the incident's attached alerts and the step phases (with their transactions,
    as ``tx`` events) of its playbook runs into its timeline; returns the events added.
    The incident's chains gain those of its alerts and runs.

    Idempotent: running it again adds only what appeared since.
    """
    link_runs(session, incident_id)
    incident = session.get(Incident, incident_id)
    if incident is not None:
        add_chains(incident, touched_chains(session, incident_id))
    sources = _sources(session, incident_id)
    added: list[TimelineEvent] = []
    alerts = session.scalars(
        select(AlertRecord)
        .join(IncidentAlert, IncidentAlert.alert_id == AlertRecord.id)
        .where(IncidentAlert.incident_id == incident_id)
        .order_by(AlertRecord.id)
    )
    for alert in alerts:
        if f"alert:{alert.id}" not in sources:
            added.append(_add_alert(session, incident_id, alert, f"alert:{alert.id}"))
    rows = session.execute(
        select(StepEvent, StepRun)
        .join(StepRun, StepRun.id == StepEvent.step_id)
        .join(IncidentRun, IncidentRun.run_id == StepRun.run_id)
        .where(IncidentRun.incident_id == incident_id)
        .order_by(StepEvent.at, StepEvent.id)
    ).all()
    for phase, step in rows:
        source = f"step-event:{phase.id}"
        if source not in sources:
            event = _add_phase(session, incident_id, phase, step, source)
            sources[source] = event
            added.append(event)
        tx = phase.detail.get("tx_hash")
        if isinstance(tx, str) and tx:
            tx_event = _tx_event(session, incident_id, phase, step, sources)
            if tx_event is not None:
                added.append(tx_event)
    return added


def _add_phase(
    session: Session, incident_id: int, phase: StepEvent, step: StepRun, source: str
) -> TimelineEvent:
    detail = {k: v for k, v in phase.detail.items() if k != "tx_hash"}
    note = ", ".join(f"{k}={v}" for k, v in detail.items())
    return record_event(
        session,
        incident_id,
        EventKind.ACTION,
        f"{step.summary}: {phase.phase}" + (f" ({note})" if note else ""),
        at=phase.at,
        actor=str(phase.detail["by"]) if "by" in phase.detail else "breakglass",
        tx_hash=phase.detail.get("tx_hash"),
        data={
            "source": source,
            "run_id": step.run_id,
            "step_id": step.id,
            "position": step.position,
            "action": step.action,
            "phase": phase.phase,
            "detail": phase.detail,
        },
    )


def _tx_event(
    session: Session,
    incident_id: int,
    phase: StepEvent,
    step: StepRun,
    sources: dict[str, TimelineEvent],
) -> TimelineEvent | None:
    """One ``tx`` event per transaction hash; a later receipt fills in its block."""
    tx_hash = str(phase.detail["tx_hash"])
    block = phase.detail.get("block")
    source = f"tx:{tx_hash.lower()}"
    existing = sources.get(source)
    if existing is not None:
        if existing.block_number is None and isinstance(block, int):
            existing.block_number = block
            session.flush()
        return None
    event = record_event(
        session,
        incident_id,
        EventKind.TX,
        f"transaction of {step.summary}",
        at=phase.at,
        actor="breakglass",
        tx_hash=tx_hash,
        block_number=block if isinstance(block, int) else None,
        data={"source": source, "run_id": step.run_id, "step_id": step.id},
    )
    sources[source] = event
    return event
