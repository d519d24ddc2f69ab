"""Notifications queued by a request are tried once after its response."""

from __future__ import annotations

from typing import TYPE_CHECKING

import structlog

if TYPE_CHECKING:
    from breakglass.notify import Notifier

__all__ = ["deliver_queued"]

_log = structlog.get_logger("breakglass.api")


async def deliver_queued(notifier: Notifier) -> None:
    """Try the queued deliveries once, after the response; the monitor's notifier loop
    retries whatever fails (and delivers them anyway when this process cannot)."""
    try:
        await notifier.deliver_due()
    except Exception:  # the rows stay queued; the failure must still be seen
        _log.exception("api.delivery_failed")
