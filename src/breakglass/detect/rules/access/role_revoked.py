from __future__ import annotations

from breakglass.detect.events import ROLE_REVOKED
from breakglass.detect.finding import Confidence, Severity
from breakglass.detect.rules.base import EventRule


class RoleRevokedRule(EventRule):
    id = "role-revoked"
    title = "A role was revoked on a watched contract"
    category = "access"
    severity = Severity.MEDIUM
    confidence = Confidence.HIGH
    description = (
        "RoleRevoked (OpenZeppelin AccessControl): an account lost a role. An attacker who took "
        "over an admin role revokes the team's guardians so nobody can pause."
    )
    recommendation = "Confirm the revocation was planned; if a guardian lost its role, escalate."
    events = (ROLE_REVOKED,)
    headline = "{contract}: role {role} revoked from {account} by {sender}"
