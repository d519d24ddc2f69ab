"""A vault drained on a local anvil: the reaction benchmark's scenario, for demos and drills too.

:func:`deploy_vault` puts a real OpenZeppelin 4.9.6 ``ERC20PresetMinterPauser`` (npm build
artefact), a :file:`DrainableVault.sol` holding the deposits of ``users`` generated accounts,
and the attacker's :file:`VaultDrainer.sol` on a running :class:`~breakglass.devchain.Anvil`.
The vault's ``emergencyWithdraw`` lost its role check, so the drainer takes one ``parts``-th of
the vault per transaction until the guardian (``PAUSER_ROLE``) pauses it.

:class:`Attacker` drives the drain like a real attacker: one pre-signed ``drain()`` per block,
each sent as soon as a new head arrives (so it lands in the next block), with a modest
priority fee. :func:`plan_yaml` writes a breakglass plan that watches the vault with
``large-outflow`` and pauses it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from pathlib import Path
from typing import Any

from eth_abi.abi import encode
from eth_account import Account
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from breakglass.contracts import compile_file
from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.nodepkgs import find_node_file

__all__ = [
    "TRANSFER_TOPIC",
    "Attacker",
    "VaultScenario",
    "calldata",
    "deploy_vault",
    "plan_yaml",
    "sign_call",
]

TRANSFER_TOPIC = "0x" + keccak(text="Transfer(address,address,uint256)").hex()
"""topic0 of ERC-20 ``Transfer``."""

_PRESET_BUILD = "node_modules/@openzeppelin/contracts/build/contracts/ERC20PresetMinterPauser.json"
_UNIT = 10**18
_GWEI = 10**9
_DEPLOY_GAS = 6_000_000
_CALL_GAS = 300_000
_DRAIN_GAS = 200_000


def calldata(signature: str, *args: Any) -> str:
    """ABI-encoded call of ``signature`` (e.g. ``"mint(address,uint256)"``) with ``args``."""
    selector = keccak(text=signature)[:4]
    types = signature[signature.index("(") + 1 : -1]
    encoded = encode([t for t in types.split(",") if t], list(args)) if types else b""
    return "0x" + (selector + encoded).hex()


def sign_call(
    key: str,
    *,
    to: str,
    data: str,
    nonce: int,
    chain_id: int,
    gas: int = _CALL_GAS,
    priority_fee_gwei: Decimal = Decimal(2),
    max_fee_gwei: Decimal = Decimal(200),
) -> tuple[str, str]:
    """An EIP-1559 transaction signed with ``key``: (raw ``0x`` hex, transaction hash)."""
    tx = {
        "type": 2,
        "chainId": chain_id,
        "nonce": nonce,
        "to": to_checksum_address(to),
        "data": data,
        "value": 0,
        "gas": gas,
        "maxPriorityFeePerGas": int(priority_fee_gwei * _GWEI),
        "maxFeePerGas": int(max_fee_gwei * _GWEI),
    }
    signed = Account.sign_transaction(tx, key)
    return "0x" + signed.raw_transaction.hex(), "0x" + signed.hash.hex()


def _create_address(sender: str, nonce: int) -> str:
    """The address a contract created by ``sender`` with ``nonce`` gets (RLP of [sender, nonce])."""
    raw = bytes.fromhex(sender.removeprefix("0x"))
    if nonce == 0:
        encoded_nonce = b"\x80"
    elif nonce < 0x80:
        encoded_nonce = bytes([nonce])
    else:
        body = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded_nonce = bytes([0x80 + len(body)]) + body
    payload = b"\x94" + raw + encoded_nonce
    return "0x" + keccak(bytes([0xC0 + len(payload)]) + payload)[12:].hex()


def _token_artifact() -> dict[str, Any]:
    path = find_node_file(Path(_PRESET_BUILD))
    if path is None:
        raise DevchainError(f"{_PRESET_BUILD} not found; run `npm install` in the project root")
    loaded: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
    return loaded


@dataclass(frozen=True, slots=True)
class VaultScenario:
    """Addresses (lower-case) and keys of a deployed scenario."""

    chain_id: int
    token: str
    vault: str
    drainer: str
    admin: str
    guardian: str
    guardian_key: str
    attacker: str
    attacker_key: str
    users: tuple[str, ...]
    deposited: int
    """Token base units the users deposited into the vault in total."""
    parts: int
    vault_abi: list[dict[str, Any]] = field(repr=False)
    token_abi: list[dict[str, Any]] = field(repr=False)

    def vault_balance(self, anvil: Anvil, block: str = "latest") -> int:
        """The vault's token balance at ``block`` (a tag or ``0x`` number)."""
        call = {"to": self.token, "data": calldata("balanceOf(address)", self.vault)}
        return int(anvil.rpc("eth_call", [call, block]), 16)

    def paused(self, anvil: Anvil, block: str = "latest") -> bool:
        result = anvil.rpc("eth_call", [{"to": self.vault, "data": calldata("paused()")}, block])
        return int(result, 16) != 0

    def sign_pause(
        self, nonce: int, *, priority_fee_gwei: Decimal = Decimal(20)
    ) -> tuple[str, str]:
        """The guardian's ``pause()``, signed ahead of time: (raw hex, hash)."""
        return sign_call(
            self.guardian_key,
            to=self.vault,
            data=calldata("pause()"),
            nonce=nonce,
            chain_id=self.chain_id,
            priority_fee_gwei=priority_fee_gwei,
        )

    def sign_drains(
        self,
        nonce: int,
        count: int,
        *,
        priority_fee_gwei: Decimal = Decimal(2),
        max_fee_gwei: Decimal = Decimal(30),
    ) -> list[tuple[str, str]]:
        """``count`` attacker ``drain()`` transactions from ``nonce`` on: (raw hex, hash).

        anvil orders its pool by max fee per gas, so ``max_fee_gwei`` is what competes with
        the pause in the same block; a modest attacker bids a few times the base fee.
        """
        return [
            sign_call(
                self.attacker_key,
                to=self.drainer,
                data=calldata("drain()"),
                nonce=nonce + i,
                chain_id=self.chain_id,
                gas=_DRAIN_GAS,
                priority_fee_gwei=priority_fee_gwei,
                max_fee_gwei=max_fee_gwei,
            )
            for i in range(count)
        ]


