"""The bus on NATS JetStream: events published once per id, consumed by durable consumers.

Every event goes to the subject ``<prefix>.<kind>`` of one stream with the header
``Nats-Msg-Id`` set to its ``event_id``: JetStream drops a second publication of the same id
within the stream's duplicate window, so a relay replaying its outbox after a failover
cannot deliver an event twice. Each subscriber is a durable pull consumer named after it:
whichever replica runs it resumes where the last one acknowledged. Delivery is at least once
(a handler that fails, or a replica that dies before acknowledging, gets the event again),
so handlers stay idempotent exactly as with the in-process bus.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Collection
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import orjson
import structlog

from breakglass.cluster.connect import ClusterError
from breakglass.errors import EventError
from breakglass.events import Event, Handler, Subscription, event_kinds, load_event

if TYPE_CHECKING:
    from nats.js import JetStreamContext

__all__ = ["NatsBus"]

_log = structlog.get_logger("breakglass.cluster")


@dataclass
class NatsBus:
    """A :class:`~breakglass.events.Bus` on JetStream.

    Args:
        js: a JetStream context of a connected client.
        stream: the stream's name; created with ``duplicate_window`` if absent.
        prefix: the subject prefix of events.
    """

    js: JetStreamContext
    stream: str = "BREAKGLASS_EVENTS"
    prefix: str = "breakglass.events"
    duplicate_window: float = 120.0
    ack_wait: float = 30.0
    _subscriptions: list[Subscription] = field(default_factory=list)
    _tasks: list[asyncio.Task[None]] = field(default_factory=list)

    async def ensure_stream(self) -> None:
        """Create the events stream if it does not exist."""
        from nats.js.api import StreamConfig  # noqa: PLC0415
        from nats.js.errors import NotFoundError  # noqa: PLC0415

        try:
            await self.js.stream_info(self.stream)
        except NotFoundError:
            await self.js.add_stream(
                StreamConfig(
                    name=self.stream,
                    subjects=[f"{self.prefix}.>"],
                    duplicate_window=self.duplicate_window,
                )
            )

    def subscribe(self, name: str, kinds: Collection[type[Event]], handler: Handler) -> None:
        known = event_kinds()
        for kind in kinds:
            if known.get(kind.KIND) is not kind:
                raise EventError(f"subscriber {name!r}: {kind.__name__} is not a declared event")
        if any(s.name == name for s in self._subscriptions):
            raise EventError(f"two subscribers are named {name!r}")
        self._subscriptions.append(Subscription(name, frozenset(k.KIND for k in kinds), handler))

    async def publish(self, event: Event) -> None:
        """Publish ``event`` once: a second publication of its id is dropped by the server.

        Raises:
            ClusterError: JetStream did not acknowledge it (the relay tries again).
        """
        from nats.errors import Error as NatsError  # noqa: PLC0415

        body = orjson.dumps(
            {
                "kind": event.KIND,
                "version": event.VERSION,
                "event_id": event.event_id,
                "payload": event.payload(),
            }
        )
        try:
            await self.js.publish(
                f"{self.prefix}.{event.KIND}",
                body,
                stream=self.stream,
                headers={"Nats-Msg-Id": event.event_id},
            )
        except (NatsError, TimeoutError) as exc:
            raise ClusterError(f"event {event.event_id} not published: {exc!r}"[:300]) from None

    async def start(self, stop: asyncio.Event) -> None:
        """Start one consumer task per subscriber; they run until ``stop`` is set."""
        await self.ensure_stream()
        for subscription in self._subscriptions:
            sub = await self._pull(subscription.name)
            self._tasks.append(asyncio.create_task(self._consume(subscription, sub, stop)))

    async def aclose(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks.clear()

    async def _pull(self, name: str) -> Any:
        from nats.js.api import AckPolicy, ConsumerConfig  # noqa: PLC0415

        durable = _durable(name)
        config = ConsumerConfig(
            durable_name=durable, ack_policy=AckPolicy.EXPLICIT, ack_wait=self.ack_wait
        )
        return await self.js.pull_subscribe(
            f"{self.prefix}.>", durable=durable, stream=self.stream, config=config
        )

    async def _consume(self, subscription: Subscription, sub: Any, stop: asyncio.Event) -> None:
        from nats.errors import TimeoutError as FetchTimeout  # noqa: PLC0415

        while not stop.is_set():
            try:
                messages = await sub.fetch(batch=64, timeout=0.5)
            except (FetchTimeout, TimeoutError):
                continue
            except Exception as exc:  # a reconnect in progress: wait, then fetch again
                _log.warning("cluster.fetch_failed", subscriber=subscription.name, error=repr(exc))
                await asyncio.sleep(0.5)
                continue
            for message in messages:
                await self._handle(subscription, message)

    async def _handle(self, subscription: Subscription, message: Any) -> None:
        try:
            body = orjson.loads(message.data)
            event = load_event(body["kind"], body["version"], body["event_id"], body["payload"])
        except (orjson.JSONDecodeError, KeyError, TypeError, EventError) as exc:
            _log.error("cluster.bad_event", subscriber=subscription.name, error=repr(exc)[:300])
            await message.term()  # never deliverable: do not loop on it
            return
        if not subscription.wants(event):
            await message.ack()
            return
        try:
            if inspect.iscoroutinefunction(subscription.handler):
                await subscription.handler(event)
            else:
                await asyncio.to_thread(subscription.handler, event)
        except Exception as exc:  # delivered again after a pause; the handler is idempotent
            _log.error(
                "cluster.subscriber_failed",
                subscriber=subscription.name,
                event_id=event.event_id,
                error=repr(exc)[:300],
            )
            await message.nak(delay=1.0)
            return
        await message.ack()


def _durable(name: str) -> str:
    """A subscriber's name as a consumer name (JetStream allows no ``.``, ``*``, ``>`` or
    whitespace): ``incidents.desk`` → ``incidents_desk``."""
    return "".join("_" if c in ".*>" or c.isspace() else c for c in name)
