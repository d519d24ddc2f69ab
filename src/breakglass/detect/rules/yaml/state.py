from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from typing import Any, cast

from pydantic import Field, field_validator, model_validator

from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup
from breakglass.detect.rules.yaml.common import (
    Expr,
    block_env,
    check_template,
    compile_where,
    contract_env,
    parse_signature,
    plain,
    render,
)
from breakglass.detect.state import StateCall
from breakglass.errors import ConfigError, PlanError
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import PlanModel

_FIXED = ("previous", "block")
_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_ADDRESS = re.compile(r"^0x[0-9a-fA-F]{40}$")


class ViewSpec(PlanModel):
    name: str = Field(description="The name the expression reads the value by.")
    signature: str = Field(description="The view, e.g. `balanceOf(address)` or `totalSupply()`.")
    args: list[Any] = Field(
        default=[], description="Arguments; a rule contract's plan name stands for its address."
    )
    returns: list[str] = Field(default=["uint256"], description="ABI return types.")
    contract: str | None = Field(
        default=None,
        description="A contract of the rule by plan name, or an address; default the rule's "
        "first contract.",
    )

    @field_validator("name")
    @classmethod
    def _identifier(cls, name: str) -> str:
        if not _NAME.match(name) or name in _FIXED:
            raise ValueError(f"{name!r}: expected an identifier other than previous and block")
        return name

    @model_validator(mode="after")
    def _arity(self) -> ViewSpec:
        signature = parse_signature(self.signature, event=False)
        if len(signature.params) != len(self.args):
            raise ValueError(
                f"{signature.canonical} takes {len(signature.params)} arguments, "
                f"`args` has {len(self.args)}"
            )
        for kind in self.returns:
            parse_signature(f"r({kind})", event=False)
        return self


class StateParams(RuleParams):
    calls: list[ViewSpec] = Field(
        min_length=1,
        description="Named view calls read at every block, in one batch: "
        "`{name: supply, signature: totalSupply()}`.",
    )
    where: Expr = Field(
        description="Report when this expression is true, e.g. "
        "`supply > previous.supply * 11 / 10`. Names: each call's `name`, `previous.<name>` "
        "(the value at the block evaluated before; the rule waits for one), "
        "`block.number`, `block.timestamp` and the rule's contracts by plan name."
    )
    title: str | None = Field(default=None, description="Finding title; fields: the call names.")

    @model_validator(mode="after")
    def _unique(self) -> StateParams:
        names = [c.name for c in self.calls]
        repeated = sorted({n for n in names if names.count(n) > 1})
        if repeated:
            raise ValueError(f"call names repeat: {', '.join(repeated)}")
        if self.title is not None:
            check_template(self.title, names)
        return self


class StateYamlRule(Rule):
    id = "state"
    title = "Contract state matching the plan's expression"
    category = "yaml"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "View calls (balances, `totalSupply()`, oracle answers) are read at every block in "
        "one batch and `where` is true over their values, or their change since the block "
        "before (`previous.<name>`). Reported once until `where` is false again; a block "
        "where a call reverted is skipped."
    )
    recommendation = (
        "Compare with `previous` for sudden changes and with constants for bounds; keep the "
        "calls few, they are read at every block."
    )
    needs = Needs.STATE
    Params = StateParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(StateParams, setup.params)
        self.contracts = contract_env(setup.targets)
        names = [c.name for c in self.params.calls]
        self.where = compile_where(setup, self.params.where, [*_FIXED, *names])
        try:
            self.calls = {spec.name: self._call(spec) for spec in self.params.calls}
        except ConfigError as exc:
            raise PlanError(f"rule {setup.rule_id}: {exc}") from None
        self.previous: dict[str, Any] | None = None
        self.holding = False

    def _call(self, spec: ViewSpec) -> StateCall:
        by_name = {t.name: t.address for t in self.setup.targets}
        if spec.contract is None:
            if not self.setup.targets:
                raise ConfigError(f"call {spec.name}: set `contract` or list the rule's contracts")
            owner = self.setup.targets[0].address
        elif spec.contract in by_name:
            owner = by_name[spec.contract]
        elif _ADDRESS.match(spec.contract):
            owner = spec.contract.lower()
        else:
            raise ConfigError(
                f"call {spec.name}: contract {spec.contract!r} is neither one of the rule's "
                f"contracts ({', '.join(by_name) or 'none'}) nor an address"
            )
        args = tuple(by_name.get(a, a) if isinstance(a, str) else a for a in spec.args)
        signature = parse_signature(spec.signature, event=False).canonical
        return StateCall(owner, signature, args, tuple(spec.returns))

    def state_calls(self) -> Iterable[StateCall]:
        return self.calls.values()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        values = {name: plain(state.get(call)) for name, call in self.calls.items()}
        if any(v is None for v in values.values()):
            return ()  # a call reverted: nothing to judge at this block
        previous, self.previous = self.previous, values
        if previous is None and "previous" in self.where.names:
            return ()
        env = {
            **self.contracts,
            **values,
            "previous": previous or {},
            "block": block_env(block),
        }
        if not self.where.evaluate(env):
            self.holding = False
            return ()
        if self.holding:
            return ()
        self.holding = True
        if self.params.title is not None:
            title = render(self.params.title, values)
        else:
            title = f"state condition `{self.params.where}` is true"
        return (
            self.finding(
                block,
                None,
                title=title,
                description=self.description,
                addresses=dict.fromkeys(c.address for c in self.calls.values()),
                data={"where": self.params.where, "values": values, "previous": previous},
            ),
        )
