"""The incident moves by itself: ``monitor`` with its responder and incident desk on anvil.

A drain of a real OpenZeppelin pausable token raises an alert; the playbook bound to its
rule pauses the token (and a second token standing for a bridge on another chain) and
verifies both; the desk then marks the incident ``contained``, with its milestone, a time
to contain, a timeline status event and a ``contained`` notification. A pause that fails,
or that verified only on a dry run's fork, leaves the incident where it was.

One anvil stands in for two chains: the plan's ``mirror`` chain names the same node.
"""

from __future__ import annotations

import asyncio
import importlib.util
import json
import os
import re
import subprocess
import sys
import textwrap
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.api import create_app
from breakglass.api.tokens import create_token
from breakglass.devchain import Anvil
from breakglass.events import IncidentOpened
from breakglass.incidents import pause_targets, timeline
from breakglass.plan.loader import LoadedPlan, load_plan
from breakglass.respond.env import DryRunEnv, LiveEnv
from breakglass.respond.responder import Responder
from breakglass.runtime.monitor import MonitorApp, Pipeline, build_pipeline
from breakglass.store.models import (
    AlertRecord,
    Delivery,
    Incident,
    IncidentRun,
    PlaybookRun,
    StepEvent,
    StepRun,
)

pytestmark = pytest.mark.chain

# The containment tests own the pausable-token fixtures; reuse them rather than copy them.
_spec = importlib.util.spec_from_file_location(
    "respond_fixtures_auto_contain", Path(__file__).parents[1] / "respond" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_respond = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_respond)
token = _respond.token
pausing_safe = _respond.pausing_safe
fresh_chain = _respond.fresh_chain
sessions = _respond.sessions
Token = _respond.Token

ROOT = Path(__file__).parents[2]
GUARDIAN, INTRUDER = _respond.GUARDIAN, _respond.INTRUDER
BRIDGE_GUARDIAN = 7  # holds PAUSER_ROLE on the bridge token only
HOLDER = 6  # stands in for a vault holding the tokens
RECEIVER = 8

PAUSE = '{function: "pause()", check: "paused()", unpause: "unpause()"}'


@pytest.fixture(scope="module")
def bridge(anvil: Anvil, token: Any) -> Any:
    """A second pausable token, the ``mirror`` chain's bridge in the plan."""
    deployed = Token(anvil)
    deployed.grant_pauser(anvil.accounts[BRIDGE_GUARDIAN])
    return deployed


@pytest.fixture
def write_plan(tmp_path: Path, anvil: Anvil, token: Any, bridge: Any) -> Callable[..., LoadedPlan]:
    """A plan watching the vault on ``local``; ``playbooks`` is its playbooks section and
    ``signers`` more lines of its signers section."""

    def write(playbooks: str, *, signers: str = "") -> LoadedPlan:
        text = f"""
        version: 1
        protocol: Auto Contain
        people:
          alice: {{name: Alice}}
          bob: {{name: Bob}}
        roles:
          incident_lead: [alice]
          pauser: {{members: [bob], handles: [pause, unpause]}}
        chains:
          local: {{chain_id: 31337, block_time: 1, rpc: ["{anvil.http_url}"]}}
          mirror: {{chain_id: 31337, block_time: 1, rpc: ["{anvil.http_url}"]}}
        contracts:
          vault: {{chain: local, address: "{anvil.accounts[HOLDER]}"}}
          token: {{chain: local, address: "{token.address}", pause: {PAUSE}}}
          bridge: {{chain: mirror, address: "{bridge.address}", pause: {PAUSE}}}
        signers:
          guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
          bridge_guardian: {{type: env, key: "${{BRIDGE_KEY}}"}}
        channels:
          war-room: "json://127.0.0.1:9/hook"
        rules:
          - id: drain
            rule: large-outflow
            chain: local
            contracts: [vault]
            severity: critical
            params: {{token: "{token.address}", threshold: 1000, decimals: 18}}
          - id: outflow-watch
            rule: large-outflow
            chain: local
            contracts: [vault]
            severity: medium
            params: {{token: "{token.address}", threshold: 100, decimals: 18}}
        """
        text = textwrap.dedent(text).replace("signers:\n", "signers:\n" + signers, 1)
        path = tmp_path / "breakglass.yaml"
        path.write_text(text + textwrap.dedent(playbooks))
        return load_plan(path)

    return write


BOTH = """
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {action: pause, contract: token, signer: guardian, verify: "paused()"}
      - {action: pause, contract: bridge, signer: bridge_guardian, verify: "paused()"}
      - {action: page, role: incident_lead}
"""

