"""Review of the event pipeline under a database that is briefly locked.

SQLite allows one writer at a time (the block stream, the journal, the relay and the
consumers, and ``breakglass serve`` in another process all write), and PostgreSQL waits on
row and table locks. A write that waits past its timeout fails with "database is locked" /
"lock timeout". These tests hold such a lock for a moment, as a slow writer would, and check
that the pipeline neither stops for good nor forgets what it was given.
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import psycopg
import pytest
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.events import (
    AlertRaised,
    Event,
    InProcessBus,
    OutboxRelay,
    ReminderDue,
    StepPhase,
    emit,
)
from breakglass.incidents import open_incident
from breakglass.incidents.desk import IncidentDesk
from breakglass.plan import load_plan
from breakglass.respond.journal import Journal
from breakglass.store.models import OutboxRecord, PlaybookRun, StepRun

from .kit import alert_raised

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


@dataclass
class Lockable:
    """A migrated database whose sessions give up on a lock after 0.2 s, and a way to hold
    its write lock from another connection."""

    sessions: sessionmaker[Session]
    hold: object  # () -> context manager


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def lockable(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Lockable]:
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        store.upgrade(url)
        engine = create_engine(
            url.replace("postgresql://", "postgresql+psycopg://", 1),
            connect_args={"options": "-c lock_timeout=200"},
        )
        conninfo = url.replace("postgresql+psycopg://", "postgresql://", 1)

        @contextmanager
        def hold() -> Iterator[None]:
            with psycopg.connect(conninfo) as conn:
                # EXCLUSIVE lets readers read and stops every writer of these tables.
                conn.execute(
                    "LOCK TABLE outbox, playbook_runs, step_runs, step_events IN EXCLUSIVE MODE"
                )
                yield
                conn.rollback()

    else:
        path = tmp_path / "events.db"
        store.upgrade(f"sqlite:///{path.as_posix()}")
        engine = create_engine(f"sqlite:///{path.as_posix()}", connect_args={"timeout": 0.2})

        @contextmanager
        def hold() -> Iterator[None]:
            conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            try:
                conn.execute("BEGIN IMMEDIATE")  # the write lock; WAL readers still read
                yield
                conn.execute("ROLLBACK")
            finally:
                conn.close()

    yield Lockable(store.session_factory(engine), hold)
    engine.dispose()


def _emit(sessions: sessionmaker[Session], event: Event) -> None:
    with sessions() as session, session.begin():
        emit(session, event)


async def _until(check: object, timeout: float) -> bool:
    assert callable(check)
    deadline = asyncio.get_running_loop().time() + timeout
    while asyncio.get_running_loop().time() < deadline:
        if check():
            return True
        await asyncio.sleep(0.05)
    return bool(check())


def test_the_relay_outlives_a_lock_that_makes_its_mark_fail(lockable: Lockable) -> None:
    """A relay whose ``published_at`` update hits a lock must not end: before the fix its
    task died with OperationalError, the monitor's ``gather(return_exceptions=True)`` hid
    it, and no event was delivered again until a restart."""
    sessions = lockable.sessions
    seen: set[str] = set()
    bus = InProcessBus()
    bus.subscribe("probe", [AlertRaised], lambda e: seen.add(e.event_id))
    relay = OutboxRelay(sessions, bus, idle=0.05)

    async def scenario() -> tuple[bool, bool]:
        stop = asyncio.Event()
        _emit(sessions, alert_raised(1))
        with lockable.hold():  # type: ignore[operator]
            task = asyncio.create_task(relay.run(stop))
            await _until(lambda: alert_raised(1).event_id in seen, 5)
            await asyncio.sleep(0.6)  # the mark waits 0.2 s, then fails
        _emit(sessions, alert_raised(2))
        relay.wake()
        delivered = await _until(lambda: alert_raised(2).event_id in seen, 10)
        alive = not task.done()
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        return delivered, alive

    delivered, alive = asyncio.run(scenario())
    assert alive, "the relay stopped on a lock"
    assert delivered, "an event emitted after the lock was never delivered"
    with sessions() as session:
        waiting = session.scalars(
            select(OutboxRecord.event_id).where(OutboxRecord.published_at.is_(None))
        ).all()
    assert waiting == []


def test_a_journal_batch_that_meets_a_lock_is_written_once_it_lifts(lockable: Lockable) -> None:
    """The journal writes each stored phase's ``StepPhase`` with its row. A batch whose
    transaction met a lock was dropped with a log line: the run, its steps and their events
    were never written, so incidents never heard of the pause (and the handles kept ids of
    rows that were rolled back, so later phases of the same step failed too)."""
    sessions = lockable.sessions

    async def scenario() -> None:
        journal = Journal(sessions)
        release = threading.Event()
        held = threading.Event()

        def holder() -> None:
            with lockable.hold():  # type: ignore[operator]
                held.set()
                release.wait(5)

        thread = threading.Thread(target=holder)
        thread.start()
        held.wait(5)
        run = journal.open_run("exploit", chain="local", trigger="large-outflow:local:0x1:0")
        step = journal.open_step(run, 0, "pause", "auto", "pause pool as guardian")
        journal.phase(step, "broadcast", tx_hash="0x" + "ab" * 32)
        await asyncio.sleep(0.6)  # the writer meets the lock and gives up on it
        release.set()
        await asyncio.to_thread(thread.join)
        journal.phase(step, "receipt", tx_hash="0x" + "ab" * 32, status="done", block=7)
        await journal.close()

    asyncio.run(scenario())
    with sessions() as session:
        runs = session.scalars(select(PlaybookRun.id)).all()
        steps = session.scalars(select(StepRun.id)).all()
        phases = [
            (row.kind, row.payload["phase"], row.payload["run_id"], row.payload["step_id"])
            for row in session.scalars(
                select(OutboxRecord).where(OutboxRecord.kind == StepPhase.KIND)
            )
        ]
    assert len(runs) == 1 and len(steps) == 1
    assert phases == [
        (StepPhase.KIND, "broadcast", runs[0], steps[0]),
        (StepPhase.KIND, "receipt", runs[0], steps[0]),
    ]


def test_a_run_whose_record_cannot_be_written_still_finishes(lockable: Lockable) -> None:
    """The runner waits for ``run.ready`` before it finishes a run, and the responder
    counts a run in flight until then (``_holds``: no new run of that playbook). A batch
    that could not be written never set ``ready``: the run hung and its playbook never ran
    again in that monitor. Now ``ready`` is set with no id, and the loss is logged."""
    sessions = lockable.sessions

    async def scenario() -> tuple[bool, int | None, int | None]:
        journal = Journal(sessions)
        with lockable.hold():  # type: ignore[operator]
            run = journal.open_run("exploit", chain="local", trigger="large-outflow:local:0x1:0")
            try:
                await asyncio.wait_for(run.ready.wait(), 15)
                finished = True
            except TimeoutError:
                finished = False
        later = journal.open_run("exploit", chain="local", trigger="large-outflow:local:0x2:0")
        await journal.close()
        return finished, run.id, later.id

    finished, lost_id, later_id = asyncio.run(scenario())
    assert finished, "the run waits for ever for a record that was dropped"
    assert lost_id is None
    assert later_id is not None


DESK_PLAN = """
protocol: Desk Review
people:
  alice: {name: Alice}
