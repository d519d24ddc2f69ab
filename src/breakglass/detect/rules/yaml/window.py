from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, Literal, cast

from pydantic import Field, model_validator

from breakglass.chain.codec import DecodedLog
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Rule, RuleParams, RuleSetup
from breakglass.detect.rules.yaml.common import (
    Expr,
    compile_where,
    contract_env,
    event_codec,
    log_env,
    parse_signature,
    plain,
)
from breakglass.errors import PlanError
from breakglass.ingest.events import BlockAdded


class WindowParams(RuleParams):
    event: str = Field(
        description="The event counted, e.g. "
        "`Transfer(address indexed from, address indexed to, uint256 value)`."
    )
    key: str | None = Field(
        default=None,
        description="The event argument that groups the events, e.g. `to`; without it every "
        "event counts in one group (how many matches the rule's contracts saw in all).",
    )
    where: Expr | None = Field(
        default=None,
        description="Count only events for which this expression is true; the names of the "
        "event rule's `where` (arguments, `log.address`, `tx.hash`, `block.*`, contracts).",
    )
    measure: Literal["count", "sum", "rate"] = Field(
        description="`count` of events, `sum` of `field`, or `rate`: `field` summed (events "
        "counted without a field) per block or per second of the window."
    )
    field: str | None = Field(default=None, description="The argument summed by sum and rate.")
    blocks: int | None = Field(default=None, ge=1, description="Window length in blocks.")
    seconds: int | None = Field(default=None, ge=1, description="Window length in seconds.")
    threshold: Decimal = Field(
        ge=0, description="A key whose aggregate within the window exceeds this is reported."
    )

    @model_validator(mode="after")
    def _consistent(self) -> WindowParams:
        names = {p.name: p.type for p in parse_signature(self.event, event=True).params}
        if self.key is not None and self.key not in names:
            raise ValueError(f"key {self.key!r} is not an argument of {self.event!r}")
        if self.measure == "sum" and self.field is None:
            raise ValueError("measure `sum` needs `field`")
        if self.field is not None:
            if self.field not in names:
                raise ValueError(f"field {self.field!r} is not an argument of {self.event!r}")
            if "int" not in names[self.field] or "[" in names[self.field]:
                raise ValueError(f"field {self.field!r} is a {names[self.field]}, not a number")
        if (self.blocks is None) == (self.seconds is None):
            raise ValueError("set exactly one of `blocks` and `seconds`")
        return self


@dataclass(frozen=True, slots=True)
class _Entry:
    number: int
    block_hash: str
    timestamp: int
    tx_hash: str
    log_index: int
    amount: int


class WindowYamlRule(Rule):
    id = "window"
    title = "Too many or too large events per key within a window"
    category = "yaml"
    severity = Severity.HIGH
    confidence = Confidence.MEDIUM
    description = (
        "Events are grouped by the `key` argument (a recipient, a sender, a market) over the "
        "last `blocks` blocks or `seconds` seconds; a key whose count, sum or rate exceeds "
        "`threshold` is reported, once until it falls back under. Drains split into many "
        "small transfers show up here when each alone would not."
    )
    recommendation = (
        "Set the threshold above the busiest honest key's aggregate; keep windows short, "
        "memory grows with the number of active keys."
    )
    Params = WindowParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(WindowParams, setup.params)
        self.signature = parse_signature(self.params.event, event=True)
        self.codec = event_codec(self.signature)
        self.topic0 = self.codec.topic0(self.signature.name)
        self.contracts = contract_env(setup.targets)
        self.where = None
        if self.params.where is not None:
            args = [p.name for p in self.signature.params]
            self.where = compile_where(setup, self.params.where, ["log", "tx", "block", *args])
        if not setup.targets:
            raise PlanError(f"rule {setup.rule_id}: `window` needs the contracts that emit it")
        self.windows: dict[Any, deque[_Entry]] = {}
        self.alerted: set[Any] = set()
        self.last_block = -1

    def log_keys(self) -> Iterator[tuple[str, str]]:
        for target in self.setup.targets:
            yield target.address, self.topic0

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        params = self.params
        if block.number != self.last_block:
            self.last_block = block.number
            self._sweep(block)
        if self.where is not None:
            args = {k: plain(v) for k, v in log.args.items()}
            if not self.where.evaluate(log_env(self.contracts, block, log, args)):
                return ()
        key = None if params.key is None else plain(log.args[params.key])
        amount = 1 if params.field is None else int(log.args[params.field])
        entries = self.windows.setdefault(key, deque())
        if any(e.tx_hash == log.tx_hash and e.log_index == log.log_index for e in entries):
            return ()  # the same block evaluated again
        entries.append(
            _Entry(
                block.number, block.hash, block.header.timestamp, log.tx_hash, log.log_index, amount
            )
        )
        total = sum(e.amount for e in entries)
        aggregate: int | Fraction = len(entries) if params.measure == "count" else total
        if params.measure == "rate":
            rate = Fraction(total, params.blocks or params.seconds or 1)
            aggregate = rate.numerator if rate.denominator == 1 else rate
        if aggregate <= Fraction(params.threshold):
            self.alerted.discard(key)
            return ()
        if key in self.alerted:
            return ()
        self.alerted.add(key)
        span = f"{params.blocks} blocks" if params.blocks else f"{params.seconds}s"
        shown = aggregate if isinstance(aggregate, int) else f"{float(aggregate):.6g}"
        grouped = "" if params.key is None else f" for {params.key} {key}"
        return (
            self.finding(
                block,
                log,
                title=f"{params.measure} of {self.signature.name}{grouped} "
                f"is {shown} within {span} (threshold {params.threshold})",
                description=self.description,
                addresses=dict.fromkeys(
                    a for a in (log.address, key) if isinstance(a, str) and a.startswith("0x")
                ),
                data={
                    "key": key,
                    "measure": params.measure,
                    "value": aggregate if isinstance(aggregate, int) else str(aggregate),
                    "events": len(entries),
                    "transactions": list(dict.fromkeys(e.tx_hash for e in entries)),
                },
            ),
        )

    def _sweep(self, block: BlockAdded) -> None:
        """Drop entries out of the window and those of blocks a reorg replaced; drop keys
        left empty, so memory follows the keys active within the window."""
        params = self.params
        for key in list(self.windows):
            kept = deque(e for e in self.windows[key] if self._inside(e, block, params))
            if kept:
                self.windows[key] = kept
            else:
                del self.windows[key]
                self.alerted.discard(key)

    @staticmethod
    def _inside(entry: _Entry, block: BlockAdded, params: WindowParams) -> bool:
        if entry.number >= block.number and (entry.number, entry.block_hash) != (
            block.number,
            block.hash,
        ):
            return False
        if params.blocks is not None:
            return entry.number > block.number - params.blocks
        return entry.timestamp > block.header.timestamp - (params.seconds or 0)
