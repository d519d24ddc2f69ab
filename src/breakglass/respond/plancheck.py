"""The plan check ``playbooks.steps``: every playbook step can be carried out as written."""

from __future__ import annotations

from collections.abc import Iterator

from breakglass.errors import BreakglassError
from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import Plan
from breakglass.respond.templates import (
    STANDARD_FIELDS,
    declared_fields,
    sample_context,
    step_action,
    step_chains,
    template_problems,
)

__all__ = ["PlaybookStepsCheck"]


def _samples(plan: Plan) -> dict[str, object]:
    """A value of the declared type for every finding field a rule of the plan declares:
    steps that use ``${finding.*}`` are built with these (their fit is checked apart)."""
    fields = dict(STANDARD_FIELDS)
    for rule in plan.rules:
        for name, kind in declared_fields(rule.rule).items():
            fields.setdefault(name, kind)
    return sample_context(fields)


class PlaybookStepsCheck(PlanCheck):
    id = "playbooks.steps"
    title = "Every playbook step can be encoded and sent as written"
    severity = CheckSeverity.ERROR
    explanation = (
        "A step whose function signature is malformed, whose arguments do not fit their "
        "types, whose check is not a view call, or whose ${finding.*} the rules that start "
        "it do not report fails at the worst moment: during the incident, after the alert. "
        "breakglass builds every step's calldata and checks ahead of time, on every chain it "
        "may act on, so the mistake shows here instead."
    )
    fix = (
        "Write functions as signatures with their types, e.g. `setPoolPause(bool)` with "
        "`args: [true]`, and checks as views returning bool, e.g. `paused()` or `!paused()`; "
        "use only the finding fields the triggering rules declare (docs/rules.md)."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for i, playbook in enumerate(ctx.plan.playbooks):
            where = ("playbooks", i, "steps")
            templated = dict(template_problems(ctx.plan, playbook))
            for j, message in templated.items():
                yield Finding(f"playbook {playbook.id} step {j + 1}: {message}", (*where, j))
            context = _samples(ctx.plan)
            for j, step in enumerate(playbook.steps):
                if j in templated:
                    continue
                chains = step_chains(ctx.plan, step)
                for chain in chains:
                    try:
                        step_action(ctx.plan, step, playbook.id, chain=chain, context=context)
                    except BreakglassError as exc:
                        on = f" on {chain}" if len(chains) > 1 else ""
                        yield Finding(
                            f"playbook {playbook.id} step {j + 1}{on}: {exc}", (*where, j)
                        )
