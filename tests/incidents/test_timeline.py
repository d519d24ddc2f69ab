"""The timeline of real playbook runs, as incidents hears of them: the respond journal writes
its rows and its events in one transaction, the relay delivers the outbox to the bus, and
incidents' consumer brings the runs its alerts triggered onto the incident's timeline,
whichever arrived first, without reading respond's tables."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.events import ActionExecuted, InProcessBus, OutboxRelay, StepPhase
from breakglass.incidents import incident_for_alert, link_runs, sync_timeline, timeline
from breakglass.incidents.response_log import subscribe
from breakglass.plan.models import Plan
from breakglass.respond.journal import Journal
from breakglass.store.models import (
    ConsumedEvent,
    IncidentRun,
    OutboxRecord,
    ResponseRecord,
    TimelineEvent,
)

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)
PAUSE_TX = "0x" + "ab" * 32
SAFE_TX = "0x" + "cd" * 32


async def _runs(sessions: sessionmaker[Session], trigger: str) -> dict[str, int]:
    """A pause run triggered by ``trigger`` with a fallback run, a dry run with the same
    trigger and an unrelated run, written by the respond journal."""
    journal = Journal(sessions)
    run = journal.open_run("exploit", chain="local", trigger=trigger)
    step = journal.open_step(run, 0, "pause", "auto", "pause pool")
    journal.phase(step, "precheck", status="running")
    journal.phase(step, "broadcast", tx_hash=PAUSE_TX, status="sent")
    journal.phase(step, "receipt", tx_hash=PAUSE_TX, block=107)
    journal.phase(step, "failed", status="failed", error="still unpaused")
    await step.ready.wait()
    fallback = journal.open_run(
        "safe-pause", chain="local", trigger="fallback", parent_step_id=step.id
    )
    fstep = journal.open_step(fallback, 0, "safe-proposal", "auto", "Safe pauses pool")
    journal.phase(fstep, "broadcast", tx_hash=SAFE_TX, status="sent")
    journal.phase(fstep, "done", status="done")
    journal.finish_run(fallback, "succeeded")
    journal.finish_run(run, "failed")
    dry = journal.open_run("exploit", chain="local", trigger=trigger, dry_run=True)
    dstep = journal.open_step(dry, 0, "pause", "auto", "pause pool")
    journal.phase(dstep, "verify", check="paused()", holds=True)
    other = journal.open_run("exploit", chain="local", trigger="manual")
    ostep = journal.open_step(other, 0, "pause", "auto", "pause pool")
    journal.phase(ostep, "precheck", status="skipped")
    await journal.close()
    assert run.id and fallback.id and dry.id and other.id
    return {"run": run.id, "fallback": fallback.id, "dry": dry.id, "other": other.id}


def _deliver(sessions: sessionmaker[Session]) -> int:
    """Deliver the outbox to incidents' consumer, as the monitor's relay does."""
    bus = InProcessBus()
    subscribe(bus, sessions)
    return asyncio.run(OutboxRelay(sessions, bus).drain())


def _outbox_kinds(session: Session) -> list[str]:
    return list(session.scalars(select(OutboxRecord.kind).order_by(OutboxRecord.id)))


def _check_timeline(session: Session, incident_id: int, alert: Any) -> None:
    events = timeline(session, incident_id)
    kinds = [e.kind for e in events]
    assert kinds.count("action") == 6 and kinds.count("tx") == 2
    assert kinds.count("alert") == 1
    alert_event = next(e for e in events if e.kind == "alert")
    assert (alert_event.at, alert_event.block_number, alert_event.tx_hash) == (
        T0,
        101,
        alert.tx_hash,
    )
    txs = {e.tx_hash: e.block_number for e in events if e.kind == "tx"}
    assert txs == {PAUSE_TX: 107, SAFE_TX: None}
    phases = [e.data["phase"] for e in events if e.kind == "action"]
    assert phases == ["precheck", "broadcast", "receipt", "failed", "broadcast", "done"]
    failed = next(e for e in events if e.data.get("phase") == "failed")
    assert "error=still unpaused" in failed.summary
    assert failed.summary.startswith("pause pool: failed")
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_the_journal_tells_each_stored_phase_once(session: Session) -> None:
    sessions = sessionmaker(session.get_bind())
    runs = asyncio.run(_runs(sessions, "drain:local:1"))
    kinds = _outbox_kinds(session)
    # 6 live phases, 1 dry phase, 1 precheck of the manual run
    assert kinds.count(StepPhase.KIND) == 8
    # the receipt landed, the dry verify held, the manual precheck found it done
    assert kinds.count(ActionExecuted.KIND) == 3
    stored = {row.event_id: row.payload for row in session.scalars(select(OutboxRecord))}
    receipt = next(p for p in stored.values() if p.get("tx_hash") == PAUSE_TX and "verified" in p)
    assert (receipt["run_id"], receipt["block_number"], receipt["trigger"]) == (
        runs["run"],
        107,
        "drain:local:1",
    )
    assert receipt["summary"] == "pause pool" and receipt["verified"] is None


def test_runs_stored_after_the_alert_reach_its_timeline(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    alert = store_alert(session, 1, at=T0)
    incident = incident_for_alert(session, plan, alert)
    session.commit()  # the journal and the consumer write from their own sessions
    sessions = sessionmaker(session.get_bind())
    runs = asyncio.run(_runs(sessions, alert.dedupe_key))

    assert [e.kind for e in timeline(session, incident.id) if e.kind == "action"] == []
    assert _deliver(sessions) == 11
    session.expire_all()
    linked = set(session.scalars(select(IncidentRun.run_id)))
    assert linked == {runs["run"], runs["fallback"]}  # not the dry run, not the manual one
    _check_timeline(session, incident.id, alert)
    # the dry run is never recorded; the manual run is, in case its alert arrives later
    recorded = set(session.scalars(select(ResponseRecord.run_id)))
    assert recorded == {runs["run"], runs["fallback"], runs["other"]}

    assert sync_timeline(session, incident.id) == []  # idempotent
    assert link_runs(session, incident.id) == []


def test_runs_stored_before_the_alert_join_it_when_it_arrives(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    """The responder acts before the block's alerts are stored: its events may come first."""
    sessions = sessionmaker(session.get_bind())
    trigger = "drain:local:1"
    asyncio.run(_runs(sessions, trigger))
    _deliver(sessions)
    assert session.scalar(select(func.count()).select_from(TimelineEvent)) == 0

    alert = store_alert(session, 1, at=T0)
    assert alert.dedupe_key == trigger
    incident = incident_for_alert(session, plan, alert)
    session.commit()
    _check_timeline(session, incident.id, alert)


