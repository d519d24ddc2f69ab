"""From the plan's ``rules:`` section to rule instances, with every problem located."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from breakglass.detect.engine import Detector
from breakglass.detect.rule import Rule, RuleSetup, Target, load_plugins, registered_rules
from breakglass.errors import PlanError
from breakglass.plan.issues import format_path
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.schema_errors import describe_model_error

__all__ = [
    "RuleProblem",
    "RuleSetupError",
    "build_rules",
    "configured_rule",
    "rule_detector",
    "rule_problems",
]


@dataclass(frozen=True)
class RuleProblem:
    path: tuple[str | int, ...]
    message: str

    def located(self, loaded: LoadedPlan) -> str:
        return f"{loaded.location(self.path)}: {format_path(self.path)}: {self.message}"


class RuleSetupError(PlanError):
    """The plan configures rules that cannot run; ``problems`` says where and why."""

    def __init__(self, loaded: LoadedPlan, problems: list[RuleProblem]) -> None:
        self.problems = problems
        super().__init__("\n".join(p.located(loaded) for p in problems))


def _setups(
    loaded: LoadedPlan, chain: str | None
) -> tuple[list[tuple[int, type[Rule], RuleSetup]], list[RuleProblem]]:
    plan = loaded.plan
    load_plugins()  # third-party rule types are as good as built-ins in a plan
    known = registered_rules()
    built: list[tuple[int, type[Rule], RuleSetup]] = []
    problems: list[RuleProblem] = []
    for index, configured in enumerate(plan.rules):
        if not configured.enabled:
            continue
        path: tuple[str | int, ...] = ("rules", index)
        cls = known.get(configured.rule)
        if cls is None:
            problems.append(
                RuleProblem(
                    (*path, "rule"),
                    f"unknown rule type {configured.rule!r}; known: {', '.join(sorted(known))}",
                )
            )
            continue
        targets = tuple(
            Target(name, plan.contracts[name].address.lower())
            for name in configured.contracts
            if name in plan.contracts
        )
        chains = {
            plan.contracts[name].chain for name in configured.contracts if name in plan.contracts
        }
        rule_chain = configured.chain or (next(iter(chains)) if len(chains) == 1 else None)
        if rule_chain is None:
            problems.append(
                RuleProblem(
                    path,
                    "the rule's contracts are on several chains; set `chain:` or split the rule",
                )
            )
            continue
        if chain is not None and rule_chain != chain:
            continue
        try:
            # Paths in params (filter scripts) are relative to the plan, as ABI paths are.
            context = {"base_dir": loaded.base_dir}
            params = cls.Params.model_validate(configured.params, context=context)
        except ValidationError as exc:
            for where, message in describe_model_error(exc, configured.params, cls.Params):
                problems.append(RuleProblem((*path, "params", *where), message))
            continue
        built.append(
            (index, cls, RuleSetup(configured.id, rule_chain, targets, params, configured.severity))
        )
    return built, problems


def rule_problems(loaded: LoadedPlan) -> list[RuleProblem]:
    """Every reason a configured rule cannot run, without building any."""
    return _setups(loaded, None)[1]


def build_rules(loaded: LoadedPlan, *, chain: str) -> list[Rule]:
    """Instances of every enabled rule of ``chain``.

    Raises:
        RuleSetupError: a rule type is unknown or its parameters are wrong.
    """
    built, problems = _setups(loaded, chain)
    if problems:
        raise RuleSetupError(loaded, problems)
    return [cls(setup) for _, cls, setup in built]


def configured_rule(
    kind: str,
    targets: Iterable[tuple[str, str]],
    *,
    chain: str,
    rule_id: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Rule:
    """One rule of type ``kind`` watching ``(name, address)`` targets, without a plan file
    (tests, benchmarks, tuning).

    Raises:
        KeyError: no rule type ``kind``.
        pydantic.ValidationError: ``params`` do not fit the rule.
    """
    cls = registered_rules()[kind]
    setup = RuleSetup(
        rule_id=rule_id or f"my-{kind}",
        chain=chain,
        targets=tuple(Target(name, str(address).lower()) for name, address in targets),
        params=cls.Params.model_validate(dict(params or {})),
    )
    return cls(setup)


def rule_detector(
    kind: str,
    targets: Iterable[tuple[str, str]],
    *,
    chain: str,
    rule_id: str | None = None,
    params: Mapping[str, Any] | None = None,
) -> Detector:
    """A detector holding just :func:`configured_rule`'s rule."""
    return Detector(
        chain, [configured_rule(kind, targets, chain=chain, rule_id=rule_id, params=params)]
    )
