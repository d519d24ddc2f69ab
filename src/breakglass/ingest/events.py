"""Typed events the block stream emits, in order, to its subscribers."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from breakglass.errors import ChainError

__all__ = ["BadChainData", "BlockAdded", "BlockHeader", "BlockRemoved", "PendingTx", "StreamEvent"]


class BadChainData(ChainError):
    """An endpoint answered with data of the wrong shape, or about another block."""


@dataclass(frozen=True, slots=True)
class BlockHeader:
    """The part of a block that places it in the chain."""

    number: int
    hash: str
    parent_hash: str
    timestamp: int

    @classmethod
    def from_rpc(cls, raw: Any) -> BlockHeader:
        """Parse a JSON-RPC block or ``newHeads`` notification.

        Raises:
            BadChainData: a field is missing or is not hex of the right shape.
        """
        try:
            number = int(raw["number"], 16)
            block_hash = raw["hash"]
            parent = raw["parentHash"]
            timestamp = int(raw["timestamp"], 16)
        except (KeyError, TypeError, ValueError) as exc:
            raise BadChainData(f"not a block header: {exc!r}") from None
        if not (_is_hash(block_hash) and _is_hash(parent)):
            raise BadChainData("block header with a malformed hash")
        return cls(number, block_hash.lower(), parent.lower(), timestamp)


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 66 and value.startswith("0x")


@dataclass(frozen=True, slots=True)
class BlockAdded:
    """A block became canonical. Raw JSON-RPC data; ``decoded`` holds logs a codec knew."""

    chain: str
    header: BlockHeader
    block: dict[str, Any] | None = None
    logs: list[dict[str, Any]] = field(default_factory=list)
    receipts: list[dict[str, Any]] | None = None
    traces: list[dict[str, Any]] | None = None
    decoded: list[Any] = field(default_factory=list)
    received_at: float = 0.0  # perf_counter when the head was seen, for latency figures

    @property
    def number(self) -> int:
        return self.header.number

    @property
    def hash(self) -> str:
        return self.header.hash


@dataclass(frozen=True, slots=True)
class BlockRemoved:
    """A block that was delivered is no longer canonical (a reorg orphaned it)."""

    chain: str
    number: int
    hash: str


@dataclass(frozen=True, slots=True)
class PendingTx:
    """A transaction seen in the mempool, before it is mined."""

    chain: str
    hash: str
    tx: dict[str, Any]
    received_at: float = 0.0


StreamEvent = BlockAdded | BlockRemoved
