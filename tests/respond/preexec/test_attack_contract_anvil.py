"""Attack-contract simulation on anvil: a real vault, a real drainer, real honest callers.

The attacker deploys its drainer in block N and uses it once block N+1 is out, as real
attackers do. The rule, wired as the monitor wires it (detector, then responder, per block),
flags the drainer in block N and the guardian's pause lands before the exploit, which
reverts. Honest contracts that call the vault are simulated and not flagged; a contract that
refers to nothing watched is not simulated at all.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from eth_abi.abi import encode
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.analysis.assets import AssetInfo, cached_asset
from breakglass.chain.endpoints import pool_members, resolve_endpoints
from breakglass.chain.pool import EndpointPool
from breakglass.contracts import compile_file, compile_sources, load_source
from breakglass.detect.engine import Detector
from breakglass.detect.finding import Finding, Severity
from breakglass.detect.rules.exploit.attack_contract import AttackContractRule
from breakglass.detect.setup import build_rules
from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.ingest import BlockFetcher, BlockHeader, PendingTx
from breakglass.plan.loader import LoadedPlan, load_plan
from breakglass.respond.env import LiveEnv
from breakglass.respond.preexec.fork_node import probe_simulate
from breakglass.respond.responder import Responder
from breakglass.scenario.vault import VaultScenario, calldata, deploy_vault, sign_call

pytestmark = pytest.mark.chain

ATTACKER, ROUTER_DEPLOYER = 7, 8  # anvil accounts with no transaction yet: fresh deployers
HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def chain() -> Iterator[Anvil]:
    """Blocks every second, as on a live chain: the attacker waits for a block to pass."""
    try:
        anvil = Anvil.start(block_time=1)
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test module: {exc}", pytrace=False)
    with anvil:
        yield anvil


@pytest.fixture(scope="module")
def vault(chain: Anvil) -> VaultScenario:
    return deploy_vault(chain, users=3)


@pytest.fixture
def fresh(chain: Anvil) -> Iterator[Anvil]:
    snapshot = chain.rpc("evm_snapshot", [])
    yield chain
    chain.rpc("evm_revert", [snapshot])


def _plan(tmp_path: Path, anvil: Anvil, scenario: VaultScenario, **params: Any) -> LoadedPlan:
    extra = "".join(f", {k}: {v}" for k, v in params.items())
    text = f"""\
protocol: Drainable Vault
chains:
  local:
    chain_id: {scenario.chain_id}
    block_time: 1
    rpc: ["{anvil.http_url}"]
    gas: {{max_priority_fee_gwei: 50, max_fee_gwei: 500}}
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
    params: {{assets: [{{token: "{scenario.token}", threshold: 1000}}]{extra}}}
playbooks:
  - id: contain
    on: [attack-contract]
    steps:
      - {{action: pause, contract: vault, signer: guardian, mode: auto, verify: "paused()"}}
"""
    path = tmp_path / "breakglass.yaml"
    path.write_text(text)
    return load_plan(path)


def _sessions(tmp_path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    return store.session_factory(store.make_engine(url))


def _deploy_tx(anvil: Anvil, key_index: int, bytecode: str, nonce: int) -> str:
    """Sign and send a contract creation; its hash."""
    from eth_account import Account  # noqa: PLC0415

    tx = {
        "type": 2,
        "chainId": anvil.chain_id,
        "nonce": nonce,
        "data": bytecode,
        "value": 0,
        "gas": 3_000_000,
        "maxPriorityFeePerGas": 2 * 10**9,
        "maxFeePerGas": 30 * 10**9,
    }
    signed = Account.sign_transaction(tx, anvil.private_keys[key_index])
    return str(anvil.rpc("eth_sendRawTransaction", ["0x" + signed.raw_transaction.hex()]))


def _receipt(anvil: Anvil, tx_hash: str, timeout: float = 20.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        receipt = anvil.rpc("eth_getTransactionReceipt", [tx_hash])
        if receipt is not None:
            return dict(receipt)
        time.sleep(0.05)
    raise AssertionError(f"{tx_hash} was not mined")


def _head(anvil: Anvil) -> int:
    return int(anvil.rpc("eth_blockNumber", []), 16)


class Pipeline:
    """Each new block through the detector, then its findings to the responder: what the
    monitor's block sink does, without the alert store."""

    def __init__(self, loaded: LoadedPlan, responder: Responder | None) -> None:
        config = loaded.plan.chains["local"]
        self.detector = Detector("local", build_rules(loaded, chain="local"), report_disabled=False)
        self.pool = EndpointPool(
            pool_members(resolve_endpoints(config, name="local")), chain="local"
        )
        self.fetcher = BlockFetcher(self.pool, self.detector.fetch_spec())
        self.responder = responder
        self.findings: list[Finding] = []
        self.next = 0

    @property
    def rule(self) -> AttackContractRule:
        rule = self.detector.rules[0]
        assert isinstance(rule, AttackContractRule)
        return rule

    async def run(self, stop: asyncio.Event) -> None:
        self.next = (await self.fetcher.header_by_number("latest")).number + 1
        while not stop.is_set():
            head = (await self.fetcher.header_by_number("latest")).number
            while self.next <= head:
                header = await self.fetcher.header_by_number(self.next)
                block = await self.fetcher.fetch("local", header)
                found = self.detector.evaluate(block)
                self.findings.extend(found)
                if self.responder is not None:
                    if found:
                        await self.responder.react(found)
                    self.responder.on_block(block)
                self.next += 1
            await asyncio.sleep(0.05)
        await self.pool.aclose()


