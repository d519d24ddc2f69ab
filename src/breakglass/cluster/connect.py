"""Connecting to NATS: one place that turns its failures into a message a person can act on."""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING

import structlog

from breakglass.errors import BreakglassError

if TYPE_CHECKING:
    from nats.aio.client import Client

__all__ = ["ClusterError", "connect", "masked"]

_log = structlog.get_logger("breakglass.cluster")


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

    async def told(exc: Exception) -> None:  # nats-py prints a traceback without it
        _log.warning("cluster.nats_error", url=masked(url), error=f"{type(exc).__name__}")

    try:
        # Reconnecting forever once connected; but the first connection gets ``timeout``
        # in all, or nats-py would keep trying it forever as well.
        return await asyncio.wait_for(
            nats.connect(
                url,
                name=name,
                connect_timeout=timeout,
                max_reconnect_attempts=-1,
                reconnect_time_wait=0.5,
                allow_reconnect=True,
                error_cb=told,
            ),
            timeout=timeout,
        )
    except (NatsError, OSError, TimeoutError) as exc:
        raise ClusterError(f"cannot reach NATS at {masked(url)}: {type(exc).__name__}") from None
