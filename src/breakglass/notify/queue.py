"""The delivery log: queueing rows before anything is sent, folding, claiming and backoff.

Every message is a :class:`~breakglass.store.models.Delivery` row written before the send,
so a crash re-sends it. Rows hold the channel's name, a person's name or the URL *template*
(``${ENV}`` references, as the plan has them), never a resolved URL.

Folding: a message with the ``group_key`` of one sent to the same channel within the group
window, or one over the channel's ``max_per_minute``, joins a *digest* row due later, one
message listing them all. Only digests not yet due are folded into, so a row being sent is
never changed under the sender.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from breakglass.notify.render import Message, render
from breakglass.store.models import Delivery

__all__ = [
    "BACKOFF",
    "LEASE",
    "MAX_ATTEMPTS",
    "RATE_WINDOW",
    "DeliveryStatus",
    "backoff",
    "enqueue",
    "record_failure",
]

BACKOFF = (
    timedelta(seconds=5),
    timedelta(seconds=30),
    timedelta(minutes=2),
    timedelta(minutes=10),
    timedelta(minutes=30),
)
"""Wait before attempt n+1 after n failed ones; the last value is the cap."""
MAX_ATTEMPTS = 8
"""After this many failed attempts a delivery is ``failed``: visible, no longer retried."""
LEASE = timedelta(seconds=60)
"""A claimed row is due again after this long, should its sender die mid-send."""
RATE_WINDOW = timedelta(minutes=1)


class DeliveryStatus(StrEnum):
    PENDING = "pending"
    SENT = "sent"
    RETRYING = "retrying"
    FAILED = "failed"


def backoff(attempts: int) -> timedelta:
    """How long to wait after the ``attempts``-th failed attempt (1-based), capped."""
    return BACKOFF[min(max(attempts, 1), len(BACKOFF)) - 1]


def _item(message: Message) -> dict[str, Any]:
    return message.payload()


def _open_digest(
    session: Session, channel: str, now: datetime, reason: str, group_key: str | None
) -> Delivery | None:
    query = select(Delivery).where(
        Delivery.channel == channel,
        Delivery.status == DeliveryStatus.PENDING,
        Delivery.attempts == 0,
        Delivery.event == "digest",
        Delivery.next_attempt_at > now,
    )
    if group_key is not None:
        query = query.where(Delivery.group_key == group_key)
    for row in session.scalars(query.order_by(Delivery.id.desc())):
        if row.payload.get("digest", {}).get("reason") == reason:
            return row
    return None


def _fill_digest(row: Delivery, items: list[dict[str, Any]], now: datetime) -> None:
    digest = dict(row.payload["digest"])
    digest["items"] = items
    context = {
        "items": items,
        "reason": digest["reason"],
        "group_key": row.group_key,
        "max_per_minute": digest.get("max_per_minute"),
        "incident_id": row.incident_id,
    }
    message = render("digest", context, now=now)
    row.title, row.body = message.title, message.body
    row.payload = {**row.payload, "message": message.payload(), "digest": digest}


def _new_row(
    channel: str,
    message: Message,
    target: dict[str, Any],
    *,
    group_key: str | None,
    incident_id: int | None,
    now: datetime,
    due: datetime,
) -> Delivery:
    return Delivery(
        channel=channel,
        event=message.event[:32],
        group_key=group_key,
        incident_id=incident_id,
        title=message.title,
        body=message.body,
        payload={"message": message.payload(), "target": target},
        status=DeliveryStatus.PENDING,
        attempts=0,
        next_attempt_at=due,
        created_at=now,
    )


def _fold(
    session: Session,
    channel: str,
    message: Message,
    target: dict[str, Any],
    *,
    reason: str,
    group_key: str | None,
    incident_id: int | None,
    now: datetime,
    due: datetime,
    max_per_minute: int | None,
) -> Delivery:
    row = _open_digest(session, channel, now, reason, group_key)
    if row is None:
        row = _new_row(
            channel,
            message,
            target,
            group_key=group_key,
            incident_id=incident_id,
            now=now,
            due=due,
        )
        row.event = "digest"
        row.payload = {**row.payload, "digest": {"reason": reason, "items": []}}
        if max_per_minute is not None:
            row.payload["digest"]["max_per_minute"] = max_per_minute
        session.add(row)
    _fill_digest(row, [*row.payload["digest"]["items"], _item(message)], now)
    session.flush()
    return row


def enqueue(
    session: Session,
    channel: str,
    message: Message,
    target: dict[str, Any],
    *,
    now: datetime,
    group_key: str | None = None,
    incident_id: int | None = None,
    max_per_minute: int | None = None,
    group_window: timedelta = RATE_WINDOW,
) -> int:
    """Queue ``message`` for ``channel``; returns the id of the row that will carry it.

    The row is a new one due now, or a digest (new or existing) due when the group window
    or the rate window ends.
    """
    common: dict[str, Any] = {"incident_id": incident_id, "now": now}
    if group_key is not None:
        first = session.scalars(
            select(Delivery)
            .where(
                Delivery.channel == channel,
                Delivery.group_key == group_key,
                Delivery.created_at >= now - group_window,
            )
            .order_by(Delivery.created_at)
            .limit(1)
        ).first()
        if first is not None:
            due = max(first.created_at + group_window, now)
            return _fold(
                session,
                channel,
                message,
                target,
                reason="group",
                group_key=group_key,
                due=due,
                max_per_minute=None,
                **common,
            ).id
    if max_per_minute is not None:
        recent = session.scalars(
            select(Delivery.created_at)
            .where(Delivery.channel == channel, Delivery.created_at >= now - RATE_WINDOW)
            .order_by(Delivery.created_at)
        ).all()
        if len(recent) >= max_per_minute:
            due = max(recent[0] + RATE_WINDOW, now)
            return _fold(
                session,
                channel,
                message,
                target,
                reason="rate",
                group_key=None,
                due=due,
                max_per_minute=max_per_minute,
                **common,
            ).id
    row = _new_row(channel, message, target, group_key=group_key, due=now, **common)
    session.add(row)
    session.flush()
    return row.id


def record_failure(
    session: Session,
    channel: str,
    message: Message,
    target: dict[str, Any],
    error: str,
    *,
    now: datetime,
    incident_id: int | None = None,
) -> int:
    """A delivery that cannot even be tried (no URL): logged as ``failed`` at once."""
    row = _new_row(
        channel, message, target, group_key=None, incident_id=incident_id, now=now, due=now
    )
    row.status, row.last_error, row.next_attempt_at = DeliveryStatus.FAILED, error, None
    session.add(row)
    session.flush()
    return row.id
