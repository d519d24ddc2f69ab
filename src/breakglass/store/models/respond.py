"""Playbook runs, their steps and phases, and Safe proposals with their signatures."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import (
    JSON,
    Boolean,
    ForeignKey,
    Integer,
    String,
    UniqueConstraint,
)
from sqlalchemy.orm import Mapped, mapped_column

from breakglass.store.models.base import Base, UTCDateTime

__all__ = ["PlaybookRun", "SafeProposal", "SafeSignature", "StepEvent", "StepRun"]


class PlaybookRun(Base):
    """One run of a playbook: what triggered it and how it ended.

    ``status`` is ``running``, ``waiting`` (a step waits for an approval, a person or Safe
    signatures), ``succeeded`` or ``failed``. A dry run happened on a throwaway fork.
    """

    __tablename__ = "playbook_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    playbook: Mapped[str] = mapped_column(String)
    chain: Mapped[str | None] = mapped_column(String)
    trigger: Mapped[str] = mapped_column(String)
    dry_run: Mapped[bool] = mapped_column(Boolean, default=False)
    status: Mapped[str] = mapped_column(String(16))
    parent_step_id: Mapped[int | None] = mapped_column(Integer)
    started_at: Mapped[datetime] = mapped_column(UTCDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)


class StepRun(Base):
    """One step of a playbook run, with the outcome of its precheck → verify path."""

    __tablename__ = "step_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("playbook_runs.id"), index=True)
    position: Mapped[int] = mapped_column(Integer)
    action: Mapped[str] = mapped_column(String(32))
    mode: Mapped[str] = mapped_column(String(16))
    summary: Mapped[str] = mapped_column(String)
    status: Mapped[str] = mapped_column(String(24))
    tx_hash: Mapped[str | None] = mapped_column(String(66))
    error: Mapped[str | None] = mapped_column(String)
    decided_by: Mapped[str | None] = mapped_column(String)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


class StepEvent(Base):
    """A timestamped phase of a step (precheck, simulate, broadcast, …), for the timeline."""

    __tablename__ = "step_events"

    id: Mapped[int] = mapped_column(primary_key=True)
    step_id: Mapped[int] = mapped_column(ForeignKey("step_runs.id"), index=True)
    phase: Mapped[str] = mapped_column(String(16))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    detail: Mapped[dict[str, Any]] = mapped_column(JSON)


class SafeProposal(Base):
    """A Safe transaction breakglass built, and where its signature collection stands.

    ``status`` is ``collecting`` (under threshold), ``executed`` or ``failed``.
    """

    __tablename__ = "safe_proposals"

    id: Mapped[int] = mapped_column(primary_key=True)
    chain: Mapped[str] = mapped_column(String)
    safe_tx_hash: Mapped[str] = mapped_column(String(66), unique=True)
    step_id: Mapped[int | None] = mapped_column(ForeignKey("step_runs.id"), index=True)
    tx: Mapped[dict[str, Any]] = mapped_column(JSON)
    threshold: Mapped[int] = mapped_column(Integer)
    status: Mapped[str] = mapped_column(String(16))
    executed_tx: Mapped[str | None] = mapped_column(String(66))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime)


class SafeSignature(Base):
    """One owner's signature of a :class:`SafeProposal`."""

    __tablename__ = "safe_signatures"
    __table_args__ = (UniqueConstraint("proposal_id", "owner"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    proposal_id: Mapped[int] = mapped_column(ForeignKey("safe_proposals.id"), index=True)
    owner: Mapped[str] = mapped_column(String(42))
    signature: Mapped[str] = mapped_column(String)
    added_at: Mapped[datetime] = mapped_column(UTCDateTime)
