from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Iterator, Mapping
from decimal import Decimal
from fractions import Fraction
from typing import Any, NamedTuple, Self, cast

from pydantic import Field, model_validator

from breakglass.chain.codec import DecodedLog
from breakglass.detect.events import TRANSFER
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.rules.oracle.depeg import PriceSource
from breakglass.detect.state import StateCall
from breakglass.detect.traces import native_flows
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Address, PlanModel
from breakglass.plan.models.base import Flag


class StaticPrice(PlanModel):
    """A fixed price, e.g. ``{usd: 1.0}`` for a stablecoin."""

    usd: Decimal = Field(gt=0, description="USD price of one whole unit of the asset.")


class LargeOutflowParams(RuleParams):
    token: Address | None = Field(
        default=None, description="ERC-20 token whose outflows are watched."
    )
    native: Flag = Field(
        default=False,
        description="Watch native currency (ETH) leaving the contracts, from call traces.",
    )
    threshold: Decimal | None = Field(
        default=None, gt=0, description="Smallest outflow reported, in token units."
    )
    threshold_usd: Decimal | None = Field(
        default=None, gt=0, description="Smallest outflow reported, in USD (needs price)."
    )
    price: StaticPrice | PriceSource | None = Field(
        default=None,
        description="USD price of one unit: {usd: ...}, or a feed or Uniswap V2 pair read at "
        "the block.",
    )
    decimals: int = Field(default=18, ge=0, le=77)

    @model_validator(mode="after")
    def _consistent(self) -> Self:
        if self.token is None and not self.native:
            raise ValueError("params.token is required, or native: true for native currency")
        if self.token is not None and self.native:
            raise ValueError("params.token and native: true cannot both be set")
        if (self.threshold is None) == (self.threshold_usd is None):
            raise ValueError("set exactly one of threshold or threshold_usd")
        if self.threshold_usd is not None and self.price is None:
            raise ValueError("threshold_usd needs a price")
        return self


class _Outflow(NamedTuple):
    log: DecodedLog | None
    tx_hash: str | None
    sender: str
    recipients: tuple[str, ...]
    value: int


class LargeOutflowRule(Rule):
    id = "large-outflow"
    title = "Large token or native outflow from a watched contract"
    category = "flow"
    severity = Severity.CRITICAL
    confidence = Confidence.MEDIUM
    description = (
        "An ERC-20 transfer, or native currency in call traces (native: true), out of a "
        "watched contract at or above the threshold, in token units or in USD through a "
        "static price, a feed or a Uniswap V2 pair read at the block. Drains move large "
        "amounts out in few transactions; honest withdrawals rarely reach the threshold. "
        "Every finding names the price source it used."
    )
    recommendation = (
        "Set the threshold above the largest honest withdrawal; pair it with a pause playbook."
    )
    events = (TRANSFER,)
    Params = LargeOutflowParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        params = cast(LargeOutflowParams, setup.params)
        self.params = params
        # Traces are fetched only for rules that need them: here, when native value counts.
        self.needs = Needs.LOGS | Needs.TRACES if params.native else Needs.LOGS
        self.token = params.token.lower() if params.token else None
        self.unit = Fraction(10**params.decimals)
        self.minimum = int(params.threshold * (10**params.decimals)) if params.threshold else 0
        self.watched = {t.address for t in self.setup.targets}
        self.source = params.price if isinstance(params.price, PriceSource) else None
        self.call = self.source.call() if self.source else None
        self.pending: list[_Outflow] = []

    def log_keys(self) -> Iterator[tuple[str, str]]:
        # Transfers are emitted by the token, not by the contract that loses the funds.
        if self.token is not None:
            yield self.token, self.codec.topic0("Transfer")

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        args = log.args
        sender = args["from"]
        if sender not in self.watched or args["value"] < self.minimum:
            return ()  # the common case, without building a generator
        return self._outflow(block, _Outflow(log, None, sender, (args["to"],), args["value"]))

    def state_calls(self) -> Iterable[StateCall]:
        return (self.call,) if self.call else ()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        pending, self.pending = self.pending, []
        if not pending or self.source is None or self.call is None:
            return
        price = self.source.price(state.get(self.call))
        label = f"{'feed' if self.source.feed else 'pair'} {self.source.address}"
        for outflow in pending:
            found = self._judge(block, outflow, price, label)
            if found is not None:
                yield found

    def _outflow(self, block: BlockAdded, outflow: _Outflow) -> Iterable[Finding]:
        if self.source is not None:
            self.pending.append(outflow)  # priced in on_block, with the state at this block
            return ()
        price = self.params.price
        if isinstance(price, StaticPrice):
            found = self._judge(block, outflow, Fraction(price.usd), f"static ${price.usd}")
        else:
            found = self._judge(block, outflow, None, None)
        return () if found is None else (found,)

    def _judge(
        self, block: BlockAdded, outflow: _Outflow, price: Fraction | None, source: str | None
    ) -> Finding | None:
        amount = Fraction(outflow.value) / self.unit
        usd = amount * price if price is not None else None
        if usd is None and source is not None:
            # Unpriceable at this block: still reported, so a drain during an oracle outage
            # is seen.
            source = f"{source} (unreadable)"
        if self.params.threshold_usd is not None:
            if usd is not None and usd < self.params.threshold_usd:
                return None
        elif outflow.value < self.minimum:
            return None
        what = "native" if self.token is None else "tokens"
        to = ", ".join(outflow.recipients)
        title = f"{float(amount):,.4f} {what} left {self.target_name(outflow.sender)} to {to}"
        if usd is not None:
            title += f" (${float(usd):,.2f} at {source})"
        data: dict[str, Any] = {
            "token": self.token or "native",
            "value": outflow.value,
            "to": outflow.recipients[0]
            if len(outflow.recipients) == 1
            else list(outflow.recipients),
            "price_source": source,
        }
        if usd is not None:
            data |= {"price_usd": str(price), "value_usd": str(usd)}
        return self.finding(
            block,
            outflow.log,
            title=title,
            description=self.description,
            addresses=(outflow.sender, *outflow.recipients),
            data=data,
            tx_hash=outflow.tx_hash,
        )

    def on_trace(
        self, block: BlockAdded, tx_hash: str, call: Mapping[str, Any]
    ) -> Iterable[Finding]:
        sent: defaultdict[str, int] = defaultdict(int)
        recipients: defaultdict[str, dict[str, None]] = defaultdict(dict)
        for sender, to, wei in native_flows(call):
            if sender in self.watched:
                sent[sender] += wei
                recipients[sender][to] = None
        for sender, wei in sent.items():
            if wei >= self.minimum:
                outflow = _Outflow(None, tx_hash, sender, tuple(recipients[sender]), wei)
                yield from self._outflow(block, outflow)