roles:
  incident_lead: [alice]
  comms: [alice]
chains:
  local: {chain_id: 31337, rpc: ["http://127.0.0.1:9"]}
regulatory:
  regimes: [gdpr]
"""


def test_the_desks_background_sync_outlives_a_lock(lockable: Lockable, tmp_path: Path) -> None:
    """The desk's loop (containment, update and filing reminders) caught only
    ``BreakglassError``: a "database is locked" ended it, the monitor's
    ``gather(return_exceptions=True)`` hid that, and no incident was contained or reminder
    sent for the rest of the run."""
    (tmp_path / "breakglass.yaml").write_text(DESK_PLAN)
    plan = load_plan(tmp_path / "breakglass.yaml").plan
    sessions = lockable.sessions
    now = datetime.now(UTC)
    with sessions() as session, session.begin():
        open_incident(
            session, plan, title="drain", kind="exploit", severity="P1", chains=["local"],
            contracts=[], detected_at=now - timedelta(hours=60),
        )  # fmt: skip
    desk = IncidentDesk(plan, sessions)

    def reminders() -> int:
        with sessions() as session:
            rows = session.scalars(
                select(OutboxRecord.id).where(OutboxRecord.kind == ReminderDue.KIND)
            ).all()
        return len(rows)

    async def scenario() -> tuple[bool, int]:
        stop = asyncio.Event()
        with lockable.hold():  # type: ignore[operator]
            task = asyncio.create_task(desk.run(stop, interval=0.1))
            await asyncio.sleep(0.8)
        reminded = await _until(lambda: reminders() > 0, 5)
        alive = not task.done()
        stop.set()
        await asyncio.gather(task, return_exceptions=True)
        return alive and reminded, reminders()

    ok, count = asyncio.run(scenario())
    assert ok, "the desk's loop ended on a lock"
    assert count >= 1
