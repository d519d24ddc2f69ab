"""The incident desk reminds people of regulatory deadlines as they draw near."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import select

from breakglass import store
from breakglass.incidents import open_incident
from breakglass.incidents.desk import IncidentDesk
from breakglass.notify import Notifier
from breakglass.plan import load_plan
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
    notifier = Notifier(plan, sessions, clock=lambda: clock[0])
    desk = IncidentDesk(plan, sessions, notifier, clock=lambda: clock[0])

    desk.sync()
    desk.sync()  # the same hour: no second reminder
    with sessions() as session:
        reminders = session.scalars(
            select(Delivery).where(Delivery.event == "regulatory_due")
        ).all()
    assert len(reminders) == 1
    assert "gdpr" in reminders[0].title

    clock[0] = now + timedelta(hours=2)
    desk.sync()
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
    IncidentDesk(plan, sessions, Notifier(plan, sessions), clock=lambda: now).sync()
    with sessions() as session:
        assert not session.scalars(select(Delivery).where(Delivery.event == "regulatory_due")).all()
