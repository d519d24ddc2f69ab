"""The bus: who hears which events. In process by default; the stages do not know which.

A subscriber is a name, the event kinds it wants and a handler. Handlers must be idempotent
(see :func:`breakglass.events.outbox.consume_once`): delivery is at least once. A plain
function runs in a worker thread (consumers write to the database); a coroutine function runs
on the event loop.
"""

from __future__ import annotations

import asyncio
import inspect
from collections.abc import Awaitable, Callable, Collection
from dataclasses import dataclass
from typing import Protocol

import structlog

from breakglass.errors import EventError
from breakglass.events.model import Event, event_kinds

__all__ = ["Bus", "DeliveryFailed", "Handler", "InProcessBus", "Subscription"]

_log = structlog.get_logger("breakglass.events")

Handler = Callable[[Event], None] | Callable[[Event], Awaitable[None]]


class DeliveryFailed(EventError):
    """One or more subscribers raised while handling an event."""


@dataclass(frozen=True)
class Subscription:
    name: str
    kinds: frozenset[str]
    handler: Handler

    def wants(self, event: Event) -> bool:
        return event.KIND in self.kinds


class Bus(Protocol):
    """Delivers published events to the subscribers of their kind."""

    def subscribe(self, name: str, kinds: Collection[type[Event]], handler: Handler) -> None:
        """Deliver events of ``kinds`` to ``handler`` under the consumer name ``name``."""

    async def publish(self, event: Event) -> None:
        """Deliver ``event`` to every subscriber of its kind; raise :class:`DeliveryFailed`
        if any of them failed (the others have had it: they must be idempotent)."""


class InProcessBus:
    """Calls subscribers in the publishing process, in subscription order."""

    def __init__(self) -> None:
        self._subscriptions: list[Subscription] = []

    @property
    def subscriptions(self) -> list[Subscription]:
        return list(self._subscriptions)

    def subscribe(self, name: str, kinds: Collection[type[Event]], handler: Handler) -> None:
        known = event_kinds()
        for kind in kinds:
            if known.get(kind.KIND) is not kind:
                raise EventError(f"subscriber {name!r}: {kind.__name__} is not a declared event")
        if any(s.name == name for s in self._subscriptions):
            raise EventError(f"two subscribers are named {name!r}")
        self._subscriptions.append(Subscription(name, frozenset(k.KIND for k in kinds), handler))

    async def publish(self, event: Event) -> None:
        failed: list[str] = []
        for subscription in self._subscriptions:
            if not subscription.wants(event):
                continue
            try:
                if inspect.iscoroutinefunction(subscription.handler):
                    await subscription.handler(event)
                else:
                    await asyncio.to_thread(subscription.handler, event)
            except Exception as exc:  # one consumer's bug must not starve the others
                _log.error(
                    "events.subscriber_failed",
                    subscriber=subscription.name,
                    event_id=event.event_id,
                    error=repr(exc)[:500],
                )
                failed.append(f"{subscription.name}: {exc!r}"[:300])
        if failed:
            raise DeliveryFailed(f"event {event.event_id}: " + "; ".join(failed))
