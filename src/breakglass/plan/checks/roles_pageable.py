"""The ``roles.pageable`` check: the people of a critical role can be paged."""

from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck

__all__ = ["RolesPageable"]


class RolesPageable(PlanCheck):
    id = "roles.pageable"
    title = "Every member of a critical role can be paged"
    severity = CheckSeverity.WARNING
    explanation = (
        "A page reaches a person only through their `page:` URL; a member without one is "
        "skipped when the page escalates, so the role is thinner at 3 a.m. than it looks "
        "on paper. A critical role none of whose members can be paged is never paged at all."
    )
    fix = (
        "Give each member of a role that leads or handles a mitigation a `page:` Apprise URL "
        "(PagerDuty, Opsgenie, Telegram, a phone gateway), with its tokens in ${VARS}."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        roles_of: dict[str, list[str]] = {}
        for name, role in plan.roles.items():
            if not role.is_critical(name):
                continue
            members = [m for m in dict.fromkeys(role.members) if m in plan.people]
            unreachable = [m for m in members if plan.people[m].page is None]
            for person in unreachable:
                roles_of.setdefault(person, []).append(name)
            if members and len(unreachable) == len(members):
                yield Finding(
                    f"nobody in critical role '{name}' can be paged: no member has a `page:` URL",
                    ("roles", name),
                )
        for person, roles in roles_of.items():
            which = ", ".join(f"'{r}'" for r in roles)
            yield Finding(
                f"{person} cannot be paged (no `page:` URL) but is in critical role"
                f"{'s' if len(roles) > 1 else ''} {which}",
                ("people", person),
            )