def test_an_attack_contract_is_paused_before_its_first_use(
    fresh: Anvil, vault: VaultScenario, tmp_path: Path
) -> None:
    anvil = fresh
    loaded = _plan(tmp_path, anvil, vault)
    sessions = _sessions(tmp_path)
    drainer = compile_file("VaultDrainer.sol")["VaultDrainer"]
    # parts = 1: the first drain() takes everything the vault holds.
    creation = drainer.bytecode + encode(["address", "uint256"], [vault.vault, 1]).hex()
    attacker = anvil.accounts[ATTACKER].lower()
    attacker_key = anvil.private_keys[ATTACKER]

    async def scenario() -> tuple[dict[str, Any], dict[str, Any], Pipeline, Responder]:
        env = LiveEnv(loaded, sessions, environ={"GUARDIAN_KEY": vault.guardian_key})
        responder = Responder(loaded, chain="local", sessions=sessions, env=env)
        await responder.start()
        pipeline = Pipeline(loaded, responder)
        stop = asyncio.Event()
        watching = asyncio.create_task(pipeline.run(stop))
        await asyncio.sleep(0.3)

        deploy_hash = await asyncio.to_thread(_deploy_tx, anvil, ATTACKER, creation, 0)
        deployed = await asyncio.to_thread(_receipt, anvil, deploy_hash)
        contract, block_n = (
            str(deployed["contractAddress"]).lower(),
            int(deployed["blockNumber"], 16),
        )
        # The attacker uses its contract once the next block is out: in block N+2 at best.
        while _head(anvil) < block_n + 1:
            await asyncio.sleep(0.02)
        raw, drain_hash = sign_call(
            attacker_key, to=contract, data=calldata("drain()"), nonce=1, chain_id=anvil.chain_id
        )
        anvil.rpc("eth_sendRawTransaction", [raw])
        drained = await asyncio.to_thread(_receipt, anvil, drain_hash)
        await responder.wait_idle()
        stop.set()
        await watching
        await responder.aclose()
        return deployed, drained, pipeline, responder

    deployed, drained, pipeline, responder = asyncio.run(scenario())

    # Flagged in the block of the deployment, with the draining call and the loss in tokens.
    (finding,) = [f for f in pipeline.findings if f.rule == "attack-contract"]
    assert finding.block_number == int(deployed["blockNumber"], 16)
    assert finding.severity is Severity.CRITICAL
    assert finding.tx_hash == deployed["transactionHash"]
    data = finding.data
    assert data["contract"] == str(deployed["contractAddress"]).lower()
    assert data["deployer"] == attacker and data["deployer_nonce"] == 0
    assert data["call"]["data"].startswith(calldata("drain()"))
    (loss,) = data["losses"]
    assert loss["holder"] == "vault" and loss["amount"] == vault.deposited
    assert loss["shown"] == "30,000 aUSD"
    assert "30,000 aUSD from vault" in finding.title
    assert data["backend"] == "pyrevm" and data["late"] is False
    assert any("vault → deployer" in line for line in data["trace"])
    assert {"fresh deployer (nonce 0)", "refers to vault"} <= set(data["reasons"])
    # The unit read on the fork serves the incident's other tables too.
    assert cached_asset(chain="local", address=vault.token) == AssetInfo("aUSD", 18)

    # The pause landed first; the exploit reverted; nothing was lost.
    (run,) = responder.results
    assert run.status == "succeeded"
    assert vault.paused(anvil)
    assert drained["status"] == "0x0"
    assert vault.vault_balance(anvil) == vault.deposited
    pause_tx = next(
        tx
        for n in range(int(deployed["blockNumber"], 16), int(drained["blockNumber"], 16) + 1)
        for tx in anvil.rpc("eth_getBlockByNumber", [hex(n), True])["transactions"]
        if tx["to"] == vault.vault and tx["input"].startswith(calldata("pause()"))
    )
    pause_receipt = _receipt(anvil, pause_tx["hash"])
    assert (int(pause_receipt["blockNumber"], 16), int(pause_receipt["transactionIndex"], 16)) < (
        int(drained["blockNumber"], 16),
        int(drained["transactionIndex"], 16),
    )


