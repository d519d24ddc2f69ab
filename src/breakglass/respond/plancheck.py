"""The plan check ``playbooks.steps``: every playbook step can be carried out as written."""

from __future__ import annotations

from collections.abc import Iterator

from breakglass.errors import BreakglassError
from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.respond.templates import finding_samples, step_actions, template_problems

__all__ = ["PlaybookStepsCheck"]


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
            # Steps using ${finding.*} are built with sample values; their fit is checked above.
            context = finding_samples(ctx.plan)
            for j, step in enumerate(playbook.steps):
                if j in templated:
                    continue
                built = list(step_actions(ctx.plan, step, playbook.id, context=context))
                for chain, action in built:
                    if isinstance(action, BreakglassError):
                        on = f" on {chain}" if len(built) > 1 else ""
                        yield Finding(
                            f"playbook {playbook.id} step {j + 1}{on}: {action}", (*where, j)
                        )
