"""The shape of a plan check: metadata as class constants, validated when the class is made."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from enum import StrEnum
from typing import ClassVar

from breakglass.plan.issues import Path
from breakglass.plan.loader import LoadedPlan
from breakglass.plan.models import Plan

__all__ = [
    "CheckContext",
    "CheckResult",
    "CheckSeverity",
    "CheckStatus",
    "Finding",
    "PlanCheck",
    "registered_checks",
]


class CheckSeverity(StrEnum):
    """What a check's failure means: ``error`` blocks, ``warning`` asks for attention."""

    ERROR = "error"
    WARNING = "warning"


class CheckStatus(StrEnum):
    PASS = "pass"  # noqa: S105 - a status, not a password
    WARN = "warn"
    FAIL = "fail"


@dataclass(frozen=True)
class CheckContext:
    """What a check may look at; ``today`` is injected so date checks are reproducible."""

    loaded: LoadedPlan
    today: date

    @property
    def plan(self) -> Plan:
        return self.loaded.plan


@dataclass(frozen=True)
class Finding:
    """One gap a check found. ``severity`` overrides the check's own when set."""

    message: str
    path: Path = ()
    severity: CheckSeverity | None = None


@dataclass(frozen=True)
class CheckResult:
    check_id: str
    title: str
    status: CheckStatus
    message: str
    location: str
    path: Path = ()

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.check_id,
            "title": self.title,
            "status": self.status.value,
            "message": self.message,
            "location": self.location,
        }


# The checklist's own order (reference/003): reports and docs follow it; checks from
# elsewhere come after.
CHECKLIST_ORDER = (
    "roles.mitigation-owners",
    "remediation.fallback",
    "deployment.process",
    "compensation.policy",
    "news.sources",
    "scenarios.indirect",
    "external.parties",
    "monitoring.abnormal",
    "scenarios.coverage",
    "drills.schedule",
    "roles.redundancy",
    "keys.separation",
    "contacts.freshness",
    "comms.protocol",
    "regulatory.duties",
)

_ID = re.compile(r"^[a-z]+(?:\.[a-z]+(?:-[a-z]+)*)$")
_REGISTRY: dict[str, type[PlanCheck]] = {}


class PlanCheck:
    """One item of the incident-response checklist.

    Subclasses set the metadata constants and implement :meth:`findings`. Defining a
    subclass registers it; a missing constant or a duplicate id fails at import time.
    """

    id: ClassVar[str]
    title: ClassVar[str]
    severity: ClassVar[CheckSeverity]
    explanation: ClassVar[str]
    fix: ClassVar[str]

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        for name in ("id", "title", "severity", "explanation", "fix"):
            if not getattr(cls, name, None):
                raise TypeError(f"{cls.__name__} must define {name}")
        if not _ID.match(cls.id):
            raise TypeError(f"{cls.__name__}.id {cls.id!r} must look like 'section.check-name'")
        if not isinstance(cls.severity, CheckSeverity):
            raise TypeError(f"{cls.__name__}.severity must be a CheckSeverity")
        if cls.id in _REGISTRY and _REGISTRY[cls.id] is not cls:
            raise TypeError(f"duplicate plan check id {cls.id!r}")
        _REGISTRY[cls.id] = cls

    def findings(self, ctx: CheckContext) -> Iterator[Finding]:
        raise NotImplementedError

    def run(self, ctx: CheckContext) -> list[CheckResult]:
        """Every finding as a result, or a single pass."""
        results = []
        for finding in self.findings(ctx):
            severity = finding.severity or self.severity
            status = CheckStatus.FAIL if severity is CheckSeverity.ERROR else CheckStatus.WARN
            results.append(
                CheckResult(
                    check_id=self.id,
                    title=self.title,
                    status=status,
                    message=finding.message,
                    location=ctx.loaded.location(finding.path),
                    path=finding.path,
                )
            )
        if not results:
            results.append(
                CheckResult(
                    check_id=self.id,
                    title=self.title,
                    status=CheckStatus.PASS,
                    message=self.title,
                    location=str(ctx.loaded.file),
                )
            )
        return results


def registered_checks() -> list[type[PlanCheck]]:
    """Every check, in checklist order, then the others by id (whatever order their
    modules were imported in, so the generated reference does not depend on it)."""
    rank = {check_id: index for index, check_id in enumerate(CHECKLIST_ORDER)}
    return sorted(_REGISTRY.values(), key=lambda c: (rank.get(c.id, len(rank)), c.id))
