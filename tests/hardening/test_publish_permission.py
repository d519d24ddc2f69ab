"""Finding 15: anyone with the responder role could publish to the public status page. Now
only the plan's ``communication.spokesperson`` role and admins may, from the API, the
dashboard and ``breakglass incident update``."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

from fastapi.testclient import TestClient

from breakglass import store
from breakglass.api.tokens import create_token
from breakglass.incidents import comms, service
from breakglass.plan import load_plan
from breakglass.server import create_app
from breakglass.web.auth import SESSION_COOKIE, csrf_for

PLAN = """
protocol: Acme
people:
  lea: {name: Lea}
  paul: {name: Paul}
  dana: {name: Dana, access: responder}
roles:
  incident_lead: [lea]
  pauser: {members: [paul], handles: [pause]}
  voice: [dana]
communication:
  spokesperson: voice
"""
UPDATE = {"status": "investigating", "title": "We are looking into it", "body": "Funds safe."}


def _setup(tmp_path: Path) -> tuple[TestClient, dict[str, str], int, Path, str]:
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(PLAN)
    loaded = load_plan(plan_file)
    url = f"sqlite:///{tmp_path / 'db.sqlite'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    with sessions() as session, session.begin():
        tokens = {p: create_token(session, loaded.plan, p) for p in ("lea", "paul", "dana")}
        incident = service.open_incident(
            session,
            loaded.plan,
            title="Pool drained",
            kind="exploit",
            severity="P1",
            chains=[],
            contracts=[],
            detected_at=datetime.now(UTC),
        )
        incident_id = incident.id
    return TestClient(create_app(loaded, sessions)), tokens, incident_id, plan_file, url


def _updates(client: TestClient, token: str, incident_id: int) -> list[dict[str, str]]:
    auth = {"Authorization": f"Bearer {token}"}
    listed = client.get(f"/api/updates?incident_id={incident_id}", headers=auth)
    rows: list[dict[str, str]] = listed.json()
    return rows


def test_a_responder_outside_the_spokesperson_role_cannot_publish(tmp_path: Path) -> None:
    client, tokens, iid, plan_file, url = _setup(tmp_path)
    path = f"/api/incidents/{iid}/updates"
    refused = client.post(path, json=UPDATE, headers={"Authorization": f"Bearer {tokens['paul']}"})
    assert refused.status_code == 403, refused.text
    assert "voice" in refused.json()["detail"]

    # the dashboard form refuses too
    form = client.get("/login")
    login_csrf = re.search(r'name="csrf_token" value="([^"]+)"', form.text)
    assert login_csrf is not None
    client.post("/login", data={"token": tokens["paul"], "csrf_token": login_csrf.group(1)})
    csrf = csrf_for(client.cookies[SESSION_COOKIE])
    dashboard = client.post(f"/incidents/{iid}/updates", data={**UPDATE, "csrf_token": csrf})
    assert dashboard.status_code == 403
    client.cookies.clear()

    # and the CLI
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env["BREAKGLASS_DATABASE_URL"] = url
    args = ["incident", "update", str(iid), *UPDATE.values(), "--plan", str(plan_file)]
    cli = subprocess.run(
        [sys.executable, "-m", "breakglass", *args, "--as", "paul"],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
        check=False,
    )
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert "may not publish" in cli.stderr and "Traceback" not in cli.stderr
    assert _updates(client, tokens["lea"], iid) == []

    for person in ("dana", "lea"):  # the spokesperson role and an admin
        auth = {"Authorization": f"Bearer {tokens[person]}"}
        assert client.post(path, json=UPDATE, headers=auth).status_code == 201
    assert [u["author"] for u in _updates(client, tokens["lea"], iid)] == ["dana", "lea"]


def test_check_publisher_without_a_spokesperson_admits_admins_and_comms(tmp_path: Path) -> None:
    plan_file = tmp_path / "breakglass.yaml"
    plan_file.write_text(PLAN.replace("communication:\n  spokesperson: voice\n", ""))
    plan = load_plan(plan_file).plan
    comms.check_publisher(plan, "lea")
    for person in ("paul", "dana", "stranger"):
        try:
            comms.check_publisher(plan, person)
        except comms.PublishForbidden as exc:
            assert "'comms' role" in str(exc)
        else:
            raise AssertionError(f"{person} may publish")
