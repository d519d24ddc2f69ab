"""Issue 14, finding 4: one misbehaving endpoint must not blind the monitor.

Two endpoints in front of one real anvil: a hostile one (preferred, so it is really asked)
and an honest one. Whatever the hostile one does (trickle its answer a byte at a time,
answer ``null`` or a number where hex is due, invent block hashes, answer every call with
-32000, or accept a ``newHeads`` subscription and stay silent), the block stream keeps
delivering every canonical block and the honest endpoint is never penalised.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections.abc import AsyncIterable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import httpx
import orjson
import pytest

from breakglass import store
from breakglass.chain.middleware import Retry
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.ingest import (
    BlockAdded,
    BlockFetcher,
    BlockHeader,
    BlockStream,
    CheckpointStore,
    FollowHeads,
    PollHeads,
    QuorumHeads,
    StreamEvent,
    WsHeads,
)
from breakglass.respond.gas import GasStrategy, Urgency

pytestmark = pytest.mark.chain


def _load_faultproxy() -> ModuleType:
    # Same module name as tests/chain/conftest.py, so all share one loaded copy.
    name = "breakglass_tests_faultproxy"
    if name in sys.modules:
        return sys.modules[name]
    path = Path(__file__).parents[1] / "chain" / "faultproxy.py"
    spec = importlib.util.spec_from_file_location(name, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


faultproxy = _load_faultproxy()
Heads = AsyncIterable[tuple[BlockHeader, float]]


@pytest.fixture(scope="module")
def pair(anvil: Anvil) -> Iterator[list[Any]]:
    started = [faultproxy.FaultProxy(anvil.http_url).start() for _ in range(2)]
    yield started
    for proxy in started:
        proxy.stop()


@pytest.fixture
def hostile_honest(pair: list[Any]) -> list[Any]:
    for proxy in pair:
        proxy.mode = "pass"
        proxy.up()
    return pair


class Recorder:
    def __init__(self) -> None:
        self.added: dict[int, str] = {}

    async def __call__(self, event: StreamEvent) -> None:
        if isinstance(event, BlockAdded):
            self.added[event.number] = event.hash


def _pool(hostile: Any, honest: Any) -> EndpointPool:
    # timeout is per read in httpx; the pool's deadline (default: twice that, 2 s) bounds the
    # whole exchange.
    return EndpointPool(
        [Endpoint(hostile.url, priority=0), Endpoint(honest.url, priority=1)],
        timeout=1.0,
        retry=Retry(attempts=2, backoff=0.02),
    )


def _stream(pool: EndpointPool, db: Path) -> tuple[BlockFetcher, BlockStream, Recorder]:
    url = f"sqlite:///{db}"
    store.upgrade(url)
    fetcher = BlockFetcher(pool)
    recorder = Recorder()
    stream = BlockStream(
        chain="local",
        fetcher=fetcher,
        checkpoints=CheckpointStore(store.session_factory(store.make_engine(url)), "local"),
        subscribers=[recorder],
        head_retries=3,
    )
    return fetcher, stream, recorder


async def _delivers(anvil: Anvil, stream: BlockStream, heads: Heads, *, blocks: int) -> None:
    """Mine ``blocks`` blocks; the stream must reach the chain's tip within 20 s."""
    follower = asyncio.create_task(stream.run(heads))
    try:
        for _ in range(blocks):
            await asyncio.to_thread(anvil.rpc, "evm_mine", [])
            await asyncio.sleep(0.1)
        deadline = time.monotonic() + 20
        latest = await asyncio.to_thread(anvil.rpc, "eth_getBlockByNumber", ["latest", False])
        while stream.tip is None or stream.tip.hash != latest["hash"]:
            assert not follower.done(), follower
            assert time.monotonic() < deadline, f"blind: stream at {stream.tip}"
            await asyncio.sleep(0.05)
    finally:
        follower.cancel()
        await asyncio.gather(follower, return_exceptions=True)


def _canonical(anvil: Anvil, recorder: Recorder) -> None:
    assert recorder.added, "nothing delivered"
    for number, block_hash in recorder.added.items():
        assert anvil.rpc("eth_getBlockByNumber", [hex(number), False])["hash"] == block_hash


def _honest_untouched(pool: EndpointPool, honest: Any, hostile: Any) -> None:
    stats = pool.stats()
    good = next(s for name, s in stats.items() if str(honest.port) in name)
    bad = next(s for name, s in stats.items() if str(hostile.port) in name)
    assert good["failures"] == 0, stats
    assert bad["failures"] >= 1, stats


