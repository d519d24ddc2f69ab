from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Self, cast

from pydantic import Field, model_validator

from breakglass.detect.events_state import RoundData, latest_round_data
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Address, PlanModel

RESERVES_RETURNS = ("uint112", "uint112", "uint32")


class PriceSource(PlanModel):
    """A price read each block: a Chainlink-style feed's answer, or a Uniswap V2 pair's
    reserves (``base`` priced in ``quote``)."""

    feed: Address | None = Field(
        default=None, description="Feed whose latestRoundData() answer is the price."
    )
    feed_decimals: int = Field(default=8, ge=0, le=77, description="Decimals of the feed's answer.")
    pair: Address | None = Field(
        default=None, description="Uniswap V2 pair whose getReserves() give the price."
    )
    base: Address | None = Field(default=None, description="The pair's token being priced.")
    quote: Address | None = Field(default=None, description="The pair's token the price is in.")
    base_decimals: int = Field(default=18, ge=0, le=77, description="Decimals of base.")
    quote_decimals: int = Field(default=18, ge=0, le=77, description="Decimals of quote.")

    @model_validator(mode="after")
    def _one_source(self) -> Self:
        if (self.feed is None) == (self.pair is None):
            raise ValueError("set exactly one of feed or pair")
        if self.pair is not None and (self.base is None or self.quote is None):
            raise ValueError("a pair price needs base and quote (the pair's two tokens)")
        return self

    def call(self) -> StateCall:
        if self.feed is not None:
            return latest_round_data(self.feed.lower())
        assert self.pair is not None
        return StateCall(self.pair.lower(), "getReserves()", returns=RESERVES_RETURNS)

    def price(self, value: Any) -> Fraction | None:
        """The price from what :meth:`call` read; ``None`` if unreadable or undefined."""
        if value is None:
            return None
        if self.feed is not None:
            return Fraction(RoundData(*value).answer, 10**self.feed_decimals)
        assert self.base is not None and self.quote is not None
        # Uniswap V2 sorts a pair's tokens by address: token0 is the smaller.
        reserve0, reserve1 = value[0], value[1]
        base_first = self.base.lower() < self.quote.lower()
        base, quote = (reserve0, reserve1) if base_first else (reserve1, reserve0)
        if base == 0:
            return None
        return Fraction(quote, 10**self.quote_decimals) / Fraction(base, 10**self.base_decimals)

    @property
    def address(self) -> str:
        return str(self.feed or self.pair).lower()


def percent_off(price: Fraction, reference: Fraction) -> Fraction:
    """How far ``price`` is from ``reference``, in percent of the reference."""
    return abs(price - reference) * 100 / abs(reference)


class DepegParams(RuleParams):
    price: PriceSource = Field(description="Where the stablecoin's price is read.")
    peg: Decimal = Field(default=Decimal(1), gt=0, description="The price it is pegged to.")
    max_deviation_percent: Decimal = Field(
        gt=0, le=100, description="Largest honest distance from the peg, in %."
    )


class DepegRule(Rule):
    id = "depeg"
    title = "A stablecoin lost its peg"
    category = "oracle"
    severity = Severity.HIGH
    confidence = Confidence.MEDIUM
    description = (
        "A stablecoin's price, from a feed or a Uniswap V2 pair, is outside peg ± "
        "max_deviation_percent. A depeg often comes before bad debt or a bank run on "
        "protocols that value the coin at par. Reported once until the price is back."
    )
    recommendation = "Pause borrowing against the coin; check the issuer's status."
    needs = Needs.STATE
    Params = DepegParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(DepegParams, setup.params)
        self.call = self.params.price.call()
        self.peg = Fraction(self.params.peg)
        self.off = False

    def state_calls(self) -> Iterable[StateCall]:
        return (self.call,)

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        price = self.params.price.price(state.get(self.call))
        if price is None:
            return
        off = percent_off(price, self.peg)
        was_off, self.off = self.off, off > self.params.max_deviation_percent
        if not self.off or was_off:
            return
        yield self.finding(
            block,
            None,
            title=f"price {float(price):.6f} is {float(off):.2f}% off the peg {self.params.peg}",
            description=self.description,
            addresses=(self.params.price.address,),
            data={"price": str(price), "deviation_percent": str(off)},
        )
