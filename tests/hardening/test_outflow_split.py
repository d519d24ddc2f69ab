"""``large-outflow`` against an attacker who knows its threshold (issue 14, findings 2 and 3):
a drain split into transfers of threshold - 1 wei, in one transaction or over several
transactions of one block, is still a large outflow; a deposit-and-withdraw round trip in one
transaction (a flash loan's shape) is not. Real DrainableVault and OpenZeppelin token on anvil."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect import Detector, Finding, StateReader
from breakglass.detect.setup import rule_detector
from breakglass.devchain import Anvil
from breakglass.ingest import BlockFetcher

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
THRESHOLD = 5 * E18


@pytest.fixture(scope="module")
def chain(anvil: Anvil) -> Any:
    deployed = vault_chain.VaultChain(anvil)
    deployed.fund_vault(1_000 * E18)
    return deployed


@pytest.fixture
def evaluate(anvil: Anvil) -> Iterator[Any]:
    loop = asyncio.new_event_loop()
    pool = EndpointPool([Endpoint(anvil.http_url)])

    def run(detector: Detector, block_hash: str) -> list[Finding]:
        async def go() -> list[Finding]:
            fetcher = BlockFetcher(pool, detector.fetch_spec())
            block = await fetcher.fetch("local", await fetcher.header_by_hash(block_hash))
            state = await StateReader(pool).read(block.hash, detector.state_calls())
            return detector.evaluate(block, state)

        return loop.run_until_complete(go())

    yield run
    loop.run_until_complete(pool.aclose())
    loop.close()


def _detector(chain: Any) -> Detector:
    return rule_detector(
        "large-outflow",
        [("vault", chain.vault_address)],
        chain="local",
        rule_id="drain",
        params={"token": chain.token_address, "threshold": 5, "decimals": 18},
    )


def test_two_transfers_of_threshold_minus_one_wei_in_one_transaction_alert(
    chain: Any, evaluate: Any
) -> None:
    attacker = chain.anvil.accounts[vault_chain.ATTACKER]
    receipt = chain.call(
        vault_chain.ATTACKER, chain.splitter, "split", chain.vault.address, attacker,
        THRESHOLD - 1, 2,
    )  # fmt: skip
    (found,) = evaluate(_detector(chain), receipt["blockHash"])
    assert found.tx_hash == receipt["transactionHash"]
    assert found.data["value"] == 2 * (THRESHOLD - 1)
    assert found.addresses == (chain.vault_address, attacker.lower())


def test_transfers_split_over_transactions_of_one_block_alert_once(
    chain: Any, evaluate: Any
) -> None:
    anvil, attacker = chain.anvil, chain.anvil.accounts[vault_chain.ATTACKER]
    data = chain.vault.encode_abi("emergencyWithdraw", args=[attacker, THRESHOLD - 1])
    anvil.rpc("evm_setAutomine", [False])
    try:
        hashes = [chain.submit(attacker, chain.vault.address, data) for _ in range(3)]
        anvil.rpc("evm_mine", [])
    finally:
        anvil.rpc("evm_setAutomine", [True])
    receipts = [chain.receipt(h) for h in hashes]
    assert len({r["blockHash"] for r in receipts}) == 1
    (found,) = evaluate(_detector(chain), receipts[0]["blockHash"])
    assert found.data["window"] == "block" and found.data["transactions"] == 3
    assert found.data["value"] == 3 * (THRESHOLD - 1)
    assert found.tx_hash == hashes[0]


def test_a_deposit_and_withdraw_round_trip_is_judged_by_its_net_outflow(
    chain: Any, evaluate: Any
) -> None:
    amount = 50 * E18
    chain.call(vault_chain.ADMIN, chain.token, "mint", chain.round_trip.address, amount)
    receipt = chain.call(
        vault_chain.ATTACKER, chain.round_trip, "roundTrip", chain.vault.address,
        chain.token.address, amount,
    )  # fmt: skip
    assert int(receipt["gasUsed"], 16) < 150_000  # cheap to repeat
    assert evaluate(_detector(chain), receipt["blockHash"]) == []
    # A single transfer at the threshold still alerts, alone in its transaction.
    attacker = chain.anvil.accounts[vault_chain.ATTACKER]
    drained = chain.call(
        vault_chain.ATTACKER, chain.vault, "emergencyWithdraw", attacker, THRESHOLD
    )
    (found,) = evaluate(_detector(chain), drained["blockHash"])
    assert found.data["value"] == THRESHOLD and "window" not in found.data