@pytest.mark.parametrize("mode", ["slowloris", "null", "ill_typed", "rpc_error"])
def test_polling_monitor_keeps_delivering_past_a_hostile_endpoint(
    anvil: Anvil, hostile_honest: list[Any], tmp_path: Path, mode: str
) -> None:
    hostile, honest = hostile_honest
    hostile.mode = mode
    hostile.delay = 0.4  # slowloris: one byte every 0.4 s, well inside the 1 s read timeout
    pool = _pool(hostile, honest)
    fetcher, stream, recorder = _stream(pool, tmp_path / "m.db")

    async def scenario() -> None:
        try:
            await asyncio.wait_for(
                _delivers(anvil, stream, PollHeads(fetcher, interval=0.05), blocks=4), 40
            )
        finally:
            await pool.aclose()

    asyncio.run(scenario())
    _canonical(anvil, recorder)
    _honest_untouched(pool, honest, hostile)


@pytest.mark.parametrize("mode", ["null", "ill_typed", "rpc_error", "slowloris"])
def test_arming_reads_fees_and_gas_past_a_hostile_endpoint(
    anvil: Anvil, hostile_honest: list[Any], mode: str
) -> None:
    """What the responder reads when it arms at start: fee history and a gas estimate. They
    used to crash it (TypeError, AttributeError) when the preferred endpoint sent nulls."""
    hostile, honest = hostile_honest
    hostile.mode = mode
    hostile.delay = 0.4
    pool = _pool(hostile, honest)
    sender, receiver = anvil.accounts[0], anvil.accounts[1]

    async def scenario() -> tuple[int, int]:
        try:
            quote = await asyncio.wait_for(GasStrategy(pool).refresh(), 10)
            call = {"from": sender, "to": receiver, "value": "0x1"}
            estimate = await asyncio.wait_for(pool.request("eth_estimateGas", [call]), 10)
            return quote.fees[Urgency.EMERGENCY].max_fee_per_gas, int(estimate, 16)
        finally:
            await pool.aclose()

    max_fee, gas = asyncio.run(scenario())
    assert max_fee > 0
    assert gas == 21_000
    _honest_untouched(pool, honest, hostile)


def test_rewritten_hashes_penalise_the_rewriter_not_the_honest_endpoint(
    anvil: Anvil, hostile_honest: list[Any], tmp_path: Path
) -> None:
    hostile, honest = hostile_honest
    hostile.mode = "wrong_head"
    pool = _pool(hostile, honest)
    fetcher, stream, recorder = _stream(pool, tmp_path / "q.db")

    async def scenario() -> str:
        try:
            head = await pool.head(1)
            cues = PollHeads(BlockFetcher(pool), interval=0.05)
            await _delivers(anvil, stream, QuorumHeads(cues, fetcher, k=1), blocks=3)
            return head.hash
        finally:
            await pool.aclose()

    agreed = asyncio.run(scenario())
    assert agreed != faultproxy.WRONG_HASH
    assert faultproxy.WRONG_HASH not in recorder.added.values()
    _canonical(anvil, recorder)
    _honest_untouched(pool, honest, hostile)


def test_silent_websocket_falls_back_to_polling(
    anvil: Anvil, hostile_honest: list[Any], tmp_path: Path
) -> None:
    """The subscription is accepted and never notified: the stall watchdog gives up on it
    and the pool's polling (honest endpoint) keeps the blocks coming."""
    _, honest = hostile_honest
    silent = faultproxy.SilentWs().start()
    pool = EndpointPool([Endpoint(honest.url)], timeout=1.0)
    fetcher, stream, recorder = _stream(pool, tmp_path / "w.db")
    heads = FollowHeads(
        WsHeads(silent.url, stall_after=1.0), PollHeads(fetcher, interval=0.05), ws_retry_after=1.0
    )

    async def scenario() -> None:
        try:
            await asyncio.sleep(0)
            await asyncio.wait_for(_delivers(anvil, stream, heads, blocks=3), 30)
            # and still after the subscription was retried and stalled again
            await asyncio.wait_for(_delivers(anvil, stream, heads, blocks=2), 30)
        finally:
            await pool.aclose()

    try:
        asyncio.run(scenario())
    finally:
        silent.stop()
    assert silent.subscriptions >= 1
    _canonical(anvil, recorder)


