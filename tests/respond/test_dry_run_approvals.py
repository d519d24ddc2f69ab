"""A dry run rehearses a playbook on a throwaway fork: its approval step says whom it would
wait for and the rehearsal goes on as if approved, its messages and pages are recorded and
never sent, and nothing of it can be approved or ticked into a live run (service, CLI, API
and dashboard alike)."""

from __future__ import annotations

import os
import subprocess
import sys
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.api.tokens import create_token
from breakglass.devchain import Anvil
from breakglass.respond import service
from breakglass.respond.env import LiveEnv
from breakglass.server import create_app
from breakglass.store.models import Delivery, PlaybookRun, StepEvent, StepRun
from breakglass.web.auth import SESSION_COOKIE, csrf_for
from breakglass.web.sessions import start_session

pytestmark = pytest.mark.chain

GUARDIAN = 1

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}", address: "{guardian}"}}
channels:
  war-room: "json://127.0.0.1:9/war"
playbooks:
  - id: approved-pause
    steps:
      - {{action: pause, contract: token, signer: guardian, mode: approval, verify: "paused()"}}
      - {{action: notify, channel: war-room, message: "token paused"}}
      - {{action: page, role: incident_lead, message: "wake up"}}
      - {{action: manual, owner: incident_lead, instructions: "take the front end down"}}
"""


def _dry_run(loaded: Any, sessions: sessionmaker[Session]) -> Any:
    return service.dry_run_playbook(loaded, sessions, "approved-pause")


def test_a_dry_run_goes_on_past_its_approval_step_on_the_fork_only(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    guardian = fresh_chain.accounts[GUARDIAN]
    loaded = write_plan(BODY, guardian=guardian)
    before = token.nonce(guardian)

    result = _dry_run(loaded, sessions)

    assert [s.status for s in result.steps] == ["done", "done", "done", "waiting"]
    assert result.steps[0].tx_hash  # the pause really ran, on the fork
    assert "dry run: would wait for approval by pauser" in result.steps[0].note
    assert "would page incident_lead" in result.steps[2].note
    assert not token.paused() and token.nonce(guardian) == before  # the live chain: untouched
    with sessions() as session:
        assert session.scalars(select(Delivery)).all() == []  # nobody told, nobody paged
        run = session.scalars(select(PlaybookRun)).one()
        assert run.dry_run
        steps = session.scalars(select(StepRun).order_by(StepRun.position)).all()
        assert [s.status for s in steps] == ["done", "done", "done", "todo"]
        phases = {
            (e.phase, str(e.detail.get("approver", e.detail.get("message", ""))))
            for e in session.scalars(select(StepEvent))
        }
    assert ("rehearsed", "pauser") in phases  # whom the live run would wait for
    assert ("notify", "token paused") in phases and ("page", "wake up") in phases


def test_no_step_of_a_dry_run_can_be_approved_or_ticked(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(BODY, guardian=fresh_chain.accounts[GUARDIAN])
    result = _dry_run(loaded, sessions)
    approval, manual = result.steps[0].step_id, result.steps[3].step_id
    assert approval is not None and manual is not None
    env = LiveEnv(loaded, sessions, environ={"GUARDIAN_KEY": fresh_chain.private_keys[GUARDIAN]})

    with pytest.raises(service.ApprovalError, match=r"belongs to dry run .* cannot be approved"):
        service.approve_step(loaded, sessions, approval, "bob", env=env)
    with pytest.raises(service.ApprovalError, match=r"belongs to dry run .* cannot be ticked"):
        service.tick_step(loaded, sessions, step_id=manual, person="alice")

    with sessions() as session, session.begin():
        # a dry-run step left waiting for approval, as runs were stored before
        session.get_one(StepRun, approval).status = "awaiting-approval"
        tokens = {p: create_token(session, loaded.plan, p) for p in ("alice", "bob")}
        opened = start_session(session, plan=loaded.plan, token=tokens["bob"])
        assert opened is not None
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)
    api = client.post(
        f"/api/steps/{approval}/approve",
        json={"action": "0x0123456789abcdef"},
        headers={"Authorization": f"Bearer {tokens['bob']}"},
    )
    assert api.status_code == 409 and "dry run" in api.json()["detail"]
    ticked = client.post(
        f"/api/steps/{manual}/tick", headers={"Authorization": f"Bearer {tokens['alice']}"}
    )
    assert ticked.status_code == 409 and "dry run" in ticked.json()["detail"]

    client.cookies.set(SESSION_COOKIE, opened[0])  # the dashboard's session, not the token
    form = client.post(
        f"/steps/{approval}/approve",
        data={"csrf_token": csrf_for(opened[0])},
        follow_redirects=False,
    )
    assert form.status_code == 409 and "dry run" in form.text

    environ = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    environ["BREAKGLASS_DATABASE_URL"] = str(sessions.kw["bind"].url)
    command = ["approve", str(approval), "--as", "bob", "--plan", str(loaded.file)]
    cli = subprocess.run(
        [sys.executable, "-m", "breakglass", *command],
        capture_output=True,
        text=True,
        env=environ | {"GUARDIAN_KEY": fresh_chain.private_keys[GUARDIAN], "COLUMNS": "200"},
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert cli.returncode == 2, cli.stdout + cli.stderr
    assert "belongs to dry run" in cli.stderr and "Traceback" not in cli.stderr

    assert not token.paused()
    with sessions() as session:
        assert session.scalars(select(Delivery)).all() == []
        assert session.get_one(StepRun, manual).status == "todo"
