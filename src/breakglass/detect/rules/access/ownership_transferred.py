from __future__ import annotations

from breakglass.detect.events import OWNERSHIP_TRANSFERRED
from breakglass.detect.finding import Confidence, Severity
from breakglass.detect.rules.base import EventRule


class OwnershipTransferredRule(EventRule):
    id = "ownership-transferred"
    title = "Ownership of a watched contract changed"
    category = "access"
    severity = Severity.CRITICAL
    confidence = Confidence.HIGH
    description = (
        "OwnershipTransferred on a watched contract: whoever owns it now controls every "
        "owner-only function. Key compromises usually show here first."
    )
    recommendation = "Verify the new owner is the team's Safe; otherwise treat as a key compromise."
    events = (OWNERSHIP_TRANSFERRED,)
    headline = "{contract} ownership moved from {previousOwner} to {newOwner}"
