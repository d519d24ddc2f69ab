"""WsRpcClient on a real anvil, directly and behind a WebSocket proxy that can misbehave."""

from __future__ import annotations

import asyncio
import contextlib

import orjson
import pytest
from websockets.asyncio.client import connect
from websockets.asyncio.server import ServerConnection, serve
from websockets.exceptions import ConnectionClosed

from breakglass.chain import (
    Endpoint,
    EndpointPool,
    MalformedResponse,
    ResponseTooLarge,
    Retry,
    RpcError,
    TransportError,
    WsRpcClient,
    redact_url,
)

pytestmark = pytest.mark.chain


class WsProxy:
    """Forwards WebSocket messages to ``upstream`` unless ``mode`` says otherwise.

    pass      forward both ways
    hold      swallow client messages (the call waits for ever)
    garbage   answer every client message with a text that is not JSON
    notify    forward, but send a subscription notification before every answer
    """

    def __init__(self, upstream: str) -> None:
        self.upstream = upstream
        self.mode = "pass"
        self.port = 0
        self.connections = 0
        self._server = None
        self._clients: set[ServerConnection] = set()

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/v2/SECRETWS{self.port}"

    async def start(self) -> WsProxy:
        self._server = await serve(self._handle, "127.0.0.1", self.port)
        self.port = next(iter(self._server.sockets)).getsockname()[1]
        return self

    async def stop(self) -> None:
        """Close every connection and stop listening; :meth:`start` listens on the same port."""
        assert self._server is not None
        self._server.close()
        await self._server.wait_closed()

    async def __aenter__(self) -> WsProxy:
        return await self.start()

    async def __aexit__(self, *exc_info: object) -> None:
        await self.stop()

    async def drop(self) -> None:
        """Close the open connections but keep listening."""
        for client in list(self._clients):
            await client.close()

    async def _handle(self, client: ServerConnection) -> None:
        self.connections += 1
        self._clients.add(client)
        try:
            async with connect(self.upstream) as upstream:

                async def down() -> None:
                    async for message in upstream:
                        if self.mode == "notify":
                            note = {"jsonrpc": "2.0", "method": "eth_subscription", "params": {}}
                            await client.send(orjson.dumps(note).decode())
                        await client.send(message)

                async def up() -> None:
                    async for message in client:
                        if self.mode == "hold":
                            continue
                        if self.mode == "garbage":
                            await client.send("<html>")
                            continue
                        await upstream.send(message)

                tasks = [asyncio.create_task(down()), asyncio.create_task(up())]
                with contextlib.suppress(ConnectionClosed):
                    await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
                for task in tasks:
                    task.cancel()
                await asyncio.gather(*tasks, return_exceptions=True)
        finally:
            self._clients.discard(client)


def _run(coro):
    return asyncio.run(coro)


def test_request_and_batch(anvil):
    async def run():
        async with WsRpcClient(anvil.ws_url, timeout=5) as client:
            chain_id = await client.request("eth_chainId")
            got = await client.batch([("eth_chainId", []), ("eth_blockNumber", [])])
            return chain_id, got, repr(client)

    chain_id, (again, number), shown = _run(run())
    assert int(chain_id, 16) == anvil.chain_id == int(again, 16)
    assert int(number, 16) >= 0
    assert shown == f"<WsRpcClient {redact_url(anvil.ws_url)}>"


def test_concurrent_requests_share_one_connection(anvil):
    proxy = WsProxy(anvil.ws_url)

    async def run():
        async with proxy, WsRpcClient(proxy.url, timeout=5) as client:
            numbers = [hex(n) for n in range(20)]
            calls = [client.request("eth_getBlockByNumber", [n, False]) for n in numbers[:2]]
            calls += [client.request("eth_chainId") for _ in range(20)]
            calls += [client.batch([("eth_chainId", []), ("net_version", [])])]
            return await asyncio.gather(*calls)

    results = _run(run())
    assert results[0]["number"] == "0x0"
    assert all(int(r, 16) == anvil.chain_id for r in results[2:22])
    assert int(results[22][0], 16) == anvil.chain_id
    assert proxy.connections == 1


def test_error_envelope_is_rpc_error(anvil):
    async def run():
        async with WsRpcClient(anvil.ws_url, timeout=5) as client:
            with pytest.raises(RpcError) as info:
                await client.request("eth_noSuchMethod")
            with pytest.raises(RpcError) as in_batch:
                await client.batch([("eth_chainId", []), ("eth_noSuchMethod", [])])
            # The connection survives an error answer.
            return info.value, in_batch.value, await client.request("eth_chainId")

    error, in_batch, chain_id = _run(run())
    assert (error.method, error.code) == ("eth_noSuchMethod", -32602)
    assert in_batch.method == "eth_noSuchMethod"
    assert int(chain_id, 16) == anvil.chain_id


