from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from decimal import Decimal
from fractions import Fraction
from typing import Any, Self, cast

from pydantic import Field, model_validator

from breakglass.analysis.assets import cached_asset, format_amount, short_address
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
    symbol: str | None = Field(
        default=None,
        min_length=1,
        max_length=32,
        description="Unit shown in alert titles (e.g. dUSD, ETH); else the token's symbol() "
        "once read, else 'tokens' (or 'native').",
    )

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


@dataclass
class _Net:
    """What one watched contract sent and received in one transaction (or one block)."""

    carrier: DecodedLog | None  # its first outflow log: the finding's identity
    tx_hash: str | None
    sender: str
    recipients: dict[str, None] = field(default_factory=dict)
    out: int = 0
    received: int = 0
    txs: int = 1

    @property
    def net(self) -> int:
        return self.out - self.received


class LargeOutflowRule(Rule):
    id = "large-outflow"
    title = "Large token or native outflow from a watched contract"
    category = "flow"
    severity = Severity.CRITICAL
    confidence = Confidence.MEDIUM
    description = (
        "The net outflow of an ERC-20 token, or of native currency in call traces (native: "
        "true), from a watched contract at or above the threshold, in token units or in USD "
        "through a static price, a feed or a Uniswap V2 pair read at the block. Outflows are "
        "added up per transaction, less what the contract received back in it, so a split "
        "withdrawal counts whole and a deposit-and-withdraw round trip (a flash loan) counts "
        "only what it kept; and per block, over every transaction of the block, so a drain "
        "split across transactions of one block is seen once its sum reaches the threshold. "
        "A drain spread over several blocks below the threshold in each is not seen by this "
        "rule: pair it with tvl-drop. Every finding names the price source it used."
    )
    recommendation = (
        "Set the threshold above the largest honest net withdrawal in one block; pair it with "
        "a pause playbook and a tvl-drop rule for slow drains."
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
        # Per (transaction, watched contract), in the order first seen; judged in on_block.
        self.flows: dict[tuple[str, str], _Net] = {}

    def log_keys(self) -> Iterator[tuple[str, str]]:
        # Transfers are emitted by the token, not by the contract that loses the funds.
        if self.token is not None:
            yield self.token, self.codec.topic0("Transfer")

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        args = log.args
        sender, to, watched = args["from"], args["to"], self.watched
        if sender not in watched and to not in watched:
            return ()  # the common case, without building a generator
        self._add(log.tx_hash, log, sender, to, args["value"])
        return ()

    def _add(self, tx_hash: str, log: DecodedLog | None, sender: str, to: str, value: int) -> None:
        if sender == to:
            return
        if sender in self.watched:
            flow = self.flows.get((tx_hash, sender))
            if flow is None:
                flow = self.flows[tx_hash, sender] = _Net(log, tx_hash, sender)
            elif flow.out == 0 and flow.carrier is None:
                flow.carrier = log
            flow.out += value
            flow.recipients[to] = None
        if to in self.watched:
            flow = self.flows.get((tx_hash, to))
            if flow is None:
                flow = self.flows[tx_hash, to] = _Net(None, tx_hash, to)
            flow.received += value

    def state_calls(self) -> Iterable[StateCall]:
        return (self.call,) if self.call else ()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        flows, self.flows = self.flows, {}
        if not flows:
            return
        price, label = self._price(state)
        per_block: dict[str, _Net] = {}
        alerted: set[str] = set()
        for flow in flows.values():
            total = per_block.get(flow.sender)
            if total is None:
                total = per_block[flow.sender] = _Net(None, None, flow.sender, txs=0)
            total.out += flow.out
            total.received += flow.received
            if flow.out:
                total.txs += 1
                total.recipients.update(flow.recipients)
                if total.carrier is None and total.tx_hash is None:
                    total.carrier, total.tx_hash = flow.carrier, flow.tx_hash
            found = self._judge(block, flow, price, label)
            if found is not None:
                alerted.add(flow.sender)
                yield found
        for total in per_block.values():
            # A drain split over transactions of one block, none of them large alone.
            if total.sender not in alerted and total.txs > 1:
                found = self._judge(block, total, price, label)
                if found is not None:
                    yield found

    def _price(self, state: Mapping[StateCall, Any]) -> tuple[Fraction | None, str | None]:
        if self.source is not None and self.call is not None:
            label = f"{'feed' if self.source.feed else 'pair'} {self.source.address}"
            return self.source.price(state.get(self.call)), label
        price = self.params.price
        if isinstance(price, StaticPrice):
            return Fraction(price.usd), f"static ${price.usd}"
        return None, None

    def _unit(self) -> str:
        if self.params.symbol:
            return self.params.symbol
        if self.token is None:
            return "native"
        # Read by whoever met the token first (analysis, the monitor's warm-up); never here,
        # as a rule does no I/O of its own.
        known = cached_asset(chain=self.setup.chain, address=self.token)
        return known.symbol if known is not None and known.symbol else "tokens"

    def _judge(
        self, block: BlockAdded, flow: _Net, price: Fraction | None, source: str | None
    ) -> Finding | None:
        value = flow.net
        if value <= 0:
            return None
        amount = Fraction(value) / self.unit
        usd = amount * price if price is not None else None
        if usd is None and source is not None:
            # Unpriceable at this block: still reported, so a drain during an oracle outage
            # is seen.
            source = f"{source} (unreadable)"
        if self.params.threshold_usd is not None:
            if usd is not None and usd < self.params.threshold_usd:
                return None
        elif value < self.minimum:
            return None
        recipients = tuple(flow.recipients)
        to = ", ".join(short_address(r) for r in recipients)
        shown = format_amount(value, decimals=self.params.decimals, symbol=self._unit())
        title = f"{shown} left {self.target_name(flow.sender)} to {to}"
        if flow.txs > 1:
            title += f" in {flow.txs} transactions of block {block.number}"
        if usd is not None:
            title += f" (${float(usd):,.2f} at {source})"
        data: dict[str, Any] = {
            "token": self.token or "native",
            "value": value,
            "to": recipients[0] if len(recipients) == 1 else list(recipients),
            "price_source": source,
        }
        if flow.received:
            data |= {"gross": flow.out, "received": flow.received}
        if flow.txs > 1:
            data |= {"window": "block", "transactions": flow.txs}
        if usd is not None:
            data |= {"price_usd": str(price), "value_usd": str(usd)}
        return self.finding(
            block,
            flow.carrier,
            title=title,
            description=self.description,
            addresses=(flow.sender, *recipients),
            data=data,
            tx_hash=flow.tx_hash,
        )

    def on_trace(
        self, block: BlockAdded, tx_hash: str, call: Mapping[str, Any]
    ) -> Iterable[Finding]:
        watched = self.watched
        for sender, to, wei in native_flows(call):
            if sender in watched or to in watched:
                self._add(tx_hash, None, sender, to, wei)
        return ()
