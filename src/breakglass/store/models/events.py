"""The outbox of typed events and the marks of what each consumer has handled."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, Integer, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from breakglass.store.models.base import Base, UTCDateTime

__all__ = ["ConsumedEvent", "OutboxRecord"]


class OutboxRecord(Base):
    """An event written in the transaction of the change that caused it.

    ``id`` gives the order of delivery; ``event_id`` is the event's stable identity, unique,
    so a change replayed after a crash cannot queue its event twice. ``published_at`` is set
    once every subscriber has taken the event; ``attempts`` and ``error`` say why one that
    keeps failing is still waiting.
    """

    __tablename__ = "outbox"

    id: Mapped[int] = mapped_column(primary_key=True)
    event_id: Mapped[str] = mapped_column(String, unique=True)
    kind: Mapped[str] = mapped_column(String(64), index=True)
    version: Mapped[int] = mapped_column(Integer)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime, index=True, default=None)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(String, default=None)


class ConsumedEvent(Base):
    """``consumer`` has applied ``event_id``: written in the consumer's own transaction,
    with the effects, so a redelivered event is recognised and skipped."""

    __tablename__ = "consumed_events"
    __table_args__ = (UniqueConstraint("consumer", "event_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    consumer: Mapped[str] = mapped_column(String(64))
    event_id: Mapped[str] = mapped_column(String)
    consumed_at: Mapped[datetime] = mapped_column(UTCDateTime)
