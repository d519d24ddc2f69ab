"""A local JSON webhook for the demo's notification channels: no network, no server to install.

:class:`Webhook` listens on a free loopback port, answers every HTTP request ``200 {}`` and
appends one JSON line per request to a file: ``{"path": ..., "body": <the JSON posted>}``.
The plan's channels point at it with ``json://127.0.0.1:PORT/<channel>`` (Apprise's JSON
scheme), so the notifier's deliveries from the demo can be read afterwards.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from pathlib import Path

__all__ = ["Webhook"]

_MAX_BODY = 1 << 20


class Webhook:
    """A loopback HTTP server appending each request's JSON body to ``path``."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.count = 0
        self._server: asyncio.Server | None = None

    async def start(self) -> None:
        """Listen on a free port of 127.0.0.1."""
        self.path.write_text("", encoding="utf-8")
        self._server = await asyncio.start_server(self._handle, "127.0.0.1", 0)

    @property
    def port(self) -> int:
        """The port it listens on (after :meth:`start`)."""
        assert self._server is not None, "start() first"
        port: int = self._server.sockets[0].getsockname()[1]
        return port

    @property
    def url(self) -> str:
        """The Apprise ``json://`` URL of the server's root."""
        return f"json://127.0.0.1:{self.port}"

    async def stop(self) -> None:
        """Stop listening."""
        if self._server is not None:
            self._server.close()
            with contextlib.suppress(Exception):
                await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1] if " " in lines[0] else "/"
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = min(int(value.strip() or 0), _MAX_BODY)
            raw = await reader.readexactly(length) if length else b""
            try:
                body: object = json.loads(raw) if raw else None
            except ValueError:
                body = raw.decode("utf-8", errors="replace")
            with self.path.open("a", encoding="utf-8") as out:
                out.write(json.dumps({"path": path, "body": body}, sort_keys=True) + "\n")
            self.count += 1
            writer.write(
                b"HTTP/1.1 200 OK\r\ncontent-type: application/json\r\n"
                b"content-length: 2\r\nconnection: close\r\n\r\n{}"
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError, OSError):
            pass
        finally:
            writer.close()
            with contextlib.suppress(Exception):
                await writer.wait_closed()
