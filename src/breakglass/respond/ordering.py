"""Which steps of a run go now: parallel groups, approvals offered at once, and what a
resumed run leaves alone; and the results a run reports.

Consecutive steps sharing a ``group`` run together. When a run reaches an approval step,
every later approval step of the playbook is offered at the same moment; other steps wait
until each approval step before them is approved. A run resumed after an approval is given
the positions it already stored (:func:`breakglass.respond.decisions.run_positions`) and
neither offers nor carries out any of them again.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from breakglass.errors import PlanError
from breakglass.plan.models.response import Mode, Playbook, Step
from breakglass.respond.actions.base import Action
from breakglass.respond.templates import field_uses

__all__ = [
    "RunCall",
    "RunResult",
    "StepResult",
    "offered_early",
    "run_status",
    "step_groups",
    "still_waiting",
    "used_fields",
]


def step_groups(steps: Sequence[Step]) -> list[list[int]]:
    """Positions of ``steps`` grouped for running: consecutive steps sharing a ``group``
    run together, every other step alone."""
    groups: list[list[int]] = []
    for position, step in enumerate(steps):
        if groups and step.group is not None and steps[groups[-1][-1]].group == step.group:
            groups[-1].append(position)
        else:
            groups.append([position])
    return groups


@dataclass
class StepResult:
    position: int
    summary: str
    status: str  # done, skipped, waiting, awaiting-approval, failed
    note: str = ""
    tx_hash: str | None = None
    step_id: int | None = None
    fallback: RunResult | None = None


@dataclass
class RunResult:
    playbook: str
    run_id: int | None
    status: str  # succeeded, failed, waiting
    steps: list[StepResult] = field(default_factory=list)


@dataclass(frozen=True)
class RunCall:
    """What every step of one run shares: its chain, the alert fields its steps use, the
    positions already approved and the fallback depth."""

    chain: str | None
    context: Mapping[str, Any] | None
    approved: Mapping[int, str]
    depth: int


def used_fields(playbook: Playbook, context: Mapping[str, Any] | None) -> dict[str, Any] | None:
    """The part of ``context`` the playbook's steps use (what an approval is rebuilt from),
    or ``None`` without one."""
    if context is None:
        return None
    names: set[str] = set()
    for step in playbook.steps:
        try:
            names |= {use.field for use in field_uses(step)}
        except PlanError:
            continue  # the step fails with the reason when it is built
    return {name: context[name] for name in sorted(names) if name in context}


def offered_early(playbook: Playbook, position: int, call: RunCall) -> bool:
    """Whether a step behind a waiting approval runs now anyway: an approval step not yet
    approved, to be offered at once (a dry run never waits, so never blocks)."""
    step = playbook.steps[position]
    return step.mode is Mode.APPROVAL and position not in call.approved


def still_waiting(position: int, action: Action | PlanError, playbook: Playbook) -> StepResult:
    summary = action.summary if isinstance(action, Action) else playbook.steps[position].action
    return StepResult(position, summary, "awaiting-approval", "still awaiting approval")


def run_status(steps: Sequence[StepResult]) -> str:
    if any(s.status == "failed" for s in steps):
        return "failed"
    if any(s.status in ("waiting", "awaiting-approval") for s in steps):
        return "waiting"
    return "succeeded"
