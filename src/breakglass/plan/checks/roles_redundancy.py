from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck


class RoleRedundancy(PlanCheck):
    id = "roles.redundancy"
    title = "Every critical role has at least two people"
    severity = CheckSeverity.WARNING
    explanation = (
        "Exploits happen at 3 a.m. on holidays. A role held by one person is a single point "
        "of failure: if they are asleep, travelling or compromised, nobody can act. Roles "
        "that lead or mitigate are critical unless marked `critical: false`."
    )
    fix = "Add a second person to the role's `members`, ideally in another time zone."

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        for name, role in plan.roles.items():
            members = list(dict.fromkeys(role.members))
            if role.is_critical(name) and len(members) < 2:
                held = ", ".join(members) or "nobody"
                yield Finding(f"critical role '{name}' is held by {held} alone", ("roles", name))
