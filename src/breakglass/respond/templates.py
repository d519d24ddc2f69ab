"""Playbook steps that use the alert: ``${finding.<field>}`` in a step's arguments.

A timelock alert names the operation to cancel and a role alert the account to revoke; a
playbook written ahead of time cannot know either. A step argument written
``${finding.operation_id}`` takes the value from the finding that started the run.

The syntax is deliberately tiny and safe: only ``${finding.<field>}``, substituted, never
evaluated. A whole value keeps the field's type (an address, a bytes32, a number); inside
longer text (a message) it is written out. ``plan check`` type-checks every use against the
finding fields each triggering rule declares (``finding_fields`` on the rule class), so a
typo or a bytes32 where an address belongs shows before the incident, not during it.

Names work here as everywhere an address is expected: an address argument may name a
contract or signer of the plan, resolved on the chain the step acts on.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from breakglass.detect.finding import Finding
from breakglass.detect.rule import registered_rules
from breakglass.errors import BreakglassError, PlanError
from breakglass.plan.models import Plan, SafeSigner
from breakglass.plan.models.names import ADDRESS, addresses_on, explain_name
from breakglass.plan.models.response import (
    CallStep,
    ManualStep,
    NotifyStep,
    PageStep,
    Playbook,
    RevokeRoleStep,
    SafeProposalStep,
    Step,
)
from breakglass.respond.actions.base import Action
from breakglass.respond.actions.build import build_action
from breakglass.respond.calls import CallSpecError, parse_check, parse_signature

__all__ = [
    "STANDARD_FIELDS",
    "FieldUse",
    "TemplateError",
    "declared_fields",
    "field_uses",
    "finding_context",
    "finding_samples",
    "sample_context",
    "step_action",
    "step_actions",
    "step_chains",
    "template_problems",
]

_FIELD = r"\$\{finding\.([A-Za-z_][A-Za-z0-9_]*)\}"
_WHOLE = re.compile(rf"^{_FIELD}$")
_ANY = re.compile(_FIELD)
_OPEN = re.compile(r"\$\{")

STANDARD_FIELDS: Mapping[str, str] = {
    "rule": "string",
    "kind": "string",
    "chain": "string",
    "severity": "string",
    "title": "string",
    "tx_hash": "bytes32",
    "block_hash": "bytes32",
    "block_number": "uint256",
}
"""Fields every finding has, whatever its rule."""

_SAMPLES = {"address": "0x" + "00" * 19 + "01", "string": "sample", "bool": True}


class TemplateError(PlanError):
    """A step's ``${finding.*}`` cannot be filled from the finding at hand."""


def finding_context(finding: Finding) -> dict[str, Any]:
    """The fields a step may use from ``finding``: the standard ones and its rule's data,
    with the declared fields its rule keeps under another key (``finding_sources``)."""
    cls = registered_rules().get(finding.kind)
    sources: Mapping[str, str] = getattr(cls, "finding_sources", {}) if cls else {}
    renamed = {field: finding.data[key] for field, key in sources.items() if key in finding.data}
    return {
        "rule": finding.rule,
        "kind": finding.kind,
        "chain": finding.chain,
        "severity": str(finding.severity),
        "title": finding.title,
        "tx_hash": finding.tx_hash,
        "block_hash": finding.block_hash,
        "block_number": finding.block_number,
        **dict(finding.data),
        **renamed,
    }


def declared_fields(kind: str) -> dict[str, str]:
    """The finding fields (name: ABI type) a rule type declares, with the standard ones."""
    cls = registered_rules().get(kind)
    declared: Mapping[str, str] = getattr(cls, "finding_fields", {}) if cls else {}
    return {**STANDARD_FIELDS, **declared}


def sample_context(fields: Mapping[str, str]) -> dict[str, Any]:
    """A value of the right type for each field: what ``plan check`` builds steps with."""
    return {name: _sample(kind) for name, kind in fields.items()}


def _sample(kind: str) -> Any:
    if kind in _SAMPLES:
        return _SAMPLES[kind]
    if kind.startswith(("uint", "int")):
        return 1
    if kind.startswith("bytes") and kind[5:].isdigit():
        return "0x" + "00" * int(kind[5:])
    return "0x"


class FieldUse:
    """One ``${finding.<field>}`` in a step: where, which field, and the ABI type the place
    expects (``None`` for text, where any field reads)."""

    __slots__ = ("abi_type", "field", "where")

    def __init__(self, where: tuple[str | int, ...], field: str, abi_type: str | None) -> None:
        self.where = where
        self.field = field
        self.abi_type = abi_type


def _types(signature: str | None, count: int) -> list[str | None]:
    if signature is None:
        return [None] * count
    try:
        _, types = parse_signature(signature.lstrip("!").strip())
    except CallSpecError:
        return [None] * count
    return [types[i] if i < len(types) else None for i in range(count)]


