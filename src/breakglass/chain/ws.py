"""A raw async JSON-RPC client over one persistent WebSocket connection.

Concurrent calls share the connection: a reader task hands each answer to the call whose
request id it carries. Subscription notifications (no ``id``) and answers nobody waits for any
more (their call timed out) are dropped. When the connection drops, the calls waiting on it
fail with :class:`TransportError` and the next call connects again. Errors are those of
:class:`~breakglass.chain.rpc.RpcClient`, and the URL is shown only in :func:`redact_url` form.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
import structlog
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, WebSocketException
from websockets.frames import CloseCode

from breakglass.chain.errors import (
    EndpointError,
    MalformedResponse,
    ResponseTooLarge,
    TransportError,
)
from breakglass.chain.rpc import DEFAULT_MAX_RESPONSE_BYTES, JsonRpcClient

__all__ = ["WsRpcClient"]

_log = structlog.get_logger("breakglass.chain")


class WsRpcClient(JsonRpcClient):
    """JSON-RPC over a WebSocket to one endpoint.

    Args:
        url: ``ws://`` or ``wss://`` endpoint; may contain secrets, never shown unredacted.
        timeout: seconds for the opening handshake, and for each call from send to answer.
        max_response_bytes: a larger message closes the connection and raises
            :class:`ResponseTooLarge` in every call waiting on it.
        name: how logs and errors call the endpoint; defaults to :func:`redact_url`.
    """

    def __init__(
        self,
        url: str,
        *,
        timeout: float = 10.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        name: str | None = None,
    ) -> None:
        super().__init__(url, name)
        self._url = url
        self._timeout = timeout
        self._max = max_response_bytes
        self._conn: ClientConnection | None = None
        self._reader: asyncio.Task[None] | None = None
        # Batch ids all map to the batch's one future.
        self._pending: dict[int, asyncio.Future[Any]] = {}
        self._loop: asyncio.AbstractEventLoop | None = None
        self._lock: asyncio.Lock | None = None

    async def _exchange(self, body: object, ids: Sequence[int], method: str) -> Any:
        answer: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        try:
            async with asyncio.timeout(self._timeout):
                conn = await self._connected(method)
                for request_id in ids:
                    self._pending[request_id] = answer
                try:
                    await conn.send(orjson.dumps(body).decode())
                except (ConnectionClosed, OSError) as exc:
                    raise self._transport(exc, method) from None
                result = await answer
        except TimeoutError:
            raise TransportError("timeout", endpoint=self.name, method=method) from None
        finally:
            for request_id in ids:
                self._pending.pop(request_id, None)
        if isinstance(result, _Dropped):
            raise result.error(result.detail, endpoint=self.name, method=method)
        return result

    async def _connected(self, method: str) -> ClientConnection:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:
            # A connection belongs to the loop that opened it (tests run one loop per call).
            self._forget()
            self._loop, self._lock = loop, asyncio.Lock()
        assert self._lock is not None
        async with self._lock:
            if self._conn is None:
                try:
                    conn = await connect(
                        self._url,
                        open_timeout=None,  # the call's own timeout covers the handshake
                        max_size=self._max,
                        ping_interval=None,
                        compression=None,
                    )
                except (OSError, WebSocketException) as exc:
                    raise self._transport(exc, method) from None
                self._conn = conn
                self._reader = loop.create_task(self._read(conn))
            return self._conn

    async def _read(self, conn: ClientConnection) -> None:
        failure = _Dropped(TransportError, "connection closed")
        try:
            async for message in conn:
                try:
                    answer = orjson.loads(message)
                except orjson.JSONDecodeError:
                    # Answers can no longer be told apart: drop the connection.
                    failure = _Dropped(MalformedResponse, "message is not JSON")
                    break
                self._deliver(answer)
        except ConnectionClosed as exc:
            if exc.sent is not None and exc.sent.code == CloseCode.MESSAGE_TOO_BIG:
                failure = _Dropped(ResponseTooLarge, f"message over cap {self._max}")
        finally:
            if self._conn is conn:
                self._conn = None
            self._fail_pending(failure)
            await conn.close()

    def _deliver(self, answer: object) -> None:
        if isinstance(answer, list):
            ids = (item.get("id") for item in answer if isinstance(item, dict))
            waiter = next((self._pending[i] for i in ids if _is_id(i) and i in self._pending), None)
        elif isinstance(answer, dict) and _is_id(answer.get("id")):
            waiter = self._pending.get(answer["id"])
        elif isinstance(answer, dict) and answer.get("id") is None and "error" in answer:
            # A request-level error names no id; it is attributable only with one call waiting.
            waiters = set(self._pending.values())
            waiter = waiters.pop() if len(waiters) == 1 else None
        else:
            waiter = None  # a subscription notification
        if waiter is None:
            _log.debug("chain.ws_unmatched", endpoint=self.name)
        elif not waiter.done():
            waiter.set_result(answer)

    def _fail_pending(self, failure: _Dropped) -> None:
        for waiter in set(self._pending.values()):
            if not waiter.done():
                waiter.set_result(failure)

    def _transport(self, exc: BaseException, method: str) -> TransportError:
        # websockets messages can quote the full URL; keep only the exception class.
        return TransportError(type(exc).__name__, endpoint=self.name, method=method)

    def _forget(self) -> None:
        self._conn, self._reader = None, None
        self._pending.clear()

    async def aclose(self) -> None:
        """Close the connection; calls still waiting fail with :class:`TransportError`."""
        conn, reader = self._conn, self._reader
        if self._loop is not asyncio.get_running_loop():
            self._forget()  # opened on a loop that is gone
            return
        # The reader fails the waiting calls once the connection is closed.
        self._conn, self._reader = None, None
        if conn is not None:
            with contextlib.suppress(OSError, WebSocketException):
                await conn.close()
        if reader is not None:
            with contextlib.suppress(asyncio.CancelledError):
                await reader


@dataclass(frozen=True)
class _Dropped:
    """What the reader hands waiting calls when the connection ends under them."""

    error: type[EndpointError]
    detail: str


def _is_id(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)
