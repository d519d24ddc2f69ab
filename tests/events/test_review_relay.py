"""Review of the relay's retries: a failing event is tried again after a growing pause, and
the monitor's wake after every block's commit must not shorten that pause."""

from __future__ import annotations

import asyncio
import time
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.events import AlertRaised, Event, InProcessBus, OutboxRelay, emit
from breakglass.store.models import OutboxRecord

from .kit import alert_raised

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_wakes_from_new_blocks_do_not_use_up_a_failing_events_attempts(
    sessions: sessionmaker[Session],
) -> None:
    """A consumer that fails for 2 s (a lock, a restart of a service it needs) gets its
    event on the pauses' schedule: 0.5 s, 1 s, 2 s. Before the fix every commit of the block
    stream woke the relay out of the pause and it tried again at once: with blocks every
    0.1 s (every 1 s: within 8 s) the 8 attempts were spent in under a second, the alert
    was set aside as a dead letter and never opened an incident."""
    with sessions() as session, session.begin():
        emit(session, alert_raised(1))
    seen: list[str] = []
    healthy_at = time.monotonic() + 2.0

    def consumer(event: Event) -> None:
        if time.monotonic() < healthy_at:
            raise RuntimeError("lock timeout")
        seen.append(event.event_id)

    bus = InProcessBus()
    bus.subscribe("flaky", [AlertRaised], consumer)
    relay = OutboxRelay(sessions, bus, idle=0.05)

    async def scenario() -> None:
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        deadline = time.monotonic() + 8
        while not seen and time.monotonic() < deadline:
            relay.wake()  # what the block stream does after each commit
            await asyncio.sleep(0.1)
        stop.set()
        await task

    asyncio.run(scenario())
    with sessions() as session:
        row = session.scalars(select(OutboxRecord)).one()
    assert seen == [alert_raised(1).event_id], f"dead letter after {row.attempts} attempts"
    assert row.published_at is not None
    assert row.attempts < relay.max_attempts


def test_a_dead_letter_does_not_hold_the_events_behind_it(
    sessions: sessionmaker[Session],
) -> None:
    """The event after a dead letter is delivered at once, not after the last retry's
    30 s pause (which no wake may cut short)."""
    with sessions() as session, session.begin():
        session.add(
            OutboxRecord(
                event_id="poison",
                kind="alert.raised",
                version=99,  # a version this code does not read: fails every time
                payload={},
                created_at=T0,
                attempts=7,
            )
        )
        emit(session, alert_raised(1))
    seen: list[str] = []
    dead: list[str] = []
    bus = InProcessBus()
    bus.subscribe("probe", [AlertRaised], lambda e: seen.append(e.event_id))
    relay = OutboxRelay(
        sessions, bus, idle=0.05, on_dead=lambda event_id, _e: dead.append(event_id)
    )

    async def scenario() -> float:
        stop = asyncio.Event()
        started = time.monotonic()
        task = asyncio.create_task(relay.run(stop))
        while not seen and time.monotonic() - started < 10:
            await asyncio.sleep(0.05)
        took = time.monotonic() - started
        stop.set()
        await task
        return took

    took = asyncio.run(scenario())
    assert dead == ["poison"]
    assert seen == [alert_raised(1).event_id]
    assert took < 2, f"the event behind the dead letter waited {took:.1f}s"
