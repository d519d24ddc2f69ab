"""Reading block heads and voting on them; pure functions the pool's I/O feeds."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

from breakglass.chain.errors import MalformedResponse
from breakglass.chain.middleware import Head

__all__ = ["HEAD_METHOD", "parse_head", "quorum_height", "vote"]

HEAD_METHOD = "eth_getBlockByNumber"


def parse_head(block: object, *, endpoint: str) -> Head:
    """The :class:`Head` in an ``eth_getBlockByNumber`` result.

    Raises:
        MalformedResponse: the result is not a block with hex number, hash and timestamp.
    """
    try:
        if not isinstance(block, dict):
            raise TypeError(type(block).__name__)  # noqa: TRY301
        number, block_hash, ts = block["number"], block["hash"], block["timestamp"]
        if not (isinstance(block_hash, str) and len(block_hash) == 66):
            raise TypeError("hash")  # noqa: TRY301
        return Head(number=int(number, 16), hash=block_hash.lower(), timestamp=int(ts, 16))
    except (KeyError, TypeError, ValueError) as exc:
        raise MalformedResponse(
            f"block unreadable ({exc})", endpoint=endpoint, method=HEAD_METHOD
        ) from None


def vote(heads: Sequence[Head | None], k: int) -> Head | None:
    """The highest head reported by at least ``k`` endpoints, or ``None``."""
    votes = Counter(h for h in heads if h is not None)
    agreed = [h for h, count in votes.items() if count >= k]
    return max(agreed, key=lambda h: (h.number, votes[h])) if agreed else None


def quorum_height(heads: Sequence[Head | None], k: int) -> int | None:
    """The highest block number that at least ``k`` endpoints have reached, or ``None``.

    Endpoints a block or two apart at ``latest`` can still agree on this block.
    """
    numbers = sorted((h.number for h in heads if h is not None), reverse=True)
    return numbers[k - 1] if len(numbers) >= k else None
