"""Every action's outcome reaches the plan's internal channels and every public update its
public ones: a real webhook receiver on loopback, a real pausable token on anvil, and the
delivery log in the database. Announcements stay off the reaction's hot path."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.api import create_app
from breakglass.api.tokens import create_token
from breakglass.devchain import Anvil
from breakglass.incidents import comms
from breakglass.incidents import service as incidents
from breakglass.notify import Notifier
from breakglass.respond import service
from breakglass.respond.env import LiveEnv
from breakglass.respond.journal import Journal
from breakglass.respond.runner import PlaybookRunner
from breakglass.store.models import Delivery, SafeProposal

pytestmark = pytest.mark.chain

_spec = importlib.util.spec_from_file_location(
    "breakglass_tests_notify_conftest", Path(__file__).parents[1] / "notify" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_notify = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(_notify)
receiver = _notify.receiver
Receiver = _notify.Receiver

GUARDIAN, INTRUDER = 1, 2

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
  intruder: {{type: env, key: "${{INTRUDER_KEY}}"}}
channels:
  war-room: {{url: "json://127.0.0.1:{port}/war", signing_key: "${{HOOK_KEY}}"}}
  status:
    url: "json://127.0.0.1:{port}/status"
    audience: external
    signing_key: "${{HOOK_KEY}}"
playbooks:
  - id: guardian-pause
    steps:
      - {{action: pause, contract: token, signer: guardian}}
  - id: wrong-key
    steps:
      - {{action: pause, contract: token, signer: intruder, on_failure: tell-the-room}}
  - id: tell-the-room
    steps:
      - {{action: notify, channel: war-room, message: "pause by hand now"}}
"""


HOOK_KEY = "whsec-announcements"


def _keys(anvil: Anvil) -> dict[str, str]:
    """The signers' keys and the webhooks' signing key (signed webhooks carry the event)."""
    return {
        "GUARDIAN_KEY": anvil.private_keys[GUARDIAN],
        "INTRUDER_KEY": anvil.private_keys[INTRUDER],
        "HOOK_KEY": HOOK_KEY,
    }


def _messages(hooks: Any, path: str) -> list[dict[str, Any]]:
    return [r.json() for r in hooks.requests if r.path.split("?")[0] == path]


def _deliveries(sessions: sessionmaker[Session]) -> list[tuple[str, str]]:
    with sessions() as session:
        rows = session.scalars(select(Delivery).order_by(Delivery.id)).all()
        return [(row.channel, row.payload["message"]["event"]) for row in rows]


def test_a_manual_pause_tells_the_internal_channel_and_no_public_one(
    fresh_chain: Anvil,
    token: Any,
    write_plan: Any,
    sessions: sessionmaker[Session],
    receiver: Any,
) -> None:
    loaded = write_plan(BODY, port=receiver.port)
    env = LiveEnv(loaded, sessions, environ=_keys(fresh_chain), receipt_timeout=30)

    result = service.pause_contract(loaded, sessions, "token", signer="guardian", env=env)

    assert result.status == "succeeded" and token.paused()
    assert _deliveries(sessions) == [("war-room", "paused")]
    [message] = _messages(receiver, "/war")  # delivered before pause_contract returned
    assert message["event"] == "paused"
    assert "Contracts paused: token on local." in message["body"]
    assert result.steps[0].tx_hash in message["body"]
    assert message["fields"]["step_id"] == result.steps[0].step_id
    assert _messages(receiver, "/status") == []


