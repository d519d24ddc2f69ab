from __future__ import annotations

from breakglass.detect.events import UNPAUSED
from breakglass.detect.finding import Confidence, Severity
from breakglass.detect.rules.base import EventRule


class UnpausedRule(EventRule):
    id = "unpaused"
    title = "Watched contract unpaused"
    category = "access"
    severity = Severity.CRITICAL
    confidence = Confidence.HIGH
    description = (
        "A watched contract emitted Unpaused. Unpausing during an incident before the fix is "
        "deployed reopens the hole; an attacker holding a pauser or admin key does exactly this."
    )
    recommendation = "Check the unpause was planned and approved; if not, pause again at once."
    events = (UNPAUSED,)
    headline = "{contract} unpaused by {account}"
