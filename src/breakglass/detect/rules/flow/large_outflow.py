from __future__ import annotations

from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import cast

from pydantic import Field

from breakglass.chain.codec import DecodedLog
from breakglass.detect.events import TRANSFER
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Rule, RuleParams, RuleSetup
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Address


class LargeOutflowParams(RuleParams):
    token: Address = Field(description="ERC-20 token whose outflows are watched.")
    threshold: Decimal = Field(gt=0, description="Smallest outflow reported, in token units.")
    decimals: int = Field(default=18, ge=0, le=77)


class LargeOutflowRule(Rule):
    id = "large-outflow"
    title = "Large token outflow from a watched contract"
    category = "flow"
    severity = Severity.CRITICAL
    confidence = Confidence.MEDIUM
    description = (
        "An ERC-20 transfer out of a watched contract at or above the threshold. Drains move "
        "large amounts out in few transactions; honest withdrawals rarely reach the threshold."
    )
    recommendation = (
        "Set the threshold above the largest honest withdrawal; pair it with a pause playbook."
    )
    events = (TRANSFER,)
    Params = LargeOutflowParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        params = cast(LargeOutflowParams, setup.params)
        self.token = params.token.lower()
        self.minimum = int(params.threshold * (10**params.decimals))
        self.decimals = params.decimals
        self.watched = {t.address for t in self.setup.targets}

    def log_keys(self) -> Iterator[tuple[str, str]]:
        # Transfers are emitted by the token, not by the contract that loses the funds.
        yield self.token, self.codec.topic0("Transfer")

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        args = log.args
        sender = args["from"]
        if sender not in self.watched or args["value"] < self.minimum:
            return ()  # the common case, without building a generator
        value = args["value"]
        amount = Decimal(value) / (10**self.decimals)
        return (
            self.finding(
                block,
                log,
                title=f"{amount:,.4f} tokens left {self.target_name(sender)} to {args['to']}",
                description=self.description,
                addresses=(sender, args["to"]),
                data={"token": self.token, "value": value, "to": args["to"]},
            ),
        )
