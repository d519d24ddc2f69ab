from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck


class DeploymentProcess(PlanCheck):
    id = "deployment.process"
    title = "The contract deployment process is described"
    severity = CheckSeverity.WARNING
    explanation = (
        "A fix is only as safe as the way it reaches the chain. The plan should say how "
        "contracts are built, reviewed, deployed and verified, and how an emergency fix "
        "differs from a normal release."
    )
    fix = "Add a `deployment:` section with `process`, `reviewers` (roles) and `emergency_process`."

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        deployment = ctx.plan.deployment
        if deployment is None:
            yield Finding("the plan has no deployment section")
            return
        if len(deployment.process.split()) < 8:
            yield Finding(
                "the deployment process is too short to follow; describe build, review, "
                "deploy and verification",
                ("deployment", "process"),
            )
        if not deployment.reviewers:
            yield Finding("no role reviews deployments", ("deployment",))
        if not deployment.emergency_process:
            yield Finding("no emergency (hotfix) deployment process", ("deployment",))
