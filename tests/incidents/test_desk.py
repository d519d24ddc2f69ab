"""The incident desk reminds people of regulatory deadlines as they draw near, through
``ReminderDue`` events that notify turns into deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.events import AlertRaised, InProcessBus, OutboxRelay, emit
from breakglass.incidents import open_incident
from breakglass.incidents.desk import IncidentDesk
from breakglass.notify import Notifier
from breakglass.notify.consumers import NotificationConsumer
from breakglass.plan import load_plan
from breakglass.plan.models import Plan
from breakglass.store.models import AlertRecord, Delivery, Page

from .conftest import PLAN as ALERTS_PLAN

PLAN = """
protocol: Desk Test
people:
  alice: {name: Alice}
roles:
  incident_lead: [alice]
  comms: [alice]
chains:
  local: {chain_id: 31337, rpc: ["http://127.0.0.1:9"]}
channels:
  war-room: "json://127.0.0.1:9/hook"
regulatory:
  regimes: [gdpr]
"""


def _syncer(
    plan: Plan, sessions: sessionmaker[Session], clock: Callable[[], datetime]
) -> Callable[[], None]:
    """A fresh desk's sync, then its events delivered to notify (as the monitor runs them)."""
    bus = InProcessBus()
    desk = IncidentDesk(plan, sessions, clock=clock)
    desk.subscribe(bus)
    NotificationConsumer(plan, sessions, Notifier(plan, sessions, clock=clock)).subscribe(bus)
    relay = OutboxRelay(sessions, bus)

    def sync() -> None:
        desk.sync()
        asyncio.run(relay.drain())

    return sync


def test_a_deadline_in_its_last_quarter_is_reminded_once_an_hour(tmp_path: Path) -> None:
    (tmp_path / "breakglass.yaml").write_text(PLAN)
    plan = load_plan(tmp_path / "breakglass.yaml").plan
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with sessions() as session, session.begin():
        open_incident(
            session, plan, title="drain", kind="exploit", severity="P1", chains=["local"],
            contracts=[], detected_at=now - timedelta(hours=60),
        )  # fmt: skip
    clock = [now]
    sync = _syncer(plan, sessions, lambda: clock[0])

    sync()
    sync()  # the same hour: no second reminder
    _syncer(plan, sessions, lambda: clock[0])()  # nor after a restart
    with sessions() as session:
        reminders = session.scalars(
            select(Delivery).where(Delivery.event == "regulatory_due")
        ).all()
    assert len(reminders) == 1
    assert "gdpr" in reminders[0].title

    clock[0] = now + timedelta(hours=2)
    sync()
    with sessions() as session:
        count = len(
            session.scalars(select(Delivery).where(Delivery.event == "regulatory_due")).all()
        )
    assert count >= 2


def test_no_reminder_while_a_deadline_is_far(tmp_path: Path) -> None:
    (tmp_path / "breakglass.yaml").write_text(PLAN)
    plan = load_plan(tmp_path / "breakglass.yaml").plan
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    now = datetime(2026, 11, 23, 12, 0, tzinfo=UTC)
    with sessions() as session, session.begin():
        open_incident(
            session, plan, title="drain", kind="exploit", severity="P1", chains=["local"],
            contracts=[], detected_at=now - timedelta(hours=1),
        )  # fmt: skip
    _syncer(plan, sessions, lambda: now)()
    with sessions() as session:
        assert not session.scalars(select(Delivery).where(Delivery.event == "regulatory_due")).all()


def _raise(session: Session, alert: AlertRecord) -> None:
    emit(
        session,
        AlertRaised(
            event_id=AlertRaised.key(alert.dedupe_key),
            occurred_at=alert.first_seen,
            alert_id=alert.id,
            dedupe_key=alert.dedupe_key,
            rule=alert.rule,
            chain=alert.chain,
            block_number=alert.block_number,
            block_hash=alert.block_hash,
            severity=alert.severity,
            title=alert.title,
            kind=alert.kind,
        ),
    )


def test_messages_lead_with_the_incidents_readable_title(tmp_path: Path, store_alert: Any) -> None:
    """The opened message, the lead's page and a later alert's message give the
    incident's title in plain words, not the first alert's text, which they still quote."""
    plan = Plan.model_validate({**ALERTS_PLAN, "channels": {"war-room": "json://127.0.0.1:9/h"}})
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    now = datetime(2026, 3, 1, 12, 5, tzinfo=UTC)
    sync = _syncer(plan, sessions, lambda: now)
    with sessions.begin() as session:
        _raise(session, store_alert(session, 1, severity="critical"))
    sync()
    with sessions.begin() as session:
        _raise(session, store_alert(session, 2, severity="low"))
    sync()
    with sessions() as session:
        sent = {d.event: d for d in session.scalars(select(Delivery))}
        pages = [p.message for p in session.scalars(select(Page))]
    readable = "Acme pool drained"
    assert readable in sent["incident_opened"].title, sent["incident_opened"].title
    assert "pool drained (1)" not in sent["incident_opened"].title
    assert "First alert: pool drained (1)" in sent["incident_opened"].body
    assert readable in sent["alert"].title and "pool drained (2)" in sent["alert"].body
    assert pages and all(readable in p for p in pages), pages
