from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import Mitigation, SafeProposalStep, SafeSigner

_STEP_MITIGATION = {
    "pause": Mitigation.PAUSE,
    "unpause": Mitigation.UNPAUSE,
    "revoke-role": Mitigation.REVOKE_ROLE,
    "safe-proposal": Mitigation.SAFE_PROPOSAL,
}


class MitigationOwners(PlanCheck):
    id = "roles.mitigation-owners"
    title = "Every mitigation has a responsible role with people in it"
    severity = CheckSeverity.ERROR
    explanation = (
        "When an exploit is under way nobody should have to ask who may pause, who signs the "
        "Safe, who takes the front end down or who speaks publicly. Each mitigation the plan "
        "relies on needs a role that handles it, with at least one person in it."
    )
    fix = (
        "Add the mitigation to a role's `handles:` list, e.g. "
        "`roles: {pauser: {members: [alice, bob], handles: [pause]}}`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        needed: dict[Mitigation, str] = {
            Mitigation.PAUSE: "pausing contracts",
            Mitigation.FRONTEND: "taking the front end down or changing it",
            Mitigation.COMMS: "public communication",
        }
        if any(c.upgradeable for c in plan.contracts.values()):
            needed[Mitigation.UPGRADE] = "upgrading contracts"
        if any(isinstance(s, SafeSigner) for s in plan.signers.values()):
            needed[Mitigation.SAFE_PROPOSAL] = "proposing Safe transactions"
        for playbook in plan.playbooks:
            for step in playbook.steps:
                if step.action in _STEP_MITIGATION:
                    needed.setdefault(_STEP_MITIGATION[step.action], f"'{step.action}' steps")
                if isinstance(step, SafeProposalStep):
                    needed.setdefault(Mitigation.SAFE_SIGN, "signing Safe proposals")
        for mitigation, what in needed.items():
            owners = [
                name
                for name, role in plan.roles.items()
                if mitigation in role.handles and role.members
            ]
            if not owners:
                message = f"no role with people handles '{mitigation.value}' ({what})"
                namesake = plan.roles.get(mitigation.value.replace("-", "_")) or plan.roles.get(
                    mitigation.value
                )
                if namesake is not None and not namesake.handles:
                    message += (
                        f"; role '{mitigation.value}' handles nothing yet: "
                        f"add `handles: [{mitigation.value}]` to it"
                    )
                yield Finding(message, ("roles",))
