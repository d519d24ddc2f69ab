"""Paging a role: escalation in order, acknowledgement, exhaustion, and the CLI."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
import yaml
from sqlalchemy import select
from typer.testing import CliRunner

from breakglass.cli.app import app
from breakglass.notify import Notifier, NotifyError, PageStatus
from breakglass.store.models import Delivery, Page

TOKEN = "tok-9f8e7d6c5b4a"


def _page(sessions: Any, page_id: int) -> Page:
    with sessions() as session:
        return session.get_one(Page, page_id)


def test_unacknowledged_page_escalates_then_is_exhausted(
    receiver: Any, sessions: Any, make_plan: Any, environ: Any, clock: Any
) -> None:
    plan = make_plan(war={"url": receiver.url("/war/${HOOK_TOKEN}")})
    notifier = Notifier(plan, sessions, clock=clock, environ=environ)
    page_id = notifier.page("pauser", "Pause the pool now", incident_id=None)
    asyncio.run(notifier.deliver_due())
    assert receiver.paths() == [f"/page/alice/{TOKEN}"]
    first = receiver.requests[0].json()
    assert first["title"] == "PAGE pauser: Pause the pool now"
    assert f"breakglass notify ack {page_id} --as alice" in first["message"]
    assert "bob is paged next" in first["message"]

    clock.advance(299)
    assert asyncio.run(notifier.escalate_due()) == []
    clock.advance(1)
    assert asyncio.run(notifier.escalate_due()) == [page_id]
    asyncio.run(notifier.deliver_due())
    assert receiver.paths()[-1] == f"/page/bob/{TOKEN}"
    assert _page(sessions, page_id).position == 1

    clock.advance(300)
    assert asyncio.run(notifier.escalate_due()) == [page_id]
    page = _page(sessions, page_id)
    assert page.status == PageStatus.EXHAUSTED
    asyncio.run(notifier.deliver_due())
    assert receiver.paths()[-1] == f"/war/{TOKEN}"
    assert "Nobody acknowledged" in receiver.requests[-1].json()["title"]

    clock.advance(3600)
    assert asyncio.run(notifier.escalate_due()) == []  # exhausted: said once, not repeated
    notifier.acknowledge(page_id, "bob")  # the page stayed open
    assert _page(sessions, page_id).acknowledged_by == "bob"


def test_acknowledgement_stops_escalation(
    receiver: Any, sessions: Any, make_plan: Any, environ: Any, clock: Any
) -> None:
    notifier = Notifier(make_plan(), sessions, clock=clock, environ=environ)
    page_id = notifier.page("pauser", "Pause the pool now")
    asyncio.run(notifier.deliver_due())
    clock.advance(60)
    notifier.acknowledge(page_id, "alice")
    clock.advance(600)
    assert asyncio.run(notifier.escalate_due()) == []
    asyncio.run(notifier.deliver_due())
    assert receiver.paths() == [f"/page/alice/{TOKEN}"]
    page = _page(sessions, page_id)
    assert (page.status, page.acknowledged_by) == ("acknowledged", "alice")
    with pytest.raises(NotifyError, match="acknowledged by alice"):
        notifier.acknowledge(page_id, "bob")
    with pytest.raises(NotifyError, match="no page"):
        notifier.acknowledge(999, "bob")


def test_member_without_page_url_is_skipped_loudly(
    receiver: Any, sessions: Any, make_plan: Any, environ: Any, clock: Any
) -> None:
    notifier = Notifier(make_plan(), sessions, clock=clock, environ=environ)
    page_id = notifier.page("comms", "Draft the first public update")
    asyncio.run(notifier.deliver_due())
    assert receiver.paths() == [f"/page/alice/{TOKEN}"]
    with sessions() as session:
        failed = session.scalars(select(Delivery).where(Delivery.status == "failed")).one()
    assert failed.channel == "page:carol" and "no page URL" in (failed.last_error or "")
    assert _page(sessions, page_id).position == 1


def test_unknown_or_empty_role(sessions: Any, make_plan: Any) -> None:
    notifier = Notifier(make_plan(), sessions)
    with pytest.raises(NotifyError, match="no role"):
        notifier.page("nobody", "x")


def test_cli_page_ack_and_test(
    receiver: Any, db_url: str, tmp_path: Path, monkeypatch: Any, environ: Any, signed: Any
) -> None:
    plan = {
        "protocol": "Acme Lending",
        "people": {"alice": {"name": "Alice", "page": receiver.url("/page/alice/${HOOK_TOKEN}")}},
        "roles": {"pauser": ["alice"]},
        "channels": {"hook": signed()},
    }
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(yaml.safe_dump(plan))
    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", db_url)
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    runner = CliRunner()

    result = runner.invoke(app, ["notify", "test", "hook", "-p", str(plan_file)])
    assert result.exit_code == 0, result.output
    assert receiver.requests[-1].json()["event"] == "test"

    result = runner.invoke(app, ["notify", "page", "pauser", "Pause it", "-p", str(plan_file)])
    assert result.exit_code == 0, result.output
    assert "page 1 for pauser" in result.output
    assert receiver.paths()[-1] == f"/page/alice/{TOKEN}"

    result = runner.invoke(app, ["notify", "ack", "1", "--as", "alice", "-p", str(plan_file)])
    assert result.exit_code == 0, result.output
    result = runner.invoke(app, ["notify", "log"])
    assert result.exit_code == 0, result.output
    assert TOKEN not in result.output and "page:alice" in result.output
