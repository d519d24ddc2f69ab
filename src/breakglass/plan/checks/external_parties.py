from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import PartyKind

_EXPECTED = {
    PartyKind.SEAL_911: "SEAL 911",
    PartyKind.AUDITOR: "auditors",
    PartyKind.AFFECTED_USERS: "affected users",
    PartyKind.PROTOCOL: "other protocols' developers",
}


class ExternalPartiesCheck(PlanCheck):
    id = "external.parties"
    title = "When and how external parties are engaged is decided"
    severity = CheckSeverity.WARNING
    explanation = (
        "Some incidents cannot be fixed alone: auditors review the fix, SEAL 911 helps "
        "against an active attacker, other protocols must pause their side, and users need "
        "to hear from you. Decide who reaches out, when, and how they are onboarded."
    )
    fix = (
        "Add `external_parties:` entries of kind seal-911, auditor, affected-users and "
        "protocol, each with `contact`, `engage_when`, `how` and `owner`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        parties = ctx.plan.external_parties
        kinds = {party.kind for party in parties.values()}
        for kind, what in _EXPECTED.items():
            if kind not in kinds:
                yield Finding(
                    f"no plan for engaging {what} (kind: {kind.value})", ("external_parties",)
                )
        for name, party in parties.items():
            path = ("external_parties", name)
            missing = [
                f for f in ("contact", "engage_when", "how", "owner") if not getattr(party, f)
            ]
            if missing:
                yield Finding(f"external party '{name}' lacks {', '.join(missing)}", path)
