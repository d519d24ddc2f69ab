"""Value moved by a transaction: ERC-20 ``Transfer`` logs of its receipt, and native currency
moved by the calls of its trace (the transaction's own value and internal calls alike).

Mints and burns keep the zero address as sender or receiver, so the amounts of each asset
always sum to zero over the addresses of a transaction.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from breakglass.analysis.trace import CallNode
from breakglass.chain.codec import CodecError, LogCodec

__all__ = [
    "NATIVE",
    "TRANSFER_TOPIC",
    "Transfer",
    "log_seqs",
    "native_transfers",
    "ordered",
    "token_transfers",
]

NATIVE = "ETH"
"""The asset name of the chain's native currency in transfers and balance changes."""

TRANSFER_TOPIC = "0xddf252ad1be2c89b69c2b068fc378daa952ba7f163c4a11628f55a4df523b3ef"
"""topic0 of ``Transfer(address,address,uint256)`` (ERC-20 and ERC-721 alike)."""

_ERC20_TRANSFER = LogCodec.from_abi(
    [
        {
            "type": "event",
            "name": "Transfer",
            "anonymous": False,
            "inputs": [
                {"name": "from", "type": "address", "indexed": True},
                {"name": "to", "type": "address", "indexed": True},
                {"name": "value", "type": "uint256", "indexed": False},
            ],
        }
    ],
    name="ERC-20",
)


@dataclass(frozen=True, slots=True)
class Transfer:
    """One movement of value.

    Attributes:
        asset: the token contract (lowercase hex), or :data:`NATIVE`.
        from_: sender, lowercase hex (the zero address for a mint).
        to: receiver, lowercase hex (the zero address for a burn).
        amount: in the asset's base units (wei for native currency).
        log_index: the receipt log's index for a token transfer; ``None`` for native ones.
        seq: position in the transaction's execution order (see
            :mod:`breakglass.analysis.trace`), ``None`` when unknown.
    """

    asset: str
    from_: str
    to: str
    amount: int
    log_index: int | None
    seq: int | None = None

    @property
    def native(self) -> bool:
        """Whether this moved the native currency."""
        return self.asset == NATIVE

    def to_dict(self) -> dict[str, Any]:
        """``{asset, from, to, amount, log_index, seq}``, the amount as a decimal string."""
        return {
            "asset": self.asset,
            "from": self.from_,
            "to": self.to,
            "amount": str(self.amount),
            "log_index": self.log_index,
            "seq": self.seq,
        }

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> Transfer:
        """Read back :meth:`to_dict`."""
        return cls(
            raw["asset"], raw["from"], raw["to"], int(raw["amount"]), raw["log_index"], raw["seq"]
        )


def token_transfers(
    receipt_logs: Sequence[Mapping[str, Any]], seqs: Mapping[int, int] | None = None
) -> list[Transfer]:
    """ERC-20 transfers of a receipt's logs, in log order.

    ERC-721 ``Transfer`` logs (four topics) and malformed ones are left out. ``seqs`` maps a
    log index to its execution-order position (from the decoded trace).
    """
    found: list[Transfer] = []
    for raw in receipt_logs:
        topics = raw.get("topics") or ()
        if not topics or str(topics[0]).lower() != TRANSFER_TOPIC:
            continue
        try:
            decoded = _ERC20_TRANSFER.decode(raw)
        except CodecError:
            continue
        if decoded is None:
            continue
        found.append(
            Transfer(
                asset=decoded.address,
                from_=decoded.args["from"],
                to=decoded.args["to"],
                amount=decoded.args["value"],
                log_index=decoded.log_index,
                seq=(seqs or {}).get(decoded.log_index),
            )
        )
    return found


def native_transfers(root: CallNode) -> list[Transfer]:
    """Native currency moved by calls that did not revert, in execution order."""
    return [
        Transfer(NATIVE, node.from_, node.to, node.value, None, node.seq)
        for node in root.walk()
        if node.moves_value
    ]


def log_seqs(root: CallNode) -> dict[int, int]:
    """receipt log index → execution-order position, for the logs matched to the receipt."""
    return {
        log.log_index: log.seq
        for node in root.walk()
        for log in node.logs
        if log.log_index is not None
    }


def ordered(transfers: Iterable[Transfer]) -> list[Transfer]:
    """Transfers in execution order (those without a position last, by log index)."""
    return sorted(
        transfers,
        key=lambda t: (t.seq is None, t.seq or 0, -1 if t.log_index is None else t.log_index),
    )