TOKEN_ONLY = """
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {action: pause, contract: token, signer: guardian, verify: "paused()"}
"""

TWO_PLAYBOOKS = """
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {action: pause, contract: token, signer: guardian, verify: "paused()"}
  - id: contain-bridge
    on: [drain]
    steps:
      - {action: pause, contract: bridge, signer: bridge_guardian, verify: "paused()"}
"""


SAFE_FALLBACK = """
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {action: pause, contract: token, signer: guardian, on_failure: safe-pause}
  - id: safe-pause
    steps:
      - {action: safe-proposal, safe: ops_safe, contract: token, verify: "paused()"}
"""


def _drain(token: Any, anvil: Anvil) -> None:
    """Mint to the vault, then move 5,000 tokens out of it: above both rules' limits."""
    holder = anvil.accounts[HOLDER]
    mint = token.contract.encode_abi("mint", [holder, 10**24])
    _respond.safe_chain.send(token.w3, anvil.private_keys[0], {"to": token.address, "data": mint})
    out = token.contract.encode_abi("transfer", [anvil.accounts[RECEIVER], 5 * 10**21])
    _respond.safe_chain.send(
        token.w3, anvil.private_keys[HOLDER], {"to": token.address, "data": out}
    )


@dataclass
class Watched:
    loaded: LoadedPlan
    sessions: sessionmaker[Session]
    pipe: Pipeline
    incident_id: int

    def sync(self) -> None:
        """The desk's round, and its events delivered to notify."""
        assert self.pipe.desk is not None
        self.pipe.desk.sync()
        asyncio.run(self.pipe.relay.drain())


def _watch(
    loaded: LoadedPlan,
    sessions: sessionmaker[Session],
    env: LiveEnv,
    token: Any,
    anvil: Anvil,
) -> Watched:
    """``breakglass monitor`` as its command composes it (responder, the desk and notify
    on the alerts' events, the desk's background loop), until the drain's runs have
    finished."""
    pipe = build_pipeline(loaded.plan, sessions)
    incidents: list[int] = []

    async def on_incident(event: Any) -> None:
        incidents.append(event.incident_id)

    pipe.bus.subscribe("test.incidents", [IncidentOpened], on_incident)
    assert pipe.desk is not None
    desk = pipe.desk

    async def scenario() -> None:
        stop = asyncio.Event()
        responder = Responder(loaded, chain="local", sessions=sessions, env=env)
        app = MonitorApp(
            loaded, "local", sessions, pipe.bus, pipe.relay, responder, None, pipe.notifier
        )  # its desk loop below, faster than the default
        monitor = asyncio.create_task(app.run(stop, poll_interval=0.05))
        background = asyncio.create_task(desk.run(stop, interval=0.1))
        await asyncio.sleep(0.5)
        await asyncio.to_thread(_drain, token, anvil)
        for _ in range(400):
            if responder.results:
                break
            await asyncio.sleep(0.05)
        await responder.wait_idle()
        await asyncio.sleep(0.3)  # a round of the desk's own loop
        stop.set()
        await asyncio.gather(monitor, background)
        assert responder.results, "no playbook ran for the drain"

    asyncio.run(scenario())
    watched = Watched(loaded, sessions, pipe, incidents[0] if incidents else 0)
    watched.sync()  # once more, now that the loop has stopped and every record is stored
    assert incidents, "the drain opened no incident"
    return watched


def _deliveries(sessions: sessionmaker[Session], event: str) -> list[Delivery]:
    with sessions() as session:
        return list(session.scalars(select(Delivery).where(Delivery.event == event)))


def _status_events(session: Session, incident_id: int) -> list[Any]:
    return [e for e in timeline(session, incident_id) if e.kind == "status" and "to" in e.data]


def _keys(anvil: Anvil, guardian: int = GUARDIAN) -> dict[str, str]:
    return {
        "GUARDIAN_KEY": anvil.private_keys[guardian],
        "BRIDGE_KEY": anvil.private_keys[BRIDGE_GUARDIAN],
    }


