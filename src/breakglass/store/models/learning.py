"""After the incident: per-user losses, distributions, drills and post-mortems."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Float,
    ForeignKey,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from breakglass.store.models.base import Base, UTCDateTime

__all__ = ["Distribution", "Drill", "Postmortem", "UserLoss"]


class UserLoss(Base):
    """One user's loss of one asset in an incident, exact to the wei (a decimal string of
    base units), with how it was computed."""

    __tablename__ = "user_losses"
    __table_args__ = (UniqueConstraint("incident_id", "chain", "address", "asset"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    chain: Mapped[str] = mapped_column(String)
    address: Mapped[str] = mapped_column(String(42))
    asset: Mapped[str] = mapped_column(String(42))
    amount: Mapped[str] = mapped_column(String)
    usd_value: Mapped[float | None] = mapped_column(Float)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class Distribution(Base):
    """A compensation Merkle distribution of one token for an incident."""

    __tablename__ = "distributions"

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"), index=True)
    chain: Mapped[str] = mapped_column(String)
    token: Mapped[str] = mapped_column(String(42))
    root: Mapped[str] = mapped_column(String(66))
    total: Mapped[str] = mapped_column(String)
    tree: Mapped[dict[str, Any]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Drill(Base):
    """A drill that was run: a scripted attack on a local chain, or a tabletop exercise.

    ``measurements`` holds the times to detect and contain and the funds saved; ``answers``
    a tabletop's phases, answers and times. ``plan check`` reads the dates.
    """

    __tablename__ = "drills"

    id: Mapped[int] = mapped_column(primary_key=True)
    scenario: Mapped[str] = mapped_column(String, index=True)
    kind: Mapped[str] = mapped_column(String(16))
    plan_sha256: Mapped[str | None] = mapped_column(String(64))
    participants: Mapped[list[str]] = mapped_column(JSON)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    status: Mapped[str] = mapped_column(String(16))
    measurements: Mapped[dict[str, Any]] = mapped_column(JSON)
    findings: Mapped[list[Any]] = mapped_column(JSON)
    answers: Mapped[list[Any]] = mapped_column(JSON)
    report_path: Mapped[str | None] = mapped_column(String)


class Postmortem(Base):
    """The post-mortem of an incident: draft → in-review → published."""

    __tablename__ = "postmortems"
    __table_args__ = (UniqueConstraint("incident_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("incidents.id"))
    status: Mapped[str] = mapped_column(String(16))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    published_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
