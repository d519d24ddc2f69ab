"""The plan check ``rules.params``: every configured rule can be built and run."""

from __future__ import annotations

from collections.abc import Iterator

from breakglass.detect.rule import load_plugins
from breakglass.detect.setup import rule_problems
from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.issues import format_path

__all__ = ["RuleParamsCheck"]


class RuleParamsCheck(PlanCheck):
    id = "rules.params"
    title = "Every detection rule has a known type and valid parameters"
    severity = CheckSeverity.ERROR
    explanation = (
        "A rule whose type breakglass does not know, or whose parameters its type rejects, "
        "stops the monitor from starting: the chain it watches goes unwatched until someone "
        "notices. Plugin rule types (the `breakglass.rules` entry points) count as known."
    )
    fix = (
        "Use a rule type from `breakglass rules list` and the parameters its reference "
        "(`breakglass rules doc`) names, or disable the rule with `enabled: false`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        load_plugins()
        for problem in rule_problems(ctx.loaded):
            message = problem.message
            if "params" in problem.path:  # name the parameter, not just the rule's line
                message = f"{format_path(problem.path)}: {message}"
            yield Finding(message, problem.path)
