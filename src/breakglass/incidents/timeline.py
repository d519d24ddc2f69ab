"""The incident timeline: typed UTC events, and their import from alerts and playbook runs.

Event kinds: ``alert``, ``action`` (a phase of a playbook step), ``status``, ``note``,
``comms``, ``tx`` (hash and block), ``external`` and ``task``. Imported events carry a
``source`` key in ``data`` (``alert:7``, ``step-event:12``, ``tx:0xab…``), which makes
:func:`sync_timeline` idempotent: it adds what is missing and never duplicates.

What respond did reaches incidents only as ``StepPhase``/``ActionExecuted`` events, which
:mod:`breakglass.incidents.response_log` keeps as :class:`ResponseRecord` rows; a run is
linked to the incident holding the alert whose dedupe key triggered it (the ``alert``
timeline event carries that key), whichever of the two arrived first.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.store.models import Incident, IncidentRun, ResponseRecord, TimelineEvent

__all__ = [
    "AlertFacts",
    "EventKind",
    "add_chains",
    "alert_event",
    "incident_keys",
    "link_runs",
    "phase_source",
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


class AlertFacts(Protocol):
    """What the timeline takes of an alert (a stored alert or its ``AlertRaised`` facts)."""

    @property
    def id(self) -> int: ...
    @property
    def dedupe_key(self) -> str: ...
    @property
    def rule(self) -> str: ...
    @property
    def chain(self) -> str: ...
    @property
    def severity(self) -> str: ...
    @property
    def title(self) -> str: ...
    @property
    def block_time(self) -> datetime: ...
    @property
    def block_number(self) -> int: ...
    @property
    def tx_hash(self) -> str | None: ...


def _sources(session: Session, incident_id: int) -> dict[str, TimelineEvent]:
    events = session.scalars(select(TimelineEvent).where(TimelineEvent.incident_id == incident_id))
    return {str(e.data["source"]): e for e in events if e.data.get("source")}


def alert_event(session: Session, incident_id: int, alert: AlertFacts) -> TimelineEvent:
    """The ``alert`` event of ``alert`` on the incident's timeline, added if missing; the
    runs the alert triggered that incidents already heard of are linked and imported."""
    source = f"alert:{alert.id}"
    existing = _sources(session, incident_id).get(source)
    if existing is not None:
        return existing
    event = record_event(
        session,
        incident_id,
        EventKind.ALERT,
        f"[{alert.severity}] {alert.title}",
        at=alert.block_time,
        actor=f"rule:{alert.rule}",
        tx_hash=alert.tx_hash,
        block_number=alert.block_number,
        data={
            "source": source,
            "alert_id": alert.id,
            "dedupe_key": alert.dedupe_key,
            "rule": alert.rule,
            "chain": alert.chain,
        },
    )
    sync_timeline(session, incident_id)
    return event


def incident_keys(session: Session, incident_id: int) -> list[str]:
    """The dedupe keys of the incident's alerts: the triggers of the runs it owns."""
    rows = session.scalars(
        select(TimelineEvent.data).where(
            TimelineEvent.incident_id == incident_id, TimelineEvent.kind == EventKind.ALERT
        )
    )
    return list(dict.fromkeys(str(d["dedupe_key"]) for d in rows if d.get("dedupe_key")))


