"""The monitor's health alerts on real anvil chains, each paging the incident lead within
its grace: the endpoint killed, a rule pointed at an address without code, the guardian's
balance drained below the gas of three pauses."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from eth_utils.crypto import keccak
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass.detect.alerts import Alert
from breakglass.detect.health import Condition
from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.events import AlertRaised, Event
from breakglass.plan import load_plan
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.env import LiveEnv
from breakglass.respond.responder import Responder
from breakglass.runtime.monitor import MonitorApp, build_pipeline
from breakglass.store.models import AlertRecord, Incident, Page

pytestmark = pytest.mark.chain

GHOST = "0x" + "de" * 20  # no code on a fresh anvil
GUARDIAN = 1
PAUSER_ROLE = "0x" + keccak(text="PAUSER_ROLE").hex()

HEAD = """\
protocol: T
people:
  alice: {{name: Alice, page: "json://127.0.0.1:9/alice"}}
roles:
  incident_lead: [alice]
chains:
  local:
    chain_id: 31337
    block_time: 1
    rpc: ["{url}"]
    health: {{no_head_after: {no_head}, grace: {grace}, check_every: 0.1s}}
"""


def _plan(tmp_path: Path, url: str, body: str = "", **health: str) -> LoadedPlan:
    values = {"no_head": "60s", "grace": "1s", **health}
    path = tmp_path / "plan.yaml"
    path.write_text(HEAD.format(url=url, **values) + textwrap.dedent(body))
    return load_plan(path)


@dataclass
class Run:
    """The monitor, with the incident desk on its alerts, as ``breakglass monitor`` runs it."""

    loaded: LoadedPlan
    sessions: sessionmaker[Session]
    responder: Responder | None = None
    alerts: list[tuple[float, Alert]] = field(default_factory=list)
    cleared: list[Condition] = field(default_factory=list)
    blocks: list[int] = field(default_factory=list)

    def raised(self, rule: str) -> list[tuple[float, Alert]]:
        return [(at, a) for at, a in self.alerts if a.finding.rule == rule]

    async def until(
        self, check: Callable[[], bool], task: asyncio.Task[None], timeout: float = 20.0
    ) -> float:
        start = time.monotonic()
        while not check():
            if task.done():
                task.result()
                raise AssertionError("the monitor stopped before the check held")
            assert time.monotonic() - start < timeout, "timed out"
            await asyncio.sleep(0.02)
        return time.monotonic()

    async def watch(self, scenario: Callable[[asyncio.Task[None]], Any]) -> None:
        pipe = build_pipeline(self.loaded.plan, self.sessions)
        app = MonitorApp(
            self.loaded, "local", self.sessions, pipe.bus, pipe.relay, self.responder,
            pipe.desk, pipe.notifier,
        )  # fmt: skip

        async def on_alert(event: Event) -> None:
            assert isinstance(event, AlertRaised)
            with self.sessions() as session:
                alert = Alert.from_record(session.get_one(AlertRecord, event.alert_id))
            self.alerts.append((time.monotonic(), alert))

        app.bus.subscribe("test.alerts", [AlertRaised], on_alert)
        stop = asyncio.Event()
        task = asyncio.create_task(
            app.run(
                stop,
                on_clear=self.cleared.append,
                on_block=lambda block, _findings: self.blocks.append(block.number),
                poll_interval=0.05,
            )
        )
        try:
            await scenario(task)
        finally:
            stop.set()
            await asyncio.wait_for(task, 15)

    def paged(self, rule: str) -> Page:
        """The page the incident opened by ``rule``'s alert sent the incident lead."""
        with self.sessions() as session:
            alert = session.scalars(select(AlertRecord).where(AlertRecord.rule == rule)).one()
            incident = session.scalars(select(Incident).where(Incident.title == alert.title)).one()
            page: Page = session.scalars(select(Page).where(Page.incident_id == incident.id)).one()
            session.expunge(page)
            return page


@dataclass
class Pings:
    paths: list[float] = field(default_factory=list)


@pytest.fixture
def heartbeat_receiver() -> Iterator[tuple[Pings, str]]:
    pings = Pings()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            pings.paths.append(time.monotonic())
            self.send_response(200)
            self.end_headers()

        def log_message(self, *_: Any) -> None:
            return

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield pings, f"http://127.0.0.1:{server.server_address[1]}/ping/c0ffee-check"
    server.shutdown()
    server.server_close()


