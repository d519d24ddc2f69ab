"""Ticking manual steps: a checklist item (and any step in ``manual`` mode) waits as
``todo`` until a member of its owner role ticks it, from the service, the CLI, the API
(``POST /api/steps/{id}/tick``) or the dashboard's form; the run succeeds once nothing else
waits."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
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
from breakglass.store.models import PlaybookRun, StepRun
from breakglass.web.auth import SESSION_COOKIE, csrf_for
from breakglass.web.sessions import start_session

pytestmark = pytest.mark.chain

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
playbooks:
  - id: contain
    steps:
      - {{action: pause, contract: token, signer: guardian, verify: "paused()"}}
      - {{action: manual, owner: incident_lead, instructions: "take the front end down"}}
      - {{action: pause, contract: token, signer: guardian, mode: manual}}
"""


def _contain(anvil: Anvil, loaded: Any, sessions: sessionmaker[Session]) -> list[int]:
    env = LiveEnv(loaded, sessions, environ={"GUARDIAN_KEY": anvil.private_keys[1]})
    result = service.run_playbook(loaded, sessions, "contain", env=env)
    assert result.status == "waiting", result
    ids = [s.step_id for s in result.steps]
    assert None not in ids
    return [i for i in ids if i is not None]


def _statuses(sessions: sessionmaker[Session]) -> tuple[str, list[str]]:
    with sessions() as session:
        run = session.scalars(select(PlaybookRun)).one()
        steps = session.scalars(select(StepRun).order_by(StepRun.position)).all()
        return run.status, [s.status for s in steps]


def test_owners_tick_manual_steps_and_the_last_tick_completes_the_run(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(BODY)
    paused, checklist, by_hand = _contain(fresh_chain, loaded, sessions)
    assert token.paused()
    assert _statuses(sessions) == ("waiting", ["done", "todo", "todo"])

    with pytest.raises(service.ApprovalError, match="bob is not in role incident_lead"):
        service.tick_step(loaded, sessions, step_id=checklist, person="bob")
    with pytest.raises(service.ApprovalError, match=f"step {paused} is done, not todo"):
        service.tick_step(loaded, sessions, step_id=paused, person="alice")
    # a pause in manual mode belongs to the role that handles pauses
    with pytest.raises(service.ApprovalError, match="alice is not in role pauser"):
        service.tick_step(loaded, sessions, step_id=by_hand, person="alice")

    first = service.tick_step(loaded, sessions, step_id=checklist, person="alice")
    assert first.run_status == "waiting"
    last = service.tick_step(loaded, sessions, step_id=by_hand, person="bob")
    assert last.run_status == "succeeded"
    assert _statuses(sessions) == ("succeeded", ["done", "done", "done"])
    with sessions() as session:
        assert session.get_one(StepRun, checklist).decided_by == "alice"
    with pytest.raises(service.ApprovalError, match=f"step {checklist} is done"):
        service.tick_step(loaded, sessions, step_id=checklist, person="alice")


def test_breakglass_tick_from_the_command_line(
    fresh_chain: Anvil,
    token: Any,
    write_plan: Any,
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    loaded = write_plan(BODY)
    _, checklist, by_hand = _contain(fresh_chain, loaded, sessions)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= {
        "BREAKGLASS_DATABASE_URL": f"sqlite:///{tmp_path / 'breakglass.db'}",
        "NO_COLOR": "1",
        "COLUMNS": "200",
    }

    def tick(step: int, person: str) -> subprocess.CompletedProcess[str]:
        command = ["tick", str(step), "--as", person, "--plan", str(loaded.file)]
        return subprocess.run(
            [sys.executable, "-m", "breakglass", *command],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=120,
            stdin=subprocess.DEVNULL,
            check=False,
        )

    refused = tick(checklist, "carol")
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "carol is not in role incident_lead" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert tick(checklist, "alice").returncode == 0
    done = tick(by_hand, "bob")
    assert done.returncode == 0, done.stdout + done.stderr
    assert f"step {by_hand} done by bob; run" in done.stdout and "succeeded" in done.stdout
    assert _statuses(sessions) == ("succeeded", ["done", "done", "done"])


def test_tick_through_the_api_and_the_dashboard(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    loaded = write_plan(BODY)
    _, checklist, by_hand = _contain(fresh_chain, loaded, sessions)
    with sessions() as session, session.begin():
        tokens = {p: create_token(session, loaded.plan, p) for p in ("alice", "bob", "carol")}
        run_id = session.get_one(StepRun, checklist).run_id
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)

    def tick(person: str, step: int) -> Any:
        headers = {"Authorization": f"Bearer {tokens[person]}"}
        return client.post(f"/api/steps/{step}/tick", headers=headers)

    assert tick("carol", checklist).status_code == 403  # a viewer
    refused = tick("bob", checklist)  # a responder, but not in the owner role
    assert refused.status_code == 409
    assert "bob is not in role incident_lead" in refused.json()["detail"]
    assert tick("alice", 999_999).status_code == 404
    ticked = tick("alice", checklist)
    assert ticked.status_code == 200, ticked.text
    assert ticked.json() == {"step_id": checklist, "run_id": run_id, "run_status": "waiting"}
    again = tick("alice", checklist)
    assert again.status_code == 409 and f"step {checklist} is done" in again.json()["detail"]

    with sessions() as session, session.begin():
        opened = start_session(session, plan=loaded.plan, token=tokens["bob"])
    assert opened is not None
    session_id, _ = opened
    client.cookies.set(SESSION_COOKIE, session_id)
    form = client.post(
        f"/steps/{by_hand}/tick",
        data={"csrf_token": csrf_for(session_id)},
        follow_redirects=False,
    )
    assert form.status_code == 303, form.text
    assert _statuses(sessions) == ("succeeded", ["done", "done", "done"])
    with sessions() as session:
        assert session.get_one(StepRun, by_hand).decided_by == "bob"
