"""Health of one endpoint: a score that drops on failures and recovers with time, plus counters.

The score lives in ``[0, 1]``. A failure multiplies it by ``penalty``; a success moves it a step
toward 1; between events it recovers toward 1 with time constant ``recovery_seconds``. The clock
is injected so tests move time by hand.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from breakglass.errors import ConfigError

__all__ = ["Health", "HealthPolicy"]


@dataclass(frozen=True)
class HealthPolicy:
    """How fast an endpoint's score falls and recovers. Validated when built."""

    penalty: float = 0.5
    success_step: float = 0.2
    recovery_seconds: float = 30.0
    healthy_at: float = 0.6

    def __post_init__(self) -> None:
        problems = []
        if not 0.0 <= self.penalty < 1.0:
            problems.append(f"penalty must be in [0, 1), got {self.penalty}")
        if not 0.0 <= self.success_step <= 1.0:
            problems.append(f"success_step must be in [0, 1], got {self.success_step}")
        if self.recovery_seconds <= 0:
            problems.append(f"recovery_seconds must be > 0, got {self.recovery_seconds}")
        if not 0.0 < self.healthy_at <= 1.0:
            problems.append(f"healthy_at must be in (0, 1], got {self.healthy_at}")
        if problems:
            raise ConfigError("invalid health policy: " + "; ".join(problems))


@dataclass
class Health:
    """Score and counters of one endpoint."""

    clock: Callable[[], float]
    policy: HealthPolicy = field(default_factory=HealthPolicy)
    requests: int = 0
    failures: int = 0
    last_error: str | None = None
    _score: float = 1.0
    _since: float | None = None

    @property
    def score(self) -> float:
        """The current score, recovered for the time since the last event."""
        if self._since is None:
            return self._score
        elapsed = max(0.0, self.clock() - self._since)
        decay = math.exp(-elapsed / self.policy.recovery_seconds)
        return 1.0 - (1.0 - self._score) * decay

    @property
    def healthy(self) -> bool:
        """Whether the score is at or above the policy's ``healthy_at``."""
        return self.score >= self.policy.healthy_at

    def success(self) -> None:
        """Count a served request and nudge the score up."""
        current = self.score
        self.requests += 1
        self._set(current + (1.0 - current) * self.policy.success_step)

    def failure(self, kind: str, *, counted_request: bool = True) -> None:
        """Count a failure of ``kind`` and cut the score."""
        current = self.score
        if counted_request:
            self.requests += 1
        self.failures += 1
        self.last_error = kind
        self._set(current * self.policy.penalty)

    def _set(self, score: float) -> None:
        self._score = min(1.0, max(0.0, score))
        self._since = self.clock()
