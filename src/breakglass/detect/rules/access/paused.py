from __future__ import annotations

from breakglass.detect.events import PAUSED
from breakglass.detect.finding import Confidence, Severity
from breakglass.detect.rules.base import EventRule


class PausedRule(EventRule):
    id = "paused"
    title = "Watched contract paused"
    category = "access"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "A watched contract emitted Paused. Expected during a response; otherwise someone "
        "with the pauser role acted, or a pauser key is in the wrong hands."
    )
    recommendation = "Confirm who paused and why; if nobody on the team did, start an incident."
    events = (PAUSED,)
    headline = "{contract} paused by {account}"