def test_honest_callers_are_simulated_but_not_flagged_and_unrelated_code_is_not_simulated(
    fresh: Anvil, vault: VaultScenario, tmp_path: Path
) -> None:
    anvil = fresh
    loaded = _plan(tmp_path, anvil, vault)
    honest = compile_sources({"HonestCallers.sol": (HERE / "HonestCallers.sol").read_text()})
    args = encode(["address"], [vault.vault]).hex()
    unrelated = compile_file("EventStorm.sol")
    unrelated_code = next(c for c in unrelated.values() if len(c.bytecode) > 2).bytecode

    router_hash = _deploy_tx(anvil, ROUTER_DEPLOYER, honest["VaultRouter"].bytecode + args, 0)
    reporter_hash = _deploy_tx(anvil, ROUTER_DEPLOYER, honest["VaultReporter"].bytecode + args, 1)
    # The admin has deployed and minted before: not fresh; its new contract names nothing.
    admin_nonce = int(anvil.rpc("eth_getTransactionCount", [vault.admin, "pending"]), 16)
    assert admin_nonce >= 5
    unrelated_hash = _deploy_tx(anvil, 0, unrelated_code, admin_nonce)
    receipts = [_receipt(anvil, h) for h in (router_hash, reporter_hash, unrelated_hash)]
    assert all(r["status"] == "0x1" for r in receipts)

    async def evaluate() -> tuple[list[Finding], AttackContractRule]:
        pipeline = Pipeline(loaded, None)
        pipeline.rule.start()  # as the monitor's first block does
        found: list[Finding] = []
        for number in sorted({int(r["blockNumber"], 16) for r in receipts}):
            header = await pipeline.fetcher.header_by_number(number)
            found += pipeline.detector.evaluate(await pipeline.fetcher.fetch("local", header))
        await pipeline.pool.aclose()
        return found, pipeline.rule

    findings, rule = asyncio.run(evaluate())

    assert findings == []
    counts = rule.screen.counts
    assert (counts.seen, counts.simulated, counts.screened_out) == (3, 2, 1)
    assert counts.flagged == 0 and counts.failed == 0
    by_address = {v.creation.address: v for v in rule.verdicts}
    router = by_address[str(receipts[0]["contractAddress"]).lower()]
    assert router.simulated and router.drain is None and router.calls > 20
    assert "refers to vault" in router.reasons
    assert not by_address[str(receipts[2]["contractAddress"]).lower()].simulated


def test_the_node_simulates_where_pyrevm_is_not_used_and_a_slow_verdict_comes_a_block_late(
    fresh: Anvil, vault: VaultScenario, tmp_path: Path
) -> None:
    anvil = fresh
    # wait_seconds 0: the block does not wait for its simulation; the next block reports it.
    loaded = _plan(tmp_path, anvil, vault, simulator="node", wait_seconds=0)
    drainer = compile_file("VaultDrainer.sol")["VaultDrainer"]
    creation = drainer.bytecode + encode(["address", "uint256"], [vault.vault, 1]).hex()
    deployed = _receipt(anvil, _deploy_tx(anvil, ATTACKER, creation, 0))
    block_n = int(deployed["blockNumber"], 16)
    while _head(anvil) < block_n + 1:
        time.sleep(0.05)

    async def evaluate() -> tuple[list[Finding], list[Finding]]:
        pipeline = Pipeline(loaded, None)
        fetcher = pipeline.fetcher
        first = pipeline.detector.evaluate(
            await fetcher.fetch("local", await fetcher.header_by_number(block_n))
        )
        # Block N+1 has no creation of its own: it reports N's verdict once it is in.
        next_block = await fetcher.fetch("local", await fetcher.header_by_number(block_n + 1))
        second: list[Finding] = []
        for _ in range(200):
            await asyncio.sleep(0.1)
            second = pipeline.detector.evaluate(next_block)
            if second:
                break
        await pipeline.pool.aclose()
        return first, second

    first, second = asyncio.run(evaluate())

    assert first == []
    assert probe_simulate(anvil.http_url, httpx.Client())  # anvil serves eth_simulateV1
    (finding,) = second
    assert finding.block_number == block_n and finding.tx_hash == deployed["transactionHash"]
    assert finding.data["backend"] == "eth_simulateV1"
    assert finding.data["late"] is True
    (loss,) = finding.data["losses"]
    assert loss["amount"] == vault.deposited and loss["shown"] == "30,000 aUSD"


