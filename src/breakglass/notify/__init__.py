"""Notifications: channels (Apprise URLs and signed JSON webhooks), templates, rate limits,
a delivery log with retries, and paging of roles with escalation."""

from __future__ import annotations

from breakglass.notify.errors import DeliveryError, NotifyError
from breakglass.notify.paging import PageStatus
from breakglass.notify.queue import BACKOFF, MAX_ATTEMPTS, DeliveryStatus, backoff
from breakglass.notify.render import Message, render
from breakglass.notify.service import PUBLIC_EVENTS, Notifier
from breakglass.notify.signing import (
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    sign_body,
    verify_signature,
)

__all__ = [
    "BACKOFF",
    "MAX_ATTEMPTS",
    "PUBLIC_EVENTS",
    "SIGNATURE_HEADER",
    "TIMESTAMP_HEADER",
    "DeliveryError",
    "DeliveryStatus",
    "Message",
    "Notifier",
    "NotifyError",
    "PageStatus",
    "backoff",
    "render",
    "sign_body",
    "verify_signature",
]
