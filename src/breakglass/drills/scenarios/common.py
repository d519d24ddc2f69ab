"""Chain helpers shared by the drill scenarios: npm artefacts, set-up sends, attacker sends.

Set-up transactions are sent from anvil's unlocked (or impersonated) accounts and mined at
once with ``evm_mine``, so deployment works with automine and with ``--block-time``. Attack
transactions are only sent: the runner waits for the chain to mine them, like a real attack.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.nodepkgs import find_node_file
from breakglass.scenario.vault import calldata

__all__ = [
    "OZ",
    "UNI",
    "UNIT",
    "SetupChain",
    "artifact",
    "attacker_send",
    "balance_of",
    "bytecode",
    "calldata",
    "pausable",
    "pause_playbook",
    "paused",
]

UNIT = 10**18
OZ = "node_modules/@openzeppelin/contracts/build/contracts/{}.json"
UNI = "node_modules/@uniswap/v2-core/build/{}.json"
_GWEI = 10**9


def artifact(relpath: str) -> dict[str, Any]:
    """A Hardhat/Truffle build artefact from ``node_modules``."""
    path = find_node_file(Path(relpath))
    if path is None:
        raise DevchainError(f"{relpath} not found; run `npm install` in the project root")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def bytecode(built: dict[str, Any]) -> str:
    """The creation code of an artefact, ``0x``-prefixed."""
    code = str(built["bytecode"])
    return code if code.startswith("0x") else "0x" + code


class SetupChain:
    """Sends set-up transactions and mines each at once; fails on a revert."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil

    def send(self, sender: str, data: str, to: str | None = None, gas: int = 8_000_000) -> Any:
        """Send, mine and return the receipt of one transaction from ``sender``."""
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(gas)}
        if to is not None:
            tx["to"] = to
        tx_hash = self.anvil.rpc("eth_sendTransaction", [tx])
        receipt = None
        for _ in range(200):
            receipt = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            self.anvil.rpc("evm_mine", [])
            time.sleep(0.002)
        if receipt is None or receipt["status"] != "0x1":
            raise DevchainError(f"drill set-up transaction failed: to={to} {data[:10]}")
        return receipt

    def deploy(self, sender: str, code: str, args: bytes = b"") -> str:
        """Deploy ``code`` with ABI-encoded ``args``; the new contract's lower-case address."""
        receipt = self.send(sender, code + args.hex())
        return str(receipt["contractAddress"]).lower()

    def call(self, to: str, data: str) -> str:
        result: str = self.anvil.rpc("eth_call", [{"to": to, "data": data}, "latest"])
        return result

    def uint(self, to: str, signature: str, *args: Any) -> int:
        """A view returning one ``uint256``."""
        return int(self.call(to, calldata(signature, *args)), 16)

    def as_user(self, user: str, calls: list[tuple[str, str]]) -> None:
        """Send ``calls`` (to, data) from an impersonated account."""
        self.anvil.rpc("anvil_impersonateAccount", [user])
        try:
            for to, data in calls:
                self.send(user, data, to, gas=500_000)
        finally:
            self.anvil.rpc("anvil_stopImpersonatingAccount", [user])


def attacker_send(anvil: Anvil, sender: str, to: str, data: str, *, gas: int = 1_000_000) -> str:
    """Send one attacker transaction (a modest 30 gwei max fee, 2 gwei tip) without mining."""
    tx = {
        "from": sender,
        "to": to,
        "data": data,
        "gas": hex(gas),
        "maxFeePerGas": hex(30 * _GWEI),
        "maxPriorityFeePerGas": hex(2 * _GWEI),
    }
    tx_hash: str = anvil.rpc("eth_sendTransaction", [tx])
    return tx_hash


def pausable(address: str) -> dict[str, Any]:
    """A plan contract entry with the OpenZeppelin ``Pausable`` pause functions."""
    return {
        "chain": "local",
        "address": address,
        "pause": {"function": "pause()", "check": "paused()", "unpause": "unpause()"},
    }


def pause_playbook(contract: str, rules: list[str]) -> dict[str, Any]:
    """The containment every scenario uses: the guardian pauses ``contract`` at once."""
    return {
        "id": "contain",
        "on": rules,
        "steps": [
            {
                "action": "pause",
                "contract": contract,
                "signer": "guardian",
                "mode": "auto",
                "verify": "paused()",
            }
        ],
    }


def paused(anvil: Anvil, contract: str) -> bool:
    """Whether ``contract.paused()`` is true at the latest block."""
    result = anvil.rpc("eth_call", [{"to": contract, "data": calldata("paused()")}, "latest"])
    return int(result, 16) != 0


def balance_of(anvil: Anvil, token: str, holder: str) -> int:
    """``token.balanceOf(holder)`` at the latest block."""
    call = {"to": token, "data": calldata("balanceOf(address)", holder)}
    return int(anvil.rpc("eth_call", [call, "latest"]), 16)