def test_a_pause_without_the_role_announces_the_failure_and_the_fallback(
    fresh_chain: Anvil,
    token: Any,
    write_plan: Any,
    sessions: sessionmaker[Session],
    receiver: Any,
) -> None:
    loaded = write_plan(BODY, port=receiver.port)
    env = LiveEnv(loaded, sessions, environ=_keys(fresh_chain), receipt_timeout=30)

    result = service.run_playbook(loaded, sessions, "wrong-key", env=env)

    step = result.steps[0]
    assert step.status == "failed" and not token.paused()
    assert step.fallback is not None and step.fallback.status == "succeeded"
    # the fallback's own message may be queued before or after the announcement
    assert sorted(_deliveries(sessions)) == [("war-room", "playbook"), ("war-room", "step_failed")]
    [failed] = [m for m in _messages(receiver, "/war") if m["event"] == "step_failed"]
    assert "Playbook wrong-key, step 0 (pause token as intruder) failed." in failed["body"]
    assert "must have pauser role to pause" in failed["body"]
    assert "Fallback started: playbook tell-the-room." in failed["body"]
    assert _messages(receiver, "/status") == []


def test_the_pause_goes_out_before_anything_is_announced(
    fresh_chain: Anvil,
    token: Any,
    write_plan: Any,
    sessions: sessionmaker[Session],
    receiver: Any,
) -> None:
    """As the monitor reacts: the journal is held while the pause is on its way, and the
    announcement is queued only once the journal is released."""
    loaded = write_plan(BODY, port=receiver.port)

    async def react() -> tuple[bool, list[tuple[str, str]]]:
        env = LiveEnv(loaded, sessions, environ=_keys(fresh_chain), receipt_timeout=30)
        journal = Journal(sessions)
        runner = PlaybookRunner(loaded.plan, env, journal)
        settled = asyncio.Event()
        journal.hold()
        run = asyncio.create_task(
            runner.run("guardian-pause", trigger="test", chain="local", settled=settled)
        )
        await asyncio.wait_for(settled.wait(), 30)
        await asyncio.sleep(0.5)  # time enough for the step to settle and a write to happen
        paused, held = token.paused(), _deliveries(sessions)
        journal.release()
        await run
        await journal.close()
        await env.aclose()
        return paused, held

    paused_while_held, while_held = asyncio.run(react())
    assert paused_while_held  # anvil mines the broadcast at once
    assert while_held == []
    assert _deliveries(sessions) == [("war-room", "paused")]


def test_a_public_update_is_posted_to_the_public_channel(
    write_plan: Any, sessions: sessionmaker[Session], receiver: Any
) -> None:
    loaded = write_plan(BODY, port=receiver.port)
    notifier = Notifier(loaded.plan, sessions, environ={"HOOK_KEY": HOOK_KEY})
    with sessions() as session, session.begin():
        incident = incidents.open_incident(
            session,
            loaded.plan,
            title="Token drained",
            kind="exploit",
            severity="P1",
            chains=[],
            contracts=[],
            detected_at=datetime.now(UTC),
        )
        comms.publish_update(
            session,
            incident.id,
            "identified",
            "Token paused",
            "We paused the token; funds in it are safe.",
            actor="alice",
            notifier=notifier,
        )
        incident_id = incident.id

    assert ("status", "status_update") in _deliveries(sessions)
    asyncio.run(notifier.deliver_due())
    [posted] = _messages(receiver, "/status")
    assert posted["event"] == "status_update" and posted["incident_id"] == incident_id
    assert "Token paused" in posted["body"] and "funds in it are safe" in posted["body"]


def _incident(loaded: Any, sessions: sessionmaker[Session]) -> int:
    with sessions() as session, session.begin():
        incident = incidents.open_incident(
            session,
            loaded.plan,
            title="Token drained",
            kind="exploit",
            severity="P1",
            chains=[],
            contracts=[],
            detected_at=datetime.now(UTC),
        )
        return incident.id


