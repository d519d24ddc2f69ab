from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck

_CAUSES = {
    "contract_flaw": "a flaw in the protocol's own contracts",
    "user_error": "a user's own error",
    "third_party_flaw": "a flaw in a third party's contract",
}


class CompensationPolicyCheck(PlanCheck):
    id = "compensation.policy"
    title = "When and how affected users are made whole is decided"
    severity = CheckSeverity.WARNING
    explanation = (
        "Deciding whether to compensate users during an incident, under pressure and in "
        "public, goes badly. Decide in advance for each cause (own flaw, user error, "
        "third-party flaw) and for individual and aggregate losses, and name who decides."
    )
    fix = (
        "Add a `compensation_policy:` with `contract_flaw`, `user_error` and "
        "`third_party_flaw` (covered, coverage, rationale), `individual_loss`, "
        "`aggregate_loss` and `decision_owner`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        policy = ctx.plan.compensation_policy
        if policy is None:
            yield Finding("the plan has no compensation policy")
            return
        where = ("compensation_policy",)
        for cause, what in _CAUSES.items():
            if getattr(policy, cause) is None:
                yield Finding(f"nothing decided for losses caused by {what} ({cause})", where)
        if not policy.individual_loss:
            yield Finding("no policy for an individual user's loss (individual_loss)", where)
        if not policy.aggregate_loss:
            yield Finding("no policy for a protocol-wide loss (aggregate_loss)", where)
        if policy.decision_owner is None:
            yield Finding("no role decides on compensation (decision_owner)", where)