def _typed_values(step: Step) -> Iterator[tuple[tuple[str | int, ...], Any, str | None]]:
    """Every value of ``step`` that may hold a template, with the ABI type it takes."""
    if isinstance(step, CallStep | SafeProposalStep):
        for i, (value, kind) in enumerate(
            zip(step.args, _types(step.function, len(step.args)), strict=True)
        ):
            yield ("args", i), value, kind
    if isinstance(step, RevokeRoleStep):
        yield ("role",), step.role, "bytes32"
        yield ("account",), step.account, "address"
    verify_args: list[Any] = getattr(step, "verify_args", [])
    verify: str | None = getattr(step, "verify", None)
    for i, (value, kind) in enumerate(
        zip(verify_args, _types(verify, len(verify_args)), strict=True)
    ):
        yield ("verify_args", i), value, kind
    if isinstance(step, NotifyStep | PageStep) and step.message:
        yield ("message",), step.message, None
    if isinstance(step, ManualStep):
        yield ("instructions",), step.instructions, None


def field_uses(step: Step) -> list[FieldUse]:
    """Every ``${finding.*}`` the step uses.

    Raises:
        TemplateError: a ``${`` that is not ``${finding.<field>}``.
    """
    uses: list[FieldUse] = []
    for where, value, kind in _typed_values(step):
        if not isinstance(value, str):
            continue
        if len(_OPEN.findall(value)) != len(_ANY.findall(value)):
            raise TemplateError(
                f"{'.'.join(str(w) for w in where)}: {value!r}: only ${{finding.<field>}} may be "
                "used in a step, e.g. ${finding.account}"
            )
        whole = _WHOLE.match(value)
        if whole is not None:
            uses.append(FieldUse(where, whole.group(1), kind))
        else:
            uses.extend(FieldUse(where, m.group(1), None) for m in _ANY.finditer(value))
    return uses


def _fill(value: Any, kind: str | None, context: Mapping[str, Any] | None) -> Any:
    if not isinstance(value, str) or "${" not in value:
        return value
    if context is None:
        raise TemplateError(
            f"{value!r} takes its value from an alert; this run was not started by one"
        )

    def get(name: str) -> Any:
        if name not in context or context[name] is None:
            raise TemplateError(f"the alert has no field {name!r} for {value!r}")
        return context[name]

    whole = _WHOLE.match(value)
    if whole is not None:
        return get(whole.group(1))
    return _ANY.sub(lambda m: str(get(m.group(1))), value)


def _named(
    value: Any, kind: str | None, names: Mapping[str, str], plan: Plan, chain: str | None
) -> Any:
    if kind != "address" or not isinstance(value, str) or ADDRESS.match(value):
        return value
    if value in names:
        return names[value]
    if chain is None:
        return value  # encoding says it is not an address
    raise PlanError(explain_name(value, plan, chain))


def _render(step: Step, context: Mapping[str, Any] | None, plan: Plan, chain: str | None) -> Step:
    """``step`` with its templates filled and its address names resolved on ``chain``."""
    names = addresses_on(plan, chain) if chain is not None else {}
    update: dict[str, Any] = {}
    lists: dict[str, list[Any]] = {}
    for where, value, kind in _typed_values(step):
        filled = _named(_fill(value, kind, context), kind, names, plan, chain)
        if len(where) == 2:
            key, index = str(where[0]), int(where[1])
            lists.setdefault(key, list(getattr(step, key)))[index] = filled
        elif filled is not value:
            update[str(where[0])] = filled if kind is not None else str(filled)
    update.update(lists)
    return step.model_copy(update=update) if update else step


def step_chains(plan: Plan, step: Step, chain: str | None = None) -> list[str | None]:
    """The chains ``step`` may act on: its ``chain``, a Safe's chain, or every chain its
    contract is deployed on (``chain`` first); ``[None]`` for steps off the chain."""
    if isinstance(step, SafeProposalStep):
        safe = plan.signers.get(step.safe)
        return [safe.chain if isinstance(safe, SafeSigner) else None]
    contract = getattr(step, "contract", None)
    if contract is None:
        return [None]
    pinned: str | None = getattr(step, "chain", None)
    if pinned is not None:
        return [pinned]
    deployed: list[str | None] = list(plan.deployed_on(contract))
    if chain in deployed:
        deployed.remove(chain)
        deployed.insert(0, chain)
    return deployed or [None]