def _user_keys(count: int) -> list[str]:
    return ["0x" + keccak(text=f"breakglass scenario user {i}").hex() for i in range(count)]


def _send_all(anvil: Anvil, txs: Sequence[dict[str, Any]]) -> None:
    """Send ``txs`` (from unlocked or impersonated accounts), mine, and check every receipt."""
    hashes = [anvil.rpc("eth_sendTransaction", [tx]) for tx in txs]
    for _ in range(200):
        receipts = [anvil.rpc("eth_getTransactionReceipt", [h]) for h in hashes]
        if all(r is not None for r in receipts):
            break
        anvil.rpc("evm_mine", [])
    else:
        raise DevchainError("scenario transactions were not mined")
    failed = [r["transactionHash"] for r in receipts if r["status"] != "0x1"]
    if failed:
        raise DevchainError(f"scenario transactions reverted: {failed}")


def deploy_vault(
    anvil: Anvil,
    *,
    users: int = 20,
    deposit: int = 10_000,
    parts: int = 5,
    admin_index: int = 0,
    guardian_index: int = 1,
    attacker_index: int = 2,
) -> VaultScenario:
    """Deploy token, vault and drainer, and have ``users`` accounts deposit ``deposit`` tokens.

    Works with automine and with ``block_time``: each phase's transactions are sent with
    explicit nonces and gas, then mined with ``evm_mine``.
    """
    admin = anvil.accounts[admin_index].lower()
    guardian = anvil.accounts[guardian_index].lower()
    attacker = anvil.accounts[attacker_index].lower()
    token_build = _token_artifact()
    vault_build = compile_file("DrainableVault.sol", node_imports=True)["DrainableVault"]
    drainer_build = compile_file("VaultDrainer.sol")["VaultDrainer"]

    admin_nonce = int(anvil.rpc("eth_getTransactionCount", [admin, "pending"]), 16)
    attacker_nonce = int(anvil.rpc("eth_getTransactionCount", [attacker, "pending"]), 16)
    token = _create_address(admin, admin_nonce)
    vault = _create_address(admin, admin_nonce + 1)
    drainer = _create_address(attacker, attacker_nonce)
    keys = _user_keys(users)
    user_addresses = [Account.from_key(k).address.lower() for k in keys]
    amount = deposit * _UNIT

    token_args = encode(["string", "string"], ["Acme USD", "aUSD"]).hex()
    vault_args = encode(["address", "address", "address"], [token, admin, guardian]).hex()
    drainer_args = encode(["address", "uint256"], [vault, parts]).hex()

    def tx(sender: str, nonce: int, data: str, to: str | None = None) -> dict[str, Any]:
        gas = _DEPLOY_GAS if to is None else _CALL_GAS
        built = {"from": sender, "nonce": hex(nonce), "data": data, "gas": hex(gas)}
        if to is not None:
            built["to"] = to
        return built

    phase1 = [
        tx(admin, admin_nonce, str(token_build["bytecode"]) + token_args),
        tx(admin, admin_nonce + 1, vault_build.bytecode + vault_args),
        tx(attacker, attacker_nonce, drainer_build.bytecode + drainer_args),
    ]
    mint = "mint(address,uint256)"
    phase1 += [
        tx(admin, admin_nonce + 2 + i, calldata(mint, user, amount), token)
        for i, user in enumerate(user_addresses)
    ]
    for user in user_addresses:
        anvil.rpc("anvil_setBalance", [user, hex(10 * _UNIT)])
    _send_all(anvil, phase1)

    phase2: list[dict[str, Any]] = []
    for user in user_addresses:
        anvil.rpc("anvil_impersonateAccount", [user])
        nonce = int(anvil.rpc("eth_getTransactionCount", [user, "pending"]), 16)
        phase2.append(tx(user, nonce, calldata("approve(address,uint256)", vault, amount), token))
        phase2.append(tx(user, nonce + 1, calldata("deposit(uint256)", amount), vault))
    try:
        _send_all(anvil, phase2)
    finally:
        for user in user_addresses:
            anvil.rpc("anvil_stopImpersonatingAccount", [user])

    scenario = VaultScenario(
        chain_id=anvil.chain_id,
        token=token,
        vault=vault,
        drainer=drainer,
        admin=admin,
        guardian=guardian,
        guardian_key=anvil.private_keys[guardian_index],
        attacker=attacker,
        attacker_key=anvil.private_keys[attacker_index],
        users=tuple(user_addresses),
        deposited=amount * users,
        parts=parts,
        vault_abi=vault_build.abi,
        token_abi=list(token_build["abi"]),
    )
    if scenario.vault_balance(anvil) != scenario.deposited:
        raise DevchainError("the vault does not hold the deposits")
    return scenario