def _show(sessions_url: str, incident_id: int, cwd: Path) -> str:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= {"COLUMNS": "200", "NO_COLOR": "1", "BREAKGLASS_DATABASE_URL": sessions_url}
    shown = subprocess.run(
        [sys.executable, "-m", "breakglass", "incident", "show", str(incident_id)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )
    assert shown.returncode == 0, shown.stderr
    return shown.stdout


def test_verified_pauses_contain_the_incident(
    fresh_chain: Anvil,
    token: Any,
    bridge: Any,
    write_plan: Callable[..., LoadedPlan],
    sessions: sessionmaker[Session],
    tmp_path: Path,
) -> None:
    loaded = write_plan(BOTH)
    env = LiveEnv(loaded, sessions, environ=_keys(fresh_chain))
    watched = _watch(loaded, sessions, env, token, fresh_chain)

    assert token.paused() and bridge.paused()
    with sessions() as session:
        incident = session.get(Incident, watched.incident_id)
        assert incident is not None
        assert incident.status == "contained"
        assert incident.contained_at is not None
        assert incident.contained_at >= incident.detected_at
        verified = session.scalars(
            select(StepEvent.at).where(StepEvent.phase == "verify").order_by(StepEvent.at)
        ).all()
        assert len(verified) == 2
        assert incident.contained_at == max(verified[-1], incident.detected_at)
        moves = _status_events(session, watched.incident_id)
        last = moves[-1]
        assert (last.data["from"], last.data["to"], last.actor) == (
            "detected",
            "contained",
            "breakglass",
        )
        assert "token" in last.summary and "bridge" in last.summary
        # Every chain it touched: the alerts' and the run's, and the bridge's it paused.
        assert incident.chains == ["local", "mirror"]
        targets = pause_targets(session, loaded.plan, watched.incident_id)
        assert [(t.contract, t.chain) for t in targets] == [
            ("bridge", "mirror"),
            ("token", "local"),
        ]

    contained = _deliveries(sessions, "contained")
    assert len(contained) == 1
    assert contained[0].incident_id == watched.incident_id
    assert "Contracts paused: bridge, token." in contained[0].body
    assert contained[0].payload["message"]["fields"]["by"] == "breakglass"

    # An alert that joined the incident is told with its own severity, not the incident's.
    alerts = _deliveries(sessions, "alert")
    assert len(alerts) == 1
    with sessions() as session:
        severities = {a.severity for a in session.scalars(select(AlertRecord))}
    assert severities == {"critical", "medium"}
    told = alerts[0].payload["message"]
    assert told["severity"] in severities
    assert told["fields"]["incident_severity"] == "P1"
    assert alerts[0].title.startswith(f"[{told['severity'].upper()}]")

    # Idempotent: the desk's next rounds neither move it again nor tell anyone twice.
    watched.sync()
    with sessions() as session:
        moves = _status_events(session, watched.incident_id)
        assert [m.data["to"] for m in moves].count("contained") == 1
    assert len(_deliveries(sessions, "contained")) == 1

    # ``incident show`` and the API give the time to contain and every chain.
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    shown = _show(url, watched.incident_id, tmp_path)
    assert "chains local, mirror" in shown
    rows = [line for line in shown.splitlines() if "time to contain" in line]
    # once, in the headline, in the one duration format (``0.6 s``, ``12 s``, ``1 min 05 s``)
    assert len(rows) == 1, rows
    assert re.search(r"time to contain\W+(\d+ min )?\d+(\.\d)? s\b", rows[0]), rows
    with sessions() as session, session.begin():
        bearer = create_token(session, loaded.plan, "alice")
    client = TestClient(create_app(loaded, sessions))
    got = client.get(
        f"/api/incidents/{watched.incident_id}", headers={"Authorization": f"Bearer {bearer}"}
    )
    assert got.status_code == 200, got.text
    body = got.json()
    assert body["status"] == "contained" and body["chains"] == ["local", "mirror"]
    assert body["durations"]["time_to_contain"] is not None
    assert body["durations"]["time_to_contain"] >= 0
    assert set(body["durations"]) == {
        "time_to_detect",
        "time_to_acknowledge",
        "time_to_contain",
        "time_to_resolve",
    }
    json.dumps(body)


def test_a_failed_pause_leaves_the_incident_where_it_is(
    fresh_chain: Anvil,
    token: Any,
    write_plan: Callable[..., LoadedPlan],
    sessions: sessionmaker[Session],
) -> None:
    loaded = write_plan(TOKEN_ONLY)
    env = LiveEnv(loaded, sessions, environ=_keys(fresh_chain, guardian=INTRUDER))
    watched = _watch(loaded, sessions, env, token, fresh_chain)

    assert not token.paused()
    with sessions() as session:
        step = session.scalars(select(StepRun)).one()
        assert step.status == "failed"
        incident = session.get(Incident, watched.incident_id)
        assert incident is not None
        assert (incident.status, incident.contained_at) == ("detected", None)
        assert [m.data["to"] for m in _status_events(session, watched.incident_id)] == ["detected"]
        assert [t.verified_at for t in pause_targets(session, loaded.plan, incident.id)] == [None]
    assert _deliveries(sessions, "contained") == []


def test_one_unverified_target_of_several_runs_keeps_it_open(
    fresh_chain: Anvil,
    token: Any,
    bridge: Any,
    write_plan: Callable[..., LoadedPlan],
    sessions: sessionmaker[Session],
) -> None:
    loaded = write_plan(TWO_PLAYBOOKS)
    keys = _keys(fresh_chain) | {"BRIDGE_KEY": fresh_chain.private_keys[INTRUDER]}
    watched = _watch(loaded, sessions, LiveEnv(loaded, sessions, environ=keys), token, fresh_chain)

    assert token.paused() and not bridge.paused()
    with sessions() as session:
        runs = session.scalars(select(IncidentRun)).all()
        assert len(runs) == 2
        incident = session.get(Incident, watched.incident_id)
        assert incident is not None and incident.status == "detected"
        found = pause_targets(session, loaded.plan, watched.incident_id)
        targets = {t.contract: t.verified_at for t in found}
        assert targets["token"] is not None and targets["bridge"] is None
    assert _deliveries(sessions, "contained") == []


def test_a_safe_fallback_that_verifies_contains_it(
    fresh_chain: Anvil,
    token: Any,
    pausing_safe: str,
    write_plan: Callable[..., LoadedPlan],
    sessions: sessionmaker[Session],
) -> None:
    owners = f"""  ops_safe: {{type: safe, chain: local, address: "{pausing_safe}", threshold: 2,
             local_owners: [owner_a, owner_b]}}
  owner_a: {{type: env, key: "${{OWNER_A_KEY}}"}}
  owner_b: {{type: env, key: "${{OWNER_B_KEY}}"}}
"""
    loaded = write_plan(SAFE_FALLBACK, signers=owners)
    keys = _keys(fresh_chain, guardian=INTRUDER) | {
        "OWNER_A_KEY": fresh_chain.private_keys[_respond.SAFE_OWNERS[0]],
        "OWNER_B_KEY": fresh_chain.private_keys[_respond.SAFE_OWNERS[1]],
    }
    env = LiveEnv(loaded, sessions, environ=keys, receipt_timeout=30)
    watched = _watch(loaded, sessions, env, token, fresh_chain)

    assert token.paused()
    with sessions() as session:
        runs = {r.playbook: r.status for r in session.scalars(select(PlaybookRun))}
        assert runs == {"contain": "failed", "safe-pause": "succeeded"}
        assert len(session.scalars(select(IncidentRun)).all()) == 2
        incident = session.get(Incident, watched.incident_id)
        assert incident is not None and incident.status == "contained"
        last = _status_events(session, watched.incident_id)[-1]
        assert last.actor == "breakglass"
        assert last.summary == "detected → contained: verified paused: token"
    assert len(_deliveries(sessions, "contained")) == 1


@pytest.fixture
def fork(anvil: Anvil) -> Iterator[Anvil]:
    chain = Anvil.start(chain_id=31337, fork_url=anvil.http_url)
    with chain:
        yield chain


def test_a_dry_run_contains_nothing(
    fresh_chain: Anvil,
    fork: Anvil,
    token: Any,
    write_plan: Callable[..., LoadedPlan],
    sessions: sessionmaker[Session],
) -> None:
    loaded = write_plan(TOKEN_ONLY)
    env = DryRunEnv(
        loaded,
        sessions,
        environ=_keys(fresh_chain),
        rpc_urls={"local": fork.http_url, "mirror": fork.http_url},
        receipt_timeout=30,
    )
    watched = _watch(loaded, sessions, env, token, fresh_chain)

    assert not token.paused(), "a dry run must not touch the real chain"
    with sessions() as session:
        run = session.scalars(select(PlaybookRun)).one()
        alert = session.scalars(select(AlertRecord).where(AlertRecord.rule == "drain")).one()
        assert run.dry_run and run.trigger == alert.dedupe_key
        held = session.scalars(select(StepEvent).where(StepEvent.phase == "verify")).all()
        assert held, "the fork's pause verified, so only its dryness keeps it out"
        incident = session.get(Incident, watched.incident_id)
        assert incident is not None
        assert (incident.status, incident.contained_at) == ("detected", None)
        assert pause_targets(session, loaded.plan, incident.id) == []
    assert _deliveries(sessions, "contained") == []