def test_a_redelivered_event_changes_nothing(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    alert = store_alert(session, 1, at=T0)
    incident = incident_for_alert(session, plan, alert)
    session.commit()
    sessions = sessionmaker(session.get_bind())
    asyncio.run(_runs(sessions, alert.dedupe_key))
    _deliver(sessions)
    before = len(timeline(session, incident.id))
    # a crash between delivery and the relay's mark: everything is delivered again
    with sessions.begin() as again:
        for row in again.scalars(select(OutboxRecord)):
            row.published_at = None
    assert _deliver(sessions) == 11
    session.expire_all()
    assert len(timeline(session, incident.id)) == before
    assert (
        session.scalar(select(func.count()).select_from(ResponseRecord)) == 9
    )  # not the dry run's 2
    marks = session.scalar(select(func.count()).select_from(ConsumedEvent))
    assert marks == 11


def test_sync_picks_up_later_alerts(
    session: Session, plan: Plan, store_alert: Any, new_candidate: Any
) -> None:
    group = new_candidate(session)
    first = incident_for_alert(session, plan, store_alert(session, 1, candidate=group))
    second = incident_for_alert(session, plan, store_alert(session, 2, candidate=group))
    assert first.id == second.id
    alerts = [e for e in timeline(session, first.id) if e.kind == "alert"]
    assert len(alerts) == 2
    assert sync_timeline(session, first.id) == []
