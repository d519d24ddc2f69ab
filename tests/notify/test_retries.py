"""Retries with backoff, giving up loudly, the delivery log CLI, and crash safety."""

from __future__ import annotations

import asyncio
import io
from typing import Any

from sqlalchemy import select
from typer.testing import CliRunner

from breakglass import store
from breakglass.cli.app import app
from breakglass.logs import configure_logging
from breakglass.notify import Notifier
from breakglass.store.models import Delivery


def _row(sessions: Any) -> Delivery:
    with sessions() as session:
        return session.scalars(select(Delivery)).one()


def test_failing_receiver_is_retried_with_backoff_then_sent(
    receiver: Any, sessions: Any, make_plan: Any, signed: Any, environ: Any, clock: Any
) -> None:
    receiver.fail_first = 2
    notifier = Notifier(make_plan(hook=signed()), sessions, clock=clock, environ=environ)
    notifier.notify("paused", {"contracts_paused": ["pool"], "funds": "safe"})

    assert asyncio.run(notifier.deliver_due()) == 0
    row = _row(sessions)
    assert (row.status, row.attempts, row.last_error) == (
        "retrying",
        1,
        "webhook answered HTTP 500",
    )
    assert (row.next_attempt_at - clock.now).total_seconds() == 5

    clock.advance(4)
    assert asyncio.run(notifier.deliver_due()) == 0  # not due yet: no attempt
    assert receiver.calls == 1
    clock.advance(1)
    assert asyncio.run(notifier.deliver_due()) == 0
    row = _row(sessions)
    assert row.attempts == 2 and (row.next_attempt_at - clock.now).total_seconds() == 30

    clock.advance(30)
    assert asyncio.run(notifier.deliver_due()) == 1
    row = _row(sessions)
    assert (row.status, row.attempts, row.last_error) == ("sent", 3, None)
    assert len(receiver.requests) == 1
    assert "Contracts paused: pool" in receiver.requests[0].json()["body"]


def test_gives_up_after_max_attempts_loudly_and_the_log_shows_it(
    receiver: Any,
    sessions: Any,
    make_plan: Any,
    signed: Any,
    environ: Any,
    clock: Any,
    db_url: str,
    monkeypatch: Any,
) -> None:
    logs = io.StringIO()
    configure_logging("INFO", "json", stream=logs)
    receiver.fail_first = -1
    notifier = Notifier(
        make_plan(hook=signed()), sessions, clock=clock, environ=environ, max_attempts=3
    )
    notifier.notify("step_failed", {"playbook": "exploit", "step": 1, "error": "reverted"})
    for _ in range(5):
        asyncio.run(notifier.deliver_due())
        clock.advance(3600)
    row = _row(sessions)
    assert (row.status, row.attempts, row.next_attempt_at) == ("failed", 3, None)
    assert receiver.calls == 3
    assert '"level": "error"' in logs.getvalue() and "notify.delivery_failed" in logs.getvalue()

    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", db_url)
    result = CliRunner().invoke(app, ["notify", "log"])
    assert result.exit_code == 1, result.output
    assert "failed" in result.output and "HTTP 500" in result.output
    assert "hook" in result.output


def test_crash_between_queueing_and_sending_still_delivers(
    receiver: Any, db_url: str, make_plan: Any, signed: Any, environ: Any, clock: Any
) -> None:
    plan = make_plan(hook=signed())
    first = store.make_engine(db_url)
    Notifier(plan, store.session_factory(first), clock=clock, environ=environ).notify(
        "alert", {"title": "Large outflow", "severity": "critical"}
    )
    first.dispose()  # the process dies before delivering

    second = store.make_engine(db_url)
    restarted = Notifier(plan, store.session_factory(second), clock=clock, environ=environ)
    assert asyncio.run(restarted.deliver_due()) == 1
    assert receiver.requests[0].json()["title"] == "[CRITICAL] Large outflow"
    second.dispose()


def test_a_claimed_row_whose_sender_died_is_sent_after_the_lease(
    receiver: Any, sessions: Any, make_plan: Any, signed: Any, environ: Any, clock: Any
) -> None:
    notifier = Notifier(make_plan(hook=signed()), sessions, clock=clock, environ=environ)
    notifier.notify("alert", {"title": "x", "severity": "high"})
    assert len(notifier._claim()) == 1  # claimed, then the sender "crashes"
    assert asyncio.run(notifier.deliver_due()) == 0  # leased: not sent twice at once
    clock.advance(61)
    assert asyncio.run(notifier.deliver_due()) == 1
