"""Typed, immutable, versioned events: every hand-off between stages that is not the
reaction path.

An event's ``event_id`` is derived from what caused it (a chain and block hash, an alert's
dedupe key, a journal record's key), never from the time it was built, so the same cause
replayed after a crash yields the same id: the outbox refuses the copy and a consumer
recognises a redelivery. ``KIND`` and ``VERSION`` travel with the payload; a consumer that
meets a version it does not know fails loudly instead of guessing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, ValidationError

from breakglass.errors import EventError

__all__ = [
    "ActionExecuted",
    "AlertRaised",
    "AlertRetracted",
    "Event",
    "FindingsDetected",
    "IncidentChanged",
    "IncidentOpened",
    "NotificationQueued",
    "PublicUpdatePublished",
    "ReminderDue",
    "StepPhase",
    "UnknownEvent",
    "event_kinds",
    "load_event",
]


class UnknownEvent(EventError):
    """A stored event of a kind or version this code does not know."""


_KINDS: dict[str, type[Event]] = {}


class Event(BaseModel):
    """Base of every event. Subclasses set ``KIND`` (and ``VERSION`` when the shape changes)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    KIND: ClassVar[str] = ""
    VERSION: ClassVar[int] = 1

    event_id: str
    occurred_at: datetime

    def __init_subclass__(cls, **kwargs: Any) -> None:
        super().__init_subclass__(**kwargs)
        if not cls.KIND:
            raise TypeError(f"{cls.__name__} must set KIND")
        if cls.KIND in _KINDS:
            raise TypeError(f"event kind {cls.KIND!r} is declared twice")
        _KINDS[cls.KIND] = cls

    def payload(self) -> dict[str, Any]:
        """The JSON-safe body stored in the outbox (``event_id`` is stored beside it)."""
        return self.model_dump(mode="json", exclude={"event_id"})


def event_kinds() -> dict[str, type[Event]]:
    """Every declared event class by kind."""
    return dict(_KINDS)


def load_event(kind: str, version: int, event_id: str, payload: dict[str, Any]) -> Event:
    """Rebuild a stored event.

    Raises:
        UnknownEvent: the kind is not declared, its version differs, or the payload does
            not fit the class.
    """
    cls = _KINDS.get(kind)
    if cls is None:
        raise UnknownEvent(f"event {event_id}: unknown kind {kind!r}")
    if version != cls.VERSION:
        raise UnknownEvent(
            f"event {event_id}: {kind} version {version}, this code reads {cls.VERSION}"
        )
    try:
        return cls.model_validate({**payload, "event_id": event_id})
    except ValidationError as exc:
        raise UnknownEvent(f"event {event_id}: {kind} payload does not fit: {exc}") from None


Severity = Literal["critical", "high", "medium", "low", "info"]


class FindingsDetected(Event):
    """Rules found something in a block (the responder already had these, directly)."""

    KIND: ClassVar[str] = "findings.detected"

    chain: str
    block_number: int
    block_hash: str
    dedupe_keys: list[str]

    @staticmethod
    def key(chain: str, block_hash: str) -> str:
        return f"findings:{chain}:{block_hash}"


class AlertRaised(Event):
    """A new, unsuppressed alert was stored with its block's checkpoint."""

    KIND: ClassVar[str] = "alert.raised"

    alert_id: int
    dedupe_key: str
    rule: str
    chain: str
    block_number: int
    block_hash: str
    severity: str
    title: str
    tx_hash: str | None = None
    kind: str = ""
    """The rule type (``large-outflow``, ``health`` …)."""
    description: str = ""
    addresses: list[str] = []
    block_time: datetime | None = None
    """The block's timestamp (when the exploit happened); ``None`` in events stored before
    it was carried, read as ``occurred_at``."""
    first_seen: datetime | None = None
    """When detect stored the alert (when breakglass knew); ``None`` as ``block_time``
    is, read as ``occurred_at``."""
    confidence: str = ""
    candidate_id: int | None = None
    """Detect's correlation candidate as the alert was raised: incidents joins alerts of one
    candidate into one incident."""

    @staticmethod
    def key(dedupe_key: str, block_hash: str | None = None) -> str:
        """The alert's key and, given, its block's hash: a dedupe key names a transaction,
        which a reorg can move to another block, where the alert is raised again."""
        return f"alert-raised:{dedupe_key}" + (f"@{block_hash}" if block_hash else "")


