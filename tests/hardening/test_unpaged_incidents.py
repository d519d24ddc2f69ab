"""Alerts a crash left behind (issue 14, finding 11), without a chain, now that the hand-over
is the outbox (issue 15): alerts stored with their events and never delivered open their
incidents and page when a relay next runs; every event delivered again (a crash between a
delivery and its mark) opens, tells and pages nothing more."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import func, select, update
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.detect.alerts import AlertBook
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.plan import load_plan
from breakglass.runtime.monitor import build_pipeline
from breakglass.store.models import Delivery, Incident, IncidentAlert, OutboxRecord, Page

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


def _counts(sessions: sessionmaker[Session]) -> tuple[int, ...]:
    with sessions() as session:
        return tuple(
            int(session.scalar(select(func.count()).select_from(table)) or 0)
            for table in (Incident, IncidentAlert, Page, Delivery)
        )


def test_undelivered_alerts_open_and_page_once_however_often_delivered(tmp_path: Path) -> None:
    (tmp_path / "breakglass.yaml").write_text(PLAN)
    plan = load_plan(tmp_path / "breakglass.yaml").plan
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    book = AlertBook()
    with sessions() as session, session.begin():  # the block's commit; then the crash
        for n in (1, 2):
            book.record(session, findings=[_finding(n)], block_time=NOW, now=NOW)
    assert _counts(sessions) == (0, 0, 0, 0)

    asyncio.run(build_pipeline(plan, sessions).relay.drain())  # the restart's relay
    incidents, linked, pages, told = _counts(sessions)
    assert (incidents, linked, pages) == (2, 2, 2)
    assert told >= 4  # each incident to the war room, and its page
    with sessions() as session:
        paged = set(session.scalars(select(Page.incident_id)))
        assert paged == set(session.scalars(select(Incident.id)))

    with sessions() as session, session.begin():  # as if no mark had committed
        session.execute(update(OutboxRecord).values(published_at=None))
    asyncio.run(build_pipeline(plan, sessions).relay.drain())
    assert _counts(sessions) == (incidents, linked, pages, told)
