"""A LossyVault drained over several transactions with Uniswap V2 flash swaps, on anvil.

Real bytecode where it exists: OpenZeppelin 4.9.6 ``ERC20PresetMinterPauser`` for the asset
and the pair's other token, ``UniswapV2Factory``/``UniswapV2Pair`` from ``@uniswap/v2-core``.
The vault and the attacker's contract are compiled from ``breakglass/contracts/sources``.

The scenario keeps its own books from what each user did (deposits, and the tokens a
redemption actually put in the user's wallet) so a test can compute the ground truth without
reading any log.
"""

from __future__ import annotations

import json
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_utils.crypto import keccak
from sqlalchemy.orm import Session, sessionmaker

from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.nodepkgs import find_node_file
from breakglass.plan.models import Plan
from breakglass.scenario.vault import calldata

UNIT = 10**18
USERS = 20
_GAS = hex(8_000_000)


def _artifact(relpath: str) -> dict[str, Any]:
    path = find_node_file(Path("node_modules", relpath))
    assert path is not None, f"node_modules/{relpath} missing: run npm install"
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


def _hex(data: str) -> str:
    return data if data.startswith("0x") else "0x" + data


@dataclass
class Chain:
    """Sends transactions on anvil (automine: one transaction per block) and checks them."""

    anvil: Anvil

    def send(self, sender: str, data: str, to: str | None = None) -> dict[str, Any]:
        tx: dict[str, Any] = {"from": sender, "data": _hex(data), "gas": _GAS}
        if to is not None:
            tx["to"] = to
        tx_hash = self.anvil.rpc("eth_sendTransaction", [tx])
        for _ in range(200):  # automine answers before the receipt is always readable
            receipt: dict[str, Any] | None = self.anvil.rpc("eth_getTransactionReceipt", [tx_hash])
            if receipt is not None:
                break
            time.sleep(0.01)
        assert receipt is not None, f"not mined: {tx_hash}"
        assert receipt["status"] == "0x1", f"reverted: {tx_hash}"
        return receipt

    def deploy(self, sender: str, bytecode: str, args: bytes = b"") -> str:
        receipt = self.send(sender, _hex(bytecode) + args.hex())
        return str(receipt["contractAddress"]).lower()

    def call(self, to: str, signature: str, *args: Any, block: str = "latest") -> int:
        answer = self.anvil.rpc("eth_call", [{"to": to, "data": calldata(signature, *args)}, block])
        return int(answer[:66], 16)

    def block(self) -> int:
        return int(self.anvil.rpc("eth_blockNumber", []), 16)


