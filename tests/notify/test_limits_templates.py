"""Rate limits and grouping fold messages into digests; templates say what responders need."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

from breakglass.notify import Notifier, render, sign_body, verify_signature
from breakglass.notify.render import events, render_html

NOW = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def test_rate_limit_folds_extra_messages_into_one_digest(
    receiver: Any, sessions: Any, make_plan: Any, signed: Any, environ: Any, clock: Any
) -> None:
    notifier = Notifier(
        make_plan(hook=signed(max_per_minute=2)), sessions, clock=clock, environ=environ
    )
    ids = [
        notifier.notify("alert", {"title": f"alert {n}", "severity": "high"})[0] for n in range(5)
    ]
    assert len(set(ids[:2])) == 2 and len(set(ids[2:])) == 1  # three folded into one
    assert asyncio.run(notifier.deliver_due()) == 2
    clock.advance(59)
    assert asyncio.run(notifier.deliver_due()) == 0  # the digest waits out the window
    clock.advance(1)
    assert asyncio.run(notifier.deliver_due()) == 1
    digest = receiver.requests[-1].json()
    assert digest["event"] == "digest"
    assert digest["title"] == "3 messages grouped"
    assert [item["title"] for item in digest["fields"]["items"]] == [
        "[HIGH] alert 2",
        "[HIGH] alert 3",
        "[HIGH] alert 4",
    ]
    assert "limit of 2 a minute" in digest["body"]
    assert len(receiver.requests) == 3  # nothing dropped, nothing sent twice


def test_same_group_key_within_the_window_is_one_digest(
    receiver: Any, sessions: Any, make_plan: Any, signed: Any, environ: Any, clock: Any
) -> None:
    notifier = Notifier(make_plan(hook=signed()), sessions, clock=clock, environ=environ)
    first = notifier.notify("alert", {"title": "outflow 1"}, group_key="drain")
    clock.advance(10)
    second = notifier.notify("alert", {"title": "outflow 2"}, group_key="drain")
    third = notifier.notify("alert", {"title": "outflow 3"}, group_key="drain")
    other = notifier.notify("alert", {"title": "oracle"}, group_key="oracle")
    assert first != second and second == third and other not in (first, second)
    assert asyncio.run(notifier.deliver_due()) == 2
    clock.advance(50)
    assert asyncio.run(notifier.deliver_due()) == 1
    assert receiver.requests[-1].json()["title"] == "2 messages about drain grouped"


def test_event_routing_keeps_alerts_off_public_channels(
    receiver: Any, sessions: Any, make_plan: Any, environ: Any
) -> None:
    plan = make_plan(
        war={"url": receiver.url("/war")},
        public={"url": receiver.url("/public"), "audience": "external"},
        pagers={"url": receiver.url("/pd"), "events": ["incident_opened"]},
    )
    notifier = Notifier(plan, sessions, environ=environ)
    assert notifier.channels_for("alert") == ["war"]
    assert notifier.channels_for("status_update") == ["war", "public"]
    assert notifier.channels_for("incident_opened") == ["war", "pagers"]


def test_templates_say_the_key_phrases() -> None:
    ctx = {
        "incident_id": 7,
        "severity": "P1",
        "title": "Pool drained",
        "protocol": "Acme",
        "funds": "at_risk",
        "funds_at_risk_usd": 2_500_000,
        "contracts_paused": ["pool"],
        "next_update_at": NOW,
        "contracts": ["pool"],
    }
    opened = render("incident_opened", ctx, now=NOW)
    assert opened.title == "Incident #7 opened (P1): Pool drained"
    assert "Funds are at risk (about $2,500,000)." in opened.body
    assert "Do not interact with the Acme contracts (pool)" in opened.body
    assert "Next update at 2026-03-01 12:00 UTC." in opened.body
    contained = render("contained", {**ctx, "funds": "safe"}, now=NOW).body
    assert "Funds are safe." in contained and "Contracts paused: pool." in contained
    assert "Contracts paused: pool" in render("paused", ctx, now=NOW).body
    assert "no action is needed" in render("test", {"channel": "war"}, now=NOW).body
    assert render("custom_thing", {"message": "hello"}, now=NOW).body == "hello"
    for event in events():
        render(event, {}, now=NOW)  # an empty context renders, never raises


def test_html_is_escaped_and_signatures_check_strictly() -> None:
    html = render_html("<script>alert(1)</script>", "token <img src=x onerror=y>")
    assert "<script>" not in html and "&lt;script&gt;" in html and "<img" not in html
    body = b'{"event":"alert"}'
    header = sign_body(body, "k" * 16)
    assert verify_signature(body, header, "k" * 16)
    assert not verify_signature(body, header.removeprefix("sha256="), "k" * 16)
    assert not verify_signature(body + b" ", header, "k" * 16)
