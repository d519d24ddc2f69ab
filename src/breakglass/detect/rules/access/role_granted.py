from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from breakglass.detect.events import ROLE_GRANTED
from breakglass.detect.finding import Confidence, Severity
from breakglass.detect.rules.base import EventRule


class RoleGrantedRule(EventRule):
    id = "role-granted"
    title = "A role was granted on a watched contract"
    category = "access"
    severity = Severity.HIGH
    confidence = Confidence.HIGH
    description = (
        "RoleGranted (OpenZeppelin AccessControl): an account gained a role such as minter, "
        "pauser or admin. An attacker with an admin key grants themselves roles before using them."
    )
    recommendation = "Check the grant against the team's change log; revoke it if unknown."
    events = (ROLE_GRANTED,)
    # What a playbook step may use as ${finding.<field>}, with its ABI type.
    finding_fields: ClassVar[Mapping[str, str]] = {
        "role": "bytes32",
        "account": "address",
        "sender": "address",
    }
    headline = "{contract}: role {role} granted to {account} by {sender}"
