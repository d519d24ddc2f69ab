"""Merkle distributions in OpenZeppelin's ``StandardMerkleTree`` format (merkle-tree 1.0.8).

A leaf is ``keccak256(bytes.concat(keccak256(abi.encode(address, uint256))))``. Leaves are
sorted by hash and laid out as a complete binary tree in an array: with ``n`` leaves the array
has ``2n - 1`` nodes, leaf ``i`` (in sorted order) sits at index ``2n - 2 - i`` and node ``k``'s
children are ``2k + 1`` and ``2k + 2``; a node is the hash of its two children concatenated in
ascending order. ``tree[0]`` is the root. :meth:`MerkleDistribution.dump` writes the JSON that
``StandardMerkleTree.load`` reads, and :meth:`MerkleDistribution.claims` one proof per account.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from eth_abi.abi import encode
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from breakglass.recovery.policy import RecoveryError

__all__ = [
    "LEAF_ENCODING",
    "MerkleDistribution",
    "leaf_hash",
    "node_hash",
    "verify_proof",
]

LEAF_ENCODING = ("address", "uint256")
_MAX_UINT256 = 2**256 - 1


def leaf_hash(account: str, amount: int) -> bytes:
    """The standard leaf: ``keccak256(keccak256(abi.encode(account, amount)))``."""
    if not 0 <= amount <= _MAX_UINT256:
        raise RecoveryError(f"amount {amount} is not a uint256")
    return keccak(keccak(encode(list(LEAF_ENCODING), [to_checksum_address(account), amount])))


def node_hash(a: bytes, b: bytes) -> bytes:
    """The hash of two sibling nodes, concatenated in ascending order."""
    return keccak(a + b if a <= b else b + a)


def verify_proof(root: bytes, account: str, amount: int, proof: Iterable[bytes]) -> bool:
    """Whether ``proof`` proves the leaf ``(account, amount)`` under ``root``."""
    node = leaf_hash(account, amount)
    for sibling in proof:
        node = node_hash(node, sibling)
    return node == root


def _hex(node: bytes) -> str:
    return "0x" + node.hex()


@dataclass(frozen=True, slots=True)
class MerkleDistribution:
    """A built tree: ``values`` in input order, each with its index in ``tree``."""

    tree: tuple[bytes, ...]
    values: tuple[tuple[str, int], ...]
    tree_indices: tuple[int, ...]

    @classmethod
    def build(cls, amounts: Mapping[str, int] | Iterable[tuple[str, int]]) -> MerkleDistribution:
        """The tree of ``(account, amount)`` leaves, exactly as ``StandardMerkleTree.of`` does.

        Raises:
            RecoveryError: no leaves, an account twice, or an amount out of range.
        """
        pairs = list(amounts.items() if isinstance(amounts, Mapping) else amounts)
        if not pairs:
            raise RecoveryError("a Merkle distribution needs at least one claim")
        values = tuple((to_checksum_address(account), int(amount)) for account, amount in pairs)
        seen: set[str] = set()
        for account, _ in values:
            if account in seen:
                raise RecoveryError(f"{account} appears twice in the distribution")
            seen.add(account)
        hashes = [leaf_hash(account, amount) for account, amount in values]
        order = sorted(range(len(values)), key=lambda i: hashes[i])  # stable, like Array.sort
        size = 2 * len(values) - 1
        tree: list[bytes] = [b""] * size
        indices = [0] * len(values)
        for position, value_index in enumerate(order):
            tree[size - 1 - position] = hashes[value_index]
            indices[value_index] = size - 1 - position
        for k in range(size - 1 - len(values), -1, -1):
            tree[k] = node_hash(tree[2 * k + 1], tree[2 * k + 2])
        return cls(tuple(tree), values, tuple(indices))

    @property
    def root(self) -> bytes:
        """The Merkle root."""
        return self.tree[0]

    @property
    def root_hex(self) -> str:
        """The root as ``0x``-prefixed hex."""
        return _hex(self.root)

    @property
    def total(self) -> int:
        """The sum of all amounts."""
        return sum(amount for _, amount in self.values)

    def proof(self, account: str) -> list[bytes]:
        """The sibling hashes from ``account``'s leaf up to the root.

        Raises:
            RecoveryError: ``account`` has no leaf.
        """
        wanted = account.lower()
        for (value_account, _), index in zip(self.values, self.tree_indices, strict=True):
            if value_account.lower() == wanted:
                return self._proof_at(index)
        raise RecoveryError(f"{account} has no claim in this distribution")

    def _proof_at(self, index: int) -> list[bytes]:
        proof = []
        while index > 0:
            sibling = index - 1 if index % 2 == 0 else index + 1
            proof.append(self.tree[sibling])
            index = (index - 1) // 2
        return proof

    def dump(self) -> dict[str, Any]:
        """The ``standard-v1`` JSON object that ``StandardMerkleTree.load`` accepts."""
        return {
            "format": "standard-v1",
            "leafEncoding": list(LEAF_ENCODING),
            "tree": [_hex(node) for node in self.tree],
            "values": [
                {"value": [account, str(amount)], "treeIndex": index}
                for (account, amount), index in zip(self.values, self.tree_indices, strict=True)
            ],
        }

    @classmethod
    def load(cls, data: Mapping[str, Any]) -> MerkleDistribution:
        """Read a ``standard-v1`` dump, checking every node and leaf.

        Raises:
            RecoveryError: another format or encoding, or a tree that does not hash up.
        """
        if data.get("format") != "standard-v1" or list(data.get("leafEncoding", ())) != list(
            LEAF_ENCODING
        ):
            raise RecoveryError("not a standard-v1 (address, uint256) Merkle tree dump")
        try:
            pairs = [(str(v["value"][0]), int(v["value"][1])) for v in data["values"]]
            tree = tuple(bytes.fromhex(str(node).removeprefix("0x")) for node in data["tree"])
            indices = tuple(int(v["treeIndex"]) for v in data["values"])
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            raise RecoveryError(f"malformed Merkle tree dump: {exc}") from exc
        rebuilt = cls.build(pairs)
        if rebuilt.tree != tree or rebuilt.tree_indices != indices:
            raise RecoveryError("the Merkle tree dump does not match its values")
        return rebuilt

    def claims(self) -> dict[str, dict[str, Any]]:
        """``{account: {"amount": "<base units>", "proof": ["0x..", ...]}}`` for every leaf."""
        return {
            account: {"amount": str(amount), "proof": [_hex(p) for p in self._proof_at(index)]}
            for (account, amount), index in zip(self.values, self.tree_indices, strict=True)
        }
