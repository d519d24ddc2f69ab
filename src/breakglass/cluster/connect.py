"""Connecting to NATS: one place that turns its failures into a message a person can act on."""

from __future__ import annotations

from typing import TYPE_CHECKING

from breakglass.errors import BreakglassError

if TYPE_CHECKING:
    from nats.aio.client import Client

__all__ = ["ClusterError", "connect", "masked"]


class ClusterError(BreakglassError):
    """The bus or a lease of scale-out mode could not be used."""


def masked(url: str) -> str:
    """``url`` without its credentials (a token or user:password may sit before the host)."""
    scheme, sep, rest = url.partition("://")
    if not sep:
        return url
    _, at, host = rest.rpartition("@")
    return f"{scheme}://{'***@' if at else ''}{host}"


async def connect(url: str, *, name: str = "breakglass", timeout: float = 3.0) -> Client:
    """A connection to the NATS server at ``url`` that keeps reconnecting once made.

    Raises:
        ClusterError: the server cannot be reached at start.
    """
    import nats  # noqa: PLC0415 - only scale-out mode needs it
    from nats.errors import Error as NatsError  # noqa: PLC0415

    try:
        return await nats.connect(
            url,
            name=name,
            connect_timeout=timeout,
            max_reconnect_attempts=-1,
            reconnect_time_wait=0.5,
            allow_reconnect=True,
        )
    except (NatsError, OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach NATS at {masked(url)}: {type(exc).__name__}") from None
