"""People, their contacts and the roles they fill."""

from __future__ import annotations

from datetime import date, timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from breakglass.plan.models.base import Duration, Flag, Name, PlanModel, Secret

__all__ = ["Access", "Contact", "ContactKind", "Mitigation", "Person", "Role"]


class ContactKind(StrEnum):
    EMAIL = "email"
    PHONE = "phone"
    TELEGRAM = "telegram"
    SIGNAL = "signal"
    SLACK = "slack"
    DISCORD = "discord"
    PAGERDUTY = "pagerduty"
    MATRIX = "matrix"
    X = "x"
    URL = "url"
    OTHER = "other"


class Contact(PlanModel):
    """One way to reach someone, with the date a person last checked it still works."""

    kind: ContactKind
    value: str = Field(min_length=1)
    reviewed_on: date


class Access(StrEnum):
    """What a person may do through the API: read, act on incidents, or administer."""

    VIEWER = "viewer"
    RESPONDER = "responder"
    ADMIN = "admin"


class Person(PlanModel):
    name: str = Field(min_length=1)
    timezone: str | None = None
    contacts: list[Contact] = Field(default_factory=list)
    page: Secret | None = Field(
        default=None,
        description="Apprise URL that reaches this person when paged (may hold ${SECRETS}).",
    )
    access: Access | None = Field(
        default=None,
        description="API access; default: admin for incident leads, responder for members "
        "of a role that handles a mitigation, viewer otherwise.",
    )


class Mitigation(StrEnum):
    """Mitigations a role can be responsible for carrying out."""

    PAUSE = "pause"
    UNPAUSE = "unpause"
    UPGRADE = "upgrade"
    DEPLOY = "deploy"
    SAFE_PROPOSAL = "safe-proposal"
    SAFE_SIGN = "safe-sign"
    REVOKE_ROLE = "revoke-role"
    FRONTEND = "frontend"
    COMMS = "comms"
    COORDINATE = "coordinate"
    SCRIBE = "scribe"


class Role(PlanModel):
    """A role in the response. ``members`` name people; a bare list is shorthand for it."""

    members: list[Name] = Field(default_factory=list)
    handles: list[Mitigation] = Field(default_factory=list)
    critical: Flag | None = None
    description: str | None = None
    escalate_after: Duration = Field(
        default=timedelta(minutes=5),
        description="How long a page waits for an acknowledgement before the next member.",
    )

    @model_validator(mode="before")
    @classmethod
    def _members_shorthand(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"members": data}
        return data

    def is_critical(self, role_name: str) -> bool:
        """Explicit ``critical`` wins; otherwise a role that leads or mitigates is critical."""
        if self.critical is not None:
            return self.critical
        return role_name == "incident_lead" or bool(self.handles)
