"""Plan revisions and the block stream's position: checkpoints and canonical blocks."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from breakglass.store.models.base import Base, UTCDateTime

__all__ = ["CanonicalBlock", "Checkpoint", "PlanRevision"]


class PlanRevision(Base):
    """A version of a protocol's plan that was loaded, identified by its content hash."""

    __tablename__ = "plan_revisions"

    id: Mapped[int] = mapped_column(primary_key=True)
    protocol: Mapped[str] = mapped_column(String)
    path: Mapped[str] = mapped_column(String)
    sha256: Mapped[str] = mapped_column(String(64), index=True)
    loaded_at: Mapped[datetime] = mapped_column(UTCDateTime)


class Checkpoint(Base):
    """Per chain, the last block that downstream stages acknowledged.

    ``chain_id`` and ``genesis_hash`` say which chain the block numbers belong to, so a
    database reused against another chain (a restarted devnet, a wrong endpoint) is refused
    instead of skipping every block below the old height. Rows written before they existed
    hold ``None`` until the next start records them.
    """

    __tablename__ = "checkpoints"

    chain: Mapped[str] = mapped_column(String, primary_key=True)
    block_number: Mapped[int] = mapped_column(BigInteger)
    block_hash: Mapped[str] = mapped_column(String(66))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)
    chain_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    genesis_hash: Mapped[str | None] = mapped_column(String(66), default=None)


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
