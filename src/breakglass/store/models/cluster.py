"""Side effects claimed once across replicas."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import JSON, BigInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from breakglass.store.models.base import Base, UTCDateTime

__all__ = ["SideEffect"]


class SideEffect(Base):
    """A side effect (a pause transaction, a Safe proposal, a page, a post) that one replica
    claimed under its idempotency ``key`` before carrying it out.

    JetStream delivers at least once and a failover replays work, so two replicas can reach
    the same effect; the unique key lets exactly one of them go on. ``fencing_token`` is the
    revision of the lease the claimer held: a claim under an older token than the newest
    seen for the same lease is refused.
    """

    __tablename__ = "side_effects"

    id: Mapped[int] = mapped_column(primary_key=True)
    key: Mapped[str] = mapped_column(String, unique=True)
    kind: Mapped[str] = mapped_column(String(32))
    lease: Mapped[str] = mapped_column(String, index=True)
    fencing_token: Mapped[int] = mapped_column(BigInteger)
    holder: Mapped[str] = mapped_column(String)
    claimed_at: Mapped[datetime] = mapped_column(UTCDateTime)
    done_at: Mapped[datetime | None] = mapped_column(UTCDateTime, default=None)
    result: Mapped[dict[str, Any] | None] = mapped_column(JSON, default=None)
