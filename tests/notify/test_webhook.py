"""Signed JSON webhooks and Apprise delivery to a real HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import io
import json
from typing import Any

from sqlalchemy import select

from breakglass.logs import configure_logging
from breakglass.notify import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    DeliveryStatus,
    Notifier,
    verify_signature,
)
from breakglass.store.models import Delivery

TOKEN = "tok-9f8e7d6c5b4a"
KEY = "whsec-0123456789abcdef"


def _rows(sessions: Any) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).order_by(Delivery.id)))


def test_signed_webhook_verifies_and_tampering_fails(
    receiver: Any, sessions: Any, make_plan: Any, signed: Any, environ: Any, clock: Any
) -> None:
    logs = io.StringIO()
    configure_logging("DEBUG", "json", stream=logs)
    notifier = Notifier(make_plan(hook=signed()), sessions, clock=clock, environ=environ)
    ids = notifier.notify(
        "incident_opened",
        {
            "severity": "P1",
            "title": "Pool drained",
            "funds": "at_risk",
            "next_update_at": clock.now,
        },
        incident_id=None,
    )
    assert len(ids) == 1
    assert _rows(sessions)[0].status == DeliveryStatus.PENDING  # written before any send

    assert asyncio.run(notifier.deliver_due()) == 1

    [request] = receiver.requests
    assert request.path == f"/hook/{TOKEN}"
    header = request.headers[SIGNATURE_HEADER]
    assert verify_signature(request.body, header, KEY)
    assert not verify_signature(request.body.replace(b"P1", b"P4"), header, KEY)
    assert not verify_signature(request.body, header, "another-key")
    doc = request.json()
    assert doc["event"] == "incident_opened"
    assert doc["severity"] == "P1"
    assert doc["title"].startswith("Incident #")
    assert "Funds are at risk" in doc["body"]
    assert "Do not interact with the Acme Lending contracts" in doc["body"]
    assert doc["timestamp"] == clock.now.isoformat()
    assert str(doc["sent_at"]) == request.headers[TIMESTAMP_HEADER]

    [row] = _rows(sessions)
    assert row.status == DeliveryStatus.SENT
    assert row.attempts == 1
    stored = json.dumps([row.channel, row.title, row.body, row.payload, row.last_error])
    assert TOKEN not in stored and KEY not in stored
    assert "${HOOK_TOKEN}" not in stored  # a channel row names the channel, not its URL
    assert TOKEN not in logs.getvalue() and KEY not in logs.getvalue()
    assert "notify.sent" in logs.getvalue()


def test_json_without_key_goes_through_apprise(
    receiver: Any, sessions: Any, make_plan: Any, environ: Any, clock: Any
) -> None:
    plan = make_plan(plain={"url": receiver.url("/apprise/${HOOK_TOKEN}")})
    notifier = Notifier(plan, sessions, clock=clock, environ=environ)
    notifier.notify("status_update", {"message": "We paused the pool.", "funds": "safe"})

    assert asyncio.run(notifier.deliver_due()) == 1

    [request] = receiver.requests
    assert request.path == f"/apprise/{TOKEN}"
    assert SIGNATURE_HEADER not in request.headers
    doc = request.json()  # Apprise's own JSON document
    assert "Acme Lending incident update" in doc["title"]
    assert "Funds are safe." in doc["message"]


def test_notify_url_keeps_the_template_and_labels_the_log(
    receiver: Any, sessions: Any, make_plan: Any, environ: Any, clock: Any
) -> None:
    notifier = Notifier(make_plan(), sessions, clock=clock, environ=environ)
    delivery = notifier.notify_url(
        receiver.url("/seal/${HOOK_TOKEN}"),
        "external_engaged",
        {"party": "SEAL 911", "kind": "security", "incident_id": None},
        label="seal-911",
    )
    assert asyncio.run(notifier.deliver_due()) == 1
    assert receiver.paths() == [f"/seal/{TOKEN}"]
    [row] = _rows(sessions)
    assert row.id == delivery and row.channel == "seal-911"
    assert TOKEN not in json.dumps(row.payload)


def test_unset_variable_is_retried_and_never_leaks(
    receiver: Any, sessions: Any, make_plan: Any, signed: Any, clock: Any
) -> None:
    notifier = Notifier(make_plan(hook=signed()), sessions, clock=clock, environ={})
    notifier.notify("alert", {"title": "x", "severity": "high"})
    assert asyncio.run(notifier.deliver_due()) == 0
    [row] = _rows(sessions)
    assert row.status == DeliveryStatus.RETRYING
    assert "HOOK_TOKEN" in (row.last_error or "")
