"""Head sources: WebSocket ``newHeads`` with a polling fallback.

A source yields ``(header, received_at)``; ``received_at`` is ``time.perf_counter()`` when the
notification arrived, so latency figures start at the wire. Missed heads are harmless: the
stream fills gaps by walking parent hashes.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass

import orjson
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import WebSocketException

from breakglass.errors import ChainError
from breakglass.ingest.events import BadChainData, BlockHeader
from breakglass.ingest.fetch import BlockFetcher

__all__ = ["FollowHeads", "HeadsStalled", "PollHeads", "QuorumHeads", "WsHeads", "stall_after"]

_log = structlog.get_logger("breakglass.ingest")

HeadStream = AsyncIterator[tuple[BlockHeader, float]]


class HeadsStalled(ChainError):
    """A head source went quiet for longer than its chain ever should."""


def stall_after(block_time: float | None) -> float:
    """Seconds without a head after which a subscription counts as stalled: three block
    times, at least 10 s (30 s when the block time is unknown)."""
    return max(3 * block_time, 10.0) if block_time else 30.0


@dataclass
class WsHeads:
    """``eth_subscribe("newHeads")`` on one WebSocket endpoint.

    ``stall_after``: seconds without a message before :class:`HeadsStalled` is raised. An
    endpoint that accepts the subscription and then says nothing raises no error of its own,
    and would leave the monitor blind with a healthy endpoint beside it.
    """

    url: str
    open_timeout: float = 5.0
    stall_after: float = 30.0

    def __aiter__(self) -> HeadStream:
        return self._run()

    async def _recv(self, ws: ClientConnection) -> str | bytes:
        try:
            return await asyncio.wait_for(ws.recv(), self.stall_after)
        except TimeoutError:
            raise HeadsStalled(f"no head on the WebSocket for {self.stall_after:g} s") from None

    async def _run(self) -> HeadStream:
        async with connect(self.url, open_timeout=self.open_timeout, max_size=2**22) as ws:
            request = {"jsonrpc": "2.0", "id": 1, "method": "eth_subscribe", "params": ["newHeads"]}
            await ws.send(orjson.dumps(request))
            reply = orjson.loads(await self._recv(ws))
            if not isinstance(reply, dict) or "result" not in reply:
                raise BadChainData(f"newHeads subscription refused: {str(reply)[:200]}")
            # A block mined between connecting and subscribing is never notified: ask for
            # the latest block once, on the same connection, so no head is lost to the race.
            latest = {
                "jsonrpc": "2.0",
                "id": 2,
                "method": "eth_getBlockByNumber",
                "params": ["latest", False],
            }
            await ws.send(orjson.dumps(latest))
            while True:
                message = await self._recv(ws)
                received_at = time.perf_counter()
                try:
                    payload = orjson.loads(message)
                    raw = (
                        payload["result"] if payload.get("id") == 2 else payload["params"]["result"]
                    )
                    header = BlockHeader.from_rpc(raw)
                except (orjson.JSONDecodeError, KeyError, TypeError, BadChainData) as exc:
                    _log.warning("ingest.bad_head_notification", error=repr(exc)[:200])
                    continue
                yield header, received_at


async def _poll(fetcher: BlockFetcher, interval: float, until: float | None) -> HeadStream:
    last: str | None = None
    while until is None or time.monotonic() < until:
        try:
            header = await fetcher.header_by_number("latest")
        except ChainError as exc:
            _log.warning("ingest.poll_failed", error=str(exc)[:200])
        else:
            if header.hash != last:
                last = header.hash
                yield header, time.perf_counter()
        await asyncio.sleep(interval)


@dataclass
class PollHeads:
    """Poll ``eth_getBlockByNumber("latest")``; yields each head whose hash changed."""

    fetcher: BlockFetcher
    interval: float = 0.5

    def __aiter__(self) -> HeadStream:
        return _poll(self.fetcher, self.interval, None)


@dataclass
class FollowHeads:
    """WebSocket first; on any failure poll (through the pool, so across every endpoint) for
    ``ws_retry_after`` seconds, then try the next WebSocket endpoint of ``ws`` (in turn).

    The wait doubles, up to ``max_retry_after``, each time a WebSocket fails without having
    delivered a head: a subscription that keeps stalling must not cost a stall's worth of
    blindness every few seconds, and a hostile first endpoint must not hold the others back.
    """

    ws: WsHeads | Sequence[WsHeads] | None
    poll: PollHeads
    ws_retry_after: float = 5.0
    max_retry_after: float = 300.0

    def __aiter__(self) -> HeadStream:
        return self._run()

    async def _run(self) -> HeadStream:
        sources = [self.ws] if isinstance(self.ws, WsHeads) else list(self.ws or ())
        if not sources:
            async for item in self.poll:
                yield item
            return
        wait, turn = self.ws_retry_after, 0
        while True:
            delivered = False
            try:
                async for item in sources[turn % len(sources)]:
                    delivered = True
                    yield item
            except (OSError, ValueError, WebSocketException, ChainError, TimeoutError) as exc:
                # The URL may hold a key: name the source by its place in the list.
                _log.warning(
                    "ingest.ws_down",
                    source=turn % len(sources),
                    error=str(exc)[:200],
                    fallback="polling",
                )
            if delivered:
                wait = self.ws_retry_after
            until = time.monotonic() + wait
            async for item in _poll(self.poll.fetcher, self.poll.interval, until):
                yield item
            turn += 1
            if not delivered:
                wait = min(2 * wait, self.max_retry_after)


@dataclass
class QuorumHeads:
    """Accept a head only when ``k`` of the pool's endpoints agree on its hash.

    Each head from ``source`` is a cue to ask every endpoint for its latest block; what is
    yielded is the newest block ``k`` of them agree on, which may be older than the cue. A
    lying or forked endpoint alone can then never move the stream. It costs one round trip
    to every endpoint per head.
    """

    source: AsyncIterable[tuple[BlockHeader, float]]
    fetcher: BlockFetcher
    k: int = 2

    def __aiter__(self) -> HeadStream:
        return self._run()

    async def _run(self) -> HeadStream:
        last: str | None = None
        async for _cue, received_at in self.source:
            try:
                agreed = await self.fetcher.pool.head(self.k)
                if agreed.hash == last:
                    continue
                header = await self.fetcher.header_by_hash(agreed.hash)
            except ChainError as exc:
                _log.warning("ingest.no_quorum", k=self.k, error=str(exc)[:300])
                continue
            last = header.hash
            yield header, received_at
