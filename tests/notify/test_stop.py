"""A notifier that stops while a delivery is in flight lets it settle: the receiver got the
message, so the row says sent, and the next notifier on the database does not send it again
(the demo stopped its notifier mid-send and left deliveries 1-3 pending)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from breakglass.notify import Notifier
from breakglass.store.models import Delivery

from .loopback import Heard, webhook

_ANSWER_AFTER = 0.5


@pytest.fixture
def slow_receiver() -> Iterator[Heard]:
    """A webhook that answers half a second after a request arrives."""
    with webhook(_ANSWER_AFTER) as receiver:
        yield receiver


def test_a_delivery_in_flight_at_stop_is_recorded_sent(
    sessions: sessionmaker[Session],
    make_plan: Any,
    slow_receiver: Heard,
) -> None:
    port, arrived, bodies = slow_receiver.port, slow_receiver.arrived, slow_receiver.bodies
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
