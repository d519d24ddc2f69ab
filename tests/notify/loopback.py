"""A loopback webhook for tests that need to see what reached a channel, and when."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass
class Heard:
    """The receiver's port, the bodies it got, and an event set at the first request."""

    port: int = 0
    bodies: list[bytes] = field(default_factory=list)
    arrived: threading.Event = field(default_factory=threading.Event)


@contextmanager
def webhook(answer_after: float = 0.0) -> Iterator[Heard]:
    """A receiver on 127.0.0.1 that answers 200 ``answer_after`` seconds after each POST
    arrived (the body is recorded at once)."""
    heard = Heard()

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            heard.bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            heard.arrived.set()
            time.sleep(answer_after)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    heard.port = server.server_address[1]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield heard
    finally:
        server.shutdown()
        server.server_close()
