"""Griefing the auto-pause (issue 14, finding 2), on anvil with a real DrainableVault.

An attacker first makes the vault pause on purpose, waits for the team to unpause, then
drains within the suppression window (``alerting.suppress_for``). The drain must get new
alerts (also from a rule without a playbook) and a second pause: the playbook is held back
only while its pause still stands.
A net-zero deposit-and-withdraw (the cheap griefing trigger) raises nothing at all."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.devchain import Anvil
from breakglass.events import AlertRaised, Event
from breakglass.plan.loader import load_plan
from breakglass.respond.env import LiveEnv
from breakglass.respond.journal import PhaseEvent
from breakglass.respond.responder import Responder
from breakglass.runtime.monitor import MonitorApp, build_pipeline
from breakglass.store.models import AlertRecord, PlaybookRun

pytestmark = pytest.mark.chain


def _helper(name: str) -> ModuleType:
    module_name = f"breakglass_tests_hardening_{name}"
    if module_name not in sys.modules:
        spec = importlib.util.spec_from_file_location(
            module_name, Path(__file__).with_name(f"{name}.py")
        )
        assert spec is not None and spec.loader is not None
        sys.modules[module_name] = module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
    return sys.modules[module_name]


vault_chain = _helper("vault_chain")
E18 = vault_chain.E18

PLAN = """
version: 1
protocol: Test Protocol
people:
  alice: {{name: Alice}}
roles:
  incident_lead: [alice]
chains:
  local: {{chain_id: 31337, block_time: 1, rpc: ["{rpc}"]}}
contracts:
  vault:
    chain: local
    address: "{vault}"
    pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
alerting: {{suppress_for: 10m}}
rules:
  - id: drain
    rule: large-outflow
    chain: local
    contracts: [vault]
    severity: critical
    params: {{token: "{token}", threshold: 100, decimals: 18}}
  - id: outflow-watch
    rule: large-outflow
    chain: local
    contracts: [vault]
    severity: high
    params: {{token: "{token}", threshold: 100, decimals: 18}}
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {{action: pause, contract: vault, signer: guardian, verify: "paused()"}}
"""


def _checkpoint_at(sessions: sessionmaker[Session], number: int) -> Any:
    def check() -> bool:
        with sessions() as session:
            found = store.get_checkpoint(session, chain="local")
            return found is not None and found.block_number >= number

    return check


async def _until(check: Any, what: str, timeout: float = 20.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not await asyncio.to_thread(check):
        assert loop.time() < deadline, f"timed out waiting for {what}"
        await asyncio.sleep(0.05)


def test_a_drain_after_a_griefing_pause_and_unpause_is_paused_again(
    anvil: Anvil, tmp_path: Path
) -> None:
    chain = vault_chain.VaultChain(anvil)
    chain.fund_vault(10_000 * E18)
    plan_path = tmp_path / "breakglass.yaml"
    plan_path.write_text(
        PLAN.format(rpc=anvil.http_url, vault=chain.vault.address, token=chain.token.address)
    )
    loaded = load_plan(plan_path)
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions: sessionmaker[Session] = store.session_factory(store.make_engine(url))
    user, attacker = anvil.accounts[vault_chain.USER], anvil.accounts[vault_chain.ATTACKER]
    events: list[PhaseEvent] = []
    alerts: list[AlertRaised] = []

    async def heard(event: Event) -> None:
        assert isinstance(event, AlertRaised)
        alerts.append(event)

    def broadcasts() -> int:
        return sum(1 for e in events if e.phase == "broadcast")

    async def scenario() -> None:
        stop = asyncio.Event()
        env = LiveEnv(loaded, sessions, environ={"GUARDIAN_KEY": anvil.private_keys[1]})
        responder = Responder(
            loaded, chain="local", sessions=sessions, env=env, on_event=events.append
        )
        pipe = build_pipeline(loaded.plan, sessions, incidents=False)
        pipe.bus.subscribe("test.alerts", [AlertRaised], heard)
        app = MonitorApp(loaded, "local", sessions, pipe.bus, pipe.relay, responder)
        monitor = asyncio.create_task(app.run(stop, poll_interval=0.05))
        try:
            await asyncio.sleep(0.5)
            # 1. A flash-loan-shaped round trip far above the threshold: net zero, no alert.
            await asyncio.to_thread(
                chain.call, vault_chain.ADMIN, chain.token, "mint",
                chain.round_trip.address, 5_000 * E18,
            )  # fmt: skip
            trip = await asyncio.to_thread(
                chain.call, vault_chain.ATTACKER, chain.round_trip, "roundTrip",
                chain.vault.address, chain.token.address, 5_000 * E18,
            )  # fmt: skip
            await _until(_checkpoint_at(sessions, int(trip["blockNumber"], 16)), "the trip")
            await asyncio.sleep(0.2)  # a pause it set off would be on its way by now
            assert alerts == [] and broadcasts() == 0 and not chain.paused()
            # 2. The griefing outflow: a real withdrawal above the threshold pauses the vault.
            await asyncio.to_thread(
                chain.call, vault_chain.ADMIN, chain.token, "mint", user, 200 * E18
            )
            await asyncio.to_thread(
                chain.call, vault_chain.USER, chain.token, "approve", chain.vault.address, 200 * E18
            )
            await asyncio.to_thread(chain.call, vault_chain.USER, chain.vault, "deposit", 200 * E18)
            await asyncio.to_thread(
                chain.call, vault_chain.USER, chain.vault, "withdraw", 200 * E18
            )
            await _until(chain.paused, "the first pause")
            await _until(lambda: len(responder.results) == 1, "the first run to finish")
            assert len(alerts) == 2 and broadcasts() == 1
            # 3. The team looks, finds nothing wrong and unpauses; the real drain follows
            # within the suppression window.
            await asyncio.to_thread(chain.call, vault_chain.ADMIN, chain.vault, "unpause")
            await asyncio.to_thread(
                chain.call, vault_chain.ATTACKER, chain.vault, "emergencyWithdraw",
                attacker, 5_000 * E18,
            )  # fmt: skip
            await _until(chain.paused, "the second pause")
            await _until(lambda: len(alerts) == 4, "the drain's alerts")
        finally:
            stop.set()
            await monitor

    asyncio.run(scenario())
    assert broadcasts() == 2
    with sessions() as session:
        rows = session.scalars(select(AlertRecord).order_by(AlertRecord.id)).all()
        # The drain is a new episode: its alerts page, also those of a rule with no playbook.
        assert [(r.rule, r.status) for r in rows] == [
            ("drain", "open"),
            ("outflow-watch", "open"),
            ("drain", "open"),
            ("outflow-watch", "open"),
        ]
        assert rows[2].tx_hash == rows[3].tx_hash == alerts[3].tx_hash
        runs = session.scalars(select(PlaybookRun).order_by(PlaybookRun.id)).all()
        assert [r.status for r in runs] == ["succeeded", "succeeded"]
