"""The attacker cluster: who sent the exploit, what they deployed, where the loot went.

Members, found from the exploit transactions only:

- ``sender``: the ``from`` of every exploit transaction;
- ``contract``: contracts a member created — a receipt's ``contractAddress``, a
  ``CREATE``/``CREATE2`` of a member in the call trace (:func:`trace_facts`), or an address the
  exploit touched that equals ``CREATE(member, nonce)`` for a nonce the member had used
  (so an attack contract deployed in an earlier transaction is found too);
- ``recipient``: who received tokens or ether from a victim contract or from a member inside an
  exploit transaction, unless it is a user, a plan contract, or a counterparty that also
  sent tokens to a member in the same transaction (a flash lender or a DEX pair).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import structlog
from eth_utils.crypto import keccak

from breakglass.analysis import NATIVE, analyze_tx
from breakglass.analysis.losses import LogTransfer
from breakglass.chain.pool import EndpointPool
from breakglass.errors import ChainError

__all__ = [
    "AttackerCluster",
    "Member",
    "TraceFacts",
    "build_cluster",
    "create_address",
    "trace_facts",
]

_log = structlog.get_logger(__name__)
_MAX_NONCE_SCAN = 4096
_CREATE_TYPES = ("CREATE", "CREATE2")


def create_address(sender: str, nonce: int) -> str:
    """The address ``CREATE`` gives a contract made by ``sender`` at ``nonce`` (lower-case)."""
    raw = bytes.fromhex(sender.lower().removeprefix("0x"))
    if nonce == 0:
        encoded = b"\x80"
    elif nonce < 0x80:
        encoded = bytes([nonce])
    else:
        body = nonce.to_bytes((nonce.bit_length() + 7) // 8, "big")
        encoded = bytes([0x80 + len(body)]) + body
    payload = b"\x94" + raw + encoded
    return "0x" + keccak(bytes([0xC0 + len(payload)]) + payload)[12:].hex()


@dataclass(frozen=True, slots=True)
class Member:
    """One cluster address: ``kind`` is sender, contract or recipient; ``note`` says why."""

    address: str
    kind: str
    note: str


@dataclass(slots=True)
class AttackerCluster:
    """The cluster's members, by address (lower-case)."""

    members: dict[str, Member] = field(default_factory=dict)

    def add(self, address: str, kind: str, note: str) -> bool:
        """Add ``address`` unless it is already a member; True when it was new."""
        address = address.lower()
        if address in self.members:
            return False
        self.members[address] = Member(address, kind, note)
        return True

    @property
    def addresses(self) -> set[str]:
        return set(self.members)

    def __contains__(self, address: object) -> bool:
        return isinstance(address, str) and address.lower() in self.members


@dataclass(slots=True)
class TraceFacts:
    """What the exploit transactions' call traces add to their receipts."""

    creations: list[tuple[str, str]] = field(default_factory=list)
    """(creator, created) of every successful ``CREATE``/``CREATE2``."""
    touched: set[str] = field(default_factory=set)
    """Every caller and callee."""
    native: list[LogTransfer] = field(default_factory=list)
    """Ether moved by calls (asset ``"ETH"``, ``log_index`` = execution order)."""


async def trace_facts(pool: EndpointPool, tx_hashes: Sequence[str]) -> TraceFacts:
    """Creations, touched addresses and ether transfers from :func:`analyze_tx`.

    A transaction that cannot be traced adds nothing: receipts still give the rest.
    """
    facts = TraceFacts()
    for tx_hash in tx_hashes:
        try:
            analysis = await analyze_tx(pool, tx_hash)
        except ChainError as exc:  # tracing is optional; receipts are the fallback
            _log.info("no call trace", tx=tx_hash, error=str(exc))
            continue
        for node in analysis.calls.walk():
            facts.touched.update(a.lower() for a in (node.from_, node.to) if a)
            if node.type.upper() in _CREATE_TYPES and node.to and not node.reverted:
                facts.creations.append((node.from_.lower(), node.to.lower()))
        facts.native.extend(
            LogTransfer(NATIVE, t.from_, t.to, t.amount, analysis.tx_hash, analysis.block_number, i)
            for i, t in enumerate(analysis.transfers)
            if t.asset == NATIVE
        )
    return facts


def build_cluster(
    txs: Sequence[Mapping[str, Any]],
    receipts: Sequence[Mapping[str, Any]],
    transfers: Iterable[LogTransfer],
    *,
    victims: Iterable[str],
    users: Iterable[str],
    known: Iterable[str] = (),
    creations: Iterable[tuple[str, str]] = (),
    touched: Iterable[str] = (),
) -> AttackerCluster:
    """The cluster of the exploit ``txs`` (with their ``receipts`` and token ``transfers``).

    ``victims`` are the drained contracts, ``users`` the protocol's users and ``known``
    other addresses that are never attackers (plan contracts, assets).
    """
    cluster = AttackerCluster()
    victim_set = {v.lower() for v in victims}
    protected = victim_set | {k.lower() for k in known}
    never = protected | {u.lower() for u in users}
    nonces: dict[str, int] = {}
    for tx in txs:
        sender = str(tx["from"]).lower()
        cluster.add(sender, "sender", f"sent exploit transaction {tx['hash']}")
        nonces[sender] = max(nonces.get(sender, 0), int(tx["nonce"], 16))
    seen_addresses = {a.lower() for a in touched}
    for tx in txs:
        if tx.get("to"):
            seen_addresses.add(str(tx["to"]).lower())
    for receipt in receipts:
        if receipt.get("contractAddress"):
            created = str(receipt["contractAddress"]).lower()
            cluster.add(created, "contract", f"deployed by {receipt['transactionHash']}")
        for log in receipt.get("logs") or ():
            seen_addresses.add(str(log["address"]).lower())
    transfer_list = list(transfers)
    for t in transfer_list:
        seen_addresses.update((t.from_, t.to))
    seen_addresses -= protected  # a depositor may be the attack contract: not `never`

    # Contracts the senders deployed earlier: match touched addresses against CREATE addresses.
    for sender, top in nonces.items():
        for nonce in range(max(0, top - _MAX_NONCE_SCAN), top + 1):
            if (created := create_address(sender, nonce)) in seen_addresses:
                cluster.add(created, "contract", f"created by {sender} at nonce {nonce}")

    pending = list(creations)
    grown = True
    while grown:
        grown = False
        for creator, created in pending:
            if creator in cluster and created not in protected:
                grown |= cluster.add(created, "contract", f"created by {creator} in a trace")
        for member in list(cluster.members):
            for nonce in range(1, 65):
                created = create_address(member, nonce)
                if created in seen_addresses:
                    grown |= cluster.add(created, "contract", f"created by {member}")
        grown |= _add_recipients(cluster, transfer_list, victim_set, never)
    return cluster


def _add_recipients(
    cluster: AttackerCluster,
    transfers: Sequence[LogTransfer],
    victims: set[str],
    never: set[str],
) -> bool:
    """Add who received from victims or members, except counterparties; True if any."""
    paid_members: dict[str, set[str]] = {}
    for t in transfers:
        if t.to in cluster:
            paid_members.setdefault(t.tx_hash, set()).add(t.from_)
    grown = False
    for t in transfers:
        if t.to in never or t.to in cluster:
            continue
        if t.from_ not in victims and t.from_ not in cluster:
            continue
        if t.to in paid_members.get(t.tx_hash, set()):
            continue
        source = "victim" if t.from_ in victims else "member"
        grown |= cluster.add(t.to, "recipient", f"received from {source} {t.from_} in {t.tx_hash}")
    return grown
