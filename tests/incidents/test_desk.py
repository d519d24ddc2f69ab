"""The incident desk reminds people of regulatory deadlines as they draw near, through
``ReminderDue`` events that notify turns into deliveries."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.events import InProcessBus, OutboxRelay
from breakglass.incidents import open_incident
from breakglass.incidents.desk import IncidentDesk
from breakglass.notify import Notifier
from breakglass.notify.consumers import NotificationConsumer
from breakglass.plan import load_plan
from breakglass.plan.models import Plan
from breakglass.store.models import Delivery

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
