"""``monitor`` with a responder on anvil: a large outflow from a watched holder raises an
alert, and the playbook bound to its rule pauses the real OpenZeppelin token in time."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from web3 import Web3

from breakglass.devchain import Anvil
from breakglass.events import AlertRaised
from breakglass.incidents import timeline
from breakglass.respond.env import LiveEnv
from breakglass.respond.journal import PhaseEvent
from breakglass.respond.responder import Responder
from breakglass.runtime.monitor import MonitorApp, build_pipeline
from breakglass.store.models import AlertRecord, Delivery, Incident, Page, PlaybookRun, StepRun

pytestmark = pytest.mark.chain

HOLDER = 6  # anvil account standing in for a vault that holds the tokens

BODY = """
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}"}}
rules:
  - id: drain
    rule: large-outflow
    chain: local
    contracts: [vault]
    severity: critical
    params: {{token: "{token}", threshold: 1000, decimals: 18}}
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {{action: pause, contract: token, signer: guardian, verify: "paused()"}}
      - {{action: page, role: incident_lead}}
"""


def _mint_and_drain(token: Any, anvil: Anvil) -> str:
    holder = anvil.accounts[HOLDER]
    w3 = token.w3
    mint = token.contract.encode_abi("mint", [holder, 10**24])
    from_admin = {"to": token.address, "data": mint}
    token_send = token.contract.encode_abi("transfer", [anvil.accounts[8], 5 * 10**21])
    receipt = _send(w3, anvil.private_keys[0], from_admin)
    assert receipt["status"] == 1
    drained = _send(w3, anvil.private_keys[HOLDER], {"to": token.address, "data": token_send})
    return str(drained["transactionHash"].to_0x_hex())


def _send(w3: Web3, key: str, tx: dict[str, Any]) -> Any:
    account = w3.eth.account.from_key(key)
    full = {
        "from": account.address,
        "nonce": w3.eth.get_transaction_count(account.address, "pending"),
        "chainId": w3.eth.chain_id,
        "gas": 500_000,
        "gasPrice": w3.eth.gas_price * 2,
        **tx,
    }
    signed = account.sign_transaction(full)
    return w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))


def test_a_drain_is_paused_by_the_playbook_bound_to_its_rule(
    fresh_chain: Anvil, token: Any, write_plan: Any, sessions: sessionmaker[Session]
) -> None:
    holder = fresh_chain.accounts[HOLDER]
    loaded = write_plan(
        BODY, contracts=f'vault: {{chain: local, address: "{holder}"}}\n', token=token.address
    )
    events: list[PhaseEvent] = []
    pipe = build_pipeline(loaded.plan, sessions)  # as breakglass monitor runs it

    async def scenario() -> str:
        stop = asyncio.Event()
        env = LiveEnv(loaded, sessions, environ={"GUARDIAN_KEY": fresh_chain.private_keys[1]})
        responder = Responder(
            loaded, chain="local", sessions=sessions, env=env, on_event=events.append
        )
        alerts: list[Any] = []

        async def heard(event: Any) -> None:
            alerts.append(event)

        pipe.bus.subscribe("test.alerts", [AlertRaised], heard)
        app = MonitorApp(
            loaded, "local", sessions, pipe.bus, pipe.relay, responder, pipe.desk, pipe.notifier
        )
        monitor = asyncio.create_task(app.run(stop, poll_interval=0.05))
        await asyncio.sleep(0.5)
        drain_tx = await asyncio.to_thread(_mint_and_drain, token, fresh_chain)
        for _ in range(200):
            if any(e.phase in ("done", "failed") and e.step == 1 for e in events):
                break
            await asyncio.sleep(0.05)
        stop.set()
        await monitor
        assert alerts, "the drain raised no alert"
        return drain_tx

    drain_tx = asyncio.run(scenario())

    assert token.paused()
    phases = [e.phase for e in events if e.step == 0]
    assert phases[:3] == ["start", "simulate", "broadcast"]
    with sessions() as session:
        run = session.scalars(select(PlaybookRun)).one()
        assert run.playbook == "contain"
        assert drain_tx in run.trigger
        assert run.status == "succeeded"
        steps = session.scalars(select(StepRun).order_by(StepRun.position)).all()
        assert [s.status for s in steps] == ["done", "done"]
        alert = session.scalars(select(AlertRecord)).one()
        assert alert.tx_hash == drain_tx
        pause_tx = steps[0].tx_hash

    # The desk turned the alert's event into an incident; its sync brings the pause onto
    # the incident's timeline.
    desk = pipe.desk
    assert desk is not None
    incident_id = desk.on_alert(alert.dedupe_key)
    assert incident_id is not None
    desk.sync()
    with sessions() as session:
        incident = session.get(Incident, incident_id)
        assert incident is not None
        assert incident.severity == "P1"
        assert incident.contracts == ["vault"]
        events = timeline(session, incident_id)
        kinds = {e.kind for e in events}
        assert {"alert", "action", "tx"} <= kinds
        assert any(e.kind == "tx" and e.tx_hash == pause_tx for e in events)
        assert any(e.kind == "alert" and e.tx_hash == drain_tx for e in events)
        page = session.scalars(select(Page).where(Page.incident_id == incident_id)).one()
        assert page.role == "incident_lead" and page.people == ["alice"]
        assert session.scalars(select(Delivery)).first() is not None
    assert desk.on_alert(alert.dedupe_key) == incident_id  # handled once
