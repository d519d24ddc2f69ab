"""Review of the pipeline's health check: a page about a stuck pipeline that could not be
sent is tried again at the next check, not counted as sent."""

from __future__ import annotations

import asyncio

from sqlalchemy.exc import OperationalError

from breakglass.detect.health import Condition
from breakglass.detect.health_pipeline import EventPipeline
from breakglass.events import Backlog


def test_a_page_that_failed_is_sent_at_the_next_check() -> None:
    """``escalate`` writes the page to the database, which may be the very thing that is
    stuck. The check marked the condition as told before it tried: one failure, and the
    lead was never paged while the condition held."""
    attempts: list[str] = []

    def escalate(condition: Condition) -> None:
        attempts.append(condition.key)
        if len(attempts) == 1:
            raise OperationalError("INSERT INTO pages", {}, Exception("database is locked"))

    check = EventPipeline(
        lambda: Backlog(pending=0, oldest_seconds=None, dead=1), "local", escalate=escalate
    )
    first = asyncio.run(check())  # the condition stands even though its page failed
    found = asyncio.run(check())
    assert first == found
    assert [c.key for c in found] == ["events:dead-letters"]
    assert attempts == ["events:dead-letters", "events:dead-letters"]
    asyncio.run(check())  # sent: not again while the condition holds
    assert len(attempts) == 2
