"""Approvals are bound to the exact action (finding 9 of the hardening issue): an approver
who approved a pause never sets off an unpause that a plan edit put in its place; approvals
expire; a step can require two different approvers."""

from __future__ import annotations

import importlib.util
import json
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from breakglass.cli.app import app
from breakglass.devchain import Anvil
from breakglass.plan.loader import LoadedPlan
from breakglass.respond import service
from breakglass.respond.env import LiveEnv

pytestmark = pytest.mark.chain

_spec = importlib.util.spec_from_file_location(
    "respond_fixtures_approval_binding", Path(__file__).parents[1] / "respond" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _fixtures
_spec.loader.exec_module(_fixtures)
token = _fixtures.token
fresh_chain = _fixtures.fresh_chain
sessions = _fixtures.sessions

_plans_spec = importlib.util.spec_from_file_location(
    "breakglass_tests_hardening_approval_plan", Path(__file__).with_name("approval_plan.py")
)
assert _plans_spec is not None and _plans_spec.loader is not None
_plans = sys.modules.get(_plans_spec.name) or importlib.util.module_from_spec(_plans_spec)
if _plans_spec.name not in sys.modules:
    sys.modules[_plans_spec.name] = _plans
    _plans_spec.loader.exec_module(_plans)
GUARDIAN, PAUSE, UNPAUSE = _plans.GUARDIAN, _plans.PAUSE, _plans.UNPAUSE
_plan = _plans.write_plan


def _env(loaded: LoadedPlan, sessions: Any, anvil: Anvil) -> LiveEnv:
    environ = {"GUARDIAN_KEY": anvil.private_keys[GUARDIAN]}
    return LiveEnv(loaded, sessions, environ=environ, receipt_timeout=30)


def _waiting(loaded: LoadedPlan, sessions: Any, anvil: Anvil) -> int:
    result = service.run_playbook(loaded, sessions, "contain", env=_env(loaded, sessions, anvil))
    step = result.steps[0]
    assert step.status == "awaiting-approval", step
    assert step.step_id is not None
    return step.step_id


def test_a_plan_edit_after_the_request_cannot_swap_the_approved_action(
    fresh_chain: Anvil,
    token: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    token.set_paused(True)  # the team paused by hand; the playbook asks to (re)pause
    asked = _plan(tmp_path, fresh_chain, token, PAUSE)
    step_id = _waiting(asked, sessions, fresh_chain)

    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", str(sessions.kw["bind"].url))
    runs = CliRunner().invoke(app, ["playbook", "runs", "--format", "json"])
    assert runs.exit_code == 0, runs.output
    shown = json.loads(runs.output)[0]["steps"][0]["approval"]
    assert shown["action"].startswith("0x") and len(shown["action"]) == 18
    assert shown["approvals_needed"] == 1

    # The plan file changes under the waiting step: the same position now unpauses.
    swapped = _plan(tmp_path, fresh_chain, token, UNPAUSE)
    with pytest.raises(service.ApprovalError, match="plan now builds a different action"):
        service.approve_step(
            swapped, sessions, step_id, "bob", env=_env(swapped, sessions, fresh_chain)
        )
    assert token.paused(), "an approval of a pause unpaused the token"

    # What was shown is what is approved, and only that.
    with pytest.raises(service.ApprovalError, match="asks to approve action"):
        service.approve_step(
            asked,
            sessions,
            step_id,
            "bob",
            action="0x0123456789abcdef",
            env=_env(asked, sessions, fresh_chain),
        )
    result = service.approve_step(
        asked,
        sessions,
        step_id,
        "bob",
        action=shown["action"],
        env=_env(asked, sessions, fresh_chain),
    )
    assert result.status == "succeeded", result
    assert token.paused()


def test_an_approval_request_expires(
    fresh_chain: Anvil, token: Any, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    loaded = _plan(tmp_path, fresh_chain, token, PAUSE[:-1] + ", approval_expires: 1s}")
    step_id = _waiting(loaded, sessions, fresh_chain)
    time.sleep(1.5)
    with pytest.raises(service.ApprovalError, match="expired"):
        service.approve_step(
            loaded, sessions, step_id, "bob", env=_env(loaded, sessions, fresh_chain)
        )
    assert not token.paused()


def test_two_approvers_are_needed_when_the_plan_says_so(
    fresh_chain: Anvil, token: Any, sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    loaded = _plan(tmp_path, fresh_chain, token, PAUSE[:-1] + ", approvals: 2}")
    step_id = _waiting(loaded, sessions, fresh_chain)
    env = _env(loaded, sessions, fresh_chain)

    first = service.approve_step(loaded, sessions, step_id, "bob", env=env)
    assert first.status == "waiting"
    assert "1 of 2 approvals" in first.steps[0].note
    assert not token.paused()
    with pytest.raises(service.ApprovalError, match=r"bob approved step .* already"):
        service.approve_step(loaded, sessions, step_id, "bob", env=env)
    assert not token.paused()

    second = service.approve_step(
        loaded, sessions, step_id, "carol", env=_env(loaded, sessions, fresh_chain)
    )
    assert second.status == "succeeded", second
    assert token.paused()
