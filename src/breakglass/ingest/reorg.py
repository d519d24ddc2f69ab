"""Placing a new head on the known chain: which blocks it orphans and which it adds.

Reorgs are found by parent hash alone. anvil sends no ``removed`` logs and a rollback
announces nothing, so the only trustworthy signal is a head whose ancestry does not match
the blocks already delivered.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from breakglass.errors import ChainError
from breakglass.ingest.events import BlockHeader
from breakglass.ingest.ring import CanonicalRing

__all__ = ["Branch", "ReorgTooDeep", "resolve_branch"]

FetchByHash = Callable[[str], Awaitable[BlockHeader]]


class ReorgTooDeep(ChainError):
    """The new head shares no ancestor with the known chain within the reorg depth."""


@dataclass(frozen=True)
class Branch:
    """``orphaned`` newest first, ``added`` oldest first; both empty for a known head."""

    orphaned: tuple[BlockHeader, ...]
    added: tuple[BlockHeader, ...]


async def resolve_branch(
    ring: CanonicalRing, head: BlockHeader, fetch_by_hash: FetchByHash, *, max_gap: int = 10_000
) -> Branch:
    """Walk back from ``head`` by parent hash until it joins the ring.

    Does not change the ring. ``max_gap`` bounds how many blocks are fetched one by one to
    fill a gap after downtime; a longer gap is for the backfill.

    Raises:
        ReorgTooDeep: no common ancestor within the ring, or the gap exceeds ``max_gap``.
    """
    known = ring.get(head.number)
    if known is not None and known.hash == head.hash:
        return Branch((), ())
    tip, lowest = ring.tip, ring.lowest
    if tip is None or lowest is None:
        return Branch((), (head,))
    if head.number < lowest:
        raise ReorgTooDeep(f"head {head.number} is below the known window {lowest}..{tip.number}")
    added = [head]
    cursor = head
    while True:
        parent_number = cursor.number - 1
        ours = ring.get(parent_number)
        if ours is not None and ours.hash == cursor.parent_hash:
            break
        first = ring.get(lowest)
        if (
            parent_number == lowest - 1
            and first is not None
            and first.parent_hash == cursor.parent_hash
        ):
            break  # joins just below the window: the oldest known block names its parent
        if parent_number < lowest:
            raise ReorgTooDeep(
                f"block {head.number} {head.hash[:10]}… shares no ancestor with the last "
                f"{ring.depth} blocks"
            )
        if len(added) > max_gap:
            raise ReorgTooDeep(f"gap of more than {max_gap} blocks before {head.number}")
        cursor = await fetch_by_hash(cursor.parent_hash)
        if cursor.number != parent_number:
            raise ChainError(f"endpoint returned block {cursor.number} for {parent_number}")
        added.append(cursor)
    ancestor = cursor.number - 1
    orphaned = tuple(h for h in reversed(list(ring)) if h.number > ancestor)
    return Branch(orphaned, tuple(reversed(added)))
