"""Endpoint faults under the block stream, on a real anvil behind fault-injecting proxies.

Three endpoints, the first faulty: the stream misses no block, retracts nothing (there is no
reorg), and the faulty endpoint ends with the lowest health score. One endpoint that goes
down and comes back: the stream resumes and fills the gap. Bad heads never crash it.
"""

from __future__ import annotations

import asyncio
import importlib.util
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from breakglass import store
from breakglass.chain.errors import QuorumNotReached
from breakglass.chain.middleware import Retry
from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.ingest import (
    BlockAdded,
    BlockFetcher,
    BlockHeader,
    BlockRemoved,
    BlockStream,
    CheckpointStore,
    PollHeads,
    QuorumHeads,
    StreamEvent,
)

pytestmark = pytest.mark.chain


def _load_faultproxy() -> ModuleType:
    # Same module name as tests/chain/conftest.py, so both share one loaded copy.
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
FAULTS = ("drop", "delay", "429", "500", "garbage", "lag", "wrong_head")


class Recorder:
    def __init__(self) -> None:
        self.events: list[StreamEvent] = []

    async def __call__(self, event: StreamEvent) -> None:
        self.events.append(event)

    def removals(self) -> list[BlockRemoved]:
        return [e for e in self.events if isinstance(e, BlockRemoved)]

    def view(self) -> dict[int, str]:
        chain: dict[int, str] = {}
        for event in self.events:
            if isinstance(event, BlockRemoved):
                assert chain.get(event.number) == event.hash, "removed a block never added"
                del chain[event.number]
            else:
                assert isinstance(event, BlockAdded)
                assert event.number not in chain, f"block {event.number} delivered twice"
                chain[event.number] = event.hash
        return chain


@pytest.fixture(scope="module")
def proxies(anvil: Anvil) -> Iterator[list[Any]]:
    started = [faultproxy.FaultProxy(anvil.http_url, delay=2.0).start() for _ in range(3)]
    yield started
    for proxy in started:
        proxy.stop()


@pytest.fixture
def trio(proxies: list[Any]) -> list[Any]:
    for proxy in proxies:
        proxy.mode = "pass"
        proxy.lag_block = 0
        proxy.up()
    return proxies


def make_stream(
    urls: list[str], db: Path
) -> tuple[EndpointPool, BlockFetcher, BlockStream, Recorder]:
    url = f"sqlite:///{db}"
    store.upgrade(url)
    pool = EndpointPool(
        [Endpoint(u) for u in urls], timeout=0.5, retry=Retry(attempts=2, backoff=0.02)
    )
    fetcher = BlockFetcher(pool)
    recorder = Recorder()
    stream = BlockStream(
        chain="local",
        fetcher=fetcher,
        checkpoints=CheckpointStore(store.session_factory(store.make_engine(url)), "local"),
        subscribers=[recorder],
        head_retries=3,
    )
    return pool, fetcher, stream, recorder


def canonical(anvil: Anvil, numbers: range) -> dict[int, str]:
    return {n: anvil.rpc("eth_getBlockByNumber", [hex(n), False])["hash"] for n in numbers}


async def mine(anvil: Anvil) -> None:
    await asyncio.to_thread(anvil.rpc, "evm_mine", [])


