"""A real DrainableVault holding a real OpenZeppelin token on anvil, and the attacker
contracts the hardening tests use against ``large-outflow``: a splitter (one drain as many
transfers below the threshold) and a round trip (deposit and withdraw in one transaction)."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

from web3 import Web3

from breakglass.contracts import compile_sources, load_source
from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file

E18 = 10**18
OZ_TOKEN = Path("node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")
ADMIN, GUARDIAN, ATTACKER, USER = 0, 1, 2, 3

ATTACKS = """
// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

interface IVault {
    function emergencyWithdraw(address to, uint256 amount) external;
    function deposit(uint256 amount) external;
    function withdraw(uint256 amount) external;
}

interface IToken {
    function approve(address spender, uint256 amount) external returns (bool);
}

contract Splitter {
    function split(IVault vault, address to, uint256 amount, uint256 times) external {
        for (uint256 i = 0; i < times; ++i) {
            vault.emergencyWithdraw(to, amount);
        }
    }
}

contract RoundTrip {
    function roundTrip(IVault vault, IToken token, uint256 amount) external {
        token.approve(address(vault), amount);
        vault.deposit(amount);
        vault.withdraw(amount);
    }
}
"""


class VaultChain:
    """The token, the vault (paused by anvil account ``GUARDIAN``) and the attack contracts."""

    def __init__(self, anvil: Anvil) -> None:
        self.anvil = anvil
        self.w3 = Web3()
        path = find_node_file(OZ_TOKEN)
        assert path is not None, "run npm install"
        built = json.loads(path.read_text())
        self.token = self.deploy(built["abi"], built["bytecode"], "Acme USD", "aUSD")
        attacks = compile_sources(
            {"DrainableVault.sol": load_source("DrainableVault.sol"), "Attacks.sol": ATTACKS},
            node_imports=True,
        )
        vault = attacks["DrainableVault"]
        admin, guardian = anvil.accounts[ADMIN], anvil.accounts[GUARDIAN]
        self.vault = self.deploy(vault.abi, vault.bytecode, self.token.address, admin, guardian)
        self.splitter = self.deploy(attacks["Splitter"].abi, attacks["Splitter"].bytecode)
        self.round_trip = self.deploy(attacks["RoundTrip"].abi, attacks["RoundTrip"].bytecode)

    @property
    def token_address(self) -> str:
        return str(self.token.address).lower()

    @property
    def vault_address(self) -> str:
        return str(self.vault.address).lower()

    def deploy(self, abi: Any, bytecode: str, *args: Any) -> Any:
        factory = self.w3.eth.contract(abi=abi, bytecode=bytecode)
        data = factory.constructor(*args).data_in_transaction
        receipt = self.send(self.anvil.accounts[ADMIN], None, data)
        return self.w3.eth.contract(
            address=Web3.to_checksum_address(receipt["contractAddress"]), abi=abi
        )

    def submit(self, sender: str, to: str | None, data: str) -> str:
        """Send without waiting (for blocks mined by hand)."""
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": hex(3_000_000)}
        if to is not None:
            tx["to"] = to
        return str(self.anvil.rpc("eth_sendTransaction", [tx]))

    def send(self, sender: str, to: str | None, data: str) -> dict[str, Any]:
        tx_hash = self.submit(sender, to, data)
        return self.receipt(tx_hash)

    def receipt(self, tx_hash: str) -> dict[str, Any]:
        for _ in range(250):  # automine answers before the receipt is stored
            receipt = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                assert receipt["status"] == "0x1", receipt
                return dict(receipt)
            time.sleep(0.02)
        raise AssertionError(f"no receipt for {tx_hash}")

    def call(self, sender: int, contract: Any, fn: str, *args: Any) -> dict[str, Any]:
        data = contract.encode_abi(fn, args=list(args))
        return self.send(self.anvil.accounts[sender], str(contract.address), data)

    def fund_vault(self, amount: int) -> None:
        self.call(ADMIN, self.token, "mint", self.vault.address, amount)

    def balance(self, address: str) -> int:
        data = self.token.encode_abi("balanceOf", args=[Web3.to_checksum_address(address)])
        result = self.anvil.rpc("eth_call", [{"to": self.token.address, "data": data}, "latest"])
        return int(result, 16)

    def paused(self) -> bool:
        data = self.vault.encode_abi("paused", args=[])
        result = self.anvil.rpc("eth_call", [{"to": self.vault.address, "data": data}, "latest"])
        return bool(int(result, 16))
