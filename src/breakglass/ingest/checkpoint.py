"""Where the stream left off: the delivered recent chain, saved with each delivery.

A checkpoint is only meaningful on the chain that wrote it. Block numbers of a restarted
devnet or of a wrong endpoint look like a chain far behind the checkpoint, whose blocks the
stream would skip as stale for ever. So each checkpoint carries the chain id and genesis
hash it was written on, and a start against another chain is refused.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Protocol

import structlog
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import ChainError
from breakglass.ingest.events import BlockHeader
from breakglass.store import (
    add_canonical_block,
    canonical_blocks,
    get_checkpoint,
    remove_canonical_block,
)
from breakglass.store.lease import MonitorLease

__all__ = [
    "ChainIdMismatch",
    "ChainIdentity",
    "ChainMismatch",
    "CheckpointStore",
    "check_chain_identity",
    "fetch_chain_identity",
]

_log = structlog.get_logger("breakglass.ingest")


class _Rpc(Protocol):
    async def request(self, method: str, params: Sequence[Any] = ...) -> Any: ...


@dataclass(frozen=True)
class ChainIdentity:
    """Which chain block numbers belong to: its id and its block 0."""

    chain_id: int
    genesis_hash: str

    def __str__(self) -> str:
        return f"chain id {self.chain_id}, genesis {self.genesis_hash}"


class ChainMismatch(ChainError):
    """The database's checkpoint was written on another chain than the endpoints serve."""

    def __init__(self, key: str, stored: ChainIdentity, found: ChainIdentity) -> None:
        super().__init__(
            f"checkpoint {key!r} belongs to another chain: the database holds {stored}, "
            f"the endpoints serve {found}. Resuming would skip every block below the stored "
            "height; point BREAKGLASS_DATABASE_URL at a database for this chain"
        )
        self.key = key
        self.stored = stored
        self.found = found


class ChainIdMismatch(ChainMismatch):
    """The endpoints serve another chain id than the plan's ``chain_id``.

    A :class:`ChainMismatch`, so whatever refuses a checkpoint of another chain refuses this
    too (the monitor stops with a message rather than retrying a wrong endpoint for ever);
    there is no stored checkpoint here, so ``stored`` is not set: ``expected_chain_id`` is.
    """

    def __init__(self, chain: str | None, expected_chain_id: int, found: ChainIdentity) -> None:
        where = f"chain {chain!r}: " if chain else ""
        ChainError.__init__(
            self,
            f"{where}the plan says chain id {expected_chain_id}, but the endpoints serve chain "
            f"id {found.chain_id}: fix the chain's chain_id or its rpc URLs in the plan",
        )
        self.key = chain or ""
        self.expected_chain_id = expected_chain_id
        self.found = found


async def fetch_chain_identity(
    rpc: _Rpc, *, chain: str | None = None, expected_chain_id: int | None = None
) -> ChainIdentity:
    """The chain id and genesis hash the endpoints behind ``rpc`` serve.

    Args:
        chain: the chain's name in the plan, for the error message.
        expected_chain_id: the plan's ``chain_id``. A fresh database has no checkpoint to
            compare with, so without this a wrong endpoint (or a wrong id in the plan) would
            be watched without a word: no alert for the real chain, pauses signed for another.

    Raises:
        ChainError: no endpoint answered, or the genesis block is missing (without them the
            stored checkpoint cannot be told to be of this chain).
        ChainIdMismatch: the endpoints serve another chain id than ``expected_chain_id``.
    """
    where = f"chain {chain!r}: " if chain else ""
    try:
        chain_id = int(await rpc.request("eth_chainId", []), 16)
        genesis = await rpc.request("eth_getBlockByNumber", ["0x0", False])
    except ChainError as exc:
        raise ChainError(
            f"{where}cannot tell which chain the endpoints serve (chain id and block 0), "
            f"so resuming from the checkpoint is not safe: {exc}"
        ) from exc
    if not isinstance(genesis, dict) or not isinstance(genesis.get("hash"), str):
        raise ChainError(f"{where}chain id {chain_id}: the endpoints do not return block 0")
    found = ChainIdentity(chain_id, genesis["hash"].lower())
    if expected_chain_id is not None and chain_id != expected_chain_id:
        raise ChainIdMismatch(chain, expected_chain_id, found)
    return found


def check_chain_identity(session: Session, *, key: str, found: ChainIdentity) -> None:
    """Refuse a checkpoint written on another chain; stamp one written before identities.

    Raises:
        ChainMismatch: the checkpoint under ``key`` records another chain id or genesis.
    """
    row = get_checkpoint(session, chain=key)
    if row is None:
        return
    if row.chain_id is None or row.genesis_hash is None:
        row.chain_id, row.genesis_hash = found.chain_id, found.genesis_hash
        _log.info("ingest.checkpoint_identity_recorded", checkpoint=key, chain_id=found.chain_id)
        return
    stored = ChainIdentity(row.chain_id, row.genesis_hash)
    if stored != found:
        raise ChainMismatch(key, stored, found)


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
    identity: ChainIdentity | None = None
    """Stamped on every checkpoint written; set by :meth:`verify`."""

    _lease: MonitorLease | None = field(default=None, init=False, repr=False)

    def verify(self, found: ChainIdentity) -> None:
        """Claim the chain on this database (one monitor per chain), check that the stored
        checkpoint is of the chain ``found``, and stamp ``found`` on every checkpoint
        written from now on. :meth:`release` gives the claim up.

        Raises:
            AnotherMonitorError: another monitor follows this chain into this database.
            ChainMismatch: the stored checkpoint was written on another chain.
        """
        engine = self.sessions.kw.get("bind")
        if self._lease is None and isinstance(engine, Engine):
            self._lease = MonitorLease.acquire(engine, self.chain)
            # A store dropped without release (a test, a crashed task) lets go when collected.
            weakref.finalize(self, self._lease.release)
        try:
            with self.sessions() as session, session.begin():
                check_chain_identity(session, key=self.chain, found=found)
        except BaseException:  # re-raised: the lease must not outlive a refused start
            self.release()
            raise
        self.identity = found

    def renew(self) -> None:
        """After storage trouble: hold the chain's claim again if the database dropped it.

        Raises:
            AnotherMonitorError: another monitor took the chain while storage was down.
        """
        if self._lease is not None:
            self._lease.renew()

    def release(self) -> None:
        """Let another monitor follow the chain on this database. Idempotent."""
        if self._lease is not None:
            lease, self._lease = self._lease, None
            lease.release()

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
            chain_id=self.identity.chain_id if self.identity else None,
            genesis_hash=self.identity.genesis_hash if self.identity else None,
        )

    def removed(self, session: Session, header: BlockHeader) -> None:
        remove_canonical_block(session, chain=self.chain, number=header.number, now=self.clock())
