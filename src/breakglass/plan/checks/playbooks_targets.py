"""The ``playbooks.targets`` check: every step calls a function its contract has.

A Safe proposing to a contract on another chain is ``playbooks.steps``'s to report: it builds
each step's action on the chain it acts on, which for a proposal is the Safe's.
"""

from __future__ import annotations

import difflib
import re
from collections.abc import Iterator
from typing import Any

from breakglass.plan.abifile import AbiFileError, read_abi_file
from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.issues import Path
from breakglass.plan.models import (
    CallStep,
    Contract,
    PauseStep,
    RevokeRoleStep,
    SafeProposalStep,
    Step,
    UnpauseStep,
)

__all__ = ["PlaybookTargets"]

_CALL = re.compile(r"^\s*!?\s*([A-Za-z_$][A-Za-z0-9_$]*)\s*\(([^()]*)\)\s*$")
_ABI_TYPE = re.compile(r"^(?:u?int\d*|address|bool|string|bytes\d*|tuple|\(.*\))(?:\[\d*\])*$")


def _canonical(param: dict[str, Any]) -> str:
    kind = str(param.get("type", ""))
    if kind.startswith("tuple"):
        inner = ",".join(_canonical(c) for c in param.get("components") or [])
        return f"({inner}){kind.removeprefix('tuple')}"
    return kind


def _functions(abi: list[dict[str, Any]]) -> dict[str, list[tuple[str, ...]]]:
    """Each function name with the argument types of each of its overloads."""
    found: dict[str, list[tuple[str, ...]]] = {}
    for entry in abi:
        if entry.get("type") == "function" and isinstance(entry.get("name"), str):
            types = tuple(_canonical(p) for p in entry.get("inputs") or [])
            found.setdefault(entry["name"], []).append(types)
    return found


def _missing(call: str, functions: dict[str, list[tuple[str, ...]]]) -> str | None:
    """Why ``call`` (a signature, a check or a call with values) is not in the ABI, or
    ``None`` when it is or cannot be told."""
    match = _CALL.match(call)
    if match is None:
        return None  # not a signature: playbooks.steps says so
    name, inner = match.groups()
    parts = [p.strip() for p in inner.split(",")] if inner.strip() else []
    overloads = functions.get(name)
    if overloads is None:
        close = difflib.get_close_matches(name, sorted(functions), n=1, cutoff=0.6)
        hint = f"; did you mean {close[0]}()?" if close else ""
        return f"has no function {name}{hint}"
    if all(_ABI_TYPE.match(p.replace(" ", "")) for p in parts):
        wanted = tuple(p.replace(" ", "") for p in parts)
        if wanted not in overloads:
            have = " or ".join(f"{name}({','.join(types)})" for types in overloads)
            return f"has {have}, not {name}({','.join(wanted)})"
    elif all(len(types) != len(parts) for types in overloads):
        counts = " or ".join(str(len(types)) for types in overloads)
        return f"has {name} taking {counts} argument(s), not {len(parts)}"
    return None


def _abis(ctx: CheckContext) -> dict[str, dict[str, list[tuple[str, ...]]]]:
    """The functions of every contract whose ABI the plan names and loading could read."""
    found = {}
    for name, contract in ctx.plan.contracts.items():
        if contract.abi is None:
            continue
        try:
            found[name] = _functions(read_abi_file(contract.abi, base_dir=ctx.loaded.base_dir))
        except AbiFileError:
            continue  # loading already said so
    return found


class PlaybookTargets(PlanCheck):
    id = "playbooks.targets"
    title = "Every step calls a function its contract's ABI has"
    severity = CheckSeverity.ERROR
    explanation = (
        "A step whose function is not in the contract's ABI encodes fine and reverts during "
        "the incident: a misspelt `pauze()`, `setPaused(uint256)` for `setPaused(bool)`, a "
        "check the contract does not have. With the contract's `abi` in the plan, breakglass "
        "checks each step's function, its verify check and the contract's pause method "
        "against it."
    )
    fix = (
        "Call a function the ABI lists, with its exact argument types (`setPaused(bool)`), "
        "or give the contract the ABI of the code it really runs (e.g. the implementation's "
        "behind a proxy)."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        abis = _abis(ctx)
        seen: set[tuple[Path, str]] = set()
        for i, playbook in enumerate(plan.playbooks):
            for j, step in enumerate(playbook.steps):
                where: Path = ("playbooks", i, "steps", j)
                target = getattr(step, "contract", None)
                if not isinstance(target, str) or target not in plan.contracts:
                    continue
                contract = plan.contracts[target]
                functions = abis.get(target)
                if functions is None:
                    continue
                for call, path in _calls(target, contract, step, where):
                    problem = _missing(call, functions)
                    if problem is not None and (path, call) not in seen:
                        seen.add((path, call))
                        yield Finding(f"contract '{target}' ({contract.abi}) {problem}", path)


def _calls(name: str, contract: Contract, step: Step, where: Path) -> Iterator[tuple[str, Path]]:
    """The functions and checks a step calls on its contract, each with where the plan
    writes it (the step, or the contract's pause method it relies on)."""
    pause = ("contracts", name, "pause")
    method = contract.pause
    pause_fn = (method.function, (*pause, "function")) if method else ("pause()", where)
    check = (method.check, (*pause, "check")) if method else ("paused()", where)
    unpause = (method.unpause, (*pause, "unpause")) if method else ("unpause()", where)
    if isinstance(step, PauseStep):
        yield (step.function, (*where, "function")) if step.function else pause_fn
        if check[0]:
            yield check[0], check[1]
    elif isinstance(step, UnpauseStep) and unpause[0]:
        yield unpause[0], unpause[1]
    elif isinstance(step, CallStep):
        yield step.function, (*where, "function")
    elif isinstance(step, RevokeRoleStep):
        yield "revokeRole(bytes32,address)", where
    elif isinstance(step, SafeProposalStep):
        yield (step.function, (*where, "function")) if step.function else pause_fn
    verify = getattr(step, "verify", None)
    if isinstance(verify, str):
        yield verify, (*where, "verify")
