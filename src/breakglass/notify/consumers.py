"""Notify's side of the events: incidents' news becomes deliveries and pages.

:class:`NotificationConsumer` consumes ``IncidentOpened``, ``IncidentChanged`` and
``ReminderDue`` with :func:`~breakglass.events.consume_once`: the deliveries and the page a
new incident calls for are queued in the same transaction as the consumer's mark, with one
``NotificationQueued`` per delivery, so a crash before the commit queues nothing and the
event comes again, and one after it never queues them twice. ``NotificationQueued`` wakes
the notifier's delivery loop (its poll stays as a fallback).

Public updates are not here: ``publish_update`` queues its ``status_update`` in the
transaction that publishes it, which is already exactly once.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.events import (
    Bus,
    Event,
    IncidentChanged,
    IncidentOpened,
    NotificationQueued,
    ReminderDue,
    consume_once,
    emit,
)
from breakglass.notify.service import Notifier
from breakglass.plan.models.plan import Plan
from breakglass.store.models import Delivery

__all__ = ["CONSUMER", "NotificationConsumer"]

_log = structlog.get_logger("breakglass.notify")

CONSUMER = "notify"
_LEAD = "incident_lead"


class NotificationConsumer:
    """Queues what incidents' events call for; wakes the notifier when something was."""

    def __init__(self, plan: Plan, sessions: sessionmaker[Session], notifier: Notifier) -> None:
        self.plan = plan
        self.sessions = sessions
        self.notifier = notifier

    def subscribe(self, bus: Bus) -> None:
        """Hear of incidents on ``bus``, and of queued notifications to deliver them."""
        bus.subscribe(CONSUMER, [IncidentOpened, IncidentChanged, ReminderDue], self.handle)
        bus.subscribe(f"{CONSUMER}.deliver", [NotificationQueued], self._queued)

    def handle(self, event: Event) -> None:
        """Queue what ``event`` calls for, once."""
        consume_once(self.sessions, consumer=CONSUMER, event=event, apply=self._apply)

    async def _queued(self, _event: Event) -> None:
        self.notifier.wake()

    def _apply(self, session: Session, event: Event) -> None:
        before = session.scalar(select(func.max(Delivery.id))) or 0
        incident_id: int | None = None
        if isinstance(event, IncidentOpened):
            incident_id = event.incident_id
            self._opened(session, event)
        elif isinstance(event, IncidentChanged):
            incident_id = event.incident_id
            self._changed(session, event)
        elif isinstance(event, ReminderDue):
            incident_id = event.incident_id
            self.notifier.notify(
                event.reminder,
                _revive(event.context),
                incident_id=event.incident_id,
                group_key=event.group_key,
                session=session,
            )
        queued = session.execute(
            select(Delivery.id, Delivery.channel, Delivery.event)
            .where(Delivery.id > before, Delivery.incident_id == incident_id)
            .order_by(Delivery.id)
        ).all()
        for delivery_id, channel, kind in queued:
            emit(
                session,
                NotificationQueued(
                    event_id=NotificationQueued.key(delivery_id),
                    occurred_at=event.occurred_at,
                    delivery_id=delivery_id,
                    channel=channel,
                    event=kind,
                    incident_id=incident_id,
                ),
            )

    def _titled(
        self, session: Session, incident_id: int, context: dict[str, Any]
    ) -> dict[str, Any]:
        """``context`` with the incident's readable title (the lead's, else the generated
        one) as ``title``, and the alert's own words as ``alert_title``: ``context``'s
        title for a new alert, else the incident's first alert's."""
        from breakglass.report.wording import incident_alerts, incident_words  # noqa: PLC0415

        words = incident_words(session, incident_id=incident_id, plan=self.plan)
        alert_title = context.get("title")
        if context.get("rule") is None:  # not a message about one alert
            first = incident_alerts(session, incident_id)
            alert_title = first[0].title if first else None
        return {**context, "title": words.title, "alert_title": alert_title}

    def _opened(self, session: Session, event: IncidentOpened) -> None:
        context: dict[str, Any] = {
            "incident_id": event.incident_id,
            "title": event.title,
            "summary": event.summary,
            "severity": event.severity,
            "incident_severity": event.severity,
            "status": event.status,
            "chains": event.chains,
            "contracts": event.contracts,
            "funds": "at_risk",
        }
        context = self._titled(session, event.incident_id, context)
        notify = self.notifier
        notify.notify("incident_opened", context, incident_id=event.incident_id, session=session)
        if _LEAD in self.plan.roles and self.plan.roles[_LEAD].members:
            notify.page(_LEAD, context["title"], incident_id=event.incident_id, session=session)
        for name in event.engaged:
            party = self.plan.external_parties.get(name)
            if party is None or party.page is None:
                continue
            notify.notify_url(
                party.page,
                "external_engaged",
                {**context, "party": name},
                label=name,
                session=session,
            )

    def _changed(self, session: Session, event: IncidentChanged) -> None:
        if event.change == "alert" and not event.detail.get("retracted"):
            self.notifier.notify(
                "alert",
                self._titled(session, event.incident_id, event.detail),
                incident_id=event.incident_id,
                group_key=f"incident:{event.incident_id}",
                session=session,
            )
        elif event.change == "status":
            # a person's move is announced as the desk's is: "contained" has its own words
            self.notifier.notify(
                "contained" if event.after == "contained" else "status_changed",
                self._titled(session, event.incident_id, _revive(event.detail)),
                incident_id=event.incident_id,
                session=session,
            )


def _revive(context: dict[str, Any]) -> dict[str, Any]:
    """Times travel in events as ISO strings; templates format datetimes."""
    revived = dict(context)
    for key, value in context.items():
        if key.endswith("_at") and isinstance(value, str):
            try:
                revived[key] = datetime.fromisoformat(value)
            except ValueError:
                continue
    return revived