def _fork_net(answers: dict[str, str], known: dict[str, set[str]]) -> httpx.MockTransport:
    """A MockTransport: host -> the hash it reports at height 100, and the hashes it knows."""

    def block(block_hash: str) -> dict[str, str]:
        return {"number": hex(100), "hash": block_hash, "timestamp": hex(1_000)}

    def handler(request: httpx.Request) -> httpx.Response:
        host = request.url.host.split(".")[0]
        call = orjson.loads(request.content)
        if call["method"] == "eth_getBlockByHash":
            wanted = call["params"][0]
            result: object = block(wanted) if wanted in known[host] else None
        else:
            result = block(answers[host])
        return httpx.Response(
            200, content=orjson.dumps({"jsonrpc": "2.0", "id": call["id"], "result": result})
        )

    return httpx.MockTransport(handler)


def _net_pool(hosts: list[str], transport: httpx.MockTransport) -> EndpointPool:
    return EndpointPool(
        [Endpoint(f"http://{h}.test/k", priority=i) for i, h in enumerate(hosts)],
        transport=transport,
    )


def test_a_real_fork_race_penalises_nobody() -> None:
    """Two honest endpoints on two sides of a one-block race each know both blocks: a tie,
    so neither is the liar."""
    a, b = "0x" + "aa" * 32, "0x" + "bb" * 32
    pool = _net_pool(["x", "y"], _fork_net({"x": a, "y": b}, {"x": {a, b}, "y": {a, b}}))

    async def scenario() -> str:
        try:
            return (await pool.head(1)).hash
        finally:
            await pool.aclose()

    assert asyncio.run(scenario()) in (a, b)
    assert all(s["failures"] == 0 for s in pool.stats().values()), pool.stats()


def test_the_liar_of_three_is_the_one_penalised() -> None:
    real, fake = "0x" + "aa" * 32, "0x" + "de" * 32
    answers = {"liar": fake, "x": real, "y": real}
    known = {"liar": {real, fake}, "x": {real}, "y": {real}}
    pool = _net_pool(["liar", "x", "y"], _fork_net(answers, known))

    async def scenario() -> str:
        try:
            return (await pool.head(1)).hash
        finally:
            await pool.aclose()

    assert asyncio.run(scenario()) == real
    stats = pool.stats()
    assert stats["http://liar.test/…"]["failures"] == 1, stats
    assert stats["http://x.test/…"]["failures"] == 0
    assert stats["http://y.test/…"]["failures"] == 0


def test_a_far_future_head_does_not_make_the_honest_endpoints_stale(
    anvil: Anvil, hostile_honest: list[Any]
) -> None:
    hostile, honest = hostile_honest
    hostile.mode = "ahead"
    second = faultproxy.FaultProxy(anvil.http_url).start()
    pool = EndpointPool(
        [Endpoint(p.url, priority=i) for i, p in enumerate([hostile, honest, second])],
        timeout=1.0,
    )

    async def scenario() -> int:
        try:
            await pool.refresh_heads()
            return int(await pool.request("eth_blockNumber"), 16)
        finally:
            await pool.aclose()

    try:
        number = asyncio.run(scenario())
    finally:
        second.stop()
    assert number == int(anvil.rpc("eth_blockNumber", []), 16)
    stats = pool.stats()
    for proxy in (honest, second):
        mine = next(s for name, s in stats.items() if str(proxy.port) in name)
        assert mine["stale"] is None, stats
        assert mine["failures"] == 0, stats


def test_a_silent_websocket_hands_over_to_the_next_one(
    anvil: Anvil, hostile_honest: list[Any]
) -> None:
    """Polling is down too (HTTP 500): the heads can only come from the second WebSocket."""
    hostile, _ = hostile_honest
    hostile.mode = "500"
    silent = faultproxy.SilentWs().start()
    pool = EndpointPool([Endpoint(hostile.url)], timeout=1.0, retry=Retry(attempts=1))
    heads = FollowHeads(
        [WsHeads(silent.url, stall_after=1.0), WsHeads(anvil.ws_url, stall_after=30.0)],
        PollHeads(BlockFetcher(pool), interval=0.1),
        ws_retry_after=0.5,
    )

    async def scenario() -> BlockHeader:
        async def mining() -> None:
            while True:
                await asyncio.to_thread(anvil.rpc, "evm_mine", [])
                await asyncio.sleep(0.3)

        miner = asyncio.create_task(mining())
        stream = aiter(heads)
        try:
            header, _ = await asyncio.wait_for(anext(stream), 15)
            return header
        finally:
            miner.cancel()
            await asyncio.gather(miner, return_exceptions=True)
            await stream.aclose()  # type: ignore[attr-defined]
            await pool.aclose()

    try:
        header = asyncio.run(scenario())
    finally:
        silent.stop()
    assert silent.subscriptions == 1
    assert anvil.rpc("eth_getBlockByNumber", [hex(header.number), False])["hash"] == header.hash
