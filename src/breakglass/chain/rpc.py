"""A raw async JSON-RPC client over HTTP.

One client talks to one endpoint. It encodes and decodes with orjson, streams the body so an
oversized answer is cut off early, and turns every failure into an
:class:`~breakglass.chain.errors.EndpointError` subclass. The endpoint URL may embed an API key,
so only :func:`redact_url`'s form ever reaches a message or a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
from abc import ABC, abstractmethod
from collections.abc import Sequence
from types import TracebackType
from typing import Any, Self
from urllib.parse import urlsplit

import httpx
import orjson

from breakglass.chain.envelope import (
    Call,
    batch_body,
    batch_label,
    batch_results,
    call_body,
    single,
)
from breakglass.chain.errors import (
    HttpStatusError,
    MalformedResponse,
    ResponseTooLarge,
    TransportError,
)

__all__ = ["DEFAULT_MAX_RESPONSE_BYTES", "Call", "JsonRpcClient", "RpcClient", "redact_url"]

DEFAULT_MAX_RESPONSE_BYTES = 32 * 1024 * 1024
_HEADERS = {"content-type": "application/json", "accept": "application/json"}


class _RedactUrls(logging.Filter):
    """httpx logs every request's full URL at INFO; endpoint URLs can hold API keys."""

    def __init__(self) -> None:
        super().__init__()
        self.shown: dict[str, str] = {}

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        hidden = message
        for url, shown in self.shown.items():
            hidden = hidden.replace(url, shown)
        if hidden != message:
            record.msg, record.args = hidden, None
        return True


_httpx_filter = _RedactUrls()
logging.getLogger("httpx").addFilter(_httpx_filter)


def redact_url(url: str) -> str:
    """``scheme://host[:port]`` plus ``/…`` when a path or query (where keys hide) was dropped."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or "?"
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "<invalid url>"
    hidden = "/…" if parts.path.strip("/") or parts.query or parts.fragment else ""
    return f"{parts.scheme or '?'}://{host}{port}{hidden}"


class JsonRpcClient(ABC):
    """What the clients of every transport share: request ids, envelopes, closing.

    A subclass moves one encoded request (or batch) to the endpoint and returns the decoded
    answer; it turns every failure on the way into an :class:`EndpointError` subclass.
    """

    def __init__(self, url: str, name: str | None) -> None:
        self.name = name or redact_url(url)
        self._ids = itertools.count(1)

    async def request(self, method: str, params: Sequence[Any] = ()) -> Any:
        """Call ``method`` and return its ``result``.

        Raises:
            RpcError: the endpoint answered with an error envelope.
            EndpointError: transport trouble, timeout, HTTP status, malformed or oversized answer.
        """
        request_id = next(self._ids)
        answer = await self._exchange(call_body(request_id, method, params), [request_id], method)
        return single(answer, request_id, endpoint=self.name, method=method)

    async def batch(self, calls: Sequence[Call]) -> list[Any]:
        """Send ``calls`` as one JSON-RPC batch and return their results in the same order.

        Raises:
            RpcError: the first call (in order) that answered with an error envelope.
            MalformedResponse: the answer is not a list or misses an id.
            EndpointError: transport trouble, timeout, HTTP status or oversized answer.
        """
        if not calls:
            return []
        ids = [next(self._ids) for _ in calls]
        answer = await self._exchange(batch_body(ids, calls), ids, batch_label(calls))
        return batch_results(answer, ids, calls, endpoint=self.name)

    @abstractmethod
    async def _exchange(self, body: object, ids: Sequence[int], method: str) -> Any:
        """Send ``body`` (request ``ids``, named ``method`` in errors); return the answer."""

    @abstractmethod
    async def aclose(self) -> None:
        """Release the connections."""

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        await self.aclose()

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.name}>"


class RpcClient(JsonRpcClient):
    """JSON-RPC over HTTP to one endpoint.

    Args:
        url: the endpoint; may contain secrets, it is never shown unredacted.
        transport: an ``httpx.AsyncBaseTransport`` (e.g. ``httpx.MockTransport`` in tests).
        timeout: seconds for connect, read, write and pool each.
        max_response_bytes: larger bodies raise :class:`ResponseTooLarge`.
        name: how logs and errors call the endpoint; defaults to :func:`redact_url`.
        deadline: seconds for the whole exchange (default: twice ``timeout``, so an honest
            answer on a loaded machine still fits). httpx's timeouts are per read, so an
            endpoint trickling one byte every few seconds would otherwise hold a call forever.
    """

    def __init__(
        self,
        url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        timeout: float = 10.0,
        max_response_bytes: int = DEFAULT_MAX_RESPONSE_BYTES,
        name: str | None = None,
        deadline: float | None = None,
    ) -> None:
        super().__init__(url, name)
        self.deadline = 2 * timeout if deadline is None else deadline
        with contextlib.suppress(httpx.InvalidURL):
            _httpx_filter.shown[str(httpx.URL(url))] = self.name
        _httpx_filter.shown[url] = self.name
        self._url = url
        self._max = max_response_bytes
        self._client = httpx.AsyncClient(transport=transport, timeout=timeout, headers=_HEADERS)

    async def _exchange(self, body: object, ids: Sequence[int], method: str) -> Any:
        try:
            async with asyncio.timeout(self.deadline):
                return await self._post(body, method)
        except TimeoutError:
            raise TransportError(
                f"no full answer within the {self.deadline:g} s deadline",
                endpoint=self.name,
                method=method,
            ) from None

    async def _post(self, body: object, method: str) -> Any:
        try:
            async with self._client.stream("POST", self._url, content=orjson.dumps(body)) as resp:
                if resp.status_code == 429 or resp.status_code >= 500:
                    raise HttpStatusError(resp.status_code, endpoint=self.name, method=method)
                declared = resp.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self._max:
                    raise ResponseTooLarge(
                        f"Content-Length {declared} over cap {self._max}",
                        endpoint=self.name,
                        method=method,
                    )
                chunks: list[bytes] = []
                size = 0
                async for chunk in resp.aiter_bytes():
                    size += len(chunk)
                    if size > self._max:
                        raise ResponseTooLarge(
                            f"body over cap {self._max}", endpoint=self.name, method=method
                        )
                    chunks.append(chunk)
                status = resp.status_code
        except httpx.TimeoutException as exc:
            raise TransportError(
                f"timeout ({type(exc).__name__})", endpoint=self.name, method=method
            ) from None
        except httpx.HTTPError as exc:
            # httpx messages can quote the full URL; keep only the exception class.
            raise TransportError(type(exc).__name__, endpoint=self.name, method=method) from None
        try:
            return orjson.loads(b"".join(chunks))
        except orjson.JSONDecodeError:
            raise MalformedResponse(
                f"HTTP {status} body is not JSON", endpoint=self.name, method=method
            ) from None

    async def aclose(self) -> None:
        """Close the underlying HTTP connections."""
        await self._client.aclose()
