"""A notifier that stops while a delivery is in flight lets it settle: the receiver got the
message, so the row says sent, and the next notifier on the database does not send it again
(the demo stopped its notifier mid-send and left deliveries 1-3 pending)."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from breakglass.notify import Notifier
from breakglass.store.models import Delivery

_ANSWER_AFTER = 0.5


@pytest.fixture
def slow_receiver() -> Iterator[tuple[int, threading.Event, list[bytes]]]:
    """A webhook that answers half a second after a request arrives."""
    arrived, bodies = threading.Event(), []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            arrived.set()
            time.sleep(_ANSWER_AFTER)
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], arrived, bodies
    finally:
        server.shutdown()
        server.server_close()


def test_a_delivery_in_flight_at_stop_is_recorded_sent(
    sessions: sessionmaker[Session],
    make_plan: Any,
    slow_receiver: tuple[int, threading.Event, list[bytes]],
) -> None:
    port, arrived, bodies = slow_receiver
    plan = make_plan(**{"war-room": f"json://127.0.0.1:{port}/hook"})
    notifier = Notifier(plan, sessions)
    [delivery] = notifier.notify("message", {"title": "pool paused"}, channels=["war-room"])

    async def run_then_stop() -> None:
        stop = asyncio.Event()
        loop = asyncio.create_task(notifier.run(stop, interval=0.05))
        await asyncio.to_thread(arrived.wait, 10)
        stop.set()
        await asyncio.wait_for(loop, 10)

    asyncio.run(run_then_stop())
    with sessions() as session:
        row = session.get_one(Delivery, delivery)
        assert (row.status, row.attempts) == ("sent", 1)
    assert asyncio.run(Notifier(plan, sessions).deliver_due()) == 0
    assert len(bodies) == 1
