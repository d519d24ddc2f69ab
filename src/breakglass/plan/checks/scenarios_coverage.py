from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck


class ScenarioCoverage(PlanCheck):
    id = "scenarios.coverage"
    title = "Every scenario is detected by a rule and mitigated by a playbook"
    severity = CheckSeverity.ERROR
    explanation = (
        "A scenario nobody detects is found on social media; a scenario nothing mitigates is "
        "improvised. Each scenario needs at least one enabled detecting rule and one "
        "mitigating playbook, and playbooks should be triggered by the rules that detect it."
    )
    fix = "Give each scenario `detected_by: [<rule id>]` and `mitigated_by: [<playbook id>]`."

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        if not plan.scenarios:
            yield Finding("the plan describes no scenarios", ())
            return
        for name, scenario in plan.scenarios.items():
            path = ("scenarios", name)
            enabled = [r for r in scenario.detected_by if (rule := plan.rule(r)) and rule.enabled]
            if not enabled:
                yield Finding(f"scenario '{name}' has no enabled rule that detects it", path)
            if not scenario.mitigated_by:
                yield Finding(f"scenario '{name}' has no playbook that mitigates it", path)
                continue
            triggers = {r for p in scenario.mitigated_by if (pb := plan.playbook(p)) for r in pb.on}
            if enabled and not triggers & set(enabled):
                yield Finding(
                    f"scenario '{name}': none of its rules triggers its playbooks; they run "
                    "only by hand",
                    path,
                    severity=CheckSeverity.WARNING,
                )