class AlertRetracted(Event):
    """A reorg orphaned the block of a stored alert."""

    KIND: ClassVar[str] = "alert.retracted"

    alert_id: int
    dedupe_key: str
    chain: str
    block_hash: str

    @staticmethod
    def key(dedupe_key: str, block_hash: str | None = None) -> str:
        """As :meth:`AlertRaised.key`: one retraction per block the alert was raised in."""
        return f"alert-retracted:{dedupe_key}" + (f"@{block_hash}" if block_hash else "")


class IncidentOpened(Event):
    """An alert (or a person) opened an incident."""

    KIND: ClassVar[str] = "incident.opened"

    incident_id: int
    title: str
    severity: str
    status: str
    opened_by: str
    """``alert:<dedupe key>`` or the person who declared it."""
    summary: str = ""
    chains: list[str] = []
    contracts: list[str] = []
    engaged: list[str] = []
    """External parties engaged as it opened (their ``page`` contact is told)."""

    @staticmethod
    def key(incident_id: int) -> str:
        return f"incident-opened:{incident_id}"


class IncidentChanged(Event):
    """Something about an open incident changed: its status, severity, or a new alert."""

    KIND: ClassVar[str] = "incident.changed"

    incident_id: int
    change: Literal["status", "severity", "alert", "title"]
    before: str | None = None
    after: str | None = None
    actor: str | None = None
    detail: dict[str, Any] = {}

    @staticmethod
    def key(incident_id: int, change: str, cause: str) -> str:
        return f"incident-changed:{incident_id}:{change}:{cause}"


class ReminderDue(Event):
    """A reminder about an open incident fell due (a public update, a regulatory filing).

    ``slot`` in its id is the reminder's period (the due time, and the interval it repeats
    in), so a restart neither repeats one nor forgets one."""

    KIND: ClassVar[str] = "incident.reminder"

    incident_id: int
    reminder: Literal["update_due", "regulatory_due"]
    context: dict[str, Any] = {}
    group_key: str | None = None

    @staticmethod
    def key(incident_id: int, reminder: str, slot: str) -> str:
        return f"reminder:{incident_id}:{reminder}:{slot}"


class StepPhase(Event):
    """A playbook step reached a phase (precheck, simulate, broadcast, receipt, verify, done,
    skipped, waiting, failed, fallback)."""

    KIND: ClassVar[str] = "step.phase"

    run_id: int
    step_id: int
    trigger: str
    """The dedupe key of the alert that started the run, or what a person typed."""
    playbook: str
    step: int
    action: str
    phase: str
    chain: str | None = None
    detail: dict[str, Any] = {}
    summary: str = ""
    """What the step does, in words (``pause pool as guardian``)."""
    dry_run: bool = False
    parent_step_id: int | None = None
    """The step whose failure started this (fallback) run."""

    @staticmethod
    def key(step_event_id: int) -> str:
        return f"step-phase:{step_event_id}"


class ActionExecuted(Event):
    """A step's transaction landed (or its Safe proposal was made) and was checked."""

    KIND: ClassVar[str] = "action.executed"

    run_id: int
    step_id: int
    trigger: str
    playbook: str
    action: str
    chain: str | None = None
    tx_hash: str | None = None
    block_number: int | None = None
    verified: bool | None = None
    detail: dict[str, Any] = {}
    step: int = 0
    """The step's position in its playbook."""
    summary: str = ""
    dry_run: bool = False
    parent_step_id: int | None = None

    @staticmethod
    def key(step_id: int, tx_or_phase: str) -> str:
        return f"action-executed:{step_id}:{tx_or_phase}"


class NotificationQueued(Event):
    """A message for a channel or a page for a person was queued for delivery."""

    KIND: ClassVar[str] = "notification.queued"

    delivery_id: int
    channel: str
    event: str
    incident_id: int | None = None

    @staticmethod
    def key(delivery_id: int) -> str:
        return f"notification:{delivery_id}"


class PublicUpdatePublished(Event):
    """A public status update was published for an incident."""

    KIND: ClassVar[str] = "public-update.published"

    incident_id: int
    update_id: int
    status: str

    @staticmethod
    def key(update_id: int) -> str:
        return f"public-update:{update_id}"
