from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Self, cast

from pydantic import Field, model_validator

from breakglass.detect.events_state import feed_calls, feed_rounds
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.rules.oracle.depeg import PriceSource, percent_off
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded


class OracleDeviationParams(RuleParams):
    decimals: int = Field(
        default=8, ge=0, le=77, description="Decimals of the watched feeds' answers."
    )
    reference: PriceSource | None = Field(
        default=None, description="Independent price the feeds are compared with."
    )
    percent: Decimal = Field(
        default=Decimal(2), gt=0, description="Largest honest distance from the reference, in %."
    )
    jump_percent: Decimal | None = Field(
        default=None,
        gt=0,
        description="Largest honest change of a feed's answer between blocks, in %.",
    )

    @model_validator(mode="after")
    def _a_check(self) -> Self:
        if self.reference is None and self.jump_percent is None:
            raise ValueError("set reference, jump_percent or both")
        return self


class OracleDeviationRule(Rule):
    id = "oracle-deviation"
    title = "A price feed disagrees with the market or jumped"
    category = "oracle"
    severity = Severity.HIGH
    confidence = Confidence.MEDIUM
    description = (
        "A watched Chainlink-style feed's answer is more than `percent` away from a reference "
        "(another feed or a Uniswap V2 pair), or moved more than `jump_percent` from one "
        "block to the next. Manipulated or broken oracles let attackers borrow against "
        "inflated collateral. A deviation is reported once until it closes; every jump is reported."
    )
    recommendation = "Check the feed against other markets; pause actions that read it."
    needs = Needs.STATE
    Params = OracleDeviationParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(OracleDeviationParams, setup.params)
        self.unit = 10**self.params.decimals
        self.calls = feed_calls(setup.targets)
        reference = self.params.reference
        self.reference = reference.call() if reference is not None else None
        self.last: dict[str, Fraction] = {}
        self.deviating: set[str] = set()

    def state_calls(self) -> Iterable[StateCall]:
        yield from self.calls.values()
        if self.reference is not None:
            yield self.reference

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        reference = None
        if self.params.reference is not None and self.reference is not None:
            reference = self.params.reference.price(state.get(self.reference))
        for feed, round_data in feed_rounds(self.calls, state):
            price = Fraction(round_data.answer, self.unit)
            yield from self._jump(block, feed, price)
            if reference is not None and reference != 0:
                yield from self._deviation(block, feed, price, reference)

    def _jump(self, block: BlockAdded, feed: str, price: Fraction) -> Iterator[Finding]:
        before = self.last.get(feed)
        self.last[feed] = price
        limit = self.params.jump_percent
        if limit is None or before is None or before == 0:
            return
        moved = percent_off(price, before)
        if moved > Fraction(limit):
            yield self.finding(
                block,
                None,
                title=f"{self.target_name(feed)} moved {float(moved):.2f}% in one block "
                f"({float(before):.6f} to {float(price):.6f})",
                description=self.description,
                addresses=(feed,),
                data={"before": str(before), "price": str(price), "change_percent": str(moved)},
            )

    def _deviation(
        self, block: BlockAdded, feed: str, price: Fraction, reference: Fraction
    ) -> Iterator[Finding]:
        off = percent_off(price, reference)
        if off <= Fraction(self.params.percent):
            self.deviating.discard(feed)
            return
        if feed in self.deviating:
            return
        self.deviating.add(feed)
        assert self.params.reference is not None
        yield self.finding(
            block,
            None,
            title=f"{self.target_name(feed)} answer {float(price):.6f} is {float(off):.2f}% "
            f"off the reference {float(reference):.6f}",
            description=self.description,
            addresses=(feed, self.params.reference.address),
            data={"price": str(price), "reference": str(reference), "deviation_percent": str(off)},
        )
