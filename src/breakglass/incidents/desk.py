"""The incident desk: alerts become incidents, through events.

The desk consumes ``AlertRaised`` and ``AlertRetracted`` (written by detect in the
transaction of the block's checkpoint) with :func:`~breakglass.events.consume_once`: each
new alert opens an incident or attaches to the one it correlates with, and the desk emits
``IncidentOpened`` or ``IncidentChanged`` in that same transaction, with its mark of the
alert's event. A crash anywhere in between redoes all of it or none of it; notify consumes
the desk's events the same way (:mod:`breakglass.notify.consumers`), so the desk calls no
notifier and nobody is paged twice or never.

In the background (:meth:`IncidentDesk.run`) the desk links playbook runs to their incidents
and brings their steps onto the timeline, moves an incident to ``contained`` once every
contract its playbooks pause is verified paused (``IncidentChanged``), and emits a
``ReminderDue`` when a public update is due or a regulatory deadline draws near; a
reminder's id holds its period, so a restart neither repeats nor forgets one.

There is no start-up sweep for orphaned alerts or unpaged incidents: both existed because
the monitor handed alerts over in memory after the commit. An alert's event now commits
with the alert and an incident's with the incident; the relay delivers whatever a crash
left behind as soon as it runs again.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import ColumnElement, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.detect.alerts import alert_is_live, stored_alert_raised
from breakglass.events import (
    AlertRaised,
    AlertRetracted,
    Bus,
    Event,
    IncidentChanged,
    IncidentOpened,
    ReminderDue,
    consume_once,
    emit,
)
from breakglass.incidents.alerts import RaisedAlert, incident_for_alert
from breakglass.incidents.comms import due_reminders, engage_external_parties
from breakglass.incidents.containment import AUTO_ACTOR, PauseTarget, contain_if_verified
from breakglass.incidents.lifecycle import FINAL
from breakglass.incidents.timeline import EventKind, record_event, sync_timeline
from breakglass.plan.models import Plan
from breakglass.report.regulatory import Deadline, clocks_for_incident, reminders_due
from breakglass.store.models import Incident, IncidentAlert

__all__ = ["CONSUMER", "IncidentDesk"]

_log = structlog.get_logger("breakglass.incidents")

CONSUMER = "incidents.desk"
_UPDATE_EVERY = timedelta(minutes=10)
_FILING_EVERY = timedelta(hours=1)


class IncidentDesk:
    """Turns alerts' events into incidents and keeps their timelines and people current."""

    def __init__(
        self,
        plan: Plan,
        sessions: sessionmaker[Session],
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
    ) -> None:
        self.plan = plan
        self.sessions = sessions
        self.clock = clock
        # The relay's worker threads and a person's call may handle alerts at once; one
        # at a time keeps "opened, or attached to the one just opened" true.
        self._handling = threading.Lock()

    def subscribe(self, bus: Bus) -> None:
        """Hear of alerts on ``bus``."""
        bus.subscribe(CONSUMER, [AlertRaised, AlertRetracted], self.handle)

    def handle(self, event: Event) -> None:
        """Apply one alert event once (a redelivery changes nothing)."""
        with self._handling:
            consume_once(self.sessions, consumer=CONSUMER, event=event, apply=self._apply)

    def on_alert(self, dedupe_key: str) -> int | None:
        """Handle the stored alert ``dedupe_key`` as its ``AlertRaised`` would be handled
        (for a caller with no relay); returns its incident's id, ``None`` if it has none
        (unknown or retracted). An alert handled before is not told again."""
        with self.sessions() as session:
            event = stored_alert_raised(session, dedupe_key, at=self.clock())
        if event is None:
            return None
        self.handle(event)
        with self.sessions() as session:
            return session.scalars(
                select(IncidentAlert.incident_id).where(IncidentAlert.alert_id == event.alert_id)
            ).first()

    def _apply(self, session: Session, event: Event) -> None:
        if isinstance(event, AlertRaised):
            self._raised(session, event)
        elif isinstance(event, AlertRetracted):
            self._retracted(session, event)

    def _raised(self, session: Session, event: AlertRaised) -> None:
        # A reorg may have orphaned the alert's block since it was raised: detect's word on
        # it now (its service function), so an exploit that is no longer on the chain opens
        # nothing. Everything else comes from the event's facts.
        if not alert_is_live(session, event.alert_id):
            _log.info("incidents.alert_gone", alert=event.dedupe_key)
            return
        alert = RaisedAlert.from_event(event)
        linked = session.scalars(
            select(IncidentAlert.incident_id).where(IncidentAlert.alert_id == alert.id)
        ).first()
        if linked is not None:  # attached by a person before the event came
            return
        known = set(session.scalars(select(Incident.id).where(_open())))
        incident = incident_for_alert(session, self.plan, alert)
        opened = incident.id not in known and _first_alert(session, incident.id)
        now = self.clock()
        if opened:
            engaged = engage_external_parties(
                session, self.plan, incident, notify=lambda _name, _party: None
            )
            emit(
                session,
                IncidentOpened(
                    event_id=IncidentOpened.key(incident.id),
                    occurred_at=now,
                    incident_id=incident.id,
                    title=incident.title,
                    severity=incident.severity,
                    status=incident.status,
                    opened_by=f"alert:{event.dedupe_key}",
                    summary=incident.summary or "",
                    chains=list(incident.chains),
                    contracts=list(incident.contracts),
                    engaged=engaged,
                ),
            )
        else:
            emit(
                session,
                IncidentChanged(
                    event_id=IncidentChanged.key(
                        incident.id, "alert", f"{event.dedupe_key}@{event.block_hash}"
                    ),
                    occurred_at=now,
                    incident_id=incident.id,
                    change="alert",
                    after=event.dedupe_key,
                    actor=f"rule:{event.rule}",
                    detail={**_context(incident, alert.title, alert.description), **_fields(alert)},
                ),
            )
        _log.warning(
            "incidents.alert_handled", alert=event.dedupe_key, incident=incident.id, opened=opened
        )

    def _retracted(self, session: Session, event: AlertRetracted) -> None:
        """A reorg orphaned an alert's block: its incident's timeline says so (the incident
        stays: people decide whether it was real)."""
        incident_id = session.scalars(
            select(IncidentAlert.incident_id).where(IncidentAlert.alert_id == event.alert_id)
        ).first()
        if incident_id is None:
            return
        record_event(
            session,
            incident_id,
            EventKind.ALERT,
            f"alert #{event.alert_id} retracted: a reorg orphaned block {event.block_hash[:10]}…",
            actor="breakglass",
            data={"alert_id": event.alert_id, "retracted": True},
        )
        emit(
            session,
            IncidentChanged(
                event_id=IncidentChanged.key(
                    incident_id, "alert", f"retracted:{event.dedupe_key}@{event.block_hash}"
                ),
                occurred_at=self.clock(),
                incident_id=incident_id,
                change="alert",
                before=event.dedupe_key,
                actor="breakglass",
                detail={"retracted": True, "alert_id": event.alert_id},
            ),
        )

    def sync(self) -> None:
        """Link runs and bring steps onto the timelines of open incidents, contain those
        whose pauses are all verified; emit the reminders that fell due."""
        now = self.clock()
        with self.sessions() as session, session.begin():
            for incident in session.scalars(select(Incident).where(_open())).all():
                sync_timeline(session, incident.id)
                moved = contain_if_verified(session, self.plan, incident.id)
                if moved is not None:
                    _contained(*moved)
                if self.plan.regulatory is not None and self.plan.regulatory.regimes:
                    clocks = clocks_for_incident(session, self.plan, incident.id, now)
                    for deadline in reminders_due(clocks, now=now):
                        _remind_filing(session, incident.id, deadline, now)
            for reminder in due_reminders(session, self.plan, now):
                context: dict[str, object] = {
                    "incident_id": reminder.incident_id,
                    "title": reminder.title,
                    "due_at": reminder.due_at.isoformat(),
                    "role": reminder.role,
                    "person": reminder.person,
                }
                emit(
                    session,
                    ReminderDue(
                        event_id=ReminderDue.key(
                            reminder.incident_id, "update_due", _slot(reminder.due_at, now)
                        ),
                        occurred_at=now,
                        incident_id=reminder.incident_id,
                        reminder="update_due",
                        context=context,
                    ),
                )

    async def run(self, stop: asyncio.Event, interval: float = 2.0) -> None:
        """:meth:`sync` every ``interval`` seconds until ``stop`` is set."""
        while not stop.is_set():
            try:
                await asyncio.to_thread(self.sync)
            except Exception as exc:  # a locked database included: the next tick tries again
                _log.error("incidents.sync_failed", error=repr(exc)[:300])
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), interval)