def test_reconnects_after_the_server_drops_the_connection(anvil):
    proxy = WsProxy(anvil.ws_url)

    async def run():
        async with proxy, WsRpcClient(proxy.url, timeout=2) as client:
            await client.request("eth_chainId")
            proxy.mode = "hold"
            waiting = asyncio.create_task(client.request("eth_blockNumber"))
            await asyncio.sleep(0.2)
            await proxy.drop()
            with pytest.raises(TransportError, match="connection closed") as info:
                await waiting
            proxy.mode = "pass"
            after_drop = await client.request("eth_chainId")
            await proxy.stop()
            with pytest.raises(TransportError) as refused:
                await client.request("eth_chainId")
            await proxy.start()
            after_restart = await client.request("eth_chainId")
            return info.value, refused.value, after_drop, after_restart

    closed, refused, *chain_ids = _run(run())
    assert closed.method == "eth_blockNumber"
    assert all(int(c, 16) == anvil.chain_id for c in chain_ids)
    assert proxy.connections == 3
    for error in (closed, refused):
        assert "SECRETWS" not in str(error)
        assert "ws://127.0.0.1:" in str(error)


def test_timeout_is_transport_error(anvil):
    proxy = WsProxy(anvil.ws_url)
    proxy.mode = "hold"

    async def run():
        async with proxy, WsRpcClient(proxy.url, timeout=0.3) as client:
            with pytest.raises(TransportError, match="timeout"):
                await client.request("eth_chainId")
            proxy.mode = "pass"
            # The late answer of the timed-out call is dropped, not mistaken for this one's.
            return await client.request("net_version")

    assert int(_run(run())) == anvil.chain_id


def test_notifications_are_ignored(anvil):
    proxy = WsProxy(anvil.ws_url)
    proxy.mode = "notify"

    async def run():
        async with proxy, WsRpcClient(proxy.url, timeout=5) as client:
            await client.request("eth_subscribe", ["newHeads"])
            anvil.rpc("anvil_mine", ["0x2"])
            return await client.request("eth_chainId")

    assert int(_run(run()), 16) == anvil.chain_id


def test_garbage_and_oversized_messages(anvil):
    proxy = WsProxy(anvil.ws_url)

    async def run():
        async with proxy, WsRpcClient(proxy.url, timeout=2, max_response_bytes=300) as client:
            with pytest.raises(ResponseTooLarge):
                await client.request("eth_getBlockByNumber", ["0x0", True])
            proxy.mode = "garbage"
            with pytest.raises(MalformedResponse):
                await client.request("eth_chainId")
            proxy.mode = "pass"
            return await client.request("eth_chainId")

    assert int(_run(run()), 16) == anvil.chain_id


def test_unreachable_endpoint_is_transport_error():
    async def run():
        async with WsRpcClient("ws://127.0.0.1:9/v2/SECRETKEY", timeout=1) as client:
            with pytest.raises(TransportError) as info:
                await client.request("eth_chainId")
            return info.value

    assert "SECRETKEY" not in str(_run(run()))


def test_pool_fails_over_between_ws_and_http(anvil, proxy_trio):
    http = proxy_trio[0]
    ws = WsProxy(anvil.ws_url)
    now = [1_000_000.0]

    async def run():
        await ws.start()
        pool = EndpointPool(
            [Endpoint(ws.url, priority=0), Endpoint(http.url, priority=1)],
            timeout=1,
            clock=lambda: now[0],
            retry=Retry(attempts=1),
        )
        ws_name, http_name = redact_url(ws.url), redact_url(http.url)
        try:
            await pool.request("eth_chainId")
            assert (ws.connections, http.requests) == (1, 0)
            await ws.stop()
            await pool.request("eth_chainId")
            assert http.requests == 1
            assert pool.stats()[ws_name]["last_error"] == "transport"
            http.mode = "500"
            now[0] += 300  # the ws endpoint's score recovers
            await ws.start()
            await pool.request("eth_chainId")
            assert ws.connections == 2
            assert await pool.batch([("eth_chainId", [])]) == [hex(anvil.chain_id)]
            return pool.stats(), ws_name, http_name
        finally:
            await pool.aclose()
            await ws.stop()

    http.requests = 0
    stats, ws_name, http_name = _run(run())
    assert stats[ws_name]["failures"] == 1
    assert stats[ws_name]["requests"] == 4
    assert stats[http_name]["requests"] == 1


def test_client_outlives_an_event_loop(anvil):
    client = WsRpcClient(anvil.ws_url, timeout=5)
    # Each asyncio.run is a new loop; the client connects again on the second.
    assert int(_run(client.request("eth_chainId")), 16) == anvil.chain_id
    assert int(_run(client.request("eth_chainId")), 16) == anvil.chain_id
    _run(client.aclose())
