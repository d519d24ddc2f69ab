"""A pending attack-contract deployment: the mempool guard hands it to the plan's
attack-contract rule, whose simulation flags it, and the pause is mined before the
deployment in its own block, so the protocol is paused before the attack contract exists."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

import pytest
from eth_abi.abi import encode
from eth_account import Account

from breakglass import store
from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.plan.loader import load_plan
from breakglass.respond.preexec.frontrun import FrontRun
from breakglass.respond.preexec.mempool import MempoolGuard
from breakglass.respond.responder import Responder
from breakglass.scenario.vault import VaultScenario, calldata, deploy_vault

pytestmark = pytest.mark.chain

ATTACKER = 7  # an anvil account with no transaction yet: a fresh deployer


def _plan(anvil: Anvil, scenario: VaultScenario) -> str:
    return f"""\
protocol: Drainable Vault
chains:
  local:
    chain_id: {scenario.chain_id}
    rpc: [{{url: "{anvil.http_url}", ws: "{anvil.ws_url}"}}]
    mempool: {{enabled: true, max_fee_gwei: 200}}
contracts:
  vault:
    chain: local
    address: "{scenario.vault}"
    pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
  token: {{chain: local, address: "{scenario.token}"}}
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}", address: "{scenario.guardian}"}}
rules:
  - id: attack-contract
    rule: attack-contract
    contracts: [vault]
    severity: critical
    params: {{assets: [{{token: "{scenario.token}", threshold: 1000}}], wait_seconds: 20}}
playbooks:
  - id: contain
    on: [attack-contract]
    steps:
      - {{action: pause, contract: vault, signer: guardian, mode: auto, verify: "paused()"}}
"""


def test_a_pending_attack_contract_deployment_is_paused_ahead_of(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with Anvil.start() as anvil:
        scenario = deploy_vault(anvil, users=3)
        monkeypatch.setenv("GUARDIAN_KEY", scenario.guardian_key)
        plan = tmp_path / "plan.yaml"
        plan.write_text(_plan(anvil, scenario))
        url = f"sqlite:///{(tmp_path / 'breakglass.db').as_posix()}"
        store.upgrade(url)
        drainer = compile_file("VaultDrainer.sol")["VaultDrainer"]
        creation = drainer.bytecode + encode(["address", "uint256"], [scenario.vault, 1]).hex()
        signed = Account.sign_transaction(
            {
                "type": 2,
                "chainId": anvil.chain_id,
                "nonce": 0,
                "data": creation,
                "value": 0,
                "gas": 3_000_000,
                "maxPriorityFeePerGas": 2 * 10**9,
                "maxFeePerGas": 30 * 10**9,
            },
            anvil.private_keys[ATTACKER],
        )

        async def scenario_run() -> FrontRun:
            responder = Responder(
                load_plan(plan),
                chain="local",
                sessions=store.session_factory(store.make_engine(url)),
            )
            await responder.start()
            guard = MempoolGuard(responder, "local", responder.env.rpc("local"))
            stop = asyncio.Event()
            task = asyncio.ensure_future(guard.run(stop))
            try:
                await asyncio.wait_for(guard.source.subscribed.wait(), 10)
                await asyncio.to_thread(anvil.rpc, "evm_setAutomine", [False])
                await asyncio.to_thread(anvil.rpc, "evm_setIntervalMining", [2])
                raw = "0x" + signed.raw_transaction.hex()
                await asyncio.to_thread(anvil.rpc, "eth_sendRawTransaction", [raw])
                deadline = time.monotonic() + 30
                while not guard.runs and time.monotonic() < deadline:
                    await asyncio.sleep(0.05)
                assert guard.runs, "the pending deployment was not flagged"
                await asyncio.wait_for(guard.runs[0].done.wait(), 30)
                await responder.wait_idle()
            finally:
                stop.set()
                await task
                await responder.aclose()
            return guard.runs[0]

        run = asyncio.run(scenario_run())
        paused = int(
            anvil.rpc("eth_call", [{"to": scenario.vault, "data": calldata("paused()")}, "latest"]),
            16,
        )

    assert run.creation and run.rules == ("attack-contract",)
    assert run.order == "before" and run.blocks[0] == run.blocks[1], run
    assert run.stopped and paused == 1
