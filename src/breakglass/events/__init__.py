"""Typed events between stages: the outbox they are written to, the bus that carries them and
the relay between the two.

Detect hands findings to respond directly (a pause never waits for a database or a bus);
every other hand-off is an event written in the transaction of its cause and delivered at
least once to idempotent consumers. See ``docs/architecture.md``.
"""

from __future__ import annotations

from breakglass.events.bus import Bus, DeliveryFailed, Handler, InProcessBus, Subscription
from breakglass.events.model import (
    ActionExecuted,
    AlertRaised,
    AlertRetracted,
    Event,
    FindingsDetected,
    IncidentChanged,
    IncidentOpened,
    NotificationQueued,
    PublicUpdatePublished,
    ReminderDue,
    StepPhase,
    UnknownEvent,
    event_kinds,
    load_event,
)
from breakglass.events.outbox import consume_once, consumed, emit
from breakglass.events.relay import Backlog, OutboxRelay, backlog

__all__ = [
    "ActionExecuted",
    "AlertRaised",
    "AlertRetracted",
    "Backlog",
    "Bus",
    "DeliveryFailed",
    "Event",
    "FindingsDetected",
    "Handler",
    "InProcessBus",
    "IncidentChanged",
    "IncidentOpened",
    "NotificationQueued",
    "OutboxRelay",
    "PublicUpdatePublished",
    "ReminderDue",
    "StepPhase",
    "Subscription",
    "UnknownEvent",
    "backlog",
    "consume_once",
    "consumed",
    "emit",
    "event_kinds",
    "load_event",
]
