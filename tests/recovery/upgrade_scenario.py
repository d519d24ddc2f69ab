"""A vulnerable vault behind a real OpenZeppelin 4.9.6 TransparentUpgradeableProxy, on anvil.

The token is OpenZeppelin's ``ERC20PresetMinterPauser`` and the proxy and its ``ProxyAdmin``
are the npm build artefacts; the vault implementations come from ``UpgradeableVault.sol``.
Users deposit and withdraw (the honest traffic), the attacker drains part of the vault
through the open ``emergencyWithdraw`` in one transaction, and the owner pauses the vault.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from eth_abi.abi import encode

from breakglass.contracts import CompiledContract, compile_file
from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file
from breakglass.scenario.vault import calldata

UNIT = 10**18
_GAS = hex(8_000_000)


def oz_artifact(name: str) -> dict[str, Any]:
    path = find_node_file(Path("node_modules/@openzeppelin/contracts/build/contracts", name))
    assert path is not None, f"{name} missing: run npm install"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def vault_builds() -> dict[str, CompiledContract]:
    return compile_file("UpgradeableVault.sol", node_imports=True, storage_layout=True)


def write_artifact(contract: CompiledContract, path: Path, *, layout: bool = True) -> Path:
    data: dict[str, Any] = {"abi": contract.abi, "bytecode": contract.bytecode}
    if layout:
        data["storageLayout"] = contract.storage_layout
    path.write_text(json.dumps(data), encoding="utf-8")
    return path


@dataclass
class UpgradeScenario:
    anvil: Anvil
    token: str
    implementation: str
    proxy_admin: str
    vault: str
    owner: str
    attacker: str
    users: list[str]
    exploit_tx: str = ""
    honest_txs: list[str] = field(default_factory=list)

    def send(self, sender: str, data: str, to: str | None = None) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": sender, "data": data, "gas": _GAS}
        if to is not None:
            tx["to"] = to
        tx_hash = self.anvil.rpc("eth_sendTransaction", [tx])
        for _ in range(200):
            receipt: dict[str, Any] | None = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                assert receipt["status"] == "0x1", f"reverted: {tx_hash}"
                return receipt
            time.sleep(0.01)
        raise AssertionError(f"not mined: {tx_hash}")

    def deploy(self, sender: str, bytecode: str, args: bytes = b"") -> str:
        return str(self.send(sender, bytecode + args.hex())["contractAddress"]).lower()

    def call(self, to: str, signature: str, *args: Any, block: str = "latest") -> int:
        raw = self.anvil.rpc("eth_call", [{"to": to, "data": calldata(signature, *args)}, block])
        return int(raw[:66], 16)

    def balance(self, who: str, block: str = "latest") -> int:
        return self.call(self.token, "balanceOf(address)", who, block=block)


def deploy(anvil: Anvil, *, owner: str | None = None) -> UpgradeScenario:
    """Token, vault V1 behind a proxy (its ProxyAdmin owned by ``owner``, default the
    deployer), four users with deposits."""
    admin, attacker = anvil.accounts[0].lower(), anvil.accounts[2].lower()
    users = [a.lower() for a in anvil.accounts[3:7]]
    builds = vault_builds()
    s = UpgradeScenario(anvil, "", "", "", "", owner or admin, attacker, users)
    preset = oz_artifact("ERC20PresetMinterPauser.json")
    s.token = s.deploy(admin, preset["bytecode"], encode(["string", "string"], ["USD", "USD"]))
    s.implementation = s.deploy(admin, builds["UpgradeableVault"].bytecode)
    s.proxy_admin = s.deploy(admin, oz_artifact("ProxyAdmin.json")["bytecode"])
    init = bytes.fromhex(calldata("initialize(address,address)", s.token, s.owner)[2:])
    s.vault = s.deploy(
        admin,
        oz_artifact("TransparentUpgradeableProxy.json")["bytecode"],
        encode(["address", "address", "bytes"], [s.implementation, s.proxy_admin, init]),
    )
    if s.owner != admin:
        s.send(admin, calldata("transferOwnership(address)", s.owner), s.proxy_admin)
    for user in users:
        s.send(admin, calldata("mint(address,uint256)", user, 5_000 * UNIT), s.token)
        s.send(user, calldata("approve(address,uint256)", s.vault, 2**256 - 1), s.token)
    return s


def run_incident(s: UpgradeScenario) -> None:
    """Honest deposits and withdrawals, then one exploit transaction, then the pause."""
    for i, user in enumerate(s.users):
        receipt = s.send(user, calldata("deposit(uint256)", (i + 1) * 1_000 * UNIT), s.vault)
        s.honest_txs.append(str(receipt["transactionHash"]))
    receipt = s.send(s.users[0], calldata("withdraw(uint256)", 400 * UNIT), s.vault)
    s.honest_txs.append(str(receipt["transactionHash"]))
    drain = calldata("emergencyWithdraw(address,uint256)", s.attacker, 3_000 * UNIT)
    s.exploit_tx = str(s.send(s.attacker, drain, s.vault)["transactionHash"])
    if s.owner == s.anvil.accounts[0].lower():
        s.send(s.owner, calldata("pause()"), s.vault)


def plan_data(anvil: Anvil, s: UpgradeScenario) -> dict[str, Any]:
    return {
        "protocol": "Upgradeable Vault",
        "chains": {"local": {"chain_id": anvil.chain_id, "rpc": [anvil.http_url]}},
        "contracts": {
            "vault": {
                "chain": "local",
                "address": s.vault,
                "pause": {"function": "pause()", "check": "paused()", "unpause": "unpause()"},
            },
            "proxy_admin": {"chain": "local", "address": s.proxy_admin},
        },
        "rules": [
            {
                "id": "solvent",
                "rule": "invariant",
                "contracts": ["vault"],
                "severity": "critical",
                "params": {"expression": "totalAssets() >= totalDeposits()"},
            }
        ],
    }
