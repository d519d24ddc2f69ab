"""Detection rules and the incident scenarios they and the playbooks cover."""

from __future__ import annotations

from datetime import timedelta
from enum import StrEnum
from typing import Annotated, Any

from pydantic import BeforeValidator, Field
from pydantic_core import PydanticCustomError

from breakglass.plan.models.base import Duration, Flag, Name, PlanModel

__all__ = [
    "DEFAULT_PRIORITIES",
    "PRIORITIES",
    "AlertGrouping",
    "Alerting",
    "Likelihood",
    "Priority",
    "Rule",
    "Scenario",
    "Severity",
]


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


PRIORITIES = ("P1", "P2", "P3", "P4", "P5")
"""Incident priorities, worst first."""

DEFAULT_PRIORITIES: dict[Severity, str] = {
    Severity.CRITICAL: "P1",
    Severity.HIGH: "P2",
    Severity.MEDIUM: "P3",
    Severity.LOW: "P4",
    Severity.INFO: "P5",
}


def _priority(value: object) -> object:
    text = str(value).strip().upper() if isinstance(value, str | int) else value
    if isinstance(text, str) and text.isdigit():
        text = f"P{text}"
    if text not in PRIORITIES:
        raise PydanticCustomError("plan_priority", "one of P1, P2, P3, P4, P5 (P1 is the worst)")
    return text


Priority = Annotated[str, BeforeValidator(_priority)]
"""An incident priority, ``P1`` (worst) to ``P5``."""


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
    priorities: dict[Severity, Priority] = Field(
        default_factory=dict,
        description="Incident priority (P1-P5) an alert of each rule severity opens; severities "
        "left out keep critical P1, high P2, medium P3, low P4, info P5.",
    )

    def priority(self, severity: Severity | str) -> str:
        """The incident priority an alert of ``severity`` stands for (P1 when the severity
        is unknown: when in doubt, choose higher)."""
        try:
            level = Severity(severity)
        except ValueError:
            return "P1"
        return self.priorities.get(level, DEFAULT_PRIORITIES[level])


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
