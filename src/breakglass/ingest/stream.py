"""The block stream: every canonical block exactly once, in order, with reorgs retracted.

For each new head the stream walks parent hashes back to the chain it already delivered
(:mod:`breakglass.ingest.reorg`), emits ``BlockRemoved`` for orphaned blocks newest first,
then ``BlockAdded`` for the new canonical blocks oldest first, fetching each block's data
in one batched round trip.

Two kinds of consumers:

- ``subscribers`` are called first, on the hot path (detection). After a crash they may see
  the last block again, so they must be idempotent.
- ``sinks`` are called inside the checkpoint's transaction with its session; their writes
  commit with the checkpoint or not at all, so they see every block exactly once.
- ``writers`` keep the event loop free of the database: with writers, sinks are always
  called on the loop without a session (they do their in-memory work and hold their writes)
  and the transaction runs in a worker thread, where each writer writes what its sink held
  before the checkpoint moves. A database lock held elsewhere (the relay, a consumer, another
  process) then delays only the commit, never the loop: another chain's reaction, a pending
  broadcast or the mempool guard go on meanwhile.

Storage trouble (PostgreSQL restarting, a full disk, a locked SQLite file) never stops the
stream: detection and response do not need the database. A failed transaction is logged
as an error and storage is retried with backoff; until it works again each sink is called
with ``None`` for a session, and must do its in-memory work (detect, react) and hold its
writes, and the checkpoint moves held in memory too. The first transaction that commits
again writes everything held, in order. A sink forgets what it held only once a session it
wrote it in has committed.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, Awaitable, Callable, Sequence
from dataclasses import dataclass, field

import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from breakglass.errors import ChainError, ConfigError, StoreError
from breakglass.ingest.checkpoint import CheckpointStore
from breakglass.ingest.events import (
    BadChainData,
    BlockAdded,
    BlockHeader,
    BlockRemoved,
    StreamEvent,
)
from breakglass.ingest.fetch import BlockFetcher
from breakglass.ingest.reorg import ReorgTooDeep, resolve_branch
from breakglass.ingest.ring import CanonicalRing
from breakglass.store.lease import AnotherMonitorError

__all__ = ["BlockStream", "Sink", "Subscriber", "Writer"]

_log = structlog.get_logger("breakglass.ingest")

Subscriber = Callable[[StreamEvent], Awaitable[None]]
Sink = Callable[[StreamEvent, Session | None], Awaitable[None]]
Writer = Callable[[Session], None]

STORAGE_BACKOFF = (0.5, 1.0, 2.0, 5.0, 10.0, 30.0)
"""Seconds between attempts at storage while it keeps failing."""


@dataclass
class BlockStream:
    """Follows one chain's heads and delivers ``BlockAdded``/``BlockRemoved`` in order.

    Args:
        chain: the plan's name for the chain; it tags every event and the checkpoint.
        fetcher: fetches block data through the chain's endpoint pool.
        checkpoints: where delivery is recorded; ``None`` keeps it in memory only.
        confirmations: deliver a block only once this many blocks are on top of it.
        depth: how far back a reorg can be followed (and how many blocks are remembered).
    """

    chain: str
    fetcher: BlockFetcher
    checkpoints: CheckpointStore | None = None
    subscribers: Sequence[Subscriber] = ()
    sinks: Sequence[Sink] = ()
    writers: Sequence[Writer] = ()
    confirmations: int = 0
    depth: int = 64
    head_retries: int = 5
    subscriber_failure_budget: int = 10
    max_held: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _seen: CanonicalRing = field(init=False)
    _delivered: CanonicalRing = field(init=False)

    def __post_init__(self) -> None:
        if (self.sinks or self.writers) and self.checkpoints is None:
            raise ConfigError("sinks write in the checkpoint's transaction; give a CheckpointStore")
        self._failures = [0] * len(self.subscribers)
        restored = self.checkpoints.load() if self.checkpoints else []
        self._seen = CanonicalRing(self.depth, restored)
        self._delivered = CanonicalRing(self.depth, restored)
        self._held: list[tuple[StreamEvent, BlockHeader]] = []
        self._storage_failures = 0
        self._storage_retry_at = 0.0
        self.storage_error: str | None = None
        """Why the last storage attempt failed; None while storage works."""

    @property
    def open_breakers(self) -> list[int]:
        """Indexes of subscribers switched off after too many consecutive failures."""
        budget = self.subscriber_failure_budget
        return [i for i, failures in enumerate(self._failures) if failures >= budget]

    @property
    def tip(self) -> BlockHeader | None:
        """The newest delivered block."""
        return self._delivered.tip

    async def run(self, heads: AsyncIterable[tuple[BlockHeader, float]]) -> None:
        """Consume ``heads`` until it ends or the task is cancelled."""
        async for header, received_at in heads:
            await self.on_head(header, received_at)

    async def on_head(self, head: BlockHeader, received_at: float = 0.0) -> None:
        """Place one head; retried on endpoint trouble, never fatal for bad data."""
        for attempt in range(self.head_retries):
            try:
                await self._place(head, received_at)
            except ChainError as exc:
                _log.warning(
                    "ingest.head_failed",
                    chain=self.chain,
                    block=head.number,
                    attempt=attempt + 1,
                    error=str(exc)[:300],
                )
                await asyncio.sleep(min(0.05 * 2**attempt, 1.0))
            else:
                return
        _log.error("ingest.head_skipped", chain=self.chain, block=head.number)

    async def _place(self, head: BlockHeader, received_at: float) -> None:
        # A ChainError while re-anchoring is retried by on_head like any other.
        try:
            await self._advance(head, received_at)
        except ReorgTooDeep as exc:
            await self._reanchor(head, received_at, exc)

    async def _advance(self, head: BlockHeader, received_at: float) -> None:
        lowest = self._seen.lowest
        if lowest is not None and head.number < lowest:
            # A lagging endpoint's head, not a reorg: the next head from a current one will
            # show whether anything changed.
            _log.warning("ingest.stale_head", chain=self.chain, block=head.number, lowest=lowest)
            return
        branch = await resolve_branch(self._seen, head, self.fetcher.header_by_hash)
        if branch.orphaned and await self.fetcher.header_by_hash(head.hash) != head:
            # Retracting delivered blocks is costly downstream; only a head the endpoints
            # can produce is allowed to cause it. (header_by_hash raises when none can.)
            raise BadChainData(f"head {head.number} {head.hash[:10]}… does not match its block")
        if branch.added:
            ancestor = branch.added[0].number - 1
            self._seen.truncate_above(ancestor)
            delivered = self._delivered.tip
            undelivered = branch.added[-1].number - (delivered.number if delivered else ancestor)
            if undelivered >= self._seen.depth:
                # A gap longer than the window (after downtime): hold every block not yet
                # delivered, or the oldest would fall out before they are delivered.
                self._seen = CanonicalRing(undelivered + 1, self._seen)
            for header in branch.added:
                if self._seen.tip is not None and header.number != self._seen.tip.number + 1:
                    self._seen = CanonicalRing(self.depth)  # first head ever, or after a gap
                self._seen.append(header)
            for orphan in self._delivered.truncate_above(ancestor):
                await self._deliver(BlockRemoved(self.chain, orphan.number, orphan.hash), orphan)
        tip = self._seen.tip
        if tip is None:
            return
        last = self._delivered.tip
        lowest = self._seen.lowest
        if last is not None and lowest is not None and lowest > last.number + 1:
            await self._fill_gap(last, lowest)
            lowest = self._seen.lowest
        start = last.number + 1 if last is not None else (tip.number if lowest is None else lowest)
        for number in range(start, tip.number - self.confirmations + 1):
            found = self._seen.get(number)
            if found is None:
                continue
            event = await self.fetcher.fetch(
                self.chain, found, received_at if found.hash == head.hash else 0.0
            )
            await self._deliver(event, found)
            self._delivered.append(found)
        if self._seen.depth > self.depth:
            self._seen = CanonicalRing(self.depth, self._seen)  # caught up: back to the window

    async def _fill_gap(self, last: BlockHeader, lowest: int) -> None:
        """The window restarted above the last delivered block (heads skipped blocks while
        a reorg or a slow endpoint was handled): fetch the missing headers by parent hash so
        that delivery stays contiguous, or re-anchor if they no longer descend from it."""
        cursor = self._seen.get(lowest)
        assert cursor is not None
        missing: list[BlockHeader] = []
        while cursor.number > last.number + 1:
            cursor = await self.fetcher.header_by_hash(cursor.parent_hash)
            missing.append(cursor)
        if cursor.parent_hash != last.hash:
            raise ReorgTooDeep(
                f"block {cursor.number} does not descend from delivered block {last.number}"
            )
        headers = [*missing, *self._seen]
        self._seen = CanonicalRing(max(self.depth, len(headers)), headers)

    async def _reanchor(self, head: BlockHeader, received_at: float, exc: ReorgTooDeep) -> None:
        """No common ancestor in reach: retract everything delivered and restart at ``head``.

        The delivered blocks cannot be verified against the new chain, so downstream is told
        to forget them rather than trust them.
        """
        _log.error("ingest.reorg_too_deep", chain=self.chain, block=head.number, error=str(exc))
        for orphan in self._delivered.truncate_above(-1):
            await self._deliver(BlockRemoved(self.chain, orphan.number, orphan.hash), orphan)
        self._seen = CanonicalRing(self.depth)
        await self._advance(head, received_at)

    async def _deliver(self, event: StreamEvent, header: BlockHeader) -> None:
        for index, subscriber in enumerate(self.subscribers):
            if self._failures[index] >= self.subscriber_failure_budget:
                continue
            try:
                await subscriber(event)
            except Exception as exc:  # one subscriber's bug must not stop the chain
                self._failures[index] += 1
                tripped = self._failures[index] >= self.subscriber_failure_budget
                _log.error(
                    "ingest.subscriber_failed",
                    chain=self.chain,
                    subscriber=repr(subscriber)[:80],
                    block=event.number,
                    consecutive=self._failures[index],
                    breaker_open=tripped,
                    error=repr(exc)[:300],
                )
            else:
                self._failures[index] = 0
        if self.checkpoints is None:
            return
        self._held.append((event, header))
        if len(self._held) > self.max_held:
            dropped = self._held.pop(0)[0]
            _log.error(
                "ingest.checkpoint_dropped", chain=self.chain, block=dropped.number,
                hint="storage has failed for too long; the checkpoint will resume later",
            )  # fmt: skip
        storage_waits = self.storage_error is not None and self.clock() < self._storage_retry_at
        if storage_waits or self.writers:
            for sink in self.sinks:
                await sink(event, None)
            if storage_waits:
                return
        try:
            if self.writers:
                commit = asyncio.ensure_future(asyncio.to_thread(self._commit_held))
                try:
                    await asyncio.shield(commit)
                except asyncio.CancelledError:
                    # Stopped mid-commit: the thread goes on either way, so end only once it
                    # has (whoever drains the outbox after the stream must see its events).
                    await asyncio.gather(commit, return_exceptions=True)
                    raise
            else:
                with self.checkpoints.unit() as session:
                    for sink in self.sinks:
                        await sink(event, session)
                    self._move_checkpoint(session)
        except SQLAlchemyError as exc:
            self._storage_failed(event, exc)
        else:
            self._held.clear()
            if self.storage_error is not None:
                # A restarted database ended the session holding the chain's claim: take it
                # again, or stop here if another monitor took the chain meanwhile.
                try:
                    self.checkpoints.renew()
                except AnotherMonitorError:
                    raise
                except (SQLAlchemyError, StoreError) as exc:
                    self._storage_failed(event, exc)
                    return
                _log.warning(
                    "ingest.storage_recovered",
                    chain=self.chain,
                    block=event.number,
                    failures=self._storage_failures,
                )
            self.storage_error, self._storage_failures = None, 0

    def _commit_held(self) -> None:
        """The writers' transaction, in a worker thread (the stream waits for it in order)."""
        assert self.checkpoints is not None
        with self.checkpoints.unit() as session:
            for write in self.writers:
                write(session)
            self._move_checkpoint(session)

    def _move_checkpoint(self, session: Session) -> None:
        assert self.checkpoints is not None
        for held, held_header in self._held:
            if isinstance(held, BlockAdded):
                self.checkpoints.added(session, held_header)
            else:
                self.checkpoints.removed(session, held_header)

    def _storage_failed(self, event: StreamEvent, exc: Exception) -> None:
        # The type and the driver's first line: enough to act on, and a driver error can
        # quote a statement's parameters.
        original = getattr(exc, "orig", None) or exc
        first_line = (str(original).strip().splitlines() or [""])[0][:200]
        self.storage_error = f"{type(original).__name__}: {first_line}"
        wait = STORAGE_BACKOFF[min(self._storage_failures, len(STORAGE_BACKOFF) - 1)]
        self._storage_failures += 1
        self._storage_retry_at = self.clock() + wait
        _log.error(
            "ingest.storage_failed",
            chain=self.chain,
            block=event.number,
            consecutive=self._storage_failures,
            held_blocks=len(self._held),
            retry_in_s=wait,
            error=self.storage_error,
            hint="detection and response go on; alerts and the checkpoint are held in memory "
            "until the database takes writes again",
        )
