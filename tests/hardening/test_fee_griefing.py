"""Issue 14, finding 5: emergency fees inflated until the pause fails.

The emergency tip follows the recent p99 tip. One self-transfer at a 20,000 gwei tip used to
lift it so high that the guardian's pause asked for more than its 1 ETH ("insufficient funds")
and never went out. On a real anvil with a real OpenZeppelin pausable token: the pause is
still mined, under the default caps (the plan sets none), and under a plan cap too high for the
guardian's balance (the send is cut to what the balance affords).
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest
from eth_account import Account

from breakglass.chain import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.respond.env import KeyTransactor
from breakglass.respond.gas import GasCaps, GasStrategy
from breakglass.respond.nonces import NonceManager
from breakglass.respond.sender import TxSender

pytestmark = pytest.mark.chain

GUARDIAN, ATTACKER = 1, 9
GWEI = 10**9
GRIEF_TIP = 20_000 * GWEI


def _respond_fixtures() -> ModuleType:
    # The pausable token lives with the respond tests; load their conftest by path.
    name = "breakglass_tests_respond_conftest"
    if name not in sys.modules:
        path = Path(__file__).parents[1] / "respond" / "conftest.py"
        spec = importlib.util.spec_from_file_location(name, path)
        assert spec is not None and spec.loader is not None
        module = importlib.util.module_from_spec(spec)
        sys.modules[name] = module
        spec.loader.exec_module(module)
    return sys.modules[name]


@pytest.fixture(scope="module")
def token(anvil: Anvil) -> Any:
    deployed = _respond_fixtures().Token(anvil)
    deployed.grant_pauser(anvil.accounts[GUARDIAN])
    return deployed


@pytest.fixture
def chain(anvil: Anvil, token: Any) -> Iterator[Anvil]:
    snapshot = anvil.rpc("evm_snapshot", [])
    yield anvil
    anvil.rpc("evm_revert", [snapshot])


def _grief(anvil: Anvil) -> None:
    """One self-transfer at a 20,000 gwei tip: the p99 tip of the recent blocks."""
    account = Account.from_key(anvil.private_keys[ATTACKER])
    base = int(anvil.rpc("eth_getBlockByNumber", ["latest", False])["baseFeePerGas"], 16)
    signed = account.sign_transaction(
        {
            "type": 2,
            "chainId": anvil.chain_id,
            "nonce": int(anvil.rpc("eth_getTransactionCount", [account.address, "latest"]), 16),
            "to": account.address,
            "value": 0,
            "gas": 21_000,
            "maxFeePerGas": 2 * base + GRIEF_TIP,
            "maxPriorityFeePerGas": GRIEF_TIP,
        }
    )
    anvil.rpc("eth_sendRawTransaction", ["0x" + bytes(signed.raw_transaction).hex()])


def _pause(anvil: Anvil, token: Any, caps: GasCaps) -> tuple[dict[str, Any], int]:
    guardian = Account.from_key(anvil.private_keys[GUARDIAN])
    anvil.rpc("anvil_setBalance", [guardian.address, hex(10**18)])  # 1 ETH
    _grief(anvil)
    data = bytes.fromhex(token.contract.encode_abi("pause", [])[2:])

    async def scenario() -> tuple[dict[str, Any], int]:
        pool = EndpointPool([Endpoint(anvil.http_url)], chain="local")
        gas = GasStrategy(pool, caps)  # anvil's chain id: the fallback default tip cap
        sender = TxSender(
            pool,
            guardian,
            anvil.chain_id,
            NonceManager(pool, guardian.address),
            gas,
            poll_interval=0.05,
        )
        transactor = KeyTransactor(pool, sender, replace_after=5.0)
        try:
            await transactor.arm(token.address, data)
            tx_hash = await transactor.send(token.address, data)
            receipt = await transactor.wait(tx_hash, timeout=20)
            tx = await pool.request("eth_getTransactionByHash", [tx_hash])
            return receipt, int(tx["maxFeePerGas"], 16)
        finally:
            await pool.aclose()

    return asyncio.run(scenario())


def test_default_caps_keep_the_pause_affordable(chain: Anvil, token: Any) -> None:
    receipt, max_fee = _pause(chain, token, GasCaps())
    assert int(receipt["status"], 16) == 1
    assert token.paused()
    tip = int(
        chain.rpc("eth_getTransactionByHash", [receipt["transactionHash"]])["maxPriorityFeePerGas"],
        16,
    )
    assert tip < GRIEF_TIP  # the default tip cap held
    assert max_fee * int(receipt["gasUsed"], 16) < 10**18


def test_a_cap_above_the_balance_is_cut_to_what_the_guardian_affords(
    chain: Anvil, token: Any
) -> None:
    # The plan's own cap: 100,000 gwei, so a 60k-gas pause would need 6 ETH up front.
    caps = GasCaps(max_fee_per_gas=100_000 * GWEI, max_priority_fee_per_gas=50_000 * GWEI)
    receipt, max_fee = _pause(chain, token, caps)
    assert int(receipt["status"], 16) == 1
    assert token.paused()
    assert max_fee < caps.max_fee_per_gas  # cut to the balance, not refused
