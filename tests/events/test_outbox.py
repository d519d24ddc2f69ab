"""The outbox, the bus and the relay on a real database: exactly-once effects under
redelivery, order, retries and dead letters."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import EventError
from breakglass.events import (
    AlertRaised,
    Event,
    IncidentOpened,
    InProcessBus,
    OutboxRelay,
    UnknownEvent,
    backlog,
    consume_once,
    emit,
    event_kinds,
    load_event,
)
from breakglass.store.models import ConsumedEvent, OutboxRecord

from .kit import alert_raised

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _emit_all(sessions: sessionmaker[Session], events: list[Event]) -> None:
    with sessions() as session, session.begin():
        for event in events:
            emit(session, event)


def test_every_event_round_trips_through_its_stored_form() -> None:
    event = alert_raised(1)
    again = load_event(event.KIND, event.VERSION, event.event_id, event.payload())
    assert again == event
    assert {"alert.raised", "incident.opened", "step.phase", "action.executed"} <= set(
        event_kinds()
    )


def test_an_unknown_version_or_a_payload_that_does_not_fit_is_refused() -> None:
    event = alert_raised(1)
    with pytest.raises(UnknownEvent, match="version 2"):
        load_event(event.KIND, 2, event.event_id, event.payload())
    with pytest.raises(UnknownEvent, match="unknown kind"):
        load_event("alert.exploded", 1, event.event_id, event.payload())
    with pytest.raises(UnknownEvent, match="does not fit"):
        load_event(event.KIND, 1, event.event_id, {**event.payload(), "surprise": 1})


def test_an_event_replayed_by_its_cause_is_queued_once(sessions: sessionmaker[Session]) -> None:
    _emit_all(sessions, [alert_raised(1), alert_raised(1)])  # twice in one transaction
    _emit_all(sessions, [alert_raised(1), alert_raised(2)])  # and again in the next
    with sessions() as session:
        ids = session.scalars(select(OutboxRecord.event_id).order_by(OutboxRecord.id)).all()
    assert ids == [alert_raised(1).event_id, alert_raised(2).event_id]


def test_an_event_rolled_back_with_its_cause_is_never_delivered(
    sessions: sessionmaker[Session],
) -> None:
    with sessions() as session:
        emit(session, alert_raised(1))
        session.rollback()
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxRecord)) == 0


def test_the_relay_delivers_in_order_and_marks_what_was_delivered(
    sessions: sessionmaker[Session],
) -> None:
    seen: list[str] = []
    bus = InProcessBus()
    bus.subscribe("recorder", [AlertRaised], lambda event: seen.append(event.event_id))
    _emit_all(sessions, [alert_raised(n) for n in range(1, 6)])
    relay = OutboxRelay(sessions, bus, batch=2)
    assert asyncio.run(relay.drain()) == 5
    assert seen == [alert_raised(n).event_id for n in range(1, 6)]
    assert asyncio.run(relay.drain()) == 0  # nothing is delivered twice by one relay
    with sessions() as session:
        assert backlog(session, max_attempts=8).pending == 0


def test_a_consumer_applies_a_redelivered_event_once(sessions: sessionmaker[Session]) -> None:
    applied: list[int] = []

    def apply(session: Session, event: Event) -> None:
        assert isinstance(event, AlertRaised)
        applied.append(event.alert_id)
        emit(
            session,
            IncidentOpened(
                event_id=IncidentOpened.key(event.alert_id),
                occurred_at=T0,
                incident_id=event.alert_id,
                title=event.title,
                severity=event.severity,
                status="detected",
                opened_by=f"alert:{event.dedupe_key}",
            ),
        )

    event = alert_raised(7)
    assert consume_once(sessions, consumer="desk", event=event, apply=apply)
    assert not consume_once(sessions, consumer="desk", event=event, apply=apply)
    assert consume_once(sessions, consumer="other", event=event, apply=lambda s, e: None)
    assert applied == [7]
    with sessions() as session:
        kinds = session.scalars(select(OutboxRecord.kind)).all()
        marks = session.scalar(select(func.count()).select_from(ConsumedEvent))
    assert kinds == ["incident.opened"]
    assert marks == 2


def test_a_failing_consumer_leaves_no_effect_and_no_mark(sessions: sessionmaker[Session]) -> None:
    def apply(session: Session, event: Event) -> None:
        emit(session, alert_raised(99))
        raise RuntimeError("channel down")

    with pytest.raises(RuntimeError):
        consume_once(sessions, consumer="desk", event=alert_raised(1), apply=apply)
    with sessions() as session:
        assert session.scalar(select(func.count()).select_from(OutboxRecord)) == 0
        assert session.scalar(select(func.count()).select_from(ConsumedEvent)) == 0


def test_a_failing_delivery_holds_the_events_behind_it_then_is_set_aside(
    sessions: sessionmaker[Session],
) -> None:
    calls: list[str] = []
    dead: list[tuple[str, str]] = []

    def flaky(event: Event) -> None:
        calls.append(event.event_id)
        if event.event_id == alert_raised(2).event_id:
            raise RuntimeError("poison")

    bus = InProcessBus()
    bus.subscribe("flaky", [AlertRaised], flaky)
    _emit_all(sessions, [alert_raised(1), alert_raised(2), alert_raised(3)])
    relay = OutboxRelay(
        sessions,
        bus,
        max_attempts=3,
        on_dead=lambda event_id, error: dead.append((event_id, error)),
    )
    assert asyncio.run(relay.drain()) == 1  # 1 delivered, 2 failed, 3 waits behind it
    assert alert_raised(3).event_id not in calls
    asyncio.run(relay.drain())
    asyncio.run(relay.drain())  # third failure: a dead letter, and 3 flows again
    assert [event_id for event_id, _ in dead] == [alert_raised(2).event_id]
    assert "poison" in dead[0][1]
    assert calls[-1] == alert_raised(3).event_id
    with sessions() as session:
        state = backlog(session, max_attempts=3)
        row = session.scalars(
            select(OutboxRecord).where(OutboxRecord.event_id == alert_raised(2).event_id)
        ).one()
    assert (state.pending, state.dead) == (0, 1)
    assert row.attempts == 3 and "poison" in (row.error or "")


def test_the_running_relay_is_woken_by_a_commit_and_drains_on_stop(
    sessions: sessionmaker[Session],
) -> None:
    seen: list[str] = []

    async def record(event: Event) -> None:
        seen.append(event.event_id)

    async def scenario() -> float:
        bus = InProcessBus()
        bus.subscribe("recorder", [AlertRaised], record)
        relay = OutboxRelay(sessions, bus, idle=30.0)  # only a wake-up can be quick
        stop = asyncio.Event()
        task = asyncio.create_task(relay.run(stop))
        await asyncio.sleep(0.1)
        started = asyncio.get_running_loop().time()
        await asyncio.to_thread(_emit_all, sessions, [alert_raised(1)])
        relay.wake()
        while not seen:
            await asyncio.sleep(0.01)
        took = asyncio.get_running_loop().time() - started
        await asyncio.to_thread(_emit_all, sessions, [alert_raised(2)])
        stop.set()  # no wake-up: the final drain must take it
        await task
        return took

    took = asyncio.run(scenario())
    assert seen == [alert_raised(1).event_id, alert_raised(2).event_id]
    assert took < 10.0  # woken, not the 30 s idle pause


def test_subscribing_to_something_that_is_not_an_event_is_refused() -> None:
    class NotDeclared:
        KIND = "x"

    bus = InProcessBus()
    with pytest.raises(EventError, match="not a declared event"):
        bus.subscribe("x", [NotDeclared], lambda e: None)  # type: ignore[list-item]
    bus.subscribe("a", [AlertRaised], lambda e: None)
    with pytest.raises(EventError, match="two subscribers"):
        bus.subscribe("a", [AlertRaised], lambda e: None)
