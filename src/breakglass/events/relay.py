"""The relay: delivers the outbox to the bus in order, and marks what was delivered.

It reads unpublished rows by id, publishes each, and marks it published once every
subscriber took it. A crash between a delivery and its mark delivers that event again;
consumers are idempotent, so nothing is lost and nothing is applied twice.

An event whose delivery keeps failing holds the events behind it (their order matters: an
incident is opened before it changes) and is tried again with a growing pause; after
``max_attempts`` it is set aside as a dead letter, reported through ``on_dead`` (which pages
through the monitor's health alerts) and logged, and the rest flows again.

A pass that fails on the database itself (a lock held too long, a lost connection) is
logged and tried again after a growing pause (at most 5 s, or at the next wake): the relay
runs until stopped, since an ended relay would leave every later alert undelivered. (A bus
that fails raises to the caller, which restarts the relay: see ``runtime/fleet.py``.)
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog
from sqlalchemy import func, select, update
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import EventError
from breakglass.events.bus import Bus
from breakglass.events.model import Event, load_event
from breakglass.store.models.events import OutboxRecord

__all__ = ["Backlog", "OutboxRelay", "backlog"]

_log = structlog.get_logger("breakglass.events")


@dataclass(frozen=True)
class Backlog:
    """Events not yet delivered: how many, the oldest one's age, and dead letters."""

    pending: int
    oldest_seconds: float | None
    dead: int


def backlog(session: Session, *, max_attempts: int, now: datetime | None = None) -> Backlog:
    """How far behind the relay is."""
    now = now or datetime.now(UTC)
    waiting = OutboxRecord.published_at.is_(None)
    live = waiting & (OutboxRecord.attempts < max_attempts)
    pending = session.scalar(select(func.count()).where(live)) or 0
    oldest = session.scalar(select(func.min(OutboxRecord.created_at)).where(live))
    dead = session.scalar(select(func.count()).where(waiting, ~live)) or 0
    age = (now - oldest).total_seconds() if oldest is not None else None
    return Backlog(pending=pending, oldest_seconds=age, dead=dead)


class OutboxRelay:
    """Delivers outbox rows to ``bus`` until stopped."""

    def __init__(
        self,
        sessions: sessionmaker[Session],
        bus: Bus,
        *,
        batch: int = 200,
        idle: float = 0.5,
        max_attempts: int = 8,
        on_dead: Callable[[str, str], None] | None = None,
    ) -> None:
        self.sessions = sessions
        self.bus = bus
        self.batch = batch
        self.idle = idle
        self.max_attempts = max_attempts
        self.on_dead = on_dead
        self.delivered = 0
        self._wakeup = asyncio.Event()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._retry_after = 0.0
        self._trouble = 0
        """Passes in a row that failed on the database itself."""

    def wake(self) -> None:
        """Look at the outbox now (callable from any thread, e.g. after a commit)."""
        loop = self._loop
        if loop is None or loop.is_closed():
            return
        with contextlib.suppress(RuntimeError):  # the loop closed since the check
            loop.call_soon_threadsafe(self._wakeup.set)

    async def run(self, stop: asyncio.Event) -> None:
        """Deliver until ``stop`` is set, then deliver what is left once more."""
        self._loop = asyncio.get_running_loop()
        stopping = asyncio.ensure_future(stop.wait())
        try:
            while not stop.is_set():
                trouble = 0.0
                try:
                    moved = await self._pass()
                except SQLAlchemyError as exc:  # a locked or lost database: again, never end
                    self._trouble += 1
                    trouble = min(5.0, 0.25 * 2**self._trouble)
                    _log.error("events.relay_failed", error=repr(exc)[:300], times=self._trouble)
                    moved = 0
                else:
                    self._trouble = 0
                if moved and not self._retry_after:
                    continue
                self._wakeup.clear()
                waker = asyncio.ensure_future(self._wakeup.wait())
                pause = max(self.idle, self._retry_after, trouble)
                # Backing off, a wake (every block's commit) must not cut the pause short:
                # it would spend a failing event's attempts in seconds.
                wakers = {stopping} if self._retry_after else {waker, stopping}
                await asyncio.wait(wakers, timeout=pause, return_when="FIRST_COMPLETED")
                waker.cancel()
            await self.drain()
        finally:
            stopping.cancel()
            self._loop = None

    async def drain(self) -> int:
        """Deliver everything deliverable now; returns how many events were delivered."""
        total = 0
        while moved := await self._pass():
            total += moved
        return total

    async def _pass(self) -> int:
        rows = await asyncio.to_thread(self._next_rows)
        delivered: list[int] = []
        try:
            for row_id, event_id, kind, version, payload, attempts in rows:
                try:
                    event: Event = load_event(kind, version, event_id, payload)
                    await self.bus.publish(event)
                except EventError as exc:
                    await asyncio.to_thread(self._failed, row_id, event_id, attempts, str(exc))
                    return len(delivered)
                delivered.append(row_id)
            self._retry_after = 0.0
            return len(delivered)
        finally:
            if delivered:
                await asyncio.to_thread(self._mark, delivered)
                self.delivered += len(delivered)

    def _next_rows(self) -> list[tuple[int, str, str, int, dict[str, object], int]]:
        with self.sessions() as session:
            rows = session.execute(
                select(
                    OutboxRecord.id,
                    OutboxRecord.event_id,
                    OutboxRecord.kind,
                    OutboxRecord.version,
                    OutboxRecord.payload,
                    OutboxRecord.attempts,
                )
                .where(
                    OutboxRecord.published_at.is_(None),
                    OutboxRecord.attempts < self.max_attempts,
                )
                .order_by(OutboxRecord.id)
                .limit(self.batch)
            ).all()
        return [tuple(row) for row in rows]

    def _mark(self, row_ids: list[int]) -> None:
        with self.sessions() as session, session.begin():
            session.execute(
                update(OutboxRecord)
                .where(OutboxRecord.id.in_(row_ids))
                .values(published_at=datetime.now(UTC))
            )

    def _failed(self, row_id: int, event_id: str, attempts: int, error: str) -> None:
        attempts += 1
        with self.sessions() as session, session.begin():
            session.execute(
                update(OutboxRecord)
                .where(OutboxRecord.id == row_id)
                .values(attempts=attempts, error=error[:1000])
            )
        # A dead letter no longer holds the rest back: deliver them now, not after a pause.
        self._retry_after = min(30.0, 0.25 * 2**attempts) if attempts < self.max_attempts else 0
        if attempts >= self.max_attempts:
            _log.error(
                "events.dead_letter", event_id=event_id, attempts=attempts, error=error[:300]
            )
            if self.on_dead is not None:
                self.on_dead(event_id, error)
        else:
            _log.warning("events.delivery_retry", event_id=event_id, attempts=attempts)
