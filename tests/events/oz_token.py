"""A real OpenZeppelin ``ERC20PresetMinterPauser`` on anvil, minted to some accounts: the
outflows the crash tests (``tests/events/test_pipeline_crash.py``,
``tests/hardening/test_orphaned_alerts.py``) turn into alerts."""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from web3 import Web3
from web3.contract import Contract

from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file

OZ_TOKEN = Path("node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")


def receipt(anvil: Anvil, tx_hash: str) -> dict[str, Any]:
    """The transaction's receipt once mined (it must have succeeded)."""
    for _ in range(250):
        found = anvil.rpc("eth_getTransactionReceipt", [tx_hash])
        if found is not None:
            assert found["status"] == "0x1", found
            return dict(found)
        time.sleep(0.02)
    raise AssertionError("no receipt")


def deploy_token(anvil: Anvil, *, admin: int, holders: Sequence[int]) -> tuple[type[Contract], str]:
    """Deploy the token from account ``admin`` and mint 10⁹ to each of ``holders``;
    returns its contract factory (for calldata) and its address."""
    path = find_node_file(OZ_TOKEN)
    assert path is not None, "run npm install"
    built = json.loads(path.read_text())
    factory = Web3().eth.contract(abi=built["abi"], bytecode=built["bytecode"])
    sender = anvil.accounts[admin]
    deploy = factory.constructor("Acme USD", "aUSD").data_in_transaction
    token = receipt(anvil, anvil.rpc("eth_sendTransaction", [{"from": sender, "data": deploy}]))[
        "contractAddress"
    ]
    for holder in holders:
        to = Web3.to_checksum_address(anvil.accounts[holder])
        mint = factory.encode_abi("mint", args=[to, 10**27])
        receipt(
            anvil, anvil.rpc("eth_sendTransaction", [{"from": sender, "to": token, "data": mint}])
        )
    return factory, str(token)
