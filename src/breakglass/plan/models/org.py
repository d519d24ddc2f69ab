"""People, their contacts and the roles they fill."""

from __future__ import annotations

from datetime import date
from enum import StrEnum
from typing import Any

from pydantic import Field, model_validator

from breakglass.plan.models.base import Flag, Name, PlanModel

__all__ = ["Contact", "ContactKind", "Mitigation", "Person", "Role"]


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


class Person(PlanModel):
    name: str = Field(min_length=1)
    timezone: str | None = None
    contacts: list[Contact] = Field(default_factory=list)


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
