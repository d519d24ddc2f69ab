"""What a doctor run found: one result per thing checked, and the report that holds them."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from breakglass.plan.checks.base import CheckStatus

__all__ = ["DoctorReport", "DoctorResult"]


@dataclass(frozen=True)
class DoctorResult:
    """One check applied to one subject (an endpoint, a contract, a signer, a person…).

    ``message`` says what was found and, when it is not a pass, what to do about it. It
    never holds a resolved secret: URLs appear as the plan writes them (``${VAR}``) or
    redacted to scheme, host and port.
    """

    check_id: str
    title: str
    status: CheckStatus
    subject: str
    message: str
    location: str = ""

    def as_dict(self) -> dict[str, object]:
        return {
            "id": self.check_id,
            "title": self.title,
            "status": self.status.value,
            "subject": self.subject,
            "message": self.message,
            "location": self.location,
        }


@dataclass(frozen=True)
class DoctorReport:
    """Every result of one run, in check order."""

    protocol: str
    file: Path
    chain: str | None
    deliver_test: bool
    results: list[DoctorResult] = field(default_factory=list)

    @property
    def failed(self) -> bool:
        """True when any check failed: breakglass could not act as the plan says."""
        return any(r.status is CheckStatus.FAIL for r in self.results)

    def counts(self) -> dict[CheckStatus, int]:
        counted = Counter(r.status for r in self.results)
        return {status: counted.get(status, 0) for status in CheckStatus}

    def failing_checks(self) -> list[str]:
        """Ids of the checks with at least one failure, in check order, each once."""
        return list(dict.fromkeys(r.check_id for r in self.results if r.status is CheckStatus.FAIL))

    def as_dict(self) -> dict[str, object]:
        counts = self.counts()
        return {
            "plan": {"protocol": self.protocol, "file": str(self.file)},
            "chain": self.chain,
            "deliver_test": self.deliver_test,
            "ok": not self.failed,
            "summary": {status.value: counts[status] for status in CheckStatus},
            "results": [r.as_dict() for r in self.results],
        }
