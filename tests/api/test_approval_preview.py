"""``GET /api/steps/{id}/preview`` simulates a waiting step on its chain before anyone approves
it (a real OpenZeppelin pausable token on anvil): the action, the signer's address, the events
it would emit and whether its check holds afterwards, or the revert reason; nothing is sent."""

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


def _module(name: str, path: Path) -> ModuleType:
    if name not in sys.modules:
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        sys.modules[name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[name]


_tests = Path(__file__).parents[1]
_fixtures = _module("breakglass_tests_respond_conftest_preview", _tests / "respond" / "conftest.py")
_plans = _module(
    "breakglass_tests_hardening_approval_plan", _tests / "hardening" / "approval_plan.py"
)
token = _fixtures.token
fresh_chain = _fixtures.fresh_chain
pausing_safe = _fixtures.pausing_safe
write_plan = _fixtures.write_plan
sessions = _fixtures.sessions
GUARDIAN, INTRUDER = _fixtures.GUARDIAN, _fixtures.INTRUDER


def _preview(
    anvil: Anvil, token: Any, sessions: sessionmaker[Session], directory: Path
) -> dict[str, Any]:
    """The preview of a waiting pause, asked by bob (a pauser); a step that is not waiting
    has none (404)."""
    loaded = _plans.write_plan(directory, anvil, token, _plans.PAUSE)
    waiting = service.run_playbook(loaded, sessions, "contain", env=LiveEnv(loaded, sessions))
    step_id = waiting.steps[0].step_id
    with sessions() as session, session.begin():
        tokens = {"bob": create_token(session, loaded.plan, "bob")}
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)
    shown = client.get(
        f"/api/steps/{step_id}/preview", headers={"Authorization": f"Bearer {tokens['bob']}"}
    )
    assert shown.status_code == 200, shown.text
    missing = client.get(
        "/api/steps/999999/preview", headers={"Authorization": f"Bearer {tokens['bob']}"}
    )
    assert missing.status_code == 404
    body: dict[str, Any] = shown.json()
    return body


def test_preview_simulates_the_pause_and_sends_nothing(
    fresh_chain: Anvil,
    token: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUARDIAN_KEY", fresh_chain.private_keys[GUARDIAN])
    head = int(fresh_chain.rpc("eth_blockNumber"), 16)
    body = _preview(fresh_chain, token, sessions, tmp_path)
    action = body["request"]["action"]
    assert action["call"] == "pause()" and action["target_name"] == "token"
    sim = body["simulation"]
    assert sim["outcome"] == "would-succeed" and sim["ok"] is True
    assert sim["sender"] == fresh_chain.accounts[GUARDIAN]
    assert sim["events"] == ["Paused"]
    assert 20_000 < sim["gas_used"] < 100_000
    assert sim["text"].startswith("would succeed, emits Paused, ")
    assert not token.paused()
    assert int(fresh_chain.rpc("eth_blockNumber"), 16) == head  # nothing mined


def test_preview_gives_the_revert_reason(
    fresh_chain: Anvil,
    token: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("GUARDIAN_KEY", fresh_chain.private_keys[INTRUDER])
    body = _preview(fresh_chain, token, sessions, tmp_path)
    sim = body["simulation"]
    assert sim["outcome"] == "would-revert" and sim["ok"] is False
    assert sim["text"] == "would revert: ERC20PresetMinterPauser: must have pauser role to pause"
    assert sim["sender"] == fresh_chain.accounts[INTRUDER]


SAFE_STEP = """
signers:
  ops_safe: {{type: safe, chain: local, address: "{safe}", threshold: 2}}
playbooks:
  - id: contain
    steps:
      - {{action: safe-proposal, safe: ops_safe, contract: token, mode: approval,
          verify: "paused()"}}
"""


def test_a_safe_step_is_simulated_as_the_safe(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Any,
    sessions: sessionmaker[Session],
) -> None:
    loaded = write_plan(SAFE_STEP, safe=pausing_safe)
    waiting = service.run_playbook(loaded, sessions, "contain", env=LiveEnv(loaded, sessions))
    step_id = waiting.steps[0].step_id
    with sessions() as session, session.begin():
        bob = create_token(session, loaded.plan, "bob")
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)
    shown = client.get(f"/api/steps/{step_id}/preview", headers={"Authorization": f"Bearer {bob}"})
    assert shown.status_code == 200, shown.text
    sim = shown.json()["simulation"]
    assert sim["sender"] == pausing_safe  # the Safe calls the token, not an owner
    assert sim["outcome"] == "would-succeed" and sim["events"] == ["Paused"]
    assert sim["verified"] is True
    assert not token.paused()
