"""PagerDuty (Events API v2) and Opsgenie as paging targets, against a compatible receiver on
loopback: one dedup key per breakglass incident, an acknowledgement webhook through the API
stops escalation, and a closed incident is resolved."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from breakglass import store
from breakglass.api.tokens import create_token
from breakglass.incidents import service as incidents
from breakglass.notify import Notifier
from breakglass.notify.external_paging import resolve_pages
from breakglass.plan import load_plan
from breakglass.server import create_app
from breakglass.web.auth import SESSION_COOKIE, csrf_for

ROUTING_KEY = "R0UT1NGKEY0123456789abcdef012345"
GENIE_KEY = "genie-0123-4567-89ab"

PLAN = """
protocol: Acme Lending
people:
  alice: {{name: Alice, page: "pagerduty-events://${{PD_KEY}}?endpoint=http://127.0.0.1:{port}"}}
  bob: {{name: Bob, page: "pagerduty-events://${{PD_KEY}}?endpoint=http://127.0.0.1:{port}"}}
  olga: {{name: Olga, page: "opsgenie-alerts://${{GENIE_KEY}}?endpoint=http://127.0.0.1:{port}"}}
  wanda: {{name: Wanda}}
roles:
  incident_lead: [alice]
  pauser: {{members: [alice, bob], escalate_after: 5m, handles: [pause]}}
  oncall: {{members: [olga, bob], escalate_after: 5m}}
  scribe: [wanda]
