from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, Self, cast

from pydantic import Field, field_validator, model_validator

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.rules.state.balance_drop import DropWindow
from breakglass.detect.state import StateCall
from breakglass.errors import ConfigError, PlanError
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Address, PlanModel


class Holding(PlanModel):
    token: Address = Field(description="ERC-20 token held.")
    holder: Address = Field(description="Contract holding it.")
    decimals: int = Field(default=18, ge=0, le=77, description="The token's decimals.")


class TvlDropParams(RuleParams):
    balances: list[Holding] = Field(
        default=[], description="(token, holder) balances summed into the TVL, in token units."
    )
    view: str | None = Field(
        default=None,
        description="A view returning uint256 read on every watched contract and added to "
        "the TVL, e.g. `totalAssets()`.",
    )
    view_decimals: int = Field(default=18, ge=0, le=77, description="Decimals of the view's value.")
    percent: Decimal = Field(
        gt=0, le=100, description="Smallest fall from the window's peak reported, in %."
    )
    blocks: int = Field(default=10, ge=1, le=10_000, description="Window length, in blocks.")

    @field_validator("view")
    @classmethod
    def _a_view(cls, view: str | None) -> str | None:
        if view is not None:
            try:
                StateCall("0x" + "00" * 20, view)
            except ConfigError as exc:
                raise ValueError(
                    f"{exc}; expected a view without arguments, e.g. totalAssets()"
                ) from None
        return view

    @model_validator(mode="after")
    def _something(self) -> Self:
        if not self.balances and self.view is None:
            raise ValueError("set balances, view or both")
        return self


class TvlDropRule(Rule):
    id = "tvl-drop"
    title = "Total value locked fell fast"
    category = "state"
    severity = Severity.CRITICAL
    confidence = Confidence.MEDIUM
    description = (
        "The protocol's TVL, the sum of configured token balances and of a view such as "
        "totalAssets() on the watched contracts, fell by more than the limit within a few "
        "blocks. Tokens of different value are summed as they are: group like with like."
    )
    recommendation = "Set the percentage above the largest honest outflow in the window."
    needs = Needs.STATE
    Params = TvlDropParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        params = cast(TvlDropParams, setup.params)
        if params.view is not None and not setup.targets:
            raise PlanError(f"rule {setup.rule_id}: `view` needs at least one watched contract")
        self.parts: dict[StateCall, int] = {
            StateCall(h.token.lower(), "balanceOf(address)", (h.holder.lower(),)): 10**h.decimals
            for h in params.balances
        }
        if params.view is not None:
            for target in setup.targets:
                self.parts[StateCall(target.address, params.view)] = 10**params.view_decimals
        self.window = DropWindow(params.blocks, params.percent)

    def state_calls(self) -> Iterable[StateCall]:
        return self.parts.keys()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        values = [state.get(call) for call in self.parts]
        if not all(isinstance(v, int) for v in values):
            return  # a part could not be read: a partial sum would look like a drop
        tvl = sum(
            (
                Fraction(cast(int, v), unit)
                for v, unit in zip(values, self.parts.values(), strict=True)
            ),
            Fraction(0),
        )
        peak = self.window.add(block.number, tvl)
        if peak is None:
            return
        yield self.finding(
            block,
            None,
            title=f"TVL fell from {float(peak):,.4f} to {float(tvl):,.4f}",
            description=self.description,
            addresses=tuple(dict.fromkeys(call.address for call in self.parts)),
            data={"peak": str(peak), "tvl": str(tvl)},
        )