def _slot(due: datetime, now: datetime, every: timedelta = _UPDATE_EVERY) -> str:
    """The period a reminder falls in: once when due, then once per ``every`` overdue."""
    overdue = max(timedelta(0), now - due)
    return f"{due.isoformat()}+{int(overdue / every)}"


def _remind_filing(session: Session, incident_id: int, deadline: Deadline, now: datetime) -> None:
    """A regulatory deadline in its last quarter or overdue: remind the role that files
    (the duty's owner, else the incident lead), at most once an hour per deadline."""
    due = f"{deadline.due:%Y-%m-%d %H:%M} UTC" if deadline.due is not None else "(no date)"
    context: dict[str, object] = {
        "incident_id": incident_id,
        "title": f"{deadline.regime} {deadline.name} due {due}",
        "message": f"File the {deadline.name} report with {deadline.recipient}; "
        f"status {deadline.status}.",
        "due_at": _iso(deadline.due),
    }
    hour = int(now.timestamp() // _FILING_EVERY.total_seconds())
    emit(
        session,
        ReminderDue(
            event_id=ReminderDue.key(
                incident_id, "regulatory_due", f"{deadline.regime}:{deadline.name}:{hour}"
            ),
            occurred_at=now,
            incident_id=incident_id,
            reminder="regulatory_due",
            context=context,
            group_key=f"regulatory:{incident_id}:{deadline.regime}:{deadline.name}",
        ),
    )


def _contained(incident: Incident, targets: list[PauseTarget]) -> None:
    """Log the automatic containment; its ``IncidentChanged`` was emitted by the transition
    itself (:mod:`breakglass.incidents.status_events`), as a person's is."""
    _log.warning(
        "incidents.contained",
        incident=incident.id,
        by=AUTO_ACTOR,
        contracts=[t.contract for t in targets],
    )


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _open() -> ColumnElement[bool]:
    return Incident.status.not_in([str(s) for s in FINAL])


def _first_alert(session: Session, incident_id: int) -> bool:
    links = session.scalars(select(IncidentAlert).where(IncidentAlert.incident_id == incident_id))
    return len(list(links)) <= 1


def _fields(alert: RaisedAlert) -> dict[str, object]:
    """What an ``alert`` message says of the alert itself: its own severity (critical …
    low), not the P1 … P5 of the incident it joined, which stays as ``incident_severity``."""
    return {
        "severity": alert.severity,
        "rule": alert.rule,
        "chain": alert.chain,
        "block_number": alert.block_number,
        "tx_hash": alert.tx_hash,
        "addresses": list(alert.addresses),
        "description": alert.description,
    }


def _context(incident: Incident, title: str, description: str) -> dict[str, object]:
    return {
        "incident_id": incident.id,
        "title": title,
        "summary": description,
        "severity": incident.severity,
        "incident_severity": incident.severity,
        "status": incident.status,
        "chains": list(incident.chains),
        "contracts": list(incident.contracts),
        "funds": "at_risk",
    }
