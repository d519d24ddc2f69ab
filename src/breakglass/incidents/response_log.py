"""Incidents hears what respond did: ``StepPhase`` and ``ActionExecuted`` events, kept as
:class:`ResponseRecord` rows and brought onto the timeline of the incident that owns the run.

The consumer applies each event exactly once (:func:`~breakglass.events.consume_once`): the
record, the timeline rows and the consumer's mark commit together. A run whose alert has no
incident yet (respond acts before the alert is even stored) stays recorded; the incident
picks it up when the alert joins it (:func:`~breakglass.incidents.timeline.alert_event`).
Dry runs happen on a throwaway fork and are never part of an incident: they are skipped.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.events import ActionExecuted, Bus, Event, StepPhase, consume_once
from breakglass.incidents.timeline import EventKind, sync_timeline
from breakglass.store.models import IncidentRun, ResponseRecord, TimelineEvent

__all__ = ["CONSUMER", "apply_response_event", "subscribe"]

CONSUMER = "incidents.timeline"
"""The consumer name under which incidents marks the response events it applied."""


def subscribe(bus: Bus, sessions: sessionmaker[Session]) -> None:
    """Subscribe incidents' timeline to respond's events on ``bus``."""

    def handle(event: Event) -> None:
        consume_once(sessions, consumer=CONSUMER, event=event, apply=apply_response_event)

    bus.subscribe(CONSUMER, [StepPhase, ActionExecuted], handle)


def apply_response_event(session: Session, event: Event) -> None:
    """Record one ``StepPhase`` or ``ActionExecuted`` and bring it onto the timeline of the
    incident that owns its run, if one does yet. Must run inside the consumer's
    transaction (see :func:`subscribe`); other event kinds are ignored."""
    if not isinstance(event, StepPhase | ActionExecuted) or event.dry_run:
        return
    is_phase = isinstance(event, StepPhase)
    session.add(
        ResponseRecord(
            event_id=event.event_id,
            kind="phase" if is_phase else "action",
            run_id=event.run_id,
            step_id=event.step_id,
            parent_step_id=event.parent_step_id,
            trigger=event.trigger,
            playbook=event.playbook,
            chain=event.chain,
            position=event.step,
            action=event.action,
            summary=event.summary or event.action,
            phase=event.phase if isinstance(event, StepPhase) else None,
            at=event.occurred_at,
            verified=event.verified if isinstance(event, ActionExecuted) else None,
            detail=dict(event.detail),
        )
    )
    session.flush()
    incident_id = _owner(session, event)
    if incident_id is not None:
        sync_timeline(session, incident_id)


def _owner(session: Session, event: StepPhase | ActionExecuted) -> int | None:
    """The incident that owns the event's run: the one it is linked to, the one holding the
    alert that triggered it, or the one owning the run whose failed step started it."""
    linked = session.scalar(
        select(IncidentRun.incident_id).where(IncidentRun.run_id == event.run_id)
    )
    if linked is not None:
        return linked
    by_alert = session.scalar(
        select(TimelineEvent.incident_id)
        .where(
            TimelineEvent.kind == EventKind.ALERT,
            TimelineEvent.data["dedupe_key"].as_string() == event.trigger,
        )
        .order_by(TimelineEvent.id)
        .limit(1)
    )
    if by_alert is not None or event.parent_step_id is None:
        return by_alert
    parent_run = select(ResponseRecord.run_id).where(ResponseRecord.step_id == event.parent_step_id)
    return session.scalar(
        select(IncidentRun.incident_id).where(IncidentRun.run_id.in_(parent_run)).limit(1)
    )
