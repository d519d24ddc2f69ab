"""From the plan's ``rules:`` section to rule instances, with every problem located."""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from pydantic import ValidationError

from breakglass.detect.engine import Detector
from breakglass.detect.rule import Rule, RuleSetup, Target, load_plugins, registered_rules
from breakglass.errors import PlanError
from breakglass.plan.issues import format_path
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models import Plan
from breakglass.plan.models import Rule as ConfiguredRule
from breakglass.plan.models.names import ADDRESS, addresses_on, explain_name, resolve_names
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
            close = difflib.get_close_matches(configured.rule, known, n=1, cutoff=0.6)
            hint = f"; did you mean {close[0]!r}?" if close else ""
            problems.append(
                RuleProblem(
                    (*path, "rule"),
                    f"unknown rule type {configured.rule!r}{hint}; known: "
                    + ", ".join(sorted(known)),
                )
            )
            continue
        rule_chains, problem = _rule_chains(plan, configured)
        if problem is not None:
            problems.append(RuleProblem(path, problem))
            continue
        for rule_chain in rule_chains:
            if chain is not None and rule_chain != chain:
                continue
            setup = _setup(loaded, configured, cls, rule_chain, path, problems)
            if setup is not None:
                built.append((index, cls, setup))
    return built, problems


def _rule_chains(plan: Plan, configured: ConfiguredRule) -> tuple[list[str], str | None]:
    """The chains a rule runs on: its ``chain`` when set, else every chain where all of its
    contracts are deployed (a rule may relate them, so it needs each); or why there is
    none, or why some chain where part of them is deployed would be left unwatched."""
    named = [n for n in configured.contracts if n in plan.contracts]
    if configured.chain is not None:
        missing = [n for n in named if configured.chain not in plan.deployed_on(n)]
        if missing:
            return [], (
                f"{', '.join(missing)} {'is' if len(missing) == 1 else 'are'} not deployed on "
                f"chain {configured.chain!r}; add a deployment there or narrow the rule's "
                "contracts"
            )
        return [configured.chain], None
    if not named:
        if len(plan.chains) == 1:
            return list(plan.chains), None
        return [], "the rule watches no contract; set `chain:` to say where it runs"
    common = [c for c in plan.deployed_on(named[0]) if all(c in plan.deployed_on(n) for n in named)]
    skipped = {c for n in named for c in plan.deployed_on(n)} - set(common)
    if common and skipped:
        # Silently watching some chains only is the gap found during the incident.
        chain = sorted(skipped)[0]
        there = [n for n in named if chain in plan.deployed_on(n)]
        absent = [n for n in named if chain not in plan.deployed_on(n)]
        return [], (
            f"the rule would not run on {chain}, where {', '.join(there)} "
            f"{'is' if len(there) == 1 else 'are'} deployed, because {', '.join(absent)} "
            f"{'is' if len(absent) == 1 else 'are'} not; split the rule, or set `chain:`"
        )
    if not common:
        where = "; ".join(f"{n}: {', '.join(plan.deployed_on(n))}" for n in named)
        return [], (
            f"the rule's contracts are on several chains with none in common ({where}); "
            "set `chain:` or split the rule"
        )
    return common, None


def _setup(
    loaded: LoadedPlan,
    configured: ConfiguredRule,
    cls: type[Rule],
    chain: str,
    path: tuple[str | int, ...],
    problems: list[RuleProblem],
) -> RuleSetup | None:
    """The rule's setup on ``chain``: its contracts' addresses there and its parameters with
    names resolved there; ``None`` (and ``problems`` extended) when they do not validate."""
    plan = loaded.plan.on_chain(chain)
    targets = tuple(
        Target(name, plan.contracts[name].address.lower())
        for name in configured.contracts
        if name in plan.contracts
    )
    raw = resolve_names(configured.params, addresses_on(plan, chain))
    try:
        # Paths in params (filter scripts) are relative to the plan, as ABI paths are.
        context = {"base_dir": loaded.base_dir}
        params = cls.Params.model_validate(raw, context=context)
    except ValidationError as exc:
        for where, said in describe_model_error(exc, raw, cls.Params):
            written = _value_at(configured.params, where)
            message = said
            if _unresolved_name(written, _value_at(raw, where)) and "address" in said:
                message = f"{configured.rule}: {explain_name(str(written), plan, chain)}"
            problem = RuleProblem((*path, "params", *where), message)
            if problem not in problems:
                problems.append(problem)
        return None
    return RuleSetup(
        configured.id, chain, targets, params, configured.severity, loaded.plan.chains.get(chain)
    )


def _value_at(data: Any, where: tuple[str | int, ...]) -> Any:
    for part in where:
        in_list = isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data)
        if not in_list and not (isinstance(data, dict) and part in data):
            return None
        data = data[part]
    return data


def _unresolved_name(written: Any, resolved: Any) -> bool:
    """Whether a parameter was written as a name that did not resolve to an address."""
    return isinstance(written, str) and written == resolved and not ADDRESS.match(written)


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