FACTORY = """\
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import "./VaultDrainer.sol";

/// A factory that makes drainers: the drainer's owner is the factory, not the attacker.
contract DrainerFactory {
    function make(address vault) external returns (address made) {
        made = address(new VaultDrainer(IDrainableVault(vault), 1));
    }

    function drain(VaultDrainer drainer) external {
        drainer.drain();
    }
}
"""


def test_a_drainer_made_by_a_factory_is_flagged_from_the_block_traces(
    fresh: Anvil, vault: VaultScenario, tmp_path: Path
) -> None:
    anvil = fresh
    loaded = _plan(tmp_path, anvil, vault, traces="true")
    built = compile_sources(
        {"VaultDrainer.sol": load_source("VaultDrainer.sol"), "DrainerFactory.sol": FACTORY}
    )
    factory = _receipt(anvil, _deploy_tx(anvil, ATTACKER, built["DrainerFactory"].bytecode, 0))
    factory_address = str(factory["contractAddress"]).lower()
    raw, make_hash = sign_call(
        anvil.private_keys[ATTACKER],
        to=factory_address,
        data=calldata("make(address)", vault.vault),
        nonce=1,
        chain_id=anvil.chain_id,
        gas=2_000_000,
    )
    anvil.rpc("eth_sendRawTransaction", [raw])
    made = _receipt(anvil, make_hash)
    assert made["status"] == "0x1" and made["contractAddress"] is None

    async def evaluate() -> list[Finding]:
        pipeline = Pipeline(loaded, None)
        pipeline.rule.start()
        found: list[Finding] = []
        for receipt in (factory, made):
            header = await pipeline.fetcher.header_by_number(int(receipt["blockNumber"], 16))
            found += pipeline.detector.evaluate(await pipeline.fetcher.fetch("local", header))
        await pipeline.pool.aclose()
        return found

    # The factory itself takes nothing when called; the drainer it makes is flagged, and
    # drains when called by the factory, its owner.
    (finding,) = asyncio.run(evaluate())
    assert finding.tx_hash == make_hash
    assert finding.data["creator"] == factory_address
    assert finding.data["call"]["from"] == factory_address
    assert finding.data["losses"][0]["amount"] == vault.deposited
    assert any("vault → factory" in line for line in finding.data["trace"])


def test_a_pending_deployment_is_judged_before_it_is_mined(
    fresh: Anvil, vault: VaultScenario, tmp_path: Path
) -> None:
    anvil = fresh
    loaded = _plan(tmp_path, anvil, vault)
    (rule,) = build_rules(loaded, chain="local")
    assert isinstance(rule, AttackContractRule)
    rule.start()
    head = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    drainer = compile_file("VaultDrainer.sol")["VaultDrainer"]
    creation = drainer.bytecode + encode(["address", "uint256"], [vault.vault, 1]).hex()
    tx_hash = _deploy_tx(anvil, ATTACKER, creation, 0)
    tx = anvil.rpc("eth_getTransactionByHash", [tx_hash])

    # Judged on the state after the head it was seen at: the contract is not there yet.
    (finding,) = rule.judge_pending(
        PendingTx("local", tx_hash, dict(tx)), BlockHeader.from_rpc(head)
    )
    assert finding.tx_hash == tx_hash and finding.block_hash == head["hash"]
    assert finding.data["pending"] is True
    assert finding.data["losses"][0]["amount"] == vault.deposited
    # Where the fork put it is where the chain puts it.
    assert finding.data["contract"] == str(_receipt(anvil, tx_hash)["contractAddress"]).lower()
    # A pending call to a contract is not a deployment.
    call = {"from": vault.admin, "to": vault.vault, "input": "0x", "nonce": "0x0"}
    pending_call = PendingTx("local", "0x" + "00" * 32, call)
    assert rule.judge_pending(pending_call, BlockHeader.from_rpc(head)) == []