def test_a_killed_endpoint_pages_within_its_grace_and_silences_the_heartbeat(
    tmp_path: Path, sessions: sessionmaker[Session], heartbeat_receiver: tuple[Pings, str]
) -> None:
    pings, ping_url = heartbeat_receiver
    try:
        chain = Anvil.start(block_time=0.2)
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test: {exc}", pytrace=False)
    with chain:
        body = f"""\
                heartbeat: {{url: "{ping_url}", every: 0.1s}}
            rules: []
        """
        loaded = _plan(tmp_path, chain.http_url, body, no_head="1s", grace="1s")
        run = Run(loaded, sessions)
        killed: list[float] = []

        async def scenario(task: asyncio.Task[None]) -> None:
            await run.until(lambda: len(run.blocks) >= 3 and len(pings.paths) >= 2, task)
            chain.stop()
            killed.append(time.monotonic())
            await run.until(
                lambda: (
                    bool(run.raised("breakglass.health.endpoints"))
                    and bool(run.raised("breakglass.health.no-head"))
                ),
                task,
            )
            await asyncio.sleep(0.5)  # standing: nothing more is raised

        asyncio.run(run.watch(scenario))

    ((endpoints_at, endpoints),) = run.raised("breakglass.health.endpoints")
    ((no_head_at, no_head),) = run.raised("breakglass.health.no-head")
    assert len(run.alerts) == 2
    # Grace 1s, checks every 0.1s; no new head is a condition 1s after the last block.
    assert 1.0 <= endpoints_at - killed[0] < 3.0
    assert 1.0 <= no_head_at - killed[0] < 4.0
    assert "every RPC endpoint of local is failing" in endpoints.finding.title
    assert endpoints.finding.severity == "high"
    for alert in (endpoints, no_head):
        page = run.paged(alert.finding.rule)
        assert (page.role, page.people) == ("incident_lead", ["alice"])
    last_ping = max(pings.paths)
    assert last_ping - killed[0] < 1.0, "the heartbeat kept pinging a blind monitor"