"""


def _setup(tmp_path: Path, port: int, clock: Any) -> tuple[Any, Any, Notifier]:
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(PLAN.format(port=port))
    loaded = load_plan(plan_file)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    environ = {"PD_KEY": ROUTING_KEY, "GENIE_KEY": GENIE_KEY}
    return loaded, sessions, Notifier(loaded.plan, sessions, clock=clock, environ=environ)


def _incident(loaded: Any, sessions: Any, clock: Any, title: str) -> int:
    with sessions() as session, session.begin():
        row = incidents.open_incident(
            session, loaded.plan, title=title, kind="exploit", severity="P1",
            chains=[], contracts=[], detected_at=clock.now,
        )  # fmt: skip
        return int(row.id)


def test_one_incident_per_breakglass_incident_and_acks_stop_escalation(
    tmp_path: Path, receiver: Any, clock: Any
) -> None:
    loaded, sessions, notifier = _setup(tmp_path, receiver.port, clock)
    first = _incident(loaded, sessions, clock, "Pool drained")
    second = _incident(loaded, sessions, clock, "Oracle stale")
    notifier.page("pauser", "Pause the pool now", incident_id=first)
    notifier.page("pauser", "Still draining", incident_id=first)
    notifier.page("pauser", "Check the oracle", incident_id=second)
    asyncio.run(notifier.deliver_due())

    events = [r.json() for r in receiver.requests]
    assert {r.path for r in receiver.requests} == {"/v2/enqueue"}
    assert {e["routing_key"] for e in events} == {ROUTING_KEY}
    assert {e["event_action"] for e in events} == {"trigger"}
    # What a PagerDuty-compatible receiver makes of them: one incident per dedup key.
    incidents_seen = {e["dedup_key"] for e in events}
    assert incidents_seen == {f"breakglass-incident-{first}", f"breakglass-incident-{second}"}
    # Deliveries run concurrently: find the first page by its text, not its position.
    [pause] = [e for e in events if "Pause the pool now" in e["payload"]["summary"]]
    assert pause["payload"]["severity"] == "critical"
    assert pause["dedup_key"] == f"breakglass-incident-{first}"

    with sessions() as session, session.begin():
        token = create_token(session, loaded.plan, "alice")
        watcher = create_token(session, loaded.plan, "wanda")
    client = TestClient(create_app(loaded, sessions))
    webhook = {  # PagerDuty's v3 webhook, with the incident's dedup key
        "event": {
            "event_type": "incident.acknowledged",
            "agent": {"summary": "Alice"},
            "data": {"type": "incident", "incident_key": f"breakglass-incident-{first}"},
        }
    }
    denied = client.post(
        "/api/paging/acknowledgements",
        json=webhook,
        headers={"Authorization": f"Bearer {watcher}"},
    )
    assert denied.status_code == 403
    answer = client.post(
        "/api/paging/acknowledgements", json=webhook, headers={"Authorization": f"Bearer {token}"}
    )
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["acknowledged"]) == 2

    clock.advance(301)
    moved = asyncio.run(notifier.escalate_due())
    assert len(moved) == 1  # only the second incident's page goes on to bob
    asyncio.run(notifier.deliver_due())
    assert receiver.requests[-1].json()["dedup_key"] == f"breakglass-incident-{second}"
    again = client.post(
        "/api/paging/acknowledgements", json=webhook, headers={"Authorization": f"Bearer {token}"}
    )
    assert again.status_code == 404

    receiver.requests.clear()
    assert resolve_pages(notifier, incident_id=first) == 2  # alice and bob's targets
    asyncio.run(notifier.deliver_due())
    resolved = [r.json() for r in receiver.requests]
    assert {(e["event_action"], e["dedup_key"]) for e in resolved} == {
        ("resolve", f"breakglass-incident-{first}")
    }

    # Closing the second incident through the API resolves it and stops its escalation.
    receiver.requests.clear()
    closed = client.post(
        f"/api/incidents/{second}/transitions",
        json={"to": "false-positive", "note": "oracle was fine"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert closed.status_code == 200, closed.text
    clock.now = datetime.now(UTC) + timedelta(seconds=1)  # the API queued it on the real clock
    asyncio.run(notifier.deliver_due())
    assert {(r.json()["event_action"], r.json()["dedup_key"]) for r in receiver.requests} == {
        ("resolve", f"breakglass-incident-{second}")
    }
    clock.advance(3600)
    assert asyncio.run(notifier.escalate_due()) == []
    assert resolve_pages(notifier, incident_id=second) == 0  # once


def test_opsgenie_alert_alias_and_close(tmp_path: Path, receiver: Any, clock: Any) -> None:
    loaded, sessions, notifier = _setup(tmp_path, receiver.port, clock)
    incident = _incident(loaded, sessions, clock, "Bridge halted")
    notifier.page("oncall", "Halt the bridge", incident_id=incident)
    asyncio.run(notifier.deliver_due())
    [created] = receiver.requests
    assert created.path == "/v2/alerts"
    assert created.headers["Authorization"] == f"GenieKey {GENIE_KEY}"
    alert = created.json()
    assert alert["alias"] == f"breakglass-incident-{incident}" and alert["priority"] == "P1"

    from breakglass.notify.external_paging import acknowledge_from_webhook  # noqa: PLC0415

    opsgenie_webhook = {"action": "Acknowledge", "alert": {"alias": alert["alias"]}}
    assert len(acknowledge_from_webhook(notifier, document=opsgenie_webhook, person="olga")) == 1
    receiver.requests.clear()
    resolve_pages(notifier, incident_id=incident)
    asyncio.run(notifier.deliver_due())
    paths = sorted(r.path for r in receiver.requests)
    assert f"/v2/alerts/breakglass-incident-{incident}/close?identifierType=alias" in paths


def test_closing_from_the_cli_resolves_the_pages(tmp_path: Path, receiver: Any, clock: Any) -> None:
    loaded, sessions, notifier = _setup(tmp_path, receiver.port, clock)
    incident = _incident(loaded, sessions, clock, "Pool drained")
    notifier.page("pauser", "Pause the pool now", incident_id=incident)
    notifier.page("oncall", "Halt the bridge", incident_id=incident)
    asyncio.run(notifier.deliver_due())
    receiver.requests.clear()

    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= {
        "NO_COLOR": "1",
        "BREAKGLASS_DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite'}",
        "PD_KEY": ROUTING_KEY,
        "GENIE_KEY": GENIE_KEY,
    }
    plan = str(tmp_path / "breakglass.yaml")
    command = ["incident", "transition", str(incident), "false-positive", "--as", "alice"]
    result = subprocess.run(
        [sys.executable, "-m", "breakglass", *command, "--plan", plan],
        capture_output=True, text=True, env=env, timeout=60, check=False,
    )  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr

    pagerduty = [r.json() for r in receiver.requests if r.path == "/v2/enqueue"]
    assert pagerduty  # one per PagerDuty target paged, all for this incident's key
    assert {(e["event_action"], e["dedup_key"]) for e in pagerduty} == {
        ("resolve", f"breakglass-incident-{incident}")
    }
    closes = [r.path for r in receiver.requests if r.path != "/v2/enqueue"]
    assert closes == [f"/v2/alerts/breakglass-incident-{incident}/close?identifierType=alias"]
    clock.advance(3600)
    assert asyncio.run(notifier.escalate_due()) == []  # the pages stopped with the incident


def _pagerduty_signature(secret: str, payload: str) -> str:
    # PagerDuty's published recipe (developer docs, "Verifying Signatures"), as its Python
    # verifier computes it: v1= + hex HMAC-SHA256 of the raw body under the signing secret.
    return "v1=" + hmac.new(secret.encode("ASCII"), payload.encode(), hashlib.sha256).hexdigest()


def test_pagerduty_signature_is_required_once_the_plan_gives_a_secret(
    tmp_path: Path, receiver: Any, clock: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    loaded, sessions, notifier = _setup(tmp_path, receiver.port, clock)
    signed_plan = PLAN.format(port=receiver.port).replace(
        "?endpoint=http", "?webhook_secret=${PD_WEBHOOK_SECRET}&endpoint=http", 1
    )
    (tmp_path / "breakglass.yaml").write_text(signed_plan)
    loaded = load_plan(tmp_path / "breakglass.yaml")
    incident = _incident(loaded, sessions, clock, "Pool drained")
    notifier.page("pauser", "Pause the pool now", incident_id=incident)
    notifier.page("oncall", "Halt the bridge", incident_id=incident)
    asyncio.run(notifier.deliver_due())
    with sessions() as session, session.begin():
        token = create_token(session, loaded.plan, "alice")
    client = TestClient(create_app(loaded, sessions))
    auth = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
    payload = json.dumps(
        {
            "event": {
                "event_type": "incident.acknowledged",
                "data": {"type": "incident", "incident_key": f"breakglass-incident-{incident}"},
            }
        }
    )

    def post(document: str, **headers: str) -> Any:
        return client.post("/api/paging/acknowledgements", content=document, headers=auth | headers)

    unset = post(payload)
    assert unset.status_code == 503 and "PD_WEBHOOK_SECRET" in unset.json()["detail"]
    secret = "whsec-pagerduty-0123456789"
    monkeypatch.setenv("PD_WEBHOOK_SECRET", secret)
    assert post(payload).status_code == 401  # the token alone is no longer enough
    forged = _pagerduty_signature("another-secret", payload)
    assert post(payload, **{"X-PagerDuty-Signature": forged}).status_code == 401
    tampered = payload.replace("acknowledged", "acknowledged ")
    good = _pagerduty_signature(secret, payload)
    assert post(tampered, **{"X-PagerDuty-Signature": good}).status_code == 401
    # While PagerDuty rotates the secret it sends both signatures, comma-separated.
    rotating = f"{forged},{good}"
    answer = post(payload, **{"X-PagerDuty-Signature": rotating})
    assert answer.status_code == 200, answer.text
    assert len(answer.json()["acknowledged"]) == 2  # the incident's PagerDuty and Opsgenie pages

    # Opsgenie signs nothing: its callback is trusted on the token in its custom header.
    # (past the signature check, it finds the pages already acknowledged: 404, not 401).
    alias = f"breakglass-incident-{incident}"
    opsgenie = post(json.dumps({"action": "Acknowledge", "alert": {"alias": alias}}))
    assert opsgenie.status_code == 404, opsgenie.text

    (tmp_path / "breakglass.yaml").write_text(signed_plan.replace("${PD_WEBHOOK_SECRET}", secret))
    literal = TestClient(create_app(load_plan(tmp_path / "breakglass.yaml"), sessions))
    refused = literal.post("/api/paging/acknowledgements", content=payload, headers=auth)
    assert refused.status_code == 503 and "${VAR}" in refused.json()["detail"]
    assert secret not in refused.text


def test_closing_from_the_dashboard_resolves_the_pages(
    tmp_path: Path, receiver: Any, clock: Any
) -> None:
    loaded, sessions, notifier = _setup(tmp_path, receiver.port, clock)
    incident = _incident(loaded, sessions, clock, "Pool drained")
    notifier.page("pauser", "Pause the pool now", incident_id=incident)
    asyncio.run(notifier.deliver_due())
    receiver.requests.clear()
    with sessions() as session, session.begin():
        token = create_token(session, loaded.plan, "alice")
    client = TestClient(create_app(loaded, sessions))
    form = client.get("/login")
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert login_csrf is not None
    signed_in = client.post(
        "/login",
        data={"token": token, "csrf_token": login_csrf.group(1), "next": "/incidents"},
        follow_redirects=False,
    )
    assert signed_in.status_code == 303, signed_in.text
    csrf = csrf_for(client.cookies[SESSION_COOKIE])

    moved = client.post(
        f"/incidents/{incident}/transition", data={"csrf_token": csrf, "to": "false-positive"}
    )
    assert moved.status_code == 200, moved.text
    clock.now = datetime.now(UTC) + timedelta(seconds=1)  # queued on the dashboard's clock
    asyncio.run(notifier.deliver_due())
    assert {(r.json()["event_action"], r.json()["dedup_key"]) for r in receiver.requests} == {
        ("resolve", f"breakglass-incident-{incident}")
    }
    clock.advance(3600)
    assert asyncio.run(notifier.escalate_due()) == []
