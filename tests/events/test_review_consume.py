"""Review of ``consume_once``: only a concurrent consumer's mark counts as "applied
elsewhere"; a consumer's own effect that breaks a constraint is a failure, retried and in
the end a dead letter, never an event silently marked delivered with no effect."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.events import (
    AlertRaised,
    Event,
    InProcessBus,
    OutboxRelay,
    consume_once,
    consumed,
    emit,
)
from breakglass.store.models import OutboxRecord

from .kit import alert_raised

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _clash(session: Session, _event: Event) -> None:
    """An effect that breaks a unique constraint (here: a row the outbox already holds)."""
    session.add(
        OutboxRecord(
            event_id="taken",
            kind="alert.raised",
            version=1,
            payload={},
            created_at=T0,
            attempts=0,
        )
    )
    session.flush()


def test_an_effect_that_breaks_a_constraint_is_not_taken_for_a_concurrent_mark(
    sessions: sessionmaker[Session],
) -> None:
    """Before the fix ``consume_once`` read every IntegrityError as "another relay applied
    it", returned quietly, and the relay marked the event published: the effect never
    happened and nothing said so. Now the error reaches the relay, which retries."""
    with sessions() as session, session.begin():
        emit(session, alert_raised(1))
        session.add(
            OutboxRecord(
                event_id="taken",
                kind="alert.raised",
                version=1,
                payload={},
                created_at=T0,
                attempts=0,
                published_at=T0,
            )
        )

    def handle(event: Event) -> None:
        consume_once(sessions, consumer="review", event=event, apply=_clash)

    bus = InProcessBus()
    bus.subscribe("review", [AlertRaised], handle)
    relay = OutboxRelay(sessions, bus)
    asyncio.run(relay.drain())
    with sessions() as session:
        row = session.scalars(
            select(OutboxRecord).where(OutboxRecord.event_id == alert_raised(1).event_id)
        ).one()
        applied = consumed(session, consumer="review", event_id=alert_raised(1).event_id)
    assert not applied
    assert row.published_at is None, "marked delivered though its consumer never applied it"
    assert row.attempts == 1 and row.error


def test_a_mark_already_there_still_counts_as_applied(
    sessions: sessionmaker[Session],
) -> None:
    """The case the catch is for stays quiet: a second consumer of the same event (another
    relay) returns False and changes nothing."""
    calls: list[str] = []

    def apply(_session: Session, event: Event) -> None:
        calls.append(event.event_id)

    assert consume_once(sessions, consumer="review", event=alert_raised(1), apply=apply)
    assert not consume_once(sessions, consumer="review", event=alert_raised(1), apply=apply)
    assert calls == [alert_raised(1).event_id]
