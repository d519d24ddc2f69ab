"""Token units (symbol and decimals) learnt from the chain, kept with the incident data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import Integer, String
from sqlalchemy.orm import Mapped, mapped_column

from breakglass.store.models.base import Base, UTCDateTime

__all__ = ["AssetUnit"]


class AssetUnit(Base):
    """What a token said of itself (``symbol()``, ``decimals()``) when it was read.

    Kept so an incident's figures read ``110,000 dUSD`` after the chain is gone (the demo's
    anvil stopped, a devnet reset, an RPC outage mid-incident), not 24-digit base units of
    an address. Either field is ``None`` where the token does not say.
    """

    __tablename__ = "asset_units"

    chain: Mapped[str] = mapped_column(String, primary_key=True)
    address: Mapped[str] = mapped_column(String(42), primary_key=True)
    symbol: Mapped[str | None] = mapped_column(String(32), default=None)
    decimals: Mapped[int | None] = mapped_column(Integer, default=None)
    read_at: Mapped[datetime] = mapped_column(UTCDateTime)