@dataclass
class LossScenario:
    """Addresses (lower-case) and the scenario's own books."""

    chain: Chain
    token: str
    other: str
    vault: str
    pair: str
    exploiter: str
    admin: str
    attacker: str
    profit_to: str
    users: list[str]
    exploit_txs: list[str] = field(default_factory=list)
    first_exploit_block: int = 0
    containment_block: int = 0
    paid_mid: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    received_mid: dict[str, int] = field(default_factory=lambda: defaultdict(int))

    def wallet(self, user: str) -> int:
        return self.chain.call(self.token, "balanceOf(address)", user)

    def shares(self, user: str, block: str = "latest") -> int:
        return self.chain.call(self.vault, "balanceOf(address)", user, block=block)

    def deposit(self, user: str, amount: int) -> None:
        self.chain.send(user, calldata("approve(address,uint256)", self.vault, amount), self.token)
        self.chain.send(user, calldata("deposit(uint256)", amount), self.vault)

    def redeem(self, user: str, shares: int) -> int:
        """Redeem and return what actually reached the user's wallet."""
        before = self.wallet(user)
        self.chain.send(user, calldata("redeem(uint256)", shares), self.vault)
        return self.wallet(user) - before

    def attack(self) -> str:
        """One exploit transaction, sized to the vault and the pair; returns its hash."""
        assets = self.chain.call(self.token, "balanceOf(address)", self.vault)
        liquidity = self.chain.call(self.token, "balanceOf(address)", self.pair)
        amount = min(assets // 2, liquidity * 9 // 10)
        data = calldata("attack(uint256,address)", amount, self.profit_to)
        receipt = self.chain.send(self.attacker, data, self.exploiter)
        if not self.exploit_txs:
            self.first_exploit_block = int(receipt["blockNumber"], 16)
        self.exploit_txs.append(str(receipt["transactionHash"]))
        return str(receipt["transactionHash"])


def _address(seed: str) -> str:
    return "0x" + keccak(text=seed)[-20:].hex()


def deploy(anvil: Anvil) -> LossScenario:
    """Tokens, a funded Uniswap V2 pair, the vault, 20 depositors and the attack contract."""
    chain = Chain(anvil)
    admin, attacker = anvil.accounts[0].lower(), anvil.accounts[2].lower()
    preset = _artifact("@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json")
    factory_build = _artifact("@uniswap/v2-core/build/UniswapV2Factory.json")
    vault_build = compile_file("LossyVault.sol", node_imports=True)["LossyVault"]
    exploiter_build = compile_file("VaultExploiter.sol")["VaultExploiter"]

    token = chain.deploy(admin, preset["bytecode"], encode(["string", "string"], ["USD", "USD"]))
    other = chain.deploy(admin, preset["bytecode"], encode(["string", "string"], ["WETH", "W"]))
    factory = chain.deploy(admin, factory_build["bytecode"], encode(["address"], [admin]))
    chain.send(admin, calldata("createPair(address,address)", token, other), factory)
    pair = f"0x{chain.call(factory, 'getPair(address,address)', token, other):040x}"
    for asset in (token, other):
        chain.send(admin, calldata("mint(address,uint256)", pair, 150_000 * UNIT), asset)
    chain.send(admin, calldata("mint(address)", admin), pair)
    vault = chain.deploy(admin, vault_build.bytecode, encode(["address"], [token]))
    exploiter = chain.deploy(
        attacker,
        exploiter_build.bytecode,
        encode(["address", "address", "address"], [pair, vault, token]),
    )
    users = [_address(f"lossy vault user {i}") for i in range(USERS)]
    scenario = LossScenario(
        chain, token, other, vault, pair, exploiter, admin, attacker,
        _address("attacker profit"), users,
    )  # fmt: skip
    for i, user in enumerate(users):
        anvil.rpc("anvil_setBalance", [user, hex(10 * UNIT)])
        anvil.rpc("anvil_impersonateAccount", [user])
        amount = (i + 1) * 1_000 * UNIT + 7 * i + 1  # odd wei amounts on purpose
        chain.send(admin, calldata("mint(address,uint256)", user, amount + 1_000 * UNIT), token)
        scenario.deposit(user, amount)
    return scenario


def run_attack(scenario: LossScenario) -> None:
    """Three drains in three blocks, users withdrawing and depositing in between, a pause."""
    users = scenario.users
    scenario.attack()
    for user in users[:3]:  # redeem half mid-attack
        scenario.received_mid[user] += scenario.redeem(user, scenario.shares(user) // 2)
    scenario.deposit(users[3], 500 * UNIT + 3)  # deposits more mid-attack
    scenario.paid_mid[users[3]] += 500 * UNIT + 3
    scenario.attack()
    for user in users[4:6]:  # redeem everything mid-attack
        scenario.received_mid[user] += scenario.redeem(user, scenario.shares(user))
    scenario.attack()
    receipt = scenario.chain.send(scenario.admin, calldata("pause()"), scenario.vault)
    scenario.containment_block = int(receipt["blockNumber"], 16)


def plan_data(anvil: Anvil, scenario: LossScenario) -> dict[str, Any]:
    """A breakglass plan (as data) watching the vault, with its position valuation."""
    return {
        "protocol": "Lossy Vault",
        "chains": {"local": {"chain_id": anvil.chain_id, "rpc": [anvil.http_url]}},
        "contracts": {
            "vault": {"chain": "local", "address": scenario.vault},
            "token": {"chain": "local", "address": scenario.token},
        },
        "analysis": {
            "positions": [
                {
                    "contract": "vault",
                    "view": "balanceOf(address)",
                    "scale": "pricePerShare()",
                    "scale_decimals": 18,
                    "asset": scenario.token,
                }
            ],
        },
    }


@contextmanager
def incident_store(directory: Path, plan: Plan) -> Iterator[tuple[sessionmaker[Session], int]]:
    """A fresh SQLite database in ``directory`` holding one incident on the drained vault:
    its sessions and the incident's id (the engine is closed after)."""
    from breakglass import store  # noqa: PLC0415
    from breakglass.incidents import open_incident  # noqa: PLC0415

    url = f"sqlite:///{directory / 'db.sqlite'}"
    store.upgrade(url)
    engine = store.make_engine(url)
    try:
        sessions = store.session_factory(engine)
        with sessions.begin() as session:
            incident_id = open_incident(
                session, plan, title="vault drained", kind="exploit", severity="P1",
                chains=["local"], contracts=["vault"], detected_at=datetime.now(UTC),
            ).id  # fmt: skip
        yield sessions, incident_id
    finally:
        engine.dispose()
