from __future__ import annotations

from collections.abc import Iterable

from breakglass.chain.codec import DecodedLog
from breakglass.detect.events_state import SAFE_CONFIG_EVENTS
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.detect.rule import Rule
from breakglass.ingest.events import BlockAdded

_HEADLINES = {
    "AddedOwner": "owner {owner} added",
    "RemovedOwner": "owner {owner} removed",
    "ChangedThreshold": "threshold changed to {threshold}",
    "EnabledModule": "module {module} enabled",
    "DisabledModule": "module {module} disabled",
    "ChangedGuard": "guard changed to {guard}",
    "ChangedFallbackHandler": "fallback handler changed to {handler}",
}


class SafeConfigChangeRule(Rule):
    id = "safe-config-change"
    title = "A watched Safe's owners, threshold, modules, guard or fallback handler changed"
    category = "governance"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "A Safe 1.4.1 configuration event on a watched Safe: AddedOwner, RemovedOwner, "
        "ChangedThreshold, EnabledModule, DisabledModule, ChangedGuard or "
        "ChangedFallbackHandler. A module or fallback handler can move funds without the "
        "owners' signatures; attackers with some keys add owners or lower the threshold first."
    )
    recommendation = "Confirm the change with every owner out of band; revert it if unknown."
    events = SAFE_CONFIG_EVENTS

    def on_log(self, block: BlockAdded, log: DecodedLog) -> Iterable[Finding]:
        args = dict(log.args)
        involved = [v for v in args.values() if isinstance(v, str)]
        yield self.finding(
            block,
            log,
            title=f"Safe {self.target_name(log.address)}: " + _HEADLINES[log.event].format(**args),
            description=self.description,
            addresses=(log.address, *involved),
            data={"event": log.event, **args},
        )
