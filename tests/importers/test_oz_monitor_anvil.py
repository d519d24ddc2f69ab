"""The imported plan raises, on a real chain, the alerts the OpenZeppelin Monitor configuration
describes: a real OpenZeppelin ERC-20 on anvil, transactions that should and should not
match, each replayed through the imported rule the way the monitor would see its block."""

from __future__ import annotations

import asyncio
import importlib.util
import sys
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from web3 import Web3

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.detect.replay import replay_tx
from breakglass.devchain import Anvil
from breakglass.importers.oz_monitor import import_oz_monitor
from breakglass.importers.report import write_result
from breakglass.plan.loader import LoadedPlan, load_plan

pytestmark = pytest.mark.chain

_spec = importlib.util.spec_from_file_location(
    "breakglass_tests_respond_conftest", Path(__file__).parents[1] / "respond" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_respond = sys.modules.setdefault(_spec.name, importlib.util.module_from_spec(_spec))
_spec.loader.exec_module(_respond)

ADMIN, HOLDER, EMPTY, WATCHED, OTHER = 0, 1, 2, 3, 4
RULES = (
    "acme-token-moves-event-1",
    "acme-token-moves-call-1",
    "failed-token-calls-tx",
    "big-moves-after-the-filter-event-1",
)


@pytest.fixture(scope="module")
def chain(anvil: Anvil) -> Any:
    return _respond.Token(anvil)


def _send(token: Any, key: str, data: str, *, gas: int | None = None) -> str:
    w3: Web3 = token.w3
    sender = Account.from_key(key)
    tx = {
        "from": sender.address,
        "to": token.address,
        "data": data,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": w3.eth.chain_id,
        "gas": gas or 200_000,
        "gasPrice": w3.eth.gas_price * 2,
    }
    tx_hash = w3.eth.send_raw_transaction(sender.sign_transaction(tx).raw_transaction)
    w3.eth.wait_for_transaction_receipt(tx_hash)
    return "0x" + bytes(tx_hash).hex()


def _matches(loaded: LoadedPlan, url: str, tx_hash: str) -> set[str]:
    async def go() -> set[str]:
        pool = EndpointPool([Endpoint(url)], chain="devnet")
        try:
            found: set[str] = set()
            for rule in RULES:
                findings = await replay_tx(
                    loaded_plan=loaded, chain="devnet", rule_id=rule, tx_hash=tx_hash, pool=pool
                )
                found |= {f.rule for f in findings}
            return found
        finally:
            await pool.aclose()

    return asyncio.run(go())


def test_the_imported_rules_match_what_the_monitor_described(
    anvil: Anvil, chain: Any, tmp_path: Path, oz_config: Any
) -> None:
    result = import_oz_monitor(oz_config(token=chain.address))
    plan_path = tmp_path / "plan" / "breakglass.yaml"
    write_result(result, plan_path)
    loaded = load_plan(plan_path)
    keys, accounts = anvil.private_keys, anvil.accounts
    token = chain.contract

    def call(name: str, *args: Any) -> str:
        return str(token.encode_abi(name, list(args)))

    def tx(sender: int, data: str, *, gas: int | None = None) -> set[str]:
        return _matches(loaded, anvil.http_url, _send(chain, keys[sender], data, gas=gas))

    # Minted (from the zero address), 2000 > 1000: the event rule; below the filter's 3000.
    assert tx(ADMIN, call("mint", accounts[OTHER], 2000)) == {"acme-token-moves-event-1"}
    tx(ADMIN, call("mint", accounts[HOLDER], 100_000))
    # To the watched account, 5000: event, function, and past the filter.
    assert tx(HOLDER, call("transfer", accounts[WATCHED], 5000)) == {
        "acme-token-moves-event-1",
        "acme-token-moves-call-1",
        "big-moves-after-the-filter-event-1",
    }
    # To another account: only the filtered rule (no expression, 5000 >= 3000).
    assert tx(HOLDER, call("transfer", accounts[OTHER], 5000)) == {
        "big-moves-after-the-filter-event-1"
    }
    # Too small for every condition.
    assert tx(HOLDER, call("transfer", accounts[WATCHED], 10)) == set()
    # A reverted transfer (no balance): only the failed-transaction monitor.
    assert tx(EMPTY, call("transfer", accounts[WATCHED], 5000), gas=100_000) == {
        "failed-token-calls-tx"
    }
