"""Detection rules and the incident scenarios they and the playbooks cover."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Any

from pydantic import Field

from breakglass.plan.models.base import Duration, Flag, Name, PlanModel

__all__ = ["AlertGrouping", "Alerting", "Likelihood", "Rule", "Scenario", "Severity"]


class Severity(StrEnum):
    CRITICAL = "critical"
    HIGH = "high"
    MEDIUM = "medium"
    LOW = "low"
    INFO = "info"


class AlertGrouping(StrEnum):
    """What makes two firings of one rule the same page."""

    CONTRACT = "contract"
    TX = "tx"


class Alerting(PlanModel):
    """How findings become pages: one exploit should not page a thousand times."""

    suppress_for: Duration = Field(
        default=timedelta(minutes=10),
        description="After a page, further firings of the rule on the same group are recorded "
        "but not paged for this long (block time).",
    )
    group_by: AlertGrouping = AlertGrouping.CONTRACT
    correlate_within: Duration = Field(
        default=timedelta(minutes=30),
        description="Findings sharing a transaction or addresses within this window form one "
        "incident candidate.",
    )


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
    suppress_for: Duration | None = Field(
        default=None, description="Overrides alerting.suppress_for for this rule."
    )
    group_by: AlertGrouping | None = Field(
        default=None, description="Overrides alerting.group_by for this rule."
    )


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
