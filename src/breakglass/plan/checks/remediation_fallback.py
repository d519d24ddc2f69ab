from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import Mode

_CHANGES_STATE = {"pause", "unpause", "call", "revoke-role", "safe-proposal"}


class RemediationFallback(PlanCheck):
    id = "remediation.fallback"
    title = "Automated and approved steps say what happens when they fail"
    severity = CheckSeverity.ERROR
    explanation = (
        "A pause can revert, a guardian key can be out of gas, a hotfix can introduce a new "
        "bug. Every step that changes the chain without a person doing it by hand needs a "
        "next move: another playbook to run, or a written fallback for the playbook."
    )
    fix = (
        "Give the step `on_failure: <playbook id>` (e.g. a Safe pause), or give its playbook "
        "a `fallback:` that says what the team does when the remediation fails."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for p_index, playbook in enumerate(ctx.plan.playbooks):
            if playbook.fallback:
                continue
            for s_index, step in enumerate(playbook.steps):
                if step.action not in _CHANGES_STATE or step.mode is Mode.MANUAL:
                    continue
                if step.on_failure is None:
                    yield Finding(
                        f"playbook '{playbook.id}' step {s_index + 1} ({step.action}, "
                        f"{step.mode.value}) has no on_failure and the playbook no fallback",
                        ("playbooks", p_index, "steps", s_index),
                    )
                elif step.on_failure == playbook.id:
                    yield Finding(
                        f"playbook '{playbook.id}' step {s_index + 1} falls back to its own "
                        "playbook, which would repeat the failing step",
                        ("playbooks", p_index, "steps", s_index, "on_failure"),
                    )
