"""The recent canonical chain: block number → header, bounded to the reorg depth."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from breakglass.ingest.events import BlockHeader

__all__ = ["CanonicalRing"]


class CanonicalRing:
    """The last ``depth`` canonical headers, contiguous by number."""

    def __init__(self, depth: int = 64, headers: Iterable[BlockHeader] = ()) -> None:
        if depth < 1:
            raise ValueError("depth must be at least 1")
        self.depth = depth
        self._by_number: dict[int, BlockHeader] = {}
        for header in sorted(headers, key=lambda h: h.number):
            self.append(header)

    def __len__(self) -> int:
        return len(self._by_number)

    def __iter__(self) -> Iterator[BlockHeader]:
        return iter(sorted(self._by_number.values(), key=lambda h: h.number))

    @property
    def tip(self) -> BlockHeader | None:
        return self._by_number[max(self._by_number)] if self._by_number else None

    @property
    def lowest(self) -> int | None:
        return min(self._by_number) if self._by_number else None

    def get(self, number: int) -> BlockHeader | None:
        return self._by_number.get(number)

    def append(self, header: BlockHeader) -> list[BlockHeader]:
        """Add the next header; returns the headers that fell out of the window."""
        tip = self.tip
        if tip is not None and header.number != tip.number + 1:
            raise ValueError(f"block {header.number} does not follow {tip.number}")
        self._by_number[header.number] = header
        evicted = []
        while len(self._by_number) > self.depth:
            evicted.append(self._by_number.pop(min(self._by_number)))
        return evicted

    def truncate_above(self, number: int) -> list[BlockHeader]:
        """Drop every header above ``number``; returns them newest first."""
        dropped = sorted(
            (h for n, h in self._by_number.items() if n > number),
            key=lambda h: h.number,
            reverse=True,
        )
        for header in dropped:
            del self._by_number[header.number]
        return dropped
