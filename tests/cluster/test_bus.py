"""The JetStream bus with a real server: an event published twice (a relay replaying its
outbox after a failover) is delivered once; a durable subscriber resumes where it stopped;
a failing handler gets the event again; the outbox relay works over it unchanged."""

from __future__ import annotations

import asyncio
import secrets
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from breakglass import store
from breakglass.cluster import NatsBus, connect
from breakglass.events import AlertRaised, Event, IncidentOpened, OutboxRelay, emit

T0 = datetime(2026, 3, 1, 12, 0, tzinfo=UTC)


def _alert(n: int) -> AlertRaised:
    key = f"large-outflow:local:0x{n:064x}:0"
    return AlertRaised(
        event_id=AlertRaised.key(key),
        occurred_at=T0,
        alert_id=n,
        dedupe_key=key,
        rule="large-outflow",
        chain="local",
        block_number=n,
        block_hash=f"0x{n:064x}",
        severity="critical",
        title=f"drain {n}",
    )


async def _until(predicate, timeout: float = 10.0) -> None:  # type: ignore[no-untyped-def]
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not predicate():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.05)


def _stream() -> str:
    return f"EVENTS_{secrets.token_hex(4)}"


def test_a_republished_event_is_delivered_once_and_kinds_are_filtered(nats_url: str) -> None:
    async def scenario() -> list[str]:
        client = await connect(nats_url)
        stream, prefix = _stream(), f"bg{secrets.token_hex(3)}"
        seen: list[str] = []
        bus = NatsBus(client.jetstream(), stream=stream, prefix=prefix)
        bus.subscribe("desk", [AlertRaised], lambda e: seen.append(e.event_id))
        stop = asyncio.Event()
        await bus.start(stop)
        try:
            for event in (_alert(1), _alert(1), _alert(2), _alert(1)):
                await bus.publish(event)
            await bus.publish(
                IncidentOpened(
                    event_id=IncidentOpened.key(1),
                    occurred_at=T0,
                    incident_id=1,
                    title="t",
                    severity="critical",
                    status="detected",
                    opened_by="alert:x",
                )
            )
            await _until(lambda: len(seen) >= 2)
            await asyncio.sleep(0.5)  # room for a wrong second delivery to show up
        finally:
            stop.set()
            await bus.aclose()
            await client.close()
        return seen

    seen = asyncio.run(scenario())
    assert seen == [_alert(1).event_id, _alert(2).event_id]


def test_a_durable_subscriber_resumes_and_a_failure_is_delivered_again(nats_url: str) -> None:
    stream, prefix = _stream(), f"bg{secrets.token_hex(3)}"

    async def run_once(handler, publish: list[AlertRaised], wait_for: int) -> None:  # type: ignore[no-untyped-def]
        client = await connect(nats_url)
        bus = NatsBus(client.jetstream(), stream=stream, prefix=prefix)
        bus.subscribe("notifier", [AlertRaised], handler)
        stop = asyncio.Event()
        await bus.start(stop)
        try:
            for event in publish:
                await bus.publish(event)
            await _until(lambda: handler.calls >= wait_for)
            await asyncio.sleep(0.3)
        finally:
            stop.set()
            await bus.aclose()
            await client.close()

    class Recorder:
        def __init__(self, fail_first: str | None = None) -> None:
            self.calls = 0
            self.applied: list[str] = []
            self.fail_first = fail_first

        def __call__(self, event: Event) -> None:
            self.calls += 1
            if event.event_id == self.fail_first:
                self.fail_first = None
                raise RuntimeError("channel down")
            self.applied.append(event.event_id)

    first = Recorder(fail_first=_alert(2).event_id)
    asyncio.run(run_once(first, [_alert(1), _alert(2)], wait_for=3))
    assert first.applied == [_alert(1).event_id, _alert(2).event_id]  # 2 came again
    second = Recorder()  # another replica takes the same durable consumer over
    asyncio.run(run_once(second, [_alert(3)], wait_for=1))
    assert second.applied == [_alert(3).event_id]  # nothing acknowledged comes back


def test_two_relays_on_one_outbox_deliver_each_event_once(nats_url: str, tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'team.db').as_posix()}"
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions: sessionmaker[Session] = store.session_factory(engine)
    with sessions() as session, session.begin():
        for n in range(1, 21):
            emit(session, _alert(n))

    async def scenario() -> list[str]:
        client = await connect(nats_url)
        stream, prefix = _stream(), f"bg{secrets.token_hex(3)}"
        seen: list[str] = []
        consumer = NatsBus(client.jetstream(), stream=stream, prefix=prefix)
        consumer.subscribe("desk", [AlertRaised], lambda e: seen.append(e.event_id))
        stop = asyncio.Event()
        await consumer.start(stop)
        publisher = NatsBus(client.jetstream(), stream=stream, prefix=prefix)
        try:
            # The old leader published everything but died before marking it; the new
            # leader's relay publishes the same rows again.
            await OutboxRelay(sessions, publisher).drain()
            with sessions() as session, session.begin():
                session.execute(
                    store.models.OutboxRecord.__table__.update().values(published_at=None)
                )
            await OutboxRelay(sessions, publisher).drain()
            await _until(lambda: len(seen) >= 20)
            await asyncio.sleep(0.5)
        finally:
            stop.set()
            await consumer.aclose()
            await client.close()
        return seen

    try:
        seen = asyncio.run(scenario())
    finally:
        engine.dispose()
    assert seen == [_alert(n).event_id for n in range(1, 21)]
