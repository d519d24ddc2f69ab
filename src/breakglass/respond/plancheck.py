"""The plan check ``playbooks.steps``: every playbook step can be carried out as written."""

from __future__ import annotations

from collections.abc import Iterator

from breakglass.errors import BreakglassError
from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.respond.actions.build import build_action

__all__ = ["PlaybookStepsCheck"]


class PlaybookStepsCheck(PlanCheck):
    id = "playbooks.steps"
    title = "Every playbook step can be encoded and sent as written"
    severity = CheckSeverity.ERROR
    explanation = (
        "A step whose function signature is malformed, whose arguments do not fit their "
        "types, or whose check is not a view call fails at the worst moment: during the "
        "incident, after the alert. breakglass builds every step's calldata and checks ahead "
        "of time so the mistake shows here instead."
    )
    fix = (
        "Write functions as signatures with their types, e.g. `setPoolPause(bool)` with "
        "`args: [true]`, and checks as views returning bool, e.g. `paused()` or `!paused()`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for i, playbook in enumerate(ctx.plan.playbooks):
            for j, step in enumerate(playbook.steps):
                try:
                    build_action(ctx.plan, step, playbook.id)
                except BreakglassError as exc:
                    yield Finding(
                        f"playbook {playbook.id} step {j + 1}: {exc}",
                        ("playbooks", i, "steps", j),
                    )
