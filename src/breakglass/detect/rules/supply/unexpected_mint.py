from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Self, cast

from pydantic import Field, model_validator

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded


class UnexpectedMintParams(RuleParams):
    max_increase_percent: Decimal | None = Field(
        default=None, gt=0, description="Largest honest rise of totalSupply() in one block, in %."
    )
    max_increase: Decimal | None = Field(
        default=None,
        gt=0,
        description="Largest honest rise of totalSupply() in one block, in token units.",
    )
    decimals: int = Field(default=18, ge=0, le=77, description="The token's decimals.")

    @model_validator(mode="after")
    def _a_limit(self) -> Self:
        if self.max_increase_percent is None and self.max_increase is None:
            raise ValueError("set max_increase_percent, max_increase or both")
        return self


class UnexpectedMintRule(Rule):
    id = "unexpected-mint"
    title = "Token supply jumped between two blocks"
    category = "supply"
    severity = Severity.CRITICAL
    confidence = Confidence.MEDIUM
    description = (
        "totalSupply() of a watched token rose by more than the limit from one block to the "
        "next. Infinite-mint bugs and stolen minter keys show here before the minted tokens "
        "are sold."
    )
    recommendation = "Set the limits above the largest honest mint; pair the rule with a pause."
    needs = Needs.STATE
    Params = UnexpectedMintParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(UnexpectedMintParams, setup.params)
        self.unit = 10**self.params.decimals
        self.calls = {t.address: StateCall(t.address, "totalSupply()") for t in setup.targets}
        self.last: dict[str, int] = {}

    def state_calls(self) -> Iterable[StateCall]:
        return self.calls.values()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        for address, call in self.calls.items():
            supply = state.get(call)
            if not isinstance(supply, int):
                continue
            before = self.last.get(address)
            self.last[address] = supply
            if before is None or supply <= before:
                continue
            increase = supply - before
            if not self._too_much(increase, before):
                continue
            amount = Decimal(increase) / self.unit
            yield self.finding(
                block,
                None,
                title=f"{self.target_name(address)} supply rose by {amount:,.4f} in one block",
                description=self.description,
                addresses=(address,),
                data={"before": before, "after": supply, "increase": increase},
            )

    def _too_much(self, increase: int, before: int) -> bool:
        limit, percent = self.params.max_increase, self.params.max_increase_percent
        if limit is not None and increase > Fraction(limit) * self.unit:
            return True
        return percent is not None and (before == 0 or increase * 100 > Fraction(percent) * before)
