"""One plan, two chains: a lending protocol's plan written with deployments and names loads,
passes ``plan check``, and a monitor per chain pauses the market token on each of two anvils
when its pool is drained there. The token sits at a different address on each chain; the
plan names it once."""

from __future__ import annotations

import asyncio
import textwrap
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from breakglass_tests_safe_chain import send  # type: ignore[import-not-found]
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner
from web3 import Web3

from breakglass import store
from breakglass.cli.plan import app as plan_app
from breakglass.detect import build_rules
from breakglass.detect.monitor import run_monitor
from breakglass.devchain import Anvil, DevchainError
from breakglass.plan import load_plan
from breakglass.plan.loader import LoadedPlan
from breakglass.respond.env import LiveEnv
from breakglass.respond.responder import Responder
from breakglass.store.models import PlaybookRun

pytestmark = pytest.mark.chain

HOLDER, GUARDIAN = 6, 1
CHAINS = ("ethereum", "arbitrum")

PLAN = """\
version: 1
protocol: Acme Lending
description: A lending pool and its market token, on two chains.
people:
  alice:
    name: Alice
    contacts: [{{kind: pagerduty, value: PALICE1, reviewed_on: 2026-11-20}}]
  bob:
    name: Bob
    contacts: [{{kind: pagerduty, value: PBOB1, reviewed_on: 2026-11-20}}]
roles:
  incident_lead: {{members: [alice, bob], handles: [coordinate]}}
  pauser: {{members: [bob, alice], handles: [pause, unpause]}}
  frontend: {{members: [alice, bob], handles: [frontend]}}
  comms: {{members: [bob, alice], handles: [comms]}}
chains:
  ethereum: {{chain_id: {eth_id}, block_time: 1, rpc: ["{eth_url}"]}}
  arbitrum: {{chain_id: {arb_id}, block_time: 1, rpc: ["{arb_url}"]}}
contracts:
  pool:
    description: Holds the deposits (an account standing in for the pool).
    deployments:
      ethereum: {{address: "{pool}", from_block: 0}}
      arbitrum: {{address: "{pool}", from_block: 0}}
  market:
    description: The market's receipt token (OpenZeppelin ERC20PresetMinterPauser).
    pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
    deployments:
      ethereum: "{eth_market}"
      arbitrum: "{arb_market}"
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}", address: "{guardian}"}}
rules:
  - id: drain
    rule: large-outflow
    contracts: [pool]
    severity: critical
    params: {{token: market, threshold: 1000, decimals: 18}}
  - id: market-paused
    rule: paused
    contracts: [market]
    severity: medium
alerting:
  priorities: {{critical: P1, medium: P2}}
playbooks:
  - id: contain
    on: [drain]
    fallback: The pausers pause the market by hand from a second machine.
    steps:
      - {{action: pause, contract: market, signer: guardian, verify: "paused()"}}
      - {{action: page, role: incident_lead, message: "${{finding.title}} on ${{finding.chain}}"}}
  - id: review
    on: [market-paused]
    steps:
      - {{action: page, role: incident_lead}}
scenarios:
  drain:
    description: The pool is drained on either chain.
    likelihood: high
    impact: critical
    detected_by: [drain, market-paused]
    mitigated_by: [contain, review]
"""


@pytest.fixture(scope="module")
def second_anvil() -> Iterator[Anvil]:
    try:
        chain = Anvil.start(chain_id=42161)
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test module: {exc}", pytrace=False)
    with chain:
        yield chain


def _bump_nonce(anvil: Anvil) -> None:
    """A transaction first, so the token lands at another address than on the first chain."""
    w3 = Web3(Web3.HTTPProvider(anvil.http_url))
    account = w3.eth.account.from_key(anvil.private_keys[0])
    tx = {
        "from": account.address,
        "to": account.address,
        "value": 0,
        "nonce": w3.eth.get_transaction_count(account.address),
        "chainId": w3.eth.chain_id,
        "gas": 21000,
        "gasPrice": w3.eth.gas_price * 2,
    }
    signed = account.sign_transaction(tx)
    w3.eth.wait_for_transaction_receipt(w3.eth.send_raw_transaction(signed.raw_transaction))