def link_runs(session: Session, incident_id: int) -> list[int]:
    """Link to the incident the live playbook runs its alerts triggered (a run's ``trigger``
    is the alert's dedupe key) and the fallback runs those started; returns new run ids."""
    keys = incident_keys(session, incident_id)
    linked_anywhere = set(session.scalars(select(IncidentRun.run_id)))
    found: list[int] = []
    if keys:
        runs = session.scalars(
            select(ResponseRecord.run_id)
            .where(ResponseRecord.trigger.in_(keys))
            .distinct()
            .order_by(ResponseRecord.run_id)
        ).all()
        found.extend(r for r in runs if r not in linked_anywhere)
    mine = set(
        session.scalars(select(IncidentRun.run_id).where(IncidentRun.incident_id == incident_id))
    )
    frontier = mine | set(found)
    while frontier:  # fallback runs hang off a step of a linked run
        parents = select(ResponseRecord.step_id).where(ResponseRecord.run_id.in_(frontier))
        children = session.scalars(
            select(ResponseRecord.run_id)
            .where(ResponseRecord.parent_step_id.in_(parents))
            .distinct()
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
    """The chains of the incident's alerts and of its linked playbook runs."""
    alert_chains = [
        str(e.data["chain"])
        for e in timeline(session, incident_id)
        if e.kind == EventKind.ALERT and e.data.get("chain")
    ]
    run_chains = session.scalars(
        select(ResponseRecord.chain)
        .join(IncidentRun, IncidentRun.run_id == ResponseRecord.run_id)
        .where(IncidentRun.incident_id == incident_id, ResponseRecord.chain.is_not(None))
        .order_by(ResponseRecord.run_id, ResponseRecord.id)
    ).all()
    return list(dict.fromkeys(c for c in [*alert_chains, *run_chains] if c))


def sync_timeline(session: Session, incident_id: int) -> list[TimelineEvent]:
    """Link the runs the incident's alerts triggered and bring the step phases incidents
    heard of (with their transactions, as ``tx`` events) onto its timeline; returns the
    events added. The incident's chains gain those of its alerts and runs.

    Reads incidents' own tables only. Idempotent: running it again adds only what
    appeared since.
    """
    link_runs(session, incident_id)
    incident = session.get(Incident, incident_id)
    if incident is not None:
        add_chains(incident, touched_chains(session, incident_id))
    sources = _sources(session, incident_id)
    added: list[TimelineEvent] = []
    phases = session.scalars(
        select(ResponseRecord)
        .join(IncidentRun, IncidentRun.run_id == ResponseRecord.run_id)
        .where(IncidentRun.incident_id == incident_id, ResponseRecord.kind == "phase")
        .order_by(ResponseRecord.at, ResponseRecord.id)
    ).all()
    for phase in phases:
        source = phase_source(phase.event_id)
        if source not in sources:
            event = _add_phase(session, incident_id, phase, source)
            sources[source] = event
            added.append(event)
        tx = phase.detail.get("tx_hash")
        if isinstance(tx, str) and tx:
            tx_event = _tx_event(session, incident_id, phase, sources)
            if tx_event is not None:
                added.append(tx_event)
    return added


def phase_source(event_id: str) -> str:
    """The timeline ``source`` of a ``StepPhase`` event: ``step-event:<journal row id>``,
    as timelines written before events existed named it, so neither duplicates the other."""
    return "step-event:" + event_id.rsplit(":", 1)[-1]


def _add_phase(
    session: Session, incident_id: int, phase: ResponseRecord, source: str
) -> TimelineEvent:
    detail = {k: v for k, v in phase.detail.items() if k != "tx_hash"}
    note = ", ".join(f"{k}={v}" for k, v in detail.items())
    return record_event(
        session,
        incident_id,
        EventKind.ACTION,
        f"{phase.summary}: {phase.phase}" + (f" ({note})" if note else ""),
        at=phase.at,
        actor=str(phase.detail["by"]) if "by" in phase.detail else "breakglass",
        tx_hash=phase.detail.get("tx_hash"),
        data={
            "source": source,
            "run_id": phase.run_id,
            "step_id": phase.step_id,
            "position": phase.position,
            "action": phase.action,
            "phase": phase.phase,
            "detail": phase.detail,
        },
    )


def _tx_event(
    session: Session,
    incident_id: int,
    phase: ResponseRecord,
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
        f"transaction of {phase.summary}",
        at=phase.at,
        actor="breakglass",
        tx_hash=tx_hash,
        block_number=block if isinstance(block, int) else None,
        data={"source": source, "run_id": phase.run_id, "step_id": phase.step_id},
    )
    sources[source] = event
    return event
