"""One endpoint of a pool: its configuration, and the client, health and metrics it has there."""

from __future__ import annotations

import time
from collections.abc import Awaitable
from dataclasses import dataclass, field
from typing import Any

import structlog

from breakglass.chain.errors import EndpointError
from breakglass.chain.health import Health
from breakglass.chain.metrics import EndpointMetrics
from breakglass.chain.middleware import Head
from breakglass.chain.rpc import JsonRpcClient, redact_url

__all__ = ["Endpoint", "Member"]

_log = structlog.get_logger("breakglass.chain")


@dataclass(frozen=True)
class Endpoint:
    """One endpoint's configuration. ``priority``: lower is preferred; ``weight`` breaks ties."""

    url: str = field(repr=False)
    priority: int = 0
    weight: float = 1.0

    def __repr__(self) -> str:
        # The URL may hold an API key, and reprs end up in logs and tracebacks.
        return f"Endpoint({redact_url(self.url)!r}, priority={self.priority}, weight={self.weight})"


@dataclass
class Member:
    """One endpoint of a pool: its client, health and metrics, and what its head said."""

    config: Endpoint
    client: JsonRpcClient
    health: Health
    metrics: EndpointMetrics
    head: Head | None = None
    stale: str | None = None

    @property
    def name(self) -> str:
        return self.client.name

    @property
    def usable(self) -> bool:
        return self.stale is None and self.health.healthy

    def sort_key(self) -> tuple[bool, int, float, float]:
        usable = self.usable
        return (
            not usable,
            self.config.priority if usable else 0,
            -self.health.score,
            -self.config.weight,
        )

    async def timed(self, method: str, call: Awaitable[Any]) -> Any:
        start = time.perf_counter()
        try:
            return await call
        finally:
            self.metrics.request(method, time.perf_counter() - start)

    def fail(self, error: EndpointError, *, counted_request: bool = True) -> None:
        self.health.failure(error.kind, counted_request=counted_request)
        self.metrics.failure(error.kind)
        _log.warning(
            "chain.endpoint_failed",
            endpoint=self.name,
            method=error.method,
            kind=error.kind,
            detail=error.detail,
            score=round(self.health.score, 3),
        )
