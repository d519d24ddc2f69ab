from __future__ import annotations

from breakglass.detect.events import ADMIN_CHANGED
from breakglass.detect.finding import Confidence, Severity
from breakglass.detect.rules.base import EventRule


class AdminChangedRule(EventRule):
    id = "admin-changed"
    title = "The admin of a watched proxy changed"
    category = "upgrade"
    severity = Severity.CRITICAL
    confidence = Confidence.HIGH
    description = (
        "AdminChanged (EIP-1967): a new account may upgrade the proxy. Expected only in a "
        "planned governance change."
    )
    recommendation = "Verify the new admin is the team's ProxyAdmin or Safe."
    events = (ADMIN_CHANGED,)
    headline = "{contract} proxy admin changed from {previousAdmin} to {newAdmin}"
