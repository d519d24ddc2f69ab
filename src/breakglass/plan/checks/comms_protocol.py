from __future__ import annotations

from collections.abc import Iterator

from breakglass.plan.checks.base import CheckContext, CheckSeverity, Finding, PlanCheck
from breakglass.plan.models import Audience


class CommsProtocol(PlanCheck):
    id = "comms.protocol"
    title = "Internal and external channels and the update cadence are defined"
    severity = CheckSeverity.WARNING
    explanation = (
        "During an incident the team needs one place to coordinate, users need one place to "
        "hear the truth, and silence breeds rumours. Name the internal and external "
        "channels, who speaks publicly, and how often updates go out."
    )
    fix = (
        "Add `communication: {internal: [<channel>], external: [<channel>], "
        "update_cadence: 1h, spokesperson: <role>}`."
    )

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        plan = ctx.plan
        comms = plan.communication
        if comms is None:
            yield Finding("the plan has no communication section")
            return
        where = ("communication",)
        if not comms.internal:
            yield Finding("no internal channel for the response team", where)
        if not comms.external:
            yield Finding("no external channel for users and the public", where)
        if comms.update_cadence is None:
            yield Finding("no update cadence for public updates", where)
        if comms.spokesperson is None:
            yield Finding("no role speaks for the protocol (spokesperson)", where)
        for index, name in enumerate(comms.internal):
            channel = plan.channels.get(name)
            if channel is not None and channel.audience is Audience.EXTERNAL:
                yield Finding(
                    f"channel '{name}' is public but listed as internal",
                    ("communication", "internal", index),
                )
