"""Incidents works from an alert's ``AlertRaised`` facts and keeps them with each link in
``incident_alerts`` (issue 15): correlation, severity upgrades and the timeline never read
detect's ``alerts`` table, events stored before the facts were carried still open their
incident, and migration 0015 fills the facts of links made before it from the alerts table."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.detect.alerts import AlertBook, AlertPolicy, GroupBy, Grouping
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.events import AlertRaised, InProcessBus, OutboxRelay, emit, load_event
from breakglass.incidents import incident_for_alert, timeline
from breakglass.incidents.desk import IncidentDesk
from breakglass.plan.models import Plan
from breakglass.store.models import AlertRecord, Incident, IncidentAlert

from .conftest import ATTACKER, POOL

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
SEEN = T0 + timedelta(seconds=12)
TX = "0x" + "ab" * 32


def _drain(block: int, severity: Severity = Severity.CRITICAL, tx: str = TX) -> Finding:
    return Finding(
        rule="drain",
        kind="large-outflow",
        chain="local",
        block_number=block,
        block_hash="0x" + f"{block:064x}",
        severity=severity,
        confidence=Confidence.HIGH,
        title=f"pool drained in block {block}",
        description="outflow above the limit",
        tx_hash=tx,
        log_index=0,
        addresses=(POOL, ATTACKER),
    )


@pytest.fixture
def sessions(database_url: str) -> Iterator[sessionmaker[Session]]:
    """A migrated database's sessions; every row is deleted afterwards (Postgres is shared)."""
    store.upgrade(database_url)
    engine = store.make_engine(database_url)
    factory = store.session_factory(engine)
    try:
        yield factory
        with factory.begin() as cleanup:
            for table in reversed(store.Base.metadata.sorted_tables):
                cleanup.execute(delete(table))
    finally:
        engine.dispose()


def _desk(plan: Plan, sessions: sessionmaker[Session]) -> OutboxRelay:
    bus = InProcessBus()
    IncidentDesk(plan, sessions).subscribe(bus)
    return OutboxRelay(sessions, bus)


def test_the_desk_keeps_the_facts_of_each_alert_it_attaches(
    sessions: sessionmaker[Session], plan: Plan
) -> None:
    book = AlertBook(AlertPolicy(default=Grouping(group_by=GroupBy.TX)))
    relay = _desk(plan, sessions)
    with sessions() as session, session.begin():
        (first,) = book.record(session, findings=[_drain(7)], block_time=T0, now=SEEN)
    asyncio.run(relay.drain())
    later = T0 + timedelta(minutes=1)
    with sessions() as session, session.begin():  # the attacker again, in another tx
        (second,) = book.record(
            session,
            findings=[_drain(9, Severity.LOW, "0x" + "cd" * 32)],
            block_time=later,
            now=later,
        )
    asyncio.run(relay.drain())

    with sessions() as session:
        links = session.scalars(select(IncidentAlert).order_by(IncidentAlert.id)).all()
        candidate = session.get(AlertRecord, first.id)
        assert candidate is not None and candidate.incident_candidate_id is not None
        facts = [
            (
                link.alert_id,
                link.dedupe_key,
                link.rule,
                link.chain,
                link.severity,
                link.block_number,
                link.block_time,
                link.tx_hash,
                link.candidate_id,
            )
            for link in links
        ]
        assert facts == [
            (first.id, first.dedupe_key, "drain", "local", "critical", 7, T0, TX,
             candidate.incident_candidate_id),
            (second.id, second.dedupe_key, "drain", "local", "low", 9, later, "0x" + "cd" * 32,
             candidate.incident_candidate_id),
        ]  # fmt: skip
        (incident,) = session.scalars(select(Incident)).all()  # one candidate, one incident
        assert (incident.started_at, incident.detected_at, incident.severity) == (T0, SEEN, "P1")
        alerts = [e for e in timeline(session, incident.id) if e.kind == "alert"]
        assert [(e.at, e.block_number) for e in alerts] == [(T0, 7), (later, 9)]


def test_correlation_reads_the_candidate_incidents_kept(
    session: Session, plan: Plan, store_alert: Any, new_candidate: Any
) -> None:
    """Detect may later move an alert to another candidate (a merge, a reorg): the link
    keeps the candidate the alert was raised in, and the next alert of it joins there."""
    group = new_candidate(session)
    first = incident_for_alert(session, plan, store_alert(session, 1, candidate=group))
    moved = session.scalars(select(AlertRecord)).one()
    moved.incident_candidate_id = new_candidate(session, "elsewhere")
    session.flush()
    joined = incident_for_alert(session, plan, store_alert(session, 2, candidate=group))
    assert joined.id == first.id


def test_an_event_stored_before_the_facts_were_carried_opens_its_incident(
    sessions: sessionmaker[Session], plan: Plan, store_alert: Any
) -> None:
    """An ``AlertRaised`` of the earlier shape (no block time, first-seen, candidate) still
    loads, and the desk reads its times as when it occurred."""
    with sessions() as session, session.begin():
        alert = store_alert(session, 1)
        old = {
            "occurred_at": SEEN.isoformat(),
            "alert_id": alert.id,
            "dedupe_key": alert.dedupe_key,
            "rule": alert.rule,
            "chain": alert.chain,
            "block_number": alert.block_number,
            "block_hash": alert.block_hash,
            "severity": alert.severity,
            "title": alert.title,
            "tx_hash": alert.tx_hash,
        }
        event = load_event(AlertRaised.KIND, AlertRaised.VERSION, "alert-raised:old", old)
        assert isinstance(event, AlertRaised) and event.block_time is None
        emit(session, event)
    asyncio.run(_desk(plan, sessions).drain())
    with sessions() as session:
        (incident,) = session.scalars(select(Incident)).all()
        assert (incident.started_at, incident.detected_at) == (SEEN, SEEN)
        link = session.scalars(select(IncidentAlert)).one()
        assert (link.dedupe_key, link.block_time) == (alert.dedupe_key, SEEN)


def test_migration_0015_fills_the_facts_of_existing_links_from_the_alerts_table(
    database_url: str, plan: Plan, store_alert: Any, new_candidate: Any
) -> None:
    store.upgrade(database_url)
    engine = store.make_engine(database_url)
    sessions = store.session_factory(engine)
    try:
        with sessions() as session, session.begin():
            group = new_candidate(session)
            alert = store_alert(session, 1, severity="high", candidate=group)
            incident_for_alert(session, plan, alert)
            expected = (
                alert.dedupe_key, "drain", "local", "high", "pool drained (1)", 101, T0,
                alert.tx_hash, group,
            )  # fmt: skip
        engine.dispose()
        store.downgrade(database_url, "0014")  # the link as it was: no facts
        store.upgrade(database_url)
        with sessions() as session:
            link = session.scalars(select(IncidentAlert)).one()
            assert (
                link.dedupe_key, link.rule, link.chain, link.severity, link.title,
                link.block_number, link.block_time, link.tx_hash, link.candidate_id,
            ) == expected  # fmt: skip
        with sessions.begin() as cleanup:
            for table in reversed(store.Base.metadata.sorted_tables):
                cleanup.execute(delete(table))
    finally:
        engine.dispose()
