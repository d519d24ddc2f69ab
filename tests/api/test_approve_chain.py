"""Approving a waiting playbook step through the API resumes the run for real: the pause
lands on a real OpenZeppelin token on anvil, sent as the plan's guardian."""

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

pytestmark = pytest.mark.chain


def _respond_fixtures() -> ModuleType:
    """The token, chain and plan fixtures of ``tests/respond`` (a conftest is not importable
    by name from another directory)."""
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
  - id: approved-pause
    steps:
      - {{action: pause, contract: token, signer: guardian, mode: approval, verify: "paused()"}}
"""


def test_approve_through_the_api_sends_the_pause(
    fresh_chain: Anvil,
    token: Any,
    write_plan: Any,
    sessions: sessionmaker[Session],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUARDIAN_KEY", fresh_chain.private_keys[1])
    loaded = write_plan(BODY)
    waiting = service.run_playbook(
        loaded, sessions, "approved-pause", env=LiveEnv(loaded, sessions)
    )
    assert waiting.status == "waiting"
    step_id = waiting.steps[0].step_id
    with sessions() as session, session.begin():
        tokens = {p: create_token(session, loaded.plan, p) for p in ("alice", "bob", "carol")}
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)

    shown = client.get("/api/runs", headers={"Authorization": f"Bearer {tokens['carol']}"})
    action = shown.json()[0]["steps"][0]["approval"]["action"]["hash"]

    def approve(person: str) -> Any:
        headers = {"Authorization": f"Bearer {tokens[person]}"}
        return client.post(
            f"/api/steps/{step_id}/approve", json={"action": action}, headers=headers
        )

    assert approve("carol").status_code == 403  # a viewer
    refused = approve("alice")  # an admin, but not in the pauser role that decides it
    assert refused.status_code == 409
    assert "not in role pauser" in refused.json()["detail"]
    assert not token.paused()

    approved = approve("bob")
    assert approved.status_code == 200, approved.text
    assert approved.json()["status"] == "succeeded"
    assert [s["status"] for s in approved.json()["steps"]] == ["done"]
    assert token.paused()
    assert approve("bob").status_code == 409  # decided already

    runs = client.get("/api/runs", headers={"Authorization": f"Bearer {tokens['carol']}"})
    [run] = runs.json()
    assert run["status"] == "succeeded"
    assert run["steps"][0]["decided_by"] == "bob"
