"""Pending transactions on a real anvil that does not mine until told to."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import orjson
import pytest
from websockets.asyncio.server import ServerConnection, serve

from breakglass.chain.pool import Endpoint, EndpointPool
from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.ingest.events import PendingTx
from breakglass.ingest.pending import PendingTxSource

pytestmark = pytest.mark.chain


@pytest.fixture(scope="module")
def anvil() -> Iterator[Anvil]:
    """Transactions stay pending until a test mines them."""
    try:
        chain = Anvil.start(extra_args=("--no-mining",))
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test module: {exc}", pytrace=False)
    with chain:
        yield chain


class Recorder:
    def __init__(self) -> None:
        self.events: list[PendingTx] = []
        self.changed = asyncio.Event()

    async def __call__(self, event: PendingTx) -> None:
        self.events.append(event)
        self.changed.set()

    async def wait_for(self, count: int, timeout: float = 10.0) -> None:
        async def until() -> None:
            while len(self.events) < count:
                self.changed.clear()
                await self.changed.wait()

        await asyncio.wait_for(until(), timeout)


def _run(body: Callable[[EndpointPool], Awaitable[None]], anvil: Anvil) -> None:
    async def main() -> None:
        pool = EndpointPool([Endpoint(anvil.http_url)])
        try:
            await body(pool)
        finally:
            await pool.aclose()

    asyncio.run(main())


async def _send(pool: EndpointPool, anvil: Anvil, to: str, value: int) -> str:
    tx = {"from": anvil.accounts[0], "to": to, "value": hex(value)}
    tx_hash: str = await pool.request("eth_sendTransaction", [tx])
    return tx_hash.lower()


async def _running(source: PendingTxSource) -> asyncio.Task[None]:
    task = asyncio.create_task(source.run())
    await asyncio.wait_for(source.subscribed.wait(), 10)
    return task


async def _stop(task: asyncio.Task[None]) -> None:
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task


def test_pending_transactions_arrive_before_they_are_mined(anvil: Anvil) -> None:
    async def body(pool: EndpointPool) -> None:
        recorder = Recorder()
        source = PendingTxSource("local", anvil.ws_url, pool, subscribers=[recorder])
        task = await _running(source)
        sent: dict[str, tuple[str, int]] = {}
        for index in range(5):
            to = anvil.accounts[1 + index]
            sent[await _send(pool, anvil, to, 1000 + index)] = (to.lower(), 1000 + index)
        await recorder.wait_for(len(sent))

        assert {e.hash for e in recorder.events} == set(sent)
        for event in recorder.events:
            to, value = sent[event.hash]
            assert event.chain == "local"
            assert event.tx["from"].lower() == anvil.accounts[0].lower()
            assert event.tx["to"].lower() == to
            assert int(event.tx["value"], 16) == value
            assert event.tx["blockHash"] is None
            assert event.received_at > 0
            # Still not mined when the event is in hand.
            assert await pool.request("eth_getTransactionReceipt", [event.hash]) is None

        await pool.request("evm_mine", [])
        for tx_hash in sent:
            receipt = await pool.request("eth_getTransactionReceipt", [tx_hash])
            assert receipt["status"] == "0x1"
        await _stop(task)
        assert source.stats.emitted == 5
        assert source.stats.bad == 0

    _run(body, anvil)


def test_mined_and_unknown_transactions_are_skipped(anvil: Anvil) -> None:
    async def body(pool: EndpointPool) -> None:
        recorder = Recorder()
        source = PendingTxSource("local", anvil.ws_url, pool, subscribers=[recorder])
        mined = await _send(pool, anvil, anvil.accounts[3], 7)
        await pool.request("evm_mine", [])
        assert await source.process(mined) is None
        assert await source.process("0x" + "ab" * 32) is None
        assert recorder.events == []
        assert source.stats.mined == 1
        assert source.stats.unknown == 1

    _run(body, anvil)


def test_reconnects_and_skips_bad_notifications(anvil: Anvil) -> None:
    """A flaky node: refuses the first subscription, sends junk, drops the connection."""

    async def body(pool: EndpointPool) -> None:
        first = await _send(pool, anvil, anvil.accounts[4], 11)
        second = await _send(pool, anvil, anvil.accounts[5], 12)
        connections = 0

        def note(result: Any) -> bytes:
            params = {"subscription": "0x1", "result": result}
            return orjson.dumps({"jsonrpc": "2.0", "method": "eth_subscription", "params": params})

        async def node(ws: ServerConnection) -> None:
            nonlocal connections
            connections += 1
            request = orjson.loads(await ws.recv())
            assert request["params"] == ["newPendingTransactions"]
            if connections == 1:
                error = {"code": -32000, "message": "busy"}
                await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "error": error}))
                return
            await ws.send(orjson.dumps({"jsonrpc": "2.0", "id": request["id"], "result": "0x1"}))
            if connections == 2:
                await ws.send("not json at all")
                await ws.send(note("0x1234"))
                await ws.send(orjson.dumps({"jsonrpc": "2.0", "method": "eth_subscription"}))
                await ws.send(note(first))
                await asyncio.sleep(0.2)
                return  # drops the connection
            await ws.send(note(first))  # again after the reconnect: not delivered twice
            await ws.send(note(second))
            await ws.wait_closed()  # stay open

        failing_calls = 0

        async def failing(_event: PendingTx) -> None:
            nonlocal failing_calls
            failing_calls += 1
            raise RuntimeError("a subscriber's bug")

        recorder = Recorder()
        async with serve(node, "127.0.0.1", 0) as server:
            port = server.sockets[0].getsockname()[1]
            source = PendingTxSource(
                "local",
                f"ws://127.0.0.1:{port}",
                pool,
                subscribers=[failing, recorder],
                reconnect_delay=0.05,
            )
            task = asyncio.create_task(source.run())
            await recorder.wait_for(2)
            await asyncio.sleep(0.2)  # room for a wrongly repeated delivery
            await _stop(task)

        assert [e.hash for e in recorder.events] == [first, second]
        assert [int(e.tx["value"], 16) for e in recorder.events] == [11, 12]
        assert connections == 3
        assert source.stats.connects == 2
        assert source.stats.bad == 3
        assert source.stats.duplicates == 1
        assert failing_calls == 2
        assert source.stats.subscriber_failed == 2
        await pool.request("evm_mine", [])

    _run(body, anvil)


def test_whole_transaction_notifications_need_no_fetch(anvil: Anvil) -> None:
    async def body(pool: EndpointPool) -> None:
        recorder = Recorder()
        source = PendingTxSource("local", anvil.ws_url, pool, subscribers=[recorder])
        tx = {"hash": "0x" + "cd" * 32, "from": anvil.accounts[0], "blockHash": None}
        source.handle(
            orjson.dumps({"method": "eth_subscription", "params": {"result": tx}}), received_at=1.0
        )
        task = asyncio.create_task(source.run())
        await recorder.wait_for(1)
        await _stop(task)
        assert recorder.events == [PendingTx("local", tx["hash"], tx, 1.0)]

    _run(body, anvil)
