"""Chain helpers shared by the drill scenarios: npm artefacts, set-up sends, attacker sends.

Set-up transactions are sent from anvil's unlocked (or impersonated) accounts and mined at
once with ``evm_mine``, so deployment works with automine and with ``--block-time``. Attack
transactions are only sent: the runner waits for the chain to mine them, like a real attack.
"""

from __future__ import annotations

from typing import Any

from breakglass.devchain import Anvil
from breakglass.scenario.setup import SetupChain, artifact, bytecode
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
