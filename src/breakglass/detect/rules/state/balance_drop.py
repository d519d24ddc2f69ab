from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

from pydantic import Field

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.state import StateCall
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Address


class DropWindow:
    """The last ``blocks`` blocks of one amount; says when it first falls ``percent`` below
    the window's peak, and again only after it has recovered."""

    def __init__(self, blocks: int, percent: Decimal) -> None:
        self.blocks = blocks
        self.ratio = 1 - Fraction(percent) / 100
        self.seen: deque[tuple[int, Fraction]] = deque(maxlen=blocks + 1)
        self.dropped = False

    def add(self, number: int, amount: Fraction) -> Fraction | None:
        """Record ``amount`` at block ``number``; the peak it fell from, on the first block
        of a drop."""
        while self.seen and self.seen[-1][0] >= number:  # a re-delivered block replaces
            self.seen.pop()
        while self.seen and self.seen[0][0] < number - self.blocks:
            self.seen.popleft()
        peak = max((value for _, value in self.seen), default=None)
        self.seen.append((number, amount))
        dropped = peak is not None and peak > 0 and amount < peak * self.ratio
        started, self.dropped = dropped and not self.dropped, dropped
        return peak if started else None


class BalanceDropParams(RuleParams):
    token: Address = Field(
        description="ERC-20 token whose balance of each watched contract is read."
    )
    percent: Decimal = Field(
        gt=0, le=100, description="Smallest fall from the window's peak reported, in %."
    )
    blocks: int = Field(default=10, ge=1, le=10_000, description="Window length, in blocks.")
    decimals: int = Field(default=18, ge=0, le=77, description="The token's decimals.")


class BalanceDropRule(Rule):
    id = "balance-drop"
    title = "A watched contract's token balance fell fast"
    category = "state"
    severity = Severity.CRITICAL
    confidence = Confidence.MEDIUM
    description = (
        "The ERC-20 balance of a watched contract fell by more than the limit within a few "
        "blocks. It catches drains whatever path the tokens took (transfers, burns, "
        "approvals). Native ETH balances are not read: only view calls are batched."
    )
    recommendation = "Set the percentage above the largest honest withdrawal in the window."
    needs = Needs.STATE
    Params = BalanceDropParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        params = cast(BalanceDropParams, setup.params)
        token = params.token.lower()
        self.unit = 10**params.decimals
        self.calls = {
            t.address: StateCall(token, "balanceOf(address)", (t.address,)) for t in setup.targets
        }
        self.windows = {t.address: DropWindow(params.blocks, params.percent) for t in setup.targets}

    def state_calls(self) -> Iterable[StateCall]:
        return self.calls.values()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        for holder, call in self.calls.items():
            balance = state.get(call)
            if not isinstance(balance, int):
                continue
            peak = self.windows[holder].add(block.number, Fraction(balance, self.unit))
            if peak is None:
                continue
            yield self.finding(
                block,
                None,
                title=f"{self.target_name(holder)} balance fell from {float(peak):,.4f} "
                f"to {balance / self.unit:,.4f}",
                description=self.description,
                addresses=(holder,),
                data={"token": call.address, "peak": int(peak * self.unit), "balance": balance},
            )
