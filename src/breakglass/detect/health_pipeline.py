"""The event pipeline watched like the chain: a health check on the outbox relay.

Alerts reach incidents and pages only through the outbox. A relay that stopped, a consumer
that keeps failing (its event set aside as a dead letter) or a backlog that keeps growing
would leave alerts stored and nobody told, so each is a health condition, raised as an alert
like the monitor's other trouble, and paged directly as well by the composition root
(:mod:`breakglass.runtime.monitor`): the path that pages is the path that may be stuck.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass, field

import structlog

from breakglass.detect.finding import Severity
from breakglass.detect.health import Condition
from breakglass.events import Backlog

__all__ = ["PIPELINE_CHECK", "EventPipeline"]

PIPELINE_CHECK = "events"

_log = structlog.get_logger("breakglass.detect")


@dataclass
class EventPipeline:
    """The outbox relay: events set aside as dead letters, or waiting for longer than
    ``stall_after`` seconds. Either means alerts may not be reaching incidents and pages."""

    backlog: Callable[[], Backlog]
    chain: str
    stall_after: float = 60.0
    escalate: Callable[[Condition], None] | None = None
    """Told once per condition as it first holds (no grace: a dead letter is certain, a
    stall already waited ``stall_after``), to page without the pipeline; one that raised
    is told again at the next check."""
    name: str = PIPELINE_CHECK
    _told: set[str] = field(default_factory=set)

    async def __call__(self) -> list[Condition]:
        found = await self._conditions()
        keys = {c.key for c in found}
        self._told &= keys
        for condition in found:
            if condition.key not in self._told and self.escalate is not None:
                try:
                    await asyncio.to_thread(self.escalate, condition)
                except Exception as exc:  # the page's database may be what is stuck
                    _log.error(
                        "detect.pipeline_page_failed",
                        condition=condition.key,
                        error=repr(exc)[:300],
                        hint="tried again at the next check",
                    )
                    continue
                self._told.add(condition.key)
        return found

    async def _conditions(self) -> list[Condition]:
        state = await asyncio.to_thread(self.backlog)
        found: list[Condition] = []
        if state.dead:
            found.append(
                Condition(
                    self.name,
                    "dead-letters",
                    f"{state.dead} event(s) could not be delivered",
                    f"{state.dead} event(s) in the outbox failed every delivery attempt and "
                    "were set aside: an alert may have no incident, or an incident no page. "
                    "The outbox table's error column says why.",
                    severity=Severity.CRITICAL,
                    data={"dead": state.dead},
                )
            )
        age = state.oldest_seconds
        if age is not None and age >= self.stall_after:
            found.append(
                Condition(
                    self.name,
                    "stalled",
                    f"{state.pending} event(s) waiting for {age:.0f}s on {self.chain}",
                    f"The oldest undelivered event is {age:.0f}s old ({state.pending} waiting): "
                    "alerts are stored but incidents and pages are behind.",
                    data={"pending": state.pending, "oldest_seconds": round(age, 1)},
                )
            )
        return found
