"""The desk's start-up sweep (issue 14, finding 11) without a chain: an alert stored but never
handed to the desk opens its incident and pages, and an incident whose page a crash lost
between the incident's commit and the page is paged; an alert told twice (by the sweep and by
the monitor) is announced once, and a second sweep does nothing more."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import delete, func, select

from breakglass import store
from breakglass.detect.alerts import AlertBook
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.incidents.desk import IncidentDesk
from breakglass.notify import Notifier
from breakglass.plan import load_plan
from breakglass.store.models import Delivery, IncidentAlert, Page

PLAN = """
protocol: Sweep Test
people:
  alice: {name: Alice}
roles:
  incident_lead: [alice]
chains:
  local: {chain_id: 31337, rpc: ["http://127.0.0.1:9"]}
channels:
  war-room: "json://127.0.0.1:9/hook"
"""
NOW = datetime(2026, 12, 5, 1, 0, tzinfo=UTC)


def _finding(n: int) -> Finding:
    return Finding(
        rule="drain",
        kind="large-outflow",
        chain="local",
        block_number=n,
        block_hash=f"0x{n:064x}",
        severity=Severity.CRITICAL,
        confidence=Confidence.MEDIUM,
        title=f"drain #{n}",
        description="funds left the vault",
        tx_hash=f"0x{n + 1000:064x}",
        addresses=(f"0x{n:040x}",),
    )


def test_the_sweep_handles_orphaned_alerts_and_pages_unpaged_incidents(tmp_path: Path) -> None:
    (tmp_path / "breakglass.yaml").write_text(PLAN)
    plan = load_plan(tmp_path / "breakglass.yaml").plan
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    book = AlertBook()
    with sessions() as session, session.begin():
        first, second = (
            book.record(session, findings=[_finding(n)], block_time=NOW, now=NOW)[0] for n in (1, 2)
        )
    desk = IncidentDesk(plan, sessions, Notifier(plan, sessions))
    # The first alert was handled, then the crash came before its page; the second never
    # reached the desk.
    incident = desk.on_alert(first.dedupe_key)
    with sessions() as session, session.begin():
        session.execute(delete(Page))

    (swept,) = desk.sweep()
    with sessions() as session:
        told = session.scalar(select(func.count()).select_from(Delivery))
    assert told
    assert swept != incident and desk.on_alert(second.dedupe_key) == swept  # handled once
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Delivery)) == told
        paged = session.scalars(select(Page.incident_id)).all()
        linked = session.scalar(select(func.count()).select_from(IncidentAlert))
    assert linked == 2
    assert sorted(paged) == sorted([incident, swept])

    assert desk.sweep() == []
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(Page)) == 2


def test_the_running_desk_sweeps_alerts_the_hand_over_left_behind(tmp_path: Path) -> None:
    (tmp_path / "breakglass.yaml").write_text(PLAN)
    plan = load_plan(tmp_path / "breakglass.yaml").plan
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as session, session.begin():
        AlertBook().record(session, findings=[_finding(1)], block_time=NOW, now=NOW)
    clock = [NOW + timedelta(seconds=5)]
    desk = IncidentDesk(plan, sessions, Notifier(plan, sessions), clock=lambda: clock[0])
    settled = timedelta(seconds=30)
    assert desk.sweep(settled_for=settled) == []  # still the hand-over's turn
    clock[0] = NOW + timedelta(minutes=1)
    (incident,) = desk.sweep(settled_for=settled)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(IncidentAlert)) == 1
        assert session.scalar(select(Page.incident_id)) == incident
