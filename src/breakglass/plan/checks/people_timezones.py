"""The ``people.timezones`` check: every person's time zone is a real IANA zone."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from functools import cache
from zoneinfo import available_timezones

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck

__all__ = ["PeopleTimezones"]


@cache
def _zones() -> frozenset[str]:
    return frozenset(available_timezones())


def _suggestion(written: str) -> str | None:
    """The zone meant by a misspelt or reversed name: ``Paris/France`` → ``Europe/Paris``."""
    parts = {part.lower() for part in written.replace(" ", "_").split("/") if part}
    by_city = sorted(zone for zone in _zones() if zone.rsplit("/", 1)[-1].lower() in parts)
    if by_city:
        return by_city[0]
    close = difflib.get_close_matches(written, sorted(_zones()), n=1, cutoff=0.7)
    return close[0] if close else None


class PeopleTimezones(PlanCheck):
    id = "people.timezones"
    title = "Every person's time zone is a real IANA time zone"
    severity = CheckSeverity.WARNING
    explanation = (
        "A person's `timezone` tells the incident lead whose night it is before paging and "
        "which second member of a role is awake. A zone that does not exist (`Paris/France`, "
        "`CET+1`) silently tells nothing."
    )
    fix = "Write the IANA name, Region/City: `Europe/Paris`, `America/New_York`, `UTC`."

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        for name, person in ctx.plan.people.items():
            zone = person.timezone
            if zone is None or zone in _zones():
                continue
            message = f"{name}'s timezone {zone!r} is not an IANA time zone"
            suggestion = _suggestion(zone)
            if suggestion is not None:
                message += f"; did you mean {suggestion!r}?"
            yield Finding(message, ("people", name, "timezone"))
