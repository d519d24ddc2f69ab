"""Errors of the notification service."""

from __future__ import annotations

from breakglass.errors import BreakglassError

__all__ = ["DeliveryError", "NotifyError"]


class NotifyError(BreakglassError):
    """A notification request that cannot be carried out (unknown channel, role or page)."""


class DeliveryError(Exception):
    """One attempt to deliver a message failed.

    ``permanent`` failures (an invalid URL) are not retried. The message never holds a
    resolved URL: callers scrub it before it is raised.
    """

    def __init__(self, message: str, *, permanent: bool = False) -> None:
        super().__init__(message)
        self.permanent = permanent