def step_action(
    plan: Plan,
    step: Step,
    playbook: str = "",
    *,
    chain: str | None = None,
    context: Mapping[str, Any] | None = None,
) -> Action:
    """The action carrying out ``step`` on ``chain`` (the alert's; a step's own ``chain``
    or a Safe's wins, and a contract not deployed there acts on its home chain), with
    ``${finding.*}`` filled from ``context`` and names resolved there.

    Raises:
        PlanError: a name is missing, a field is absent from ``context``, or a function or
            check cannot be encoded.
    """
    target = step_chains(plan, step, chain)[0]
    contract: str | None = getattr(step, "contract", None)
    deployed = plan.deployed_on(contract) if contract is not None else ()
    if target is not None and deployed and target not in deployed:
        raise PlanError(
            f"contract {contract!r} is not deployed on chain {target!r} "
            f"(it is on {', '.join(deployed)})"
        )
    view = plan.on_chain(target) if target is not None else plan
    rendered = _render(step, context, view, target)
    verify_args: Sequence[Any] = getattr(rendered, "verify_args", [])
    verify: str | None = getattr(rendered, "verify", None)
    if not verify_args or verify is None:
        return build_action(view, rendered, playbook)
    # build_action reads verify without arguments: build without it, then add it.
    action = build_action(view, rendered.model_copy(update={"verify": None}), playbook)
    check = parse_check(verify, verify_args)
    changes: dict[str, Any] = {"verify": check}
    if getattr(action, "done_when", None) is None:  # a call's verify is also its precheck
        changes["done_when"] = check
    return replace(action, **changes)  # type: ignore[type-var]


def finding_samples(plan: Plan) -> dict[str, Any]:
    """A value of the declared type for every finding field a rule of the plan declares:
    what a step using ``${finding.*}`` is built with before any alert (plan check, doctor,
    the responder's start-up)."""
    fields = dict(STANDARD_FIELDS)
    for rule in plan.rules:
        for name, kind in declared_fields(rule.rule).items():
            fields.setdefault(name, kind)
    return sample_context(fields)


def step_actions(
    plan: Plan, step: Step, playbook: str, *, context: Mapping[str, Any] | None = None
) -> Iterator[tuple[str | None, Action | BreakglassError]]:
    """``(chain, action)`` for each chain ``step`` may act on (:func:`step_chains`), built
    with ``context`` (by default :func:`finding_samples`); where it cannot be built, the
    error in place of the action, so a check reports each chain apart."""
    fields = finding_samples(plan) if context is None else context
    for chain in step_chains(plan, step):
        try:
            yield chain, step_action(plan, step, playbook, chain=chain, context=fields)
        except BreakglassError as exc:
            yield chain, exc


def _triggers(plan: Plan, playbook: Playbook, seen: frozenset[str] = frozenset()) -> set[str]:
    """Rule ids whose findings can start ``playbook``, directly or through the playbooks
    that name it as their ``on_failure``."""
    rules = {r for r in playbook.on if plan.rule(r) is not None}
    rules |= {r.id for r in plan.rules if r.enabled and r.severity in playbook.severities}
    for parent in plan.playbooks:
        if parent.id in seen or parent.id == playbook.id:
            continue
        if any(step.on_failure == playbook.id for step in parent.steps):
            rules |= _triggers(plan, parent, seen | {playbook.id})
    return rules


def _fits(field_type: str, abi_type: str) -> bool:
    if field_type == abi_type:
        return True
    numbers = ("uint", "int")
    return field_type.startswith(numbers) and abi_type.startswith(numbers)


def template_problems(plan: Plan, playbook: Playbook) -> Iterator[tuple[int, str]]:
    """``(step index, why)`` for each ``${finding.*}`` of ``playbook`` that some rule able
    to start it cannot fill, or fills with a value of the wrong type."""
    rules = sorted(_triggers(plan, playbook))
    for index, step in enumerate(playbook.steps):
        try:
            uses = field_uses(step)
        except TemplateError as exc:
            yield index, str(exc)
            continue
        if uses and not rules:
            yield (
                index,
                (
                    f"uses ${{finding.{uses[0].field}}} but no rule starts playbook {playbook.id}; "
                    "bind it with `on:` so a finding can fill it"
                ),
            )
            continue
        for use in uses:
            where = ".".join(str(w) for w in use.where)
            for rule_id in rules:
                rule = plan.rule(rule_id)
                assert rule is not None
                fields = declared_fields(rule.rule)
                declared = fields.get(use.field)
                if declared is None:
                    close = difflib.get_close_matches(use.field, list(fields), n=1)
                    hint = f"; did you mean {close[0]!r}?" if close else ""
                    yield (
                        index,
                        (
                            f"{where}: rule {rule_id} ({rule.rule}) has no finding field "
                            f"{use.field!r}{hint} (it has: {', '.join(sorted(fields))})"
                        ),
                    )
                elif use.abi_type is not None and not _fits(declared, use.abi_type):
                    yield (
                        index,
                        (
                            f"{where}: ${{finding.{use.field}}} of rule {rule_id} is {declared}, "
                            f"the argument takes {use.abi_type}"
                        ),
                    )
