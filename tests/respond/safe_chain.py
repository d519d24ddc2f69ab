"""Test helper: deploy real Safe 1.4.1 contracts (npm artefacts) to a local chain with web3.py."""

from __future__ import annotations

import itertools
import json
from pathlib import Path
from typing import Any

from eth_account import Account
from web3 import Web3

from breakglass.nodepkgs import find_node_file

ARTIFACTS = Path("node_modules/@safe-global/safe-contracts/build/artifacts/contracts")
ZERO = "0x0000000000000000000000000000000000000000"

_deployments: dict[str, dict[str, str]] = {}  # rpc_url -> contract name -> address
_salts = itertools.count(1)


def safe_artifact(relpath: str) -> dict[str, Any]:
    """A Safe 1.4.1 hardhat artefact, e.g. ``"SafeL2.sol/SafeL2.json"``."""
    path = find_node_file(ARTIFACTS / relpath)
    assert path is not None, f"{relpath} not found: run npm install"
    loaded: dict[str, Any] = json.loads(path.read_text())
    return loaded


_CONTRACTS = {
    "SafeL2": "SafeL2.sol/SafeL2.json",
    "SafeProxyFactory": "proxies/SafeProxyFactory.sol/SafeProxyFactory.json",
    "CompatibilityFallbackHandler": (
        "handler/CompatibilityFallbackHandler.sol/CompatibilityFallbackHandler.json"
    ),
}


def send(w3: Web3, key: str, tx: dict[str, Any]) -> Any:
    """Sign ``tx`` with ``key``, send it and return the receipt (asserting success)."""
    sender = Account.from_key(key)
    tx = {
        "from": sender.address,
        "nonce": w3.eth.get_transaction_count(sender.address, "pending"),
        "chainId": w3.eth.chain_id,
        "gas": 8_000_000,
        "gasPrice": w3.eth.gas_price * 2,
        **tx,
    }
    signed = sender.sign_transaction(tx)
    receipt = w3.eth.wait_for_transaction_receipt(
        w3.eth.send_raw_transaction(signed.raw_transaction)
    )
    assert receipt["status"] == 1, receipt
    return receipt


def deploy_artifact(w3: Web3, key: str, built: dict[str, Any], *args: Any) -> str:
    """Deploy an artefact's bytecode with constructor ``args``; its checksum address."""
    factory = w3.eth.contract(abi=built["abi"], bytecode=built["bytecode"])
    receipt = send(w3, key, {"data": factory.constructor(*args).data_in_transaction})
    return str(receipt["contractAddress"])


def _singletons(w3: Web3, rpc_url: str, key: str) -> dict[str, str]:
    if rpc_url not in _deployments:
        _deployments[rpc_url] = {
            name: deploy_artifact(w3, key, safe_artifact(rel)) for name, rel in _CONTRACTS.items()
        }
    return _deployments[rpc_url]


def deploy_safe(rpc_url: str, deployer_key: str, owners: list[str], threshold: int) -> str:
    """Deploy a Safe 1.4.1 (SafeL2 singleton behind a proxy) set up with ``owners``/``threshold``.

    Singleton, proxy factory and fallback handler are deployed once per ``rpc_url``.
    """
    w3 = Web3(Web3.HTTPProvider(rpc_url))
    deployed = _singletons(w3, rpc_url, deployer_key)
    singleton = w3.eth.contract(abi=safe_artifact(_CONTRACTS["SafeL2"])["abi"])
    initializer = singleton.encode_abi(
        "setup",
        [
            [Web3.to_checksum_address(owner) for owner in owners],
            threshold,
            ZERO,
            b"",
            deployed["CompatibilityFallbackHandler"],
            ZERO,
            0,
            ZERO,
        ],
    )
    factory = w3.eth.contract(
        address=Web3.to_checksum_address(deployed["SafeProxyFactory"]),
        abi=safe_artifact(_CONTRACTS["SafeProxyFactory"])["abi"],
    )
    args = [deployed["SafeL2"], initializer, next(_salts)]
    proxy = factory.functions.createProxyWithNonce(*args).call()
    send(
        w3,
        deployer_key,
        {"to": factory.address, "data": factory.encode_abi("createProxyWithNonce", args)},
    )
    return Web3.to_checksum_address(proxy)
