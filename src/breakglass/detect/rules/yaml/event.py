from __future__ import annotations

from collections.abc import Iterable, Iterator
from typing import cast

from pydantic import Field, field_validator, model_validator

from breakglass.chain.codec import DecodedLog
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Rule, RuleParams, RuleSetup
from breakglass.detect.rules.yaml.common import (
    Expr,
    check_template,
    compile_where,
    contract_env,
    event_codec,
    log_env,
    parse_signature,
    plain,
    render,
)
from breakglass.errors import PlanError
from breakglass.ingest.events import BlockAdded

_FIXED = ("log", "tx", "block")


class EventParams(RuleParams):
    signature: str = Field(
        description="The event, human-readable: "
        "`Transfer(address indexed from, address indexed to, uint256 value)`."
    )
    where: Expr | None = Field(
        default=None,
        description="Report only events for which this expression is true, e.g. "
        "`value > 1000 * 10**18 and to != pool`. Names: the event's arguments, `log.address`, "
        "`tx.hash`, `block.number`, `block.timestamp` and the rule's contracts by plan name.",
    )
    title: str | None = Field(
        default=None,
        description="Finding title; `{name}` fields are the event's arguments and `contract`, "
        "e.g. `{value} sent to {to}`.",
    )

    @field_validator("signature")
    @classmethod
    def _parses(cls, text: str) -> str:
        parse_signature(text, event=True)
        return text

    @model_validator(mode="after")
    def _title_fields(self) -> EventParams:
        if self.title is not None:
            names = [p.name for p in parse_signature(self.signature, event=True).params]
            check_template(self.title, [*names, "contract"])
        return self


class EventYamlRule(Rule):
    id = "event"
    title = "An event declared in the plan"
    category = "yaml"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "A watched contract emitted the event named by `signature`, and `where` (if given) "
        "holds over its arguments. For events no built-in rule covers, without Python."
    )
    recommendation = (
        "Narrow `where` until the rule fires only on what needs a response; list the "
        "contracts that emit the event."
    )
    Params = EventParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(EventParams, setup.params)
        self.signature = parse_signature(self.params.signature, event=True)
        self.codec = event_codec(self.signature)
        self.topic0 = self.codec.topic0(self.signature.name)
        self.contracts = contract_env(setup.targets)
        self.where = None
        if self.params.where is not None:
            args = [p.name for p in self.signature.params]
            self.where = compile_where(setup, self.params.where, [*_FIXED, *args])
        if not setup.targets:
            raise PlanError(f"rule {setup.rule_id}: `event` needs the contracts that emit it")

    def log_keys(self) -> Iterator[tuple[str, str]]:
        for target in self.setup.targets:
            yield target.address, self.topic0

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        args = {k: plain(v) for k, v in log.args.items()}
        if self.where is not None and not self.where.evaluate(
            log_env(self.contracts, block, log, args)
        ):
            return ()
        contract = self.target_name(log.address)
        if self.params.title is not None:
            title = render(self.params.title, {"contract": contract, **args})
        else:
            title = f"{contract} emitted {self.signature.name}"
        addresses = [log.address, *(v for v in args.values() if _is_address(v))]
        return (
            self.finding(
                block,
                log,
                title=title,
                description=self.description,
                addresses=dict.fromkeys(addresses),
                data={"event": self.signature.canonical, "args": args},
            ),
        )


def _is_address(value: object) -> bool:
    return isinstance(value, str) and len(value) == 42 and value.startswith("0x")
