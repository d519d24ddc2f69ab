"""Database tables, as SQLAlchemy 2 typed declarative models."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    DateTime,
    Dialect,
    Float,
    ForeignKey,
    Integer,
    MetaData,
    String,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column
from sqlalchemy.types import TypeDecorator

__all__ = [
    "NAMING_CONVENTION",
    "AlertRecord",
    "Base",
    "CanonicalBlock",
    "Checkpoint",
    "IncidentCandidate",
    "PlanRevision",
    "UTCDateTime",
]

# Explicit constraint names keep migrations identical on SQLite and Postgres, and let batch
# migrations on SQLite find constraints by name.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware datetime, stored and returned in UTC on every backend.

    SQLite has no time zones: it would drop the offset of an aware datetime and return naive
    ones. Normalising to UTC on the way in and tagging UTC on the way out hides that.
    """

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None or value.utcoffset() is None:
            # A naive time is ambiguous; refusing it beats storing the wrong instant.
            raise TypeError(f"naive datetime {value.isoformat()} given; pass an aware datetime")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


class Base(DeclarativeBase):
    """Base of every model; owns the metadata the migrations are checked against."""

    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class PlanRevision(Base):
    """A version of a protocol's plan that was loaded, identified by its content hash."""

    __tablename__ = "plan_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(String)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Checkpoint(Base):
    """Per chain, the last block that downstream stages acknowledged."""

    __tablename__ = "checkpoints"

    chain: Mapped[str] = mapped_column(String, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class CanonicalBlock(Base):
    """The recent canonical chain as delivered downstream, kept to the reorg depth.

    Written in the same transaction as the checkpoint, so after a crash the stream knows
    exactly which blocks it delivered and can retract them if a reorg orphaned them.
    """

    __tablename__ = "canonical_blocks"

    chain: Mapped[str] = mapped_column(String, primary_key=True)
    number: Mapped[int] = mapped_column(BigInteger, primary_key=True)
    hash: Mapped[str] = mapped_column(String(66))
    parent_hash: Mapped[str] = mapped_column(String(66))
    timestamp: Mapped[int] = mapped_column(BigInteger)


class IncidentCandidate(Base):
    """Alerts that look like one incident: shared addresses, transaction or contract.

    ``stages`` are the attack stages its live alerts show (funding, preparation,
    exploitation, laundering); ``confidence`` grows with how many distinct ones there are.
    """

    __tablename__ = "incident_candidates"

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String)
    opened_at: Mapped[datetime] = mapped_column(UTCDateTime)
    key: Mapped[str] = mapped_column(String)
    confidence: Mapped[float] = mapped_column(Float)
    stages: Mapped[list[str]] = mapped_column(JSON)


class AlertRecord(Base):
    """A finding kept once per ``dedupe_key``; seeing it again only bumps ``count``.

    ``status`` is ``open`` (it paged), ``suppressed`` (its group already paged within the
    suppression window) or ``retracted`` (its block was orphaned by a reorg; kept, not deleted).
    ``block_time`` is the block's timestamp: suppression and correlation windows are measured
    in chain time, so a replay groups alerts exactly as the live run did.
    """

    __tablename__ = "alerts"

    id: Mapped[int] = mapped_column(primary_key=True)
    dedupe_key: Mapped[str] = mapped_column(String, unique=True)
    group_key: Mapped[str] = mapped_column(String, index=True)
    rule: Mapped[str] = mapped_column(String)
    kind: Mapped[str] = mapped_column(String)
    stage: Mapped[str | None] = mapped_column(String(16))
    chain: Mapped[str] = mapped_column(String)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66), index=True)
    block_time: Mapped[datetime] = mapped_column(UTCDateTime)
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    log_index: Mapped[int | None] = mapped_column(Integer)
    severity: Mapped[str] = mapped_column(String(16))
    confidence: Mapped[str] = mapped_column(String(16))
    title: Mapped[str] = mapped_column(String)
    description: Mapped[str] = mapped_column(String)
    addresses: Mapped[list[str]] = mapped_column(JSON)
    data: Mapped[dict[str, Any]] = mapped_column(JSON)
    first_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    last_seen: Mapped[datetime] = mapped_column(UTCDateTime)
    count: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    incident_candidate_id: Mapped[int | None] = mapped_column(
        ForeignKey("incident_candidates.id"), index=True
    )
