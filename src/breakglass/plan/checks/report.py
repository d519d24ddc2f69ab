"""Running every check over a plan, and the scenario coverage matrix."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from breakglass.plan.checks.base import (
    CheckContext,
    CheckResult,
    CheckSeverity,
    CheckStatus,
    registered_checks,
)
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models.base import format_duration

__all__ = ["CoverageRow", "PlanReport", "check_plan"]


@dataclass(frozen=True)
class CoverageRow:
    """One scenario: what detects it, what mitigates it, and how often it is drilled."""

    scenario: str
    likelihood: str
    detected_by: tuple[str, ...]
    mitigated_by: tuple[str, ...]
    drill_interval: str | None

    @property
    def covered(self) -> bool:
        return bool(self.detected_by and self.mitigated_by)

    def as_dict(self) -> dict[str, object]:
        return {
            "scenario": self.scenario,
            "likelihood": self.likelihood,
            "detected_by": list(self.detected_by),
            "mitigated_by": list(self.mitigated_by),
            "drill_interval": self.drill_interval,
            "covered": self.covered,
        }


@dataclass(frozen=True)
class PlanReport:
    loaded: LoadedPlan
    results: tuple[CheckResult, ...]
    coverage: tuple[CoverageRow, ...]

    def failed(self, fail_on: CheckSeverity) -> bool:
        """True when a result at or above ``fail_on`` did not pass."""
        bad = {CheckStatus.FAIL}
        if fail_on is CheckSeverity.WARNING:
            bad.add(CheckStatus.WARN)
        return any(result.status in bad for result in self.results)

    def as_dict(self) -> dict[str, object]:
        plan = self.loaded.plan
        return {
            "plan": {
                "protocol": plan.protocol,
                "file": str(self.loaded.file),
                "sha256": self.loaded.sha256,
            },
            "checks": [result.as_dict() for result in self.results],
            "coverage": [row.as_dict() for row in self.coverage],
        }


def check_plan(loaded: LoadedPlan, *, today: date) -> PlanReport:
    """Run every registered check. ``today`` is the date that reviews and drills are due by."""
    ctx = CheckContext(loaded=loaded, today=today)
    results = tuple(result for check in registered_checks() for result in check().run(ctx))
    return PlanReport(loaded=loaded, results=results, coverage=coverage_matrix(loaded))


def coverage_matrix(loaded: LoadedPlan) -> tuple[CoverageRow, ...]:
    plan = loaded.plan
    intervals = {d.scenario: d.interval for d in (plan.drills.schedule if plan.drills else [])}
    return tuple(
        CoverageRow(
            scenario=name,
            likelihood=scenario.likelihood.value,
            detected_by=tuple(scenario.detected_by),
            mitigated_by=tuple(scenario.mitigated_by),
            drill_interval=format_duration(intervals[name]) if name in intervals else None,
        )
        for name, scenario in plan.scenarios.items()
    )
