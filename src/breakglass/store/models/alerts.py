"""Alerts and the incident candidates that correlate them."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Float,
    ForeignKey,
    Integer,
    String,
)
from sqlalchemy.orm import Mapped, mapped_column

from breakglass.store.models.base import Base, UTCDateTime

__all__ = ["AlertRecord", "IncidentCandidate"]


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