def test_public_updates_from_the_api_and_the_cli_are_posted(
    write_plan: Any,
    sessions: sessionmaker[Session],
    receiver: Any,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("HOOK_KEY", HOOK_KEY)
    loaded = write_plan(BODY, port=receiver.port)
    incident_id = _incident(loaded, sessions)
    with sessions() as session, session.begin():
        bearer = create_token(session, loaded.plan, "alice")
    client = TestClient(create_app(loaded, sessions), raise_server_exceptions=False)
    answer = client.post(
        f"/api/incidents/{incident_id}/updates",
        headers={"Authorization": f"Bearer {bearer}"},
        json={"status": "investigating", "title": "Looking", "body": "We are on it."},
    )
    assert answer.status_code == 201, answer.text
    [posted] = _messages(receiver, "/status")  # delivered once the answer was sent
    assert posted["event"] == "status_update" and "We are on it." in posted["body"]

    environ = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    environ["BREAKGLASS_DATABASE_URL"] = str(sessions.kw["bind"].url)
    command = ["incident", "update", str(incident_id), "identified", "Found it", "A bad oracle."]
    cli = subprocess.run(
        [sys.executable, "-m", "breakglass", *command, "--as", "alice", "--plan", str(loaded.file)],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=environ,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert cli.returncode == 0, cli.stdout + cli.stderr
    assert "delivered 2 queued message(s)" in cli.stdout  # internal channels hear it too
    assert [m["fields"]["status"] for m in _messages(receiver, "/status")] == [
        "investigating",
        "identified",
    ]


def test_breakglass_pause_announces_before_it_exits(
    fresh_chain: Anvil, token: Any, write_plan: Any, receiver: Any, tmp_path: Path
) -> None:
    write_plan(BODY, port=receiver.port)
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= _keys(fresh_chain)
    env |= {"BREAKGLASS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}", "NO_COLOR": "1"}
    done = subprocess.run(
        [sys.executable, "-m", "breakglass", "pause", "token", "--signer", "guardian"],
        capture_output=True,
        text=True,
        cwd=tmp_path,
        env=env,
        timeout=120,
        stdin=subprocess.DEVNULL,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert token.paused()
    assert [m["event"] for m in _messages(receiver, "/war")] == ["paused"]


SAFE_BODY = """
signers:
  owner_a: {{type: env, key: "${{OWNER_A_KEY}}"}}
  owner_c: {{type: env, key: "${{OWNER_C_KEY}}"}}
  ops_safe:
    type: safe
    chain: local
    address: "{safe}"
    threshold: 2
    local_owners: [owner_a]
channels:
  war-room: {{url: "json://127.0.0.1:{port}/war", signing_key: "${{HOOK_KEY}}"}}
playbooks:
  - id: safe-pause
    steps:
      - {{action: safe-proposal, safe: ops_safe, contract: token, verify: "paused()"}}
"""


def test_a_safe_proposal_asks_for_signatures_and_its_execution_is_announced(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Any,
    sessions: sessionmaker[Session],
    receiver: Any,
) -> None:
    loaded = write_plan(SAFE_BODY, safe=pausing_safe, port=receiver.port)
    keys = {
        "OWNER_A_KEY": fresh_chain.private_keys[3],
        "OWNER_C_KEY": fresh_chain.private_keys[5],
        "HOOK_KEY": HOOK_KEY,
    }

    def env() -> LiveEnv:
        return LiveEnv(loaded, sessions, environ=keys, receipt_timeout=30)

    proposed = service.run_playbook(loaded, sessions, "safe-pause", env=env())
    assert proposed.status == "waiting" and not token.paused()
    [asked] = _messages(receiver, "/war")
    assert asked["event"] == "step_done"
    assert "proposed, waiting for signatures" in asked["title"]
    assert "1 of 2 signatures" in asked["body"]

    with sessions() as session:
        proposal = session.scalars(select(SafeProposal.id)).one()
    _, tx_hash = service.sign_proposal(loaded, sessions, proposal, "owner_c", env=env())
    assert tx_hash is not None and token.paused()
    executed = _messages(receiver, "/war")[-1]
    assert executed["event"] == "paused"
    assert "Contracts paused: token on local." in executed["body"] and tx_hash in executed["body"]
    assert "Playbook safe-pause, step 0: verified." in executed["body"]
