from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck

MAX_AGE = timedelta(days=90)


class ContactFreshness(PlanCheck):
    id = "contacts.freshness"
    title = "Contacts were reviewed within 90 days"
    severity = CheckSeverity.WARNING
    explanation = (
        "Phone numbers change, Telegram handles are renamed, people leave. A contact list "
        "that nobody checked is discovered to be wrong during the incident. Review every "
        "contact at least every 90 days and record the date."
    )
    fix = "Check each contact still reaches the person and set its `reviewed_on` to that day."

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for name, person in ctx.plan.people.items():
            if not person.contacts:
                yield Finding(f"'{name}' has no contact details", ("people", name))
            for index, contact in enumerate(person.contacts):
                path = ("people", name, "contacts", index, "reviewed_on")
                age = ctx.today - contact.reviewed_on
                if age > MAX_AGE:
                    yield Finding(
                        f"{name}'s {contact.kind.value} contact was last reviewed "
                        f"{age.days} days ago ({contact.reviewed_on.isoformat()})",
                        path,
                    )
                elif age < timedelta(0):
                    yield Finding(
                        f"{name}'s {contact.kind.value} contact has a review date in the "
                        f"future ({contact.reviewed_on.isoformat()})",
                        path,
                    )
