from __future__ import annotations

from breakglass.detect.events import UPGRADED
from breakglass.detect.finding import Confidence, Severity
from breakglass.detect.rules.base import EventRule


class UpgradedRule(EventRule):
    id = "upgraded"
    title = "A watched proxy was upgraded"
    category = "upgrade"
    severity = Severity.CRITICAL
    confidence = Confidence.HIGH
    description = (
        "Upgraded (EIP-1967): the proxy now runs new code. An unplanned upgrade is the fastest "
        "way to drain a protocol and usually comes before the first outflow."
    )
    recommendation = "Compare the implementation with the release; if unknown, pause at once."
    events = (UPGRADED,)
    headline = "{contract} upgraded to implementation {implementation}"