def plan_yaml(
    anvil: Anvil,
    scenario: VaultScenario,
    *,
    threshold: int = 25_000,
    priority_fee_gwei: Decimal = Decimal(50),
    max_fee_gwei: Decimal = Decimal(500),
) -> str:
    """A breakglass plan: ``large-outflow`` of the token out of the vault pauses the vault.

    The guardian's key comes from ``GUARDIAN_KEY``; ``threshold`` is in whole tokens, above
    any honest withdrawal (a user holds ``deposit`` tokens).
    """
    return f"""\
protocol: Drainable Vault
chains:
  local:
    chain_id: {scenario.chain_id}
    rpc: [{{url: "{anvil.http_url}", ws: "{anvil.ws_url}"}}]
    gas: {{max_priority_fee_gwei: {priority_fee_gwei}, max_fee_gwei: {max_fee_gwei}}}
contracts:
  vault:
    chain: local
    address: "{scenario.vault}"
    pause: {{function: "pause()", check: "paused()", unpause: "unpause()"}}
  token: {{chain: local, address: "{scenario.token}"}}
signers:
  guardian: {{type: env, key: "${{GUARDIAN_KEY}}", address: "{scenario.guardian}"}}
rules:
  - id: drain
    rule: large-outflow
    contracts: [vault]
    severity: critical
    params: {{token: "{scenario.token}", threshold: {threshold}}}
playbooks:
  - id: contain
    on: [drain]
    steps:
      - {{action: pause, contract: vault, signer: guardian, mode: auto, verify: "paused()"}}
"""


@dataclass(slots=True)
class Attacker:
    """Sends one pre-signed drain per new head once armed (feed it heads with :meth:`on_head`).

    Transport-free: :meth:`on_head` returns the raw transaction to send now, if any, so the
    caller sends it on whatever connection it holds, right after the head arrived.
    """

    scenario: VaultScenario
    priority_fee_gwei: Decimal = Decimal(2)
    _queue: list[tuple[str, str]] = field(default_factory=list)
    sent: list[tuple[str, int]] = field(default_factory=list)
    """(transaction hash, number of the head it followed) of every drain sent since arming."""

    def arm(self, nonce: int, count: int | None = None) -> None:
        """Pre-sign ``count`` drains (default: the scenario's ``parts``) from ``nonce`` on."""
        total = self.scenario.parts if count is None else count
        self._queue = self.scenario.sign_drains(
            nonce, total, priority_fee_gwei=self.priority_fee_gwei
        )
        self._queue.reverse()
        self.sent = []

    def disarm(self) -> None:
        self._queue = []

    @property
    def armed(self) -> bool:
        return bool(self._queue)

    def on_head(self, number: int) -> str | None:
        """The raw drain to send after head ``number``, or ``None`` when not armed."""
        if not self._queue:
            return None
        raw, tx_hash = self._queue.pop()
        self.sent.append((tx_hash, number))
        return raw
