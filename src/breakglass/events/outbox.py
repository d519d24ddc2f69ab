"""Writing events in the transaction of their cause, and consuming them exactly once.

:func:`emit` adds an event to the outbox in the caller's session: it commits with the state
change that caused it or not at all, which is what makes "exactly once" survive a crash.
:func:`consume_once` is the other half: a consumer's effects and its mark of the event commit
together, so an event delivered again (after a crash, or by a second relay) changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import EventError
from breakglass.events.model import Event
from breakglass.store.models.events import ConsumedEvent, OutboxRecord

__all__ = ["consume_once", "consumed", "emit"]

_log = structlog.get_logger("breakglass.events")


def emit(session: Session, event: Event) -> bool:
    """Queue ``event`` in ``session``'s transaction; ``False`` if an event with its id is
    already in the outbox (the cause was replayed)."""
    pending = {obj.event_id for obj in session.new if isinstance(obj, OutboxRecord)}
    if event.event_id in pending:
        return False
    exists = session.scalar(select(OutboxRecord.id).where(OutboxRecord.event_id == event.event_id))
    if exists is not None:
        return False
    session.add(
        OutboxRecord(
            event_id=event.event_id,
            kind=event.KIND,
            version=event.VERSION,
            payload=event.payload(),
            created_at=datetime.now(UTC),
            attempts=0,
        )
    )
    return True


def consumed(session: Session, *, consumer: str, event_id: str) -> bool:
    """Whether ``consumer`` has already applied ``event_id``."""
    found = session.scalar(
        select(ConsumedEvent.id).where(
            ConsumedEvent.consumer == consumer, ConsumedEvent.event_id == event_id
        )
    )
    return found is not None


def consume_once(
    sessions: sessionmaker[Session],
    *,
    consumer: str,
    event: Event,
    apply: Callable[[Session, Event], None],
) -> bool:
    """Apply ``event`` for ``consumer`` unless it already was; returns whether it applied.

    ``apply`` works in the given session and must not commit: its effects, any events it
    emits and the consumer's mark commit together. If ``apply`` raises, nothing of it stays
    and the event is delivered again later.

    Raises:
        EventError: ``apply`` broke a constraint of the database (and no other consumer
            of the same name applied the event meanwhile).
    """
    try:
        with sessions() as session, session.begin():
            if consumed(session, consumer=consumer, event_id=event.event_id):
                return False
            session.add(
                ConsumedEvent(
                    consumer=consumer, event_id=event.event_id, consumed_at=datetime.now(UTC)
                )
            )
            session.flush()  # a concurrent consumer's mark fails here, before any effect
            apply(session, event)
    except IntegrityError as exc:
        # Another relay applied it between our check and our mark: that one counts. Any
        # other constraint broken by ``apply`` is a failure: the event must come again,
        # not be marked delivered with no effect.
        with sessions() as session:
            if not consumed(session, consumer=consumer, event_id=event.event_id):
                raise EventError(
                    f"{consumer} could not apply {event.event_id}: {exc.orig}"[:1000]
                ) from exc
        _log.info("events.consumed_elsewhere", consumer=consumer, event_id=event.event_id)
        return False
    return True
