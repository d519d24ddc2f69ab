"""What every request passes before a route sees it: a cap on the body, authentication of
API writes before their body is read, and a JSON parser that cannot be made to crash.

Starlette reads a whole body into memory before the route's dependencies run, and FastAPI
parses it with the standard library's ``json``: so a 300 MB POST without a token grew the
server to nearly a gigabyte, and 200 KB of ``[`` could overflow the C stack. Here a body
larger than its cap is refused from its ``Content-Length`` (or as soon as a chunked body
passes the cap), an ``/api`` write without a valid bearer token is refused before a byte of
its body is read, and JSON bodies go through :func:`breakglass.safejson.loads`.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Coroutine
from typing import Any

import orjson
from fastapi import Request
from fastapi.routing import APIRoute
from starlette.responses import Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from breakglass.safejson import UnsafeJson, loads
from breakglass.webcore.security import state_of
from breakglass.webcore.tokens import authenticate

__all__ = ["API_BODY_LIMIT", "BODY_LIMIT", "BodyGuard", "SafeJsonRequest", "SafeJsonRoute"]

API_BODY_LIMIT = 256 * 1024
"""The largest ``/api`` body: ten times the largest valid one (a 10,000-character summary)."""
BODY_LIMIT = 64 * 1024
"""The largest body anywhere else (the dashboard's forms)."""
_JSON_DEPTH = 16
_WRITES = frozenset({"POST", "PUT", "PATCH", "DELETE"})


class SafeJsonRequest(Request):
    """A request whose ``json()`` is bounded in depth and never recurses on the C stack."""

    async def json(self) -> Any:
        if not hasattr(self, "_json"):
            try:
                self._json = loads(
                    await self.body(), what="the request body", max_depth=_JSON_DEPTH
                )
            except UnsafeJson as exc:
                # The one error FastAPI answers as a 422 naming the problem; the document
                # itself is left out of it.
                raise json.JSONDecodeError(str(exc), "", 0) from None
        return self._json


class SafeJsonRoute(APIRoute):
    """An API route that reads JSON bodies with :class:`SafeJsonRequest`."""

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def safe_handler(request: Request) -> Response:
            return await handler(SafeJsonRequest(request.scope, request.receive))

        return safe_handler


def _reply(status: int, detail: str, headers: dict[str, str] | None = None) -> Response:
    return Response(
        orjson.dumps({"detail": detail}),
        status_code=status,
        media_type="application/json",
        headers=headers,
    )


class BodyGuard:
    """ASGI middleware: caps bodies and authenticates ``/api`` writes before reading them."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] not in _WRITES:
            await self.app(scope, receive, send)
            return
        api = scope["path"].startswith("/api/")
        limit = API_BODY_LIMIT if api else BODY_LIMIT
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        too_large = _reply(413, f"the request body is larger than {limit:,} bytes")
        if api and not self._authenticated(scope, headers.get("authorization", "")):
            await _reply(
                401,
                "a valid API token is needed: Authorization: Bearer <token>",
                {"WWW-Authenticate": "Bearer"},
            )(scope, receive, send)
            return
        declared = headers.get("content-length", "")
        if declared and (not declared.isdigit() or int(declared) > limit):
            await too_large(scope, receive, send)
            return
        body = bytearray()
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            body += message.get("body", b"")
            if len(body) > limit:
                await too_large(scope, receive, send)
                return
            if not message.get("more_body", False):
                break
        await self.app(scope, _replay(bytes(body), receive), send)

    @staticmethod
    def _authenticated(scope: Scope, authorization: str) -> bool:
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            return False
        state = state_of(Request(scope))
        with state.sessions() as session:
            return authenticate(session, state.loaded.plan, token.strip()) is not None


def _replay(body: bytes, receive: Receive) -> Receive:
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
