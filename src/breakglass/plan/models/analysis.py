"""How to measure an incident's damage: how users' positions are valued, and known labels."""

from __future__ import annotations

import re
from decimal import Decimal
from enum import StrEnum
from typing import Self

from pydantic import Field, field_validator, model_validator

from breakglass.plan.models.base import Address, Name, PlanModel

__all__ = [
    "Analysis",
    "AssetPrice",
    "FeedPrice",
    "Label",
    "LabelKind",
    "PairPrice",
    "Position",
    "StaticPrice",
]

_ADDRESS_VIEW = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*\(address\)$")
_NO_ARG_VIEW = re.compile(r"^[A-Za-z_$][A-Za-z0-9_$]*\(\)$")


class Position(PlanModel):
    """One kind of user position: ``view(user)`` on ``contract``, optionally scaled.

    The value in base units of ``asset`` is ``view(user) * scale() // 10**scale_decimals``
    (exact integer math), or ``view(user)`` when there is no ``scale``.
    """

    contract: Name = Field(description="A contract named in the plan's `contracts`.")
    view: str = Field(default="balanceOf(address)", description="A view taking the user.")
    scale: str | None = Field(default=None, description="A view without arguments, e.g. a price.")
    scale_decimals: int = Field(default=18, ge=0, le=77)
    asset: Address = Field(description="The token the value is an amount of.")

    @field_validator("view")
    @classmethod
    def _address_view(cls, value: str) -> str:
        if not _ADDRESS_VIEW.match(value):
            raise ValueError("a view signature taking one address, e.g. balanceOf(address)")
        return value

    @field_validator("scale")
    @classmethod
    def _scale_view(cls, value: str | None) -> str | None:
        if value is not None and not _NO_ARG_VIEW.match(value):
            raise ValueError("a view signature without arguments, e.g. pricePerShare()")
        return value


class LabelKind(StrEnum):
    """What an address that received funds is."""

    exchange = "exchange"
    bridge = "bridge"
    mixer = "mixer"
    unknown = "unknown"


class Label(PlanModel):
    """A known address: funds moved there are reported with its kind and name."""

    address: Address
    kind: LabelKind
    name: str | None = None


class StaticPrice(PlanModel):
    """A fixed price, e.g. ``{usd: 1.0}`` for a stablecoin (as detection's large-outflow)."""

    usd: Decimal = Field(gt=0, description="USD price of one whole unit of the asset.")


class FeedPrice(PlanModel):
    """A Chainlink-style feed whose ``latestRoundData()`` answer, read at the block, is the
    USD price of one whole unit."""

    feed: Address = Field(description="Feed whose latestRoundData() answer is the price.")
    feed_decimals: int = Field(default=8, ge=0, le=77, description="Decimals of the answer.")


class PairPrice(PlanModel):
    """A Uniswap V2 pair of the asset and ``quote`` (a USD stablecoin): the price is the
    ratio of its reserves read at the block."""

    pair: Address = Field(description="Uniswap V2 pair whose getReserves() give the price.")
    quote: Address = Field(description="The pair's other token, taken as one USD per unit.")
    quote_decimals: int = Field(default=18, ge=0, le=77, description="Decimals of quote.")


class AssetPrice(PlanModel):
    """How one asset is valued in USD: its decimals and where its price comes from."""

    decimals: int = Field(ge=0, le=77, description="Decimals of the asset's base units.")
    source: StaticPrice | FeedPrice | PairPrice = Field(
        description="{usd: ...}, {feed: ..., feed_decimals: ...} or {pair: ..., quote: ...}."
    )


class Analysis(PlanModel):
    """How breakglass measures losses after an incident."""

    positions: list[Position] = Field(default_factory=list)
    labels: list[Label] = Field(default_factory=list)
    from_block: int = Field(
        default=0, ge=0, description="First block searched for depositors (e.g. deployment)."
    )
    prices: dict[Address, AssetPrice] = Field(
        default_factory=dict, description="USD price source of each asset (token address)."
    )

    @model_validator(mode="after")
    def _prices(self) -> Self:
        seen: set[str] = set()
        for asset, price in self.prices.items():
            if asset.lower() in seen:
                raise ValueError(f"analysis.prices names {asset} twice")
            seen.add(asset.lower())
            source = price.source
            if isinstance(source, PairPrice) and source.quote.lower() == asset.lower():
                raise ValueError(f"analysis.prices.{asset}: quote is the asset itself")
        return self

    def moved(self, addresses: dict[str, str], *, from_block: int) -> Analysis:
        """This analysis on another chain: each address that is a key of ``addresses``
        (lowercase: a contract's home address) becomes its value (the same contract's
        address there), and the search starts at ``from_block``."""

        def to(address: str) -> str:
            return addresses.get(address.lower(), address)

        def source(price: AssetPrice) -> AssetPrice:
            found = price.source
            if isinstance(found, FeedPrice):
                found = found.model_copy(update={"feed": to(found.feed)})
            elif isinstance(found, PairPrice):
                found = found.model_copy(update={"pair": to(found.pair), "quote": to(found.quote)})
            return price.model_copy(update={"source": found})

        return self.model_copy(
            update={
                "positions": [p.model_copy(update={"asset": to(p.asset)}) for p in self.positions],
                "labels": [x.model_copy(update={"address": to(x.address)}) for x in self.labels],
                "prices": {to(a): source(p) for a, p in self.prices.items()},
                "from_block": from_block,
            }
        )

    def price(self, asset: str) -> AssetPrice | None:
        """How ``asset`` (any case) is priced, if the plan says."""
        wanted = asset.lower()
        return next((p for a, p in self.prices.items() if a.lower() == wanted), None)

    def label(self, address: str) -> Label | None:
        """The label of ``address`` (any case), if the plan names it."""
        wanted = address.lower()
        return next((x for x in self.labels if x.address.lower() == wanted), None)
