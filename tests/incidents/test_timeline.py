"""Timeline sync from a stored alert and the journal of real playbook runs it triggered."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.incidents import incident_for_alert, link_runs, sync_timeline, timeline
from breakglass.plan.models import Plan
from breakglass.respond.journal import Journal
from breakglass.store.models import IncidentRun

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
    other = journal.open_run("exploit", chain="local", trigger="manual")
    await journal.close()
    assert run.id and fallback.id and dry.id and other.id
    return {"run": run.id, "fallback": fallback.id, "dry": dry.id, "other": other.id}


def test_sync_imports_alerts_steps_and_transactions(
    session: Session, plan: Plan, store_alert: Any
) -> None:
    alert = store_alert(session, 1, at=T0)
    incident = incident_for_alert(session, plan, alert)
    session.commit()  # the journal writes from its own sessions
    runs = asyncio.run(_runs(sessionmaker(session.get_bind()), alert.dedupe_key))

    added = sync_timeline(session, incident.id)
    linked = set(session.scalars(select(IncidentRun.run_id)))
    assert linked == {runs["run"], runs["fallback"]}  # not the dry run, not the manual one
    kinds = [e.kind for e in added]
    assert kinds.count("action") == 6 and kinds.count("tx") == 2
    events = timeline(session, incident.id)
    assert [e.kind for e in events if e.kind == "alert"] == ["alert"]  # opened it already
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
    assert [e.at for e in events] == sorted(e.at for e in events)

    assert sync_timeline(session, incident.id) == []  # idempotent
    assert link_runs(session, incident.id) == []
    assert len(timeline(session, incident.id)) == len(events)


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