def test_a_rule_pointed_at_an_address_without_code_pages(
    anvil: Anvil, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    loaded = _plan(
        tmp_path,
        anvil.http_url,
        f"""\
        contracts:
          vault: {{chain: local, address: "{GHOST}"}}
        rules:
          - {{id: vault-paused, rule: paused, contracts: [vault], severity: critical}}
        """,
        grace="0.5s",
    )
    run = Run(loaded, sessions)
    started: list[float] = []

    async def scenario(task: asyncio.Task[None]) -> None:
        started.append(time.monotonic())
        await run.until(lambda: bool(run.raised("breakglass.health.no-code")), task)
        await asyncio.sleep(0.3)

    asyncio.run(run.watch(scenario))

    ((at, alert),) = run.raised("breakglass.health.no-code")
    assert at - started[0] < 3.0
    assert alert.finding.addresses == (GHOST,)
    assert alert.finding.title == f"rule vault-paused watches {GHOST}, which has no code"
    assert [a.finding.rule for _, a in run.alerts] == ["breakglass.health.no-code"]
    assert run.paged("breakglass.health.no-code").people == ["alice"]


def test_a_drained_guardian_pages_and_clears_when_topped_up(
    anvil: Anvil, token: Any, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    guardian = anvil.accounts[GUARDIAN]
    token.call(anvil.accounts[0], "grantRole", PAUSER_ROLE, guardian)
    loaded = _plan(
        tmp_path,
        anvil.http_url,
        f"""\
            gas: {{max_fee_gwei: 10}}
        contracts:
          token: {{chain: local, address: "{token.address}"}}
        signers:
          guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
        rules:
          - {{id: token-paused, rule: paused, contracts: [token], severity: critical}}
        playbooks:
          - id: contain
            on: [token-paused]
            steps:
              - {{action: pause, contract: token, signer: guardian}}
        """,
        grace="0.5s",
    )
    env = LiveEnv(loaded, sessions, environ={"GUARDIAN_KEY": anvil.private_keys[GUARDIAN]})
    run = Run(loaded, sessions, Responder(loaded, chain="local", sessions=sessions, env=env))
    before = anvil.rpc("eth_getBalance", [guardian, "latest"])
    drained: list[float] = []

    async def scenario(task: asyncio.Task[None]) -> None:
        await asyncio.sleep(0.5)  # a funded guardian raises nothing
        assert run.alerts == []
        # Three pauses of 100k gas at the 10 gwei cap need 0.003 ETH; leave 0.001.
        anvil.rpc("anvil_setBalance", [guardian, hex(10**15)])
        drained.append(time.monotonic())
        await run.until(lambda: bool(run.raised("breakglass.health.guardian-balance")), task)
        anvil.rpc("anvil_setBalance", [guardian, before])
        await run.until(lambda: bool(run.cleared), task)

    try:
        asyncio.run(run.watch(scenario))
    finally:
        anvil.rpc("anvil_setBalance", [guardian, before])

    ((at, alert),) = run.raised("breakglass.health.guardian-balance")
    assert 0.5 <= at - drained[0] < 3.0
    assert alert.finding.title == "signer guardian can pay for 1 of 3 emergency transactions"
    assert alert.finding.addresses == (guardian.lower(),)
    assert alert.finding.data["required_wei"] == str(3 * 100_000 * 10 * 10**9)
    assert [c.key for c in run.cleared] == ["guardian-balance:guardian"]
    assert run.paged("breakglass.health.guardian-balance").people == ["alice"]
    with sessions() as session:
        row = session.scalars(
            select(AlertRecord).where(AlertRecord.rule == "breakglass.health.guardian-balance")
        ).one()
        assert "resolved_at" in row.data


def test_cli_prints_a_line_per_block_with_v_and_a_status_line(anvil: Anvil, tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(HEAD.format(url=anvil.http_url, no_head="60s", grace="1s") + "rules: []\n")
    env = {**os.environ, "BREAKGLASS_HOME": str(tmp_path / "home")}
    env.pop("BREAKGLASS_DATABASE_URL", None)
    args = [str(plan), "-v", "--status-every", "0.3", "--watch-only", "--poll-interval", "0.05"]
    process = subprocess.Popen(
        [sys.executable, "-m", "breakglass", "monitor", *args],
        cwd=Path(__file__).parents[2],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stderr is not None
        assert "monitoring" in process.stderr.readline()
        time.sleep(1.0)
        for _ in range(2):
            anvil.rpc("evm_mine", [])
        time.sleep(1.0)
        process.send_signal(signal.SIGINT)
        _, rest = process.communicate(timeout=15)
    finally:
        if process.poll() is None:
            process.kill()
    assert process.returncode == 0, rest
    head = int(anvil.rpc("eth_blockNumber", []), 16)
    assert f"local: block {head} " in rest
    status = [line for line in rest.splitlines() if line.startswith("local: head")]
    assert status, rest
    assert f"local: head {head} (" in status[-1]
    assert "| endpoints 1/1 healthy | rules 0 | armed ? | health ok | last alert none" in status[-1]


def test_a_rule_whose_view_reverts_pages(
    anvil: Anvil, token: Any, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    # A real OpenZeppelin ProxyAdmin has code but no balanceOf: the rule's view reverts.
    not_a_token = token.deploy(anvil.accounts[0], "ProxyAdmin")
    loaded = _plan(
        tmp_path,
        anvil.http_url,
        f"""\
        contracts:
          vault: {{chain: local, address: "{anvil.accounts[6]}"}}
        rules:
          - id: vault-drop
            rule: balance-drop
            contracts: [vault]
            params: {{token: "{not_a_token}", percent: 10}}
        """,
        grace="0.5s",
    )
    run = Run(loaded, sessions)

    async def scenario(task: asyncio.Task[None]) -> None:
        await run.until(lambda: bool(run.blocks), task)
        mined = time.monotonic()
        anvil.rpc("evm_mine", [])
        at = await run.until(lambda: bool(run.raised("breakglass.health.rule-state")), task)
        assert at - mined < 3.0

    asyncio.run(run.watch(scenario))

    ((_, alert),) = run.raised("breakglass.health.rule-state")
    assert alert.finding.title == "rule vault-drop cannot read its state"
    assert f"balanceOf(address) on {not_a_token}" in alert.finding.description
    assert [a.finding.rule for _, a in run.alerts] == ["breakglass.health.rule-state"]
    assert run.paged("breakglass.health.rule-state").people == ["alice"]


def test_a_monitor_started_unarmed_pages(
    anvil: Anvil, token: Any, tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    loaded = _plan(
        tmp_path,
        anvil.http_url,
        f"""\
        contracts:
          token: {{chain: local, address: "{token.address}"}}
        signers:
          guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
        rules:
          - {{id: token-paused, rule: paused, contracts: [token], severity: critical}}
        playbooks:
          - id: contain
            on: [token-paused]
            steps:
              - {{action: pause, contract: token, signer: guardian}}
        """,
        grace="0.5s",
    )
    env = LiveEnv(loaded, sessions, environ={})  # GUARDIAN_KEY is not set
    responder = Responder(loaded, chain="local", sessions=sessions, env=env, allow_unarmed=True)
    run = Run(loaded, sessions, responder)

    async def scenario(task: asyncio.Task[None]) -> None:
        await run.until(lambda: bool(run.raised("breakglass.health.unarmed")), task)

    asyncio.run(run.watch(scenario))

    ((_, alert),) = run.raised("breakglass.health.unarmed")
    assert alert.finding.title == "1 automatic step(s) on local are not armed"
    assert "GUARDIAN_KEY" in alert.finding.description
    assert run.paged("breakglass.health.unarmed").people == ["alice"]
