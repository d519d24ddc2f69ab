"""Ticking a manual step through the API (``POST /api/steps/{id}/tick``) and the dashboard's
form: the token's person must be in the step's owner role, and the last tick completes the
run of a real pause on anvil."""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from breakglass.api import create_app
from breakglass.api.tokens import create_token
from breakglass.devchain import Anvil
from breakglass.respond import service
from breakglass.respond.env import LiveEnv
from breakglass.store.models import PlaybookRun, StepRun
from breakglass.web.auth import SESSION_COOKIE, csrf_for

pytestmark = pytest.mark.chain


def _respond_fixtures() -> ModuleType:
    """The token, chain and plan fixtures of ``tests/respond``."""
    name = "breakglass_tests_respond_conftest"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "respond" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


_fixtures = _respond_fixtures()
token = _fixtures.token
fresh_chain = _fixtures.fresh_chain
sessions = _fixtures.sessions
write_plan = _fixtures.write_plan

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
playbooks:
  - id: contain
    steps:
      - {{action: pause, contract: token, signer: guardian, verify: "paused()"}}
      - {{action: manual, owner: pauser, instructions: "post in the war room"}}
      - {{action: manual, owner: pauser, instructions: "take the front end down"}}
"""


def test_tick_through_the_api_and_the_dashboard(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(BODY)
    env = LiveEnv(loaded, sessions, environ={"GUARDIAN_KEY": fresh_chain.private_keys[1]})
    result = service.run_playbook(loaded, sessions, "contain", env=env)
    assert result.status == "waiting" and token.paused()
    first, second = result.steps[1].step_id, result.steps[2].step_id
    with sessions() as session, session.begin():
        tokens = {p: create_token(session, loaded.plan, p) for p in ("alice", "bob", "carol")}
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)

    def tick(person: str, step: int | None) -> Any:
        headers = {"Authorization": f"Bearer {tokens[person]}"}
        return client.post(f"/api/steps/{step}/tick", headers=headers)

    assert tick("carol", first).status_code == 403  # a viewer
    refused = tick("alice", first)  # an admin, but not in the owner role
    assert refused.status_code == 409
    assert "alice is not in role pauser" in refused.json()["detail"]
    assert tick("bob", 999_999).status_code == 404
    ticked = tick("bob", first)
    assert ticked.status_code == 200, ticked.text
    assert ticked.json() == {"step_id": first, "run_id": result.run_id, "run_status": "waiting"}
    again = tick("bob", first)
    assert again.status_code == 409 and f"step {first} is done" in again.json()["detail"]

    client.cookies.set(SESSION_COOKIE, tokens["bob"])
    form = client.post(
        f"/steps/{second}/tick",
        data={"csrf_token": csrf_for(tokens["bob"])},
        follow_redirects=False,
    )
    assert form.status_code == 303, form.text
    with sessions() as session:
        assert session.get_one(StepRun, second).decided_by == "bob"
        assert session.get_one(PlaybookRun, result.run_id).status == "succeeded"
