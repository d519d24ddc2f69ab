"""A fault-injecting HTTP proxy in front of a JSON-RPC node, for tests.

It listens on 127.0.0.1 in a thread of its own (so sync tests can drive it while they run
their own ``asyncio.run``) and forwards each POST to ``upstream`` with httpx, unless ``mode``
says to misbehave:

    pass         forward as it is
    drop         close the connection without an answer
    delay        wait ``delay`` seconds, then forward
    429 / 500    answer that HTTP status
    garbage      answer 200 with a body that is not JSON
    lag          answer eth_blockNumber / eth_getBlockByNumber("latest") with block ``lag_block``
    wrong_head   forward, but replace the hash of the latest block
    ahead        forward, but claim the latest block is 1,000 blocks higher than it is
    slowloris    forward, but trickle the answer one byte every ``delay`` seconds
    null         answer every call (and every call of a batch) with ``result: null``
    ill_typed    answer every call with ``result: 12345`` (a number where hex is due)
    rpc_error    answer every call with JSON-RPC error -32000 "execution reverted"

:class:`SilentWs` is a WebSocket endpoint that accepts a ``newHeads`` subscription and then
never sends a head.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading

import httpx
import orjson

MODES = (
    "pass",
    "drop",
    "delay",
    "429",
    "500",
    "garbage",
    "lag",
    "wrong_head",
    "ahead",
    "slowloris",
    "null",
    "ill_typed",
    "rpc_error",
)
_CANNED = {
    "null": {"result": None},
    "ill_typed": {"result": 12345},
    "rpc_error": {"error": {"code": -32000, "message": "execution reverted"}},
}
WRONG_HASH = "0x" + "de" * 32
_REASONS = {200: "OK", 429: "Too Many Requests", 500: "Internal Server Error"}


class FaultProxy:
    def __init__(self, upstream: str, *, mode: str = "pass", delay: float = 2.0) -> None:
        self.upstream = upstream
        self.mode = mode
        self.delay = delay
        self.lag_block = 0
        self.port = 0
        self.requests = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: asyncio.Server | None = None
        self._writers: set[asyncio.StreamWriter] = set()
        self._client: httpx.AsyncClient | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/secret-key-{self.port}"

    def start(self) -> FaultProxy:
        if not self._thread.is_alive():
            self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)
        return self

    def down(self) -> None:
        """Stop listening: new connections are refused until :meth:`up`."""
        asyncio.run_coroutine_threadsafe(self._close_server(), self._loop).result(5)

    def up(self) -> None:
        if self._server is None:
            self.start()

    def stop(self) -> None:
        async def close() -> None:
            await self._close_server()
            if self._client is not None:
                await self._client.aclose()

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        if not self._thread.is_alive():
            self._loop.close()

    async def _listen(self) -> None:
        if self._client is None:
            self._client = httpx.AsyncClient(
                timeout=10, headers={"content-type": "application/json"}
            )
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", self.port)
        self.port = self._server.sockets[0].getsockname()[1]

    async def _close_server(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
            # Python 3.11 has no Server.close_clients(): drop the kept-alive connections here.
            for writer in list(self._writers):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self._writers.add(writer)
        try:
            while True:
                body = await _read_request(reader)
                if body is None:
                    break
                self.requests += 1
                answer = await self._answer(body)
                if answer is None:
                    break
                status, content = answer
                head = (
                    f"HTTP/1.1 {status} {_REASONS.get(status, 'X')}\r\n"
                    f"Content-Type: application/json\r\nContent-Length: {len(content)}\r\n\r\n"
                )
                if self.mode == "slowloris":
                    await self._trickle(writer, head.encode() + content)
                    continue
                writer.write(head.encode() + content)
                await writer.drain()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._writers.discard(writer)
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()

    async def _trickle(self, writer: asyncio.StreamWriter, data: bytes) -> None:
        for i in range(len(data)):
            if writer.is_closing() or self._server is None:
                raise ConnectionError("client gone")
            writer.write(data[i : i + 1])
            await writer.drain()
            await asyncio.sleep(self.delay)

    async def _answer(self, body: bytes) -> tuple[int, bytes] | None:
        mode = self.mode
        if mode == "drop":
            return None
        if mode in _CANNED:
            call = orjson.loads(body)
            canned = _CANNED[mode]
            if isinstance(call, list):
                return 200, orjson.dumps(
                    [{"jsonrpc": "2.0", "id": c.get("id"), **canned} for c in call]
                )
            return 200, orjson.dumps({"jsonrpc": "2.0", "id": call.get("id"), **canned})
        if mode in ("429", "500"):
            return int(mode), b"busy"
        if mode == "garbage":
            return 200, b'{"jsonrpc": "2.0", "id": 1, "result": [unterminated'
        if mode == "delay":
            await asyncio.sleep(self.delay)
        call = orjson.loads(body)
        if mode == "lag" and isinstance(call, dict):
            if call.get("method") == "eth_blockNumber":
                return 200, _envelope(call, hex(self.lag_block))
            if call.get("method") == "eth_getBlockByNumber" and call["params"][0] == "latest":
                call = {**call, "params": [hex(self.lag_block), *call["params"][1:]]}
        assert self._client is not None
        response = await self._client.post(self.upstream, content=orjson.dumps(call))
        latest = isinstance(call, dict) and call.get("method") == "eth_getBlockByNumber"
        if mode == "wrong_head" and latest and call["params"][0] == "latest":
            answer = orjson.loads(response.content)
            answer["result"]["hash"] = WRONG_HASH
            return 200, orjson.dumps(answer)
        if mode == "ahead" and latest and call["params"][0] == "latest":
            answer = orjson.loads(response.content)
            answer["result"]["number"] = hex(int(answer["result"]["number"], 16) + 1000)
            return 200, orjson.dumps(answer)
        return response.status_code, response.content


def _envelope(call: dict, result: object) -> bytes:
    return orjson.dumps({"jsonrpc": "2.0", "id": call.get("id"), "result": result})


async def _read_request(reader: asyncio.StreamReader) -> bytes | None:
    line = await reader.readline()
    if not line:
        return None
    length = 0
    while True:
        header = await reader.readline()
        if header in (b"\r\n", b"\n", b""):
            break
        name, _, value = header.decode("latin-1").partition(":")
        if name.strip().lower() == "content-length":
            length = int(value.strip())
    return await reader.readexactly(length)


class SilentWs:
    """A WebSocket endpoint that accepts ``eth_subscribe`` and answers calls with ``null``,
    then never sends a notification: a head source stuck without an error."""

    def __init__(self) -> None:
        self.port = 0
        self.subscriptions = 0
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._server: object | None = None

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def start(self) -> SilentWs:
        self._thread.start()
        asyncio.run_coroutine_threadsafe(self._listen(), self._loop).result(5)
        return self

    async def _listen(self) -> None:
        from websockets.asyncio.server import serve  # noqa: PLC0415

        server = await serve(self._serve, "127.0.0.1", 0)
        self._server = server
        self.port = next(iter(server.sockets)).getsockname()[1]

    async def _serve(self, ws: object) -> None:
        async for message in ws:  # type: ignore[attr-defined]
            call = orjson.loads(message)
            if call.get("method") == "eth_subscribe":
                self.subscriptions += 1
                result: object = "0x" + "ab" * 16
            else:
                result = None
            await ws.send(
                orjson.dumps({"jsonrpc": "2.0", "id": call.get("id"), "result": result}).decode()
            )  # type: ignore[attr-defined]

    def stop(self) -> None:
        async def close() -> None:
            if self._server is not None:
                self._server.close()  # type: ignore[attr-defined]

        asyncio.run_coroutine_threadsafe(close(), self._loop).result(5)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