async def caught_up(anvil: Anvil, stream: BlockStream, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while True:
        latest = await asyncio.to_thread(anvil.rpc, "eth_getBlockByNumber", ["latest", False])
        if stream.tip is not None and stream.tip.hash == latest["hash"]:
            return
        assert time.monotonic() < deadline, f"stream at {stream.tip}, chain at {latest['number']}"
        await asyncio.sleep(0.05)


async def head_check(pool: EndpointPool) -> None:
    """The pool's own head check, as the service runs it: a round in which no endpoint
    answers within the short test timeout (a stalled machine) is retried, as the service's
    next round would be; three such rounds in a row fail the test."""
    for attempt in range(3):
        try:
            await pool.head(k=2)
        except QuorumNotReached:
            if attempt == 2:
                raise
            await asyncio.sleep(0.2)
        else:
            return


def check_view(anvil: Anvil, recorder: Recorder) -> dict[int, str]:
    view = recorder.view()  # raises on a repeat or a removal of a block never added
    assert view, "nothing delivered"
    assert view == canonical(anvil, range(min(view), max(view) + 1))
    return view


@pytest.mark.parametrize("mode", FAULTS)
def test_one_faulty_endpoint_of_three(anvil: Anvil, trio: list[Any], tmp_path: Path, mode: str):
    faulty = trio[0]  # first in the list: preferred until its health says otherwise
    faulty.mode = mode
    faulty.lag_block = max(0, int(anvil.rpc("eth_blockNumber", []), 16) - 2)
    pool, fetcher, stream, recorder = make_stream([p.url for p in trio], tmp_path / "f.db")

    async def scenario() -> None:
        follower = asyncio.create_task(stream.run(PollHeads(fetcher, interval=0.05)))
        try:
            for _ in range(8):
                await mine(anvil)
                await head_check(pool)
                await asyncio.sleep(0.1)
            await caught_up(anvil, stream)
            assert not follower.done(), follower
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            await pool.aclose()

    asyncio.run(scenario())
    view = check_view(anvil, recorder)
    assert len(view) >= 8
    assert recorder.removals() == [], "a fault made the stream retract canonical blocks"
    stats = pool.stats()
    scores = {name: s["score"] for name, s in stats.items()}
    faulty_name = next(name for name in stats if str(faulty.port) in name)
    others = [score for name, score in scores.items() if name != faulty_name]
    assert scores[faulty_name] < min(others), stats


def test_single_endpoint_down_and_back(anvil: Anvil, trio: list[Any], tmp_path: Path) -> None:
    proxy = trio[0]
    pool, fetcher, stream, recorder = make_stream([proxy.url], tmp_path / "d.db")

    async def scenario() -> None:
        follower = asyncio.create_task(stream.run(PollHeads(fetcher, interval=0.05)))
        try:
            for _ in range(3):
                await mine(anvil)
                await asyncio.sleep(0.1)
            await caught_up(anvil, stream)
            before = stream.tip
            await asyncio.to_thread(proxy.down)
            for _ in range(5):
                await mine(anvil)
                await asyncio.sleep(0.1)
            assert stream.tip == before  # nothing reachable, nothing delivered
            await asyncio.to_thread(proxy.up)
            await mine(anvil)
            await caught_up(anvil, stream)
            assert not follower.done(), follower
        finally:
            follower.cancel()
            await asyncio.gather(follower, return_exceptions=True)
            await pool.aclose()

    asyncio.run(scenario())
    check_view(anvil, recorder)
    assert recorder.removals() == []


def feed_bad_heads(anvil: Anvil, tmp_path: Path) -> Recorder:
    pool, fetcher, stream, recorder = make_stream([anvil.http_url], tmp_path / "b.db")
    stream.head_retries = 2

    async def scenario() -> None:
        try:
            for _ in range(3):
                await mine(anvil)
                await stream.on_head(await fetcher.header_by_number("latest"))
            tip = await fetcher.header_by_number("latest")
            genesis = await fetcher.header_by_number(0)
            bad = [
                # a head nobody has: unknown hash one above the tip
                BlockHeader(tip.number + 1, "0x" + "ab" * 32, tip.hash, tip.timestamp + 1),
                # a fake block at the tip's own height
                BlockHeader(tip.number, "0x" + "de" * 32, tip.parent_hash, tip.timestamp),
                # a parent nobody has
                BlockHeader(tip.number + 2, "0x" + "cd" * 32, "0x" + "ef" * 32, tip.timestamp),
                # a lagging endpoint's old (canonical) head
                genesis,
            ]
            for head in bad:
                await stream.on_head(head)  # no exception: logged, retried, skipped
            for _ in range(2):
                await mine(anvil)
                await stream.on_head(await fetcher.header_by_number("latest"))
            await caught_up(anvil, stream, timeout=2)
        finally:
            await pool.aclose()

    asyncio.run(scenario())
    return recorder


def test_bad_heads_never_crash_the_stream(anvil: Anvil, tmp_path: Path) -> None:
    check_view(anvil, feed_bad_heads(anvil, tmp_path))


def test_bad_heads_retract_nothing(anvil: Anvil, tmp_path: Path) -> None:
    assert feed_bad_heads(anvil, tmp_path).removals() == []


async def _cues(fetcher: BlockFetcher, count: int, anvil: Anvil):
    """Head cues from the chain itself, one per mined block."""
    for _ in range(count):
        await mine(anvil)
        yield await fetcher.header_by_number("latest"), time.perf_counter()


@pytest.mark.parametrize(
    ("fault", "k", "delivers"),
    [
        ("wrong_head", 2, True),  # one endpoint lies about the latest hash: outvoted
        ("500", 3, False),  # one endpoint is down: three can never agree
    ],
)
def test_quorum_heads(
    anvil: Anvil, trio: list[Any], tmp_path: Path, fault: str, k: int, delivers: bool
) -> None:
    trio[0].mode = fault
    pool, fetcher, stream, recorder = make_stream([p.url for p in trio], tmp_path / "q.db")
    honest = BlockFetcher(EndpointPool([Endpoint(anvil.http_url)]))

    async def scenario() -> None:
        try:
            await stream.run(QuorumHeads(_cues(honest, 4, anvil), fetcher, k=k))
        finally:
            await pool.aclose()
            await honest.pool.aclose()

    asyncio.run(scenario())
    if delivers:
        view = check_view(anvil, recorder)
        assert max(view) == int(anvil.rpc("eth_blockNumber", []), 16)
        assert faultproxy.WRONG_HASH not in view.values()
    else:
        assert recorder.events == []
