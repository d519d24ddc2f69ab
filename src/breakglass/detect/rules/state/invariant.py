from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from pydantic import Field, field_validator

from breakglass.detect.expr import ExpressionError, ViewKey, compile_expression
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Needs, Rule, RuleParams, RuleSetup, Target
from breakglass.detect.state import StateCall
from breakglass.errors import ConfigError, PlanError
from breakglass.ingest.events import BlockAdded
from breakglass.plan.models import Address


class InvariantParams(RuleParams):
    expression: str = Field(
        description="What must hold at every block, in the expression language "
        "(docs/expressions.md), e.g. `totalAssets() >= totalSupply()`. Views are read on "
        "the watched contract, or on a contract named in `contracts` (`token.balanceOf(vault)`)."
    )
    signatures: dict[str, str] = Field(
        default={},
        description="Signature of each view that takes arguments, by the name written in the "
        "expression: `{balanceOf: balanceOf(address)}`. Views without arguments need none.",
    )
    returns: dict[str, list[str]] = Field(
        default={},
        description="ABI return types of each view by name; default `[uint256]`.",
    )
    contracts: dict[str, Address] = Field(
        default={}, description="Further addresses the expression names, as values or view owners."
    )

    @field_validator("expression")
    @classmethod
    def _compiles(cls, text: str) -> str:
        try:
            compile_expression(text)
        except ExpressionError as exc:
            raise ValueError(str(exc)) from None
        return text


class InvariantRule(Rule):
    id = "invariant"
    title = "A protocol invariant does not hold"
    category = "state"
    severity = Severity.CRITICAL
    confidence = Confidence.HIGH
    description = (
        "The rule's expression, evaluated at every block over view calls on the watched "
        "contract, is false: for example a vault holding fewer assets than it owes. Exploits "
        "break an invariant in the block they happen, whatever path they took. Names: "
        "`contract` (the watched address), `block.number`, `block.timestamp` and `contracts`. "
        "Reported once until it holds again."
    )
    recommendation = "Write invariants that hold at every block boundary; pair them with a pause."
    needs = Needs.STATE
    Params = InvariantParams

    def __init__(self, setup: RuleSetup) -> None:
        super().__init__(setup)
        self.params = cast(InvariantParams, setup.params)
        self.contracts = {name: a.lower() for name, a in self.params.contracts.items()}
        # The text compiled when the params were validated; names and views need the setup.
        self.expression = compile_expression(self.params.expression)
        unknown = self.expression.names - {"block", "contract", *self.contracts}
        if unknown:
            known = ", ".join(["block", "contract", *sorted(self.contracts)])
            raise PlanError(
                f"rule {setup.rule_id}: unknown name {', '.join(sorted(unknown))} in "
                f"{self.params.expression!r}; known: {known}"
            )
        try:
            self.checks = [(t, self._calls(t)) for t in setup.targets]
        except (ExpressionError, ConfigError) as exc:
            raise PlanError(f"rule {setup.rule_id}: {exc}") from None
        if not self.checks:
            raise PlanError(f"rule {setup.rule_id}: invariant needs a watched contract")
        self.broken: set[str] = set()

    def _calls(self, target: Target) -> dict[ViewKey, StateCall]:
        env = {"contract": target.address, **self.contracts}
        calls: dict[ViewKey, StateCall] = {}
        for key in self.expression.view_keys(env):
            name, args = key
            owner, _, method = name.rpartition(".")
            address = target.address if not owner else self.contracts.get(owner)
            if address is None:
                raise ExpressionError(
                    self.params.expression, f"{name}(): {owner!r} is not in `contracts`"
                )
            signature = self.params.signatures.get(name, f"{method}()")
            returns = tuple(self.params.returns.get(name, ["uint256"]))
            calls[key] = StateCall(address, signature, args, returns)
        return calls

    def state_calls(self) -> Iterable[StateCall]:
        for _, calls in self.checks:
            yield from calls.values()

    def on_block(self, block: BlockAdded, state: Mapping[StateCall, Any]) -> Iterable[Finding]:
        for target, calls in self.checks:
            views = {key: state.get(call) for key, call in calls.items()}
            if any(value is None for value in views.values()):
                continue  # a view reverted: the invariant cannot be judged at this block
            env = {
                "contract": target.address,
                "block": {"number": block.number, "timestamp": block.header.timestamp},
                **self.contracts,
            }
            holds = bool(self.expression.evaluate(env, views))
            if holds:
                self.broken.discard(target.address)
                continue
            if target.address in self.broken:
                continue
            self.broken.add(target.address)
            yield self.finding(
                block,
                None,
                title=f"{target.name}: invariant `{self.params.expression}` is false",
                description=self.description,
                addresses=(target.address,),
                data={"expression": self.params.expression, "views": _shown(views)},
            )


def _shown(views: Mapping[ViewKey, Any]) -> dict[str, Any]:
    return {f"{name}({', '.join(map(str, args))})": value for (name, args), value in views.items()}
