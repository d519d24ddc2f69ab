"""A channel with ``signature: oz-monitor`` signs webhooks exactly as OpenZeppelin Monitor
does, so a receiver written for it keeps working: checked with that project's recipe
(hex HMAC-SHA256 over the raw body followed by the ``X-Timestamp`` milliseconds) on a real
HTTP receiver on loopback."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
from typing import Any

from breakglass.notify import Notifier

KEY = "whsec-0123456789abcdef"  # tests/notify/conftest.py's HOOK_KEY


def _oz_receiver_accepts(body: bytes, headers: dict[str, str], secret: str) -> bool:
    """OpenZeppelin Monitor's published verification, written out independently."""
    message = body.decode() + headers["X-Timestamp"]
    expected = hmac.new(secret.encode(), message.encode(), hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected, headers["X-Signature"])


def test_oz_monitor_signature_verifies_with_the_source_recipe(
    receiver: Any, sessions: Any, make_plan: Any, signed: Any, environ: Any, clock: Any
) -> None:
    plan = make_plan(hook=signed(signature="oz-monitor"))
    notifier = Notifier(plan, sessions, clock=clock, environ=environ)
    notifier.notify(
        "incident_opened",
        {"severity": "P1", "title": "Pool drained", "funds": "at_risk"},
        incident_id=None,
    )

    assert asyncio.run(notifier.deliver_due()) == 1

    [request] = receiver.requests
    headers = {k.title(): v for k, v in request.headers.items()}
    assert _oz_receiver_accepts(request.body, headers, KEY)
    assert not _oz_receiver_accepts(request.body.replace(b"P1", b"P4"), headers, KEY)
    assert not _oz_receiver_accepts(request.body, headers, "another-key")
    assert headers["X-Signature"] == headers["X-Signature"].lower()
    assert len(headers["X-Signature"]) == 64
    assert abs(int(headers["X-Timestamp"]) - clock.now.timestamp() * 1000) < 120_000
    assert "X-Breakglass-Signature" not in headers
    document = json.loads(request.body)
    assert list(document) == ["title", "body"]  # the source's message shape
    assert document["title"].startswith("Incident #")
    assert "Funds are at risk" in document["body"]


def test_the_default_signature_is_breakglass_own(
    receiver: Any, sessions: Any, make_plan: Any, signed: Any, environ: Any, clock: Any
) -> None:
    notifier = Notifier(make_plan(hook=signed()), sessions, clock=clock, environ=environ)
    notifier.notify("incident_opened", {"severity": "P2", "title": "x"}, incident_id=None)
    asyncio.run(notifier.deliver_due())
    [request] = receiver.requests
    assert "X-Signature" not in {k.title() for k in request.headers}
