from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck


class RegulatoryDuties(PlanCheck):
    id = "regulatory.duties"
    title = "The regulatory duties that apply are stated, or that none do"
    severity = CheckSeverity.WARNING
    explanation = (
        "Incidents with user losses can start legal clocks: breach notifications, reports to "
        "financial supervisors. Missing a deadline adds a second incident. State which "
        "duties apply, with their deadlines and owners, or record why none do."
    )
    fix = (
        "Add `regulatory: {duties: [{id, jurisdiction, trigger, deadline: 72h, owner}]}` or "
        "`regulatory: {applies: false, reason: ...}`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        regulatory = ctx.plan.regulatory
        if regulatory is None:
            yield Finding("the plan does not say which regulatory duties apply")
            return
        if regulatory.applies and not (regulatory.duties or regulatory.regimes):
            yield Finding("regulatory duties apply but none are listed", ("regulatory",))
        if not regulatory.applies and not regulatory.reason:
            yield Finding("no reason given for why no regulatory duty applies", ("regulatory",))
        for index, duty in enumerate(regulatory.duties):
            if duty.owner is None:
                yield Finding(
                    f"nobody owns the '{duty.id}' filing", ("regulatory", "duties", index)
                )