@pytest.fixture(scope="module")
def markets(anvil: Anvil, second_anvil: Anvil, token: Any) -> dict[str, Any]:
    _bump_nonce(second_anvil)
    other = type(token)(second_anvil)  # the same OpenZeppelin token, deployed there
    other.grant_pauser(second_anvil.accounts[GUARDIAN])
    assert other.address != token.address
    return {"ethereum": token, "arbitrum": other}


def _sessions(path: Path) -> sessionmaker[Session]:
    url = f"sqlite:///{path}"
    store.upgrade(url)
    return store.session_factory(store.make_engine(url))


@pytest.fixture
def loaded(
    tmp_path: Path, anvil: Anvil, second_anvil: Anvil, markets: dict[str, Any]
) -> LoadedPlan:
    path = tmp_path / "breakglass.yaml"
    path.write_text(
        textwrap.dedent(PLAN).format(
            eth_id=anvil.chain_id,
            eth_url=anvil.http_url,
            arb_id=second_anvil.chain_id,
            arb_url=second_anvil.http_url,
            pool=anvil.accounts[HOLDER],
            guardian=anvil.accounts[GUARDIAN],
            eth_market=markets["ethereum"].address,
            arb_market=markets["arbitrum"].address,
        )
    )
    return load_plan(path)


def test_the_two_chain_plan_passes_plan_check(loaded: LoadedPlan) -> None:
    result = CliRunner().invoke(plan_app, ["check", str(loaded.file)])
    assert result.exit_code == 0, result.output
    for chain in CHAINS:
        (drain,) = [r for r in build_rules(loaded, chain=chain) if r.rule_id == "drain"]
        token = str(drain.setup.params.token).lower()  # type: ignore[attr-defined]
        assert token == loaded.plan.on_chain(chain).contracts["market"].address.lower()


def _drain(market: Any, anvil: Anvil) -> None:
    holder = anvil.accounts[HOLDER]
    w3, key = market.w3, anvil.private_keys[0]
    for function, args, sender in (
        ("mint", [holder, 10**24], key),
        ("transfer", [anvil.accounts[8], 5 * 10**21], anvil.private_keys[HOLDER]),
    ):
        data = market.contract.encode_abi(function, args)
        send(w3, sender, {"to": market.address, "data": data, "gas": 500_000})


def test_a_monitor_per_chain_pauses_on_both_chains(
    tmp_path: Path,
    anvil: Anvil,
    second_anvil: Anvil,
    markets: dict[str, Any],
    loaded: LoadedPlan,
) -> None:
    anvils = {"ethereum": anvil, "arbitrum": second_anvil}
    snapshots = {chain: a.rpc("evm_snapshot", []) for chain, a in anvils.items()}
    stores = {chain: _sessions(tmp_path / f"{chain}.db") for chain in CHAINS}
    environ = {"GUARDIAN_KEY": anvil.private_keys[GUARDIAN]}

    async def scenario() -> None:
        stop = asyncio.Event()
        responders = {
            chain: Responder(
                loaded,
                chain=chain,
                sessions=stores[chain],
                env=LiveEnv(loaded, stores[chain], environ=environ, receipt_timeout=30),
            )
            for chain in CHAINS
        }
        monitors = [
            asyncio.create_task(
                run_monitor(
                    loaded_plan=loaded,
                    chain=chain,
                    sessions=stores[chain],
                    stop_event=stop,
                    poll_interval=0.05,
                    responder=responders[chain],
                )
            )
            for chain in CHAINS
        ]
        await asyncio.sleep(0.8)
        for chain in CHAINS:
            await asyncio.to_thread(_drain, markets[chain], anvils[chain])
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if all(markets[c].paused() for c in CHAINS):
                break
            await asyncio.sleep(0.1)
        stop.set()
        await asyncio.gather(*monitors)
        for responder in responders.values():
            await responder.aclose()

    try:
        asyncio.run(scenario())
        paused = {chain: markets[chain].paused() for chain in CHAINS}
        assert paused == {"ethereum": True, "arbitrum": True}
        for chain in CHAINS:
            with stores[chain]() as session:
                # (review may have started too, for the pause the monitor saw)
                run = session.scalars(
                    select(PlaybookRun).where(PlaybookRun.playbook == "contain")
                ).one()
                assert (run.playbook, run.chain, run.status) == ("contain", chain, "succeeded")
    finally:
        for chain, snapshot in snapshots.items():
            anvils[chain].rpc("evm_revert", [snapshot])
