"""Detection rules and the incident scenarios they and the playbooks cover."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

from pydantic import Field

from breakglass.plan.models.base import Flag, Name, PlanModel

__all__ = ["Likelihood", "Rule", "Scenario", "Severity"]


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class Rule(PlanModel):
    """A configured detection rule: a built-in or plugin rule id, or a YAML rule kind."""

    id: Name
    rule: str = Field(min_length=1, description="Rule type, e.g. large-outflow or event.")
    contracts: list[Name] = Field(default_factory=list, description="Contracts it watches.")
    chain: Name | None = None
    params: dict[str, Any] = Field(default_factory=dict)
    severity: Severity = Severity.HIGH
    description: str | None = None
    enabled: Flag = True


class Likelihood(StrEnum):
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"

    @property
    def rank(self) -> int:
        """Higher means likelier."""
        return {"high": 3, "medium": 2, "low": 1}[self.value]


class Scenario(PlanModel):
    """Something that can go wrong, what detects it and what mitigates it."""

    description: str = Field(min_length=1)
    likelihood: Likelihood = Likelihood.MEDIUM
    impact: Severity = Severity.HIGH
    dependencies: list[Name] = Field(
        default_factory=list, description="Dependencies whose failure causes it (indirect)."
    )
    detected_by: list[Name] = Field(default_factory=list)
    mitigated_by: list[Name] = Field(default_factory=list)

    @property
    def indirect(self) -> bool:
        """A scenario is indirect when it starts outside the protocol's own contracts."""
        return bool(self.dependencies)
