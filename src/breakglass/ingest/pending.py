"""Pending transactions: ``eth_subscribe("newPendingTransactions")`` plus a fetch of each.

Each new hash goes into a bounded queue; a fixed number of workers fetch the transactions
with ``eth_getTransactionByHash`` through the chain's :class:`EndpointPool` and hand a
:class:`PendingTx` to every subscriber. With ``full`` the subscription asks for whole
transactions first (``["newPendingTransactions", true]``, which geth, anvil and reth serve),
a round trip less per transaction; a node that refuses it is asked for hashes. Transactions
already mined by the time they are fetched, or unknown to the endpoint (dropped, or not
propagated to it yet), are skipped.

Resilience: the WebSocket reconnects with backoff whenever it fails or the subscription is
refused; with ``txpool_fallback``, while no subscription is live, the node's
``txpool_content`` is polled instead (always when there is no WebSocket endpoint), its
transactions used as they are; malformed
notifications, failed fetches and failing subscribers are logged and skipped.
:meth:`PendingTxSource.run` only ends when its task is cancelled.

Bounded memory: the queue has a fixed size (hashes beyond it are dropped and counted, a
mempool flood must not grow the process) and the hashes already handled are remembered in a
fixed-size window, so a reconnect does not deliver a transaction twice.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson
import structlog
from websockets.asyncio.client import connect
from websockets.exceptions import WebSocketException

from breakglass.chain.pool import EndpointPool
from breakglass.errors import ChainError
from breakglass.ingest.events import PendingTx

__all__ = ["PendingStats", "PendingSubscriber", "PendingTxSource"]

_log = structlog.get_logger("breakglass.ingest")

PendingSubscriber = Callable[[PendingTx], Awaitable[object]]


@dataclass
class PendingStats:
    """Counters since the source was created."""

    notified: int = 0
    duplicates: int = 0
    dropped: int = 0  # queue full
    bad: int = 0  # malformed notifications
    emitted: int = 0
    mined: int = 0  # already in a block when fetched
    unknown: int = 0  # the endpoint did not know the hash
    fetch_failed: int = 0
    subscriber_failed: int = 0
    connects: int = 0
    polls: int = 0  # txpool_content reads while no subscription was live
    poll_failed: int = 0


def _is_hash(value: object) -> bool:
    return isinstance(value, str) and len(value) == 66 and value.startswith("0x")


@dataclass
class PendingTxSource:
    """Follows one WebSocket endpoint's mempool and emits :class:`PendingTx` events.

    Args:
        chain: the plan's name for the chain; it tags every event.
        ws_url: the WebSocket endpoint to subscribe on; ``None`` polls ``txpool_content``.
        pool: the chain's endpoint pool, used to fetch each transaction.
        subscribers: awaited in order for each transaction; an exception is logged, not raised.
        concurrency: how many fetches run at once.
        queue_size: hashes waiting for a fetch; further ones are dropped.
        remember: how many recent hashes are kept to skip duplicates.
        reconnect_delay / max_reconnect_delay: backoff between connection attempts.
        poll_interval: seconds between ``txpool_content`` reads while no subscription is live.
    """

    chain: str
    ws_url: str | None
    pool: EndpointPool
    subscribers: Sequence[PendingSubscriber] = ()
    concurrency: int = 16
    queue_size: int = 10_000
    remember: int = 50_000
    open_timeout: float = 5.0
    reconnect_delay: float = 0.1
    max_reconnect_delay: float = 5.0
    poll_interval: float = 0.25
    full: bool = False
    """Ask for whole transactions; cleared when the node refuses (hashes then)."""
    txpool_fallback: bool = False
    """Poll ``txpool_content`` while no subscription is live."""
    stats: PendingStats = field(default_factory=PendingStats)
    subscribed: asyncio.Event = field(default_factory=asyncio.Event)
    """Set while a subscription is live (cleared while reconnecting)."""
    _queue: asyncio.Queue[tuple[str, dict[str, Any] | None, float]] = field(init=False)
    _seen: OrderedDict[str, None] = field(init=False)
    _live: bool = field(default=False, init=False, repr=False)

    def __post_init__(self) -> None:
        if self.concurrency < 1 or self.queue_size < 1 or self.remember < 1:
            raise ValueError("concurrency, queue_size and remember must be positive")
        self._queue = asyncio.Queue(self.queue_size)
        self._seen = OrderedDict()

    async def run(self) -> None:
        """Subscribe, fetch and emit until the task is cancelled."""
        workers = [asyncio.create_task(self._worker()) for _ in range(self.concurrency)]
        if self.txpool_fallback or self.ws_url is None:
            workers.append(asyncio.create_task(self._poll_txpool()))
        try:
            if self.ws_url is None:
                await asyncio.Event().wait()  # polling alone, until cancelled
            await self._listen()
        finally:
            for worker in workers:
                worker.cancel()
            await asyncio.gather(*workers, return_exceptions=True)

    async def _listen(self) -> None:
        delay = self.reconnect_delay
        while True:
            self._live = False
            try:
                await self._session()
            except (OSError, WebSocketException, TimeoutError, ChainError) as exc:
                _log.warning("ingest.pending_ws_down", chain=self.chain, error=repr(exc)[:200])
            except Exception as exc:  # anything else: log, back off, reconnect; never crash
                _log.exception("ingest.pending_ws_failed", chain=self.chain, error=repr(exc)[:200])
            else:
                _log.warning("ingest.pending_ws_closed", chain=self.chain)
            self.subscribed.clear()
            # A session that delivered notifications was healthy: start the backoff afresh.
            delay = self.reconnect_delay if self._live else min(delay * 2, self.max_reconnect_delay)
            await asyncio.sleep(delay)

    async def _poll_txpool(self) -> None:
        """Read the node's pool while no subscription is live: the fallback source."""
        while True:
            await asyncio.sleep(self.poll_interval)
            if self.subscribed.is_set():
                continue
            try:
                content = await self.pool.request("txpool_content")
                self.stats.polls += 1
                for tx in _txpool_pending(content):
                    tx_hash = tx.get("hash")
                    if _is_hash(tx_hash):
                        self.offer(str(tx_hash).lower(), tx, time.perf_counter())
            except (ChainError, AttributeError, TypeError) as exc:
                self.stats.poll_failed += 1
                _log.warning("ingest.txpool_poll_failed", chain=self.chain, error=str(exc)[:200])

    async def _session(self) -> None:
        assert self.ws_url is not None
        async with connect(self.ws_url, open_timeout=self.open_timeout, max_size=2**22) as ws:
            reply = await self._subscribe(ws, full=self.full)
            if self.full and "result" not in reply:
                self.full = False
                _log.info("ingest.pending_hashes_only", chain=self.chain)
                reply = await self._subscribe(ws, full=False)
            if "result" not in reply:
                raise ChainError(f"newPendingTransactions refused: {str(reply)[:200]}")
            self.stats.connects += 1
            self.subscribed.set()
            _log.info("ingest.pending_subscribed", chain=self.chain)
            async for message in ws:
                self._live = True
                self.handle(message, time.perf_counter())

    async def _subscribe(self, ws: Any, *, full: bool) -> dict[str, Any]:
        params: list[object] = (
            ["newPendingTransactions", True] if full else ["newPendingTransactions"]
        )
        request = {"jsonrpc": "2.0", "id": 2 if full else 1, "method": "eth_subscribe"}
        await ws.send(orjson.dumps({**request, "params": params}))
        reply = orjson.loads(await asyncio.wait_for(ws.recv(), self.open_timeout))
        return reply if isinstance(reply, dict) else {}

    def handle(self, message: str | bytes, received_at: float) -> None:
        """Take one raw notification; malformed ones are logged and skipped."""
        try:
            payload = orjson.loads(message)
            result = payload["params"]["result"]
        except (orjson.JSONDecodeError, KeyError, TypeError) as exc:
            self._bad(exc, message)
            return
        tx: dict[str, Any] | None = None
        if isinstance(result, dict):  # nodes that notify whole transactions
            tx, tx_hash = result, result.get("hash")
        else:
            tx_hash = result
        if not _is_hash(tx_hash):
            self._bad(ValueError("not a transaction hash"), message)
            return
        assert isinstance(tx_hash, str)
        self.stats.notified += 1
        self.offer(tx_hash.lower(), tx, received_at)

    def offer(self, tx_hash: str, tx: dict[str, Any] | None, received_at: float) -> bool:
        """Queue one lowercase ``tx_hash`` (with its body when known) unless it was seen
        already or the queue is full; returns whether it was queued."""
        if tx_hash in self._seen:
            self.stats.duplicates += 1
            return False
        try:
            self._queue.put_nowait((tx_hash, tx, received_at))
        except asyncio.QueueFull:
            self.stats.dropped += 1
            if self.stats.dropped % 1000 == 1:
                _log.warning("ingest.pending_dropped", chain=self.chain, dropped=self.stats.dropped)
            return False
        self._remember(tx_hash)
        return True

    def _bad(self, exc: Exception, message: str | bytes) -> None:
        self.stats.bad += 1
        _log.warning(
            "ingest.bad_pending_notification",
            chain=self.chain,
            error=repr(exc)[:200],
            message=str(message)[:200],
        )

    def _remember(self, tx_hash: str) -> None:
        self._seen[tx_hash] = None
        if len(self._seen) > self.remember:
            self._seen.popitem(last=False)

    async def _worker(self) -> None:
        while True:
            tx_hash, tx, received_at = await self._queue.get()
            try:
                await self.process(tx_hash, received_at, tx)
            except Exception as exc:  # a worker must outlive any one transaction
                self.stats.fetch_failed += 1
                _log.exception(
                    "ingest.pending_failed", chain=self.chain, tx=tx_hash, error=repr(exc)
                )
            finally:
                self._queue.task_done()

    async def process(
        self, tx_hash: str, received_at: float = 0.0, tx: dict[str, Any] | None = None
    ) -> PendingTx | None:
        """Fetch ``tx_hash`` (unless ``tx`` is given) and emit it if it is still pending.

        Returns the event emitted, or ``None`` when the transaction was skipped. Never raises
        for endpoint trouble or bad data.
        """
        if tx is None:
            try:
                tx = await self.pool.request("eth_getTransactionByHash", [tx_hash])
            except ChainError as exc:
                self.stats.fetch_failed += 1
                _log.warning(
                    "ingest.pending_fetch_failed",
                    chain=self.chain,
                    tx=tx_hash,
                    error=str(exc)[:200],
                )
                return None
        if tx is None:
            self.stats.unknown += 1
            return None
        if not isinstance(tx, dict) or str(tx.get("hash", "")).lower() != tx_hash:
            self._bad(ValueError("transaction does not match its hash"), str(tx))
            return None
        if tx.get("blockHash") is not None or tx.get("blockNumber") is not None:
            self.stats.mined += 1
            return None
        event = PendingTx(self.chain, tx_hash, tx, received_at)
        self.stats.emitted += 1
        for subscriber in self.subscribers:
            try:
                await subscriber(event)
            except Exception as exc:  # a subscriber's bug must not stop the source
                self.stats.subscriber_failed += 1
                _log.exception(
                    "ingest.pending_subscriber_failed",
                    chain=self.chain,
                    tx=tx_hash,
                    error=repr(exc)[:200],
                )
        return event

    async def drain(self) -> None:
        """Wait until every queued hash has been processed."""
        await self._queue.join()


def _txpool_pending(content: Any) -> list[dict[str, Any]]:
    """The pending transactions of a ``txpool_content`` answer (sender → nonce → tx)."""
    pending = content.get("pending") if isinstance(content, dict) else None
    if not isinstance(pending, dict):
        raise TypeError("txpool_content has no pending map")
    return [
        tx
        for by_nonce in pending.values()
        if isinstance(by_nonce, dict)
        for tx in by_nonce.values()
        if isinstance(tx, dict)
    ]
