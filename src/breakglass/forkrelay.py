"""A loopback relay in front of a fork's upstream RPC URL.

anvil takes ``--fork-url`` only from its command line, where ``ps`` shows it to every user of
the machine, and it prints the URL in its start-up banner and its errors. A provider URL often
holds an API key in its path (``…/v3/<key>``), so anvil is pointed at this relay instead: the
relay holds the real URL in this process and forwards each JSON-RPC body to it.
"""

from __future__ import annotations

import contextlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Self
from urllib.parse import urlsplit

import httpx

from breakglass.errors import DevchainError
from breakglass.logs import register_secret

__all__ = ["ForkRelay"]

_HOST = "127.0.0.1"
_MAX_BODY = 32 * 1024 * 1024
_TIMEOUT_S = 60.0


def _forward(client: httpx.Client, upstream: str, body: bytes) -> httpx.Response:
    """POST ``body`` upstream, once more after a transport error: a provider may close a
    kept-alive connection just as the pool reuses it, and anvil gives up its whole start on
    one failed read. JSON-RPC bodies are safe to send twice (a raw transaction is the same
    transaction)."""
    headers = {"content-type": "application/json"}
    try:
        return client.post(upstream, content=body, headers=headers)
    except httpx.TransportError:
        return client.post(upstream, content=body, headers=headers)


class ForkRelay:
    """Forwards POSTed JSON-RPC to ``upstream``; :attr:`url` is what anvil is given."""

    def __init__(self, upstream: str) -> None:
        scheme = urlsplit(upstream).scheme.lower()
        if scheme not in {"http", "https"}:
            raise DevchainError(f"a fork URL must be http or https, not {scheme or 'none'}://")
        register_secret(upstream)
        client = httpx.Client(timeout=_TIMEOUT_S)
        self._client = client

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                if not 0 <= length <= _MAX_BODY:
                    self._answer(413, b"")
                    return
                body = self.rfile.read(length)
                try:
                    reply = _forward(client, upstream, body)
                except httpx.HTTPError as exc:
                    # The type only: an httpx message quotes the URL, key and all.
                    self._answer(502, f"upstream failed: {type(exc).__name__}".encode())
                    return
                self._answer(reply.status_code, reply.content)

            def _answer(self, status: int, content: bytes) -> None:
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(content)))
                self.end_headers()
                with contextlib.suppress(OSError):
                    self.wfile.write(content)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self._server = ThreadingHTTPServer((_HOST, 0), Handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(
            target=self._server.serve_forever, name="fork-relay", daemon=True
        )
        self._thread.start()
        self._closed = False

    @property
    def url(self) -> str:
        """The loopback URL standing for the upstream one."""
        return f"http://{_HOST}:{self._server.server_address[1]}"

    def close(self) -> None:
        """Stop relaying. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        self._client.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
