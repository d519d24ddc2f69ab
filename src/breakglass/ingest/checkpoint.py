"""Where the stream left off: the delivered recent chain, saved with each delivery."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime

from sqlalchemy.orm import Session, sessionmaker

from breakglass.ingest.events import BlockHeader
from breakglass.store import add_canonical_block, canonical_blocks, remove_canonical_block

__all__ = ["CheckpointStore"]


@dataclass
class CheckpointStore:
    """Per chain, the delivered blocks within the reorg depth; the newest is the checkpoint.

    Each delivery is one transaction: transactional sinks write in it, then the checkpoint
    moves, then it commits. A crash before the commit loses the sinks' writes too, so the
    block is delivered again after the restart and no sink ever sees it twice.
    """

    sessions: sessionmaker[Session]
    chain: str
    depth: int = 64
    clock: Callable[[], datetime] = lambda: datetime.now(UTC)

    def load(self) -> list[BlockHeader]:
        with self.sessions() as session:
            return [
                BlockHeader(row.number, row.hash, row.parent_hash, row.timestamp)
                for row in canonical_blocks(session, chain=self.chain)
            ]

    @contextmanager
    def unit(self) -> Iterator[Session]:
        """One delivery: commit on success, roll back on any error."""
        with self.sessions() as session, session.begin():
            yield session

    def added(self, session: Session, header: BlockHeader) -> None:
        add_canonical_block(
            session,
            chain=self.chain,
            number=header.number,
            block_hash=header.hash,
            parent_hash=header.parent_hash,
            timestamp=header.timestamp,
            keep=self.depth,
            now=self.clock(),
        )

    def removed(self, session: Session, header: BlockHeader) -> None:
        remove_canonical_block(session, chain=self.chain, number=header.number, now=self.clock())
