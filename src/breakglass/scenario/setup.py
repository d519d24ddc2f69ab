"""Setting up a scenario on a local chain: npm build artefacts and set-up transactions sent
from anvil's unlocked (or impersonated) accounts. Shared by the demo and the drills."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.nodepkgs import find_node_file
from breakglass.scenario.vault import calldata

__all__ = ["SetupChain", "artifact", "bytecode"]


def artifact(relpath: str) -> dict[str, Any]:
    """A Hardhat/Truffle build artefact from ``node_modules``.

    Raises:
        DevchainError: the package is not installed.
    """
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
    """Sends set-up transactions and waits for each receipt; fails on a revert.

    Args:
        mine: mine a block while waiting (for a chain without automine, or with a block
            time); leave it off where every block number must be the same on every run.
        label: names the set-up in errors.
    """

    def __init__(self, anvil: Anvil, *, mine: bool = True, label: str = "set-up") -> None:
        self.anvil = anvil
        self.mine = mine
        self.label = label

    def send(self, sender: str, data: str, to: str | None = None, gas: int = 8_000_000) -> Any:
        """Send one transaction from ``sender`` and return its receipt.

        Raises:
            DevchainError: it reverted or was not mined.
        """
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(gas)}
        if to is not None:
            tx["to"] = to
        tx_hash = self.anvil.rpc("eth_sendTransaction", [tx])
        receipt = None
        for _ in range(400):  # automine can answer before the receipt is stored
            receipt = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            if self.mine:
                self.anvil.rpc("evm_mine", [])
            time.sleep(0.003)
        if receipt is None or receipt["status"] != "0x1":
            raise DevchainError(f"{self.label} transaction failed: to={to} {data[:10]}")
        return receipt

    def deploy(self, sender: str, code: str, args: bytes = b"") -> str:
        """Deploy ``code`` with ABI-encoded ``args``; the new contract's lower-case address."""
        receipt = self.send(sender, code + args.hex())
        return str(receipt["contractAddress"]).lower()

    def call(self, to: str, data: str) -> str:
        """``eth_call`` at the latest block; the raw result."""
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
