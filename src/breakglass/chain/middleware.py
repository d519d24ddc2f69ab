"""Composable pieces around a JSON-RPC call: retry with backoff, and the stale-node guard.

A handler is ``async (method, params) -> result``; a middleware wraps one handler into another,
so pieces stack in any order. Each piece validates its settings when built and raises
:class:`~breakglass.errors.ConfigError` for bad ones.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any

import structlog

from breakglass.chain.errors import AllEndpointsFailed, EndpointError
from breakglass.errors import ConfigError

__all__ = ["Handler", "Head", "Middleware", "Retry", "StaleGuard", "compose"]

Handler = Callable[[str, Sequence[Any]], Awaitable[Any]]
Middleware = Callable[[Handler], Handler]

_log = structlog.get_logger("breakglass.chain")


def compose(handler: Handler, *middleware: Middleware) -> Handler:
    """Wrap ``handler`` so the first middleware listed is the outermost."""
    for piece in reversed(middleware):
        handler = piece(handler)
    return handler


@dataclass(frozen=True)
class Retry:
    """Retry a handler that failed on every endpoint, a bounded number of times with backoff.

    Only :class:`AllEndpointsFailed` and :class:`EndpointError` that are node trouble are
    retried; the caller's answers (e.g. a revert) pass through at once.
    """

    attempts: int = 3
    backoff: float = 0.1
    max_backoff: float = 2.0
    sleep: Callable[[float], Awaitable[None]] = asyncio.sleep

    def __post_init__(self) -> None:
        if self.attempts < 1 or self.backoff < 0 or self.max_backoff < self.backoff:
            raise ConfigError(
                f"invalid retry: attempts={self.attempts} (>= 1), backoff={self.backoff} "
                f"(>= 0), max_backoff={self.max_backoff} (>= backoff)"
            )

    def delay(self, attempt: int) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (0-based)."""
        return float(min(self.max_backoff, self.backoff * 2**attempt))

    def __call__(self, handler: Handler) -> Handler:
        async def retrying(method: str, params: Sequence[Any]) -> Any:
            errors: list[EndpointError] = []
            for attempt in range(self.attempts):
                try:
                    return await handler(method, params)
                except AllEndpointsFailed as exc:
                    errors.extend(exc.errors)
                except EndpointError as exc:
                    if not _retryable(exc):
                        raise
                    errors.append(exc)
                if attempt + 1 < self.attempts:
                    wait = self.delay(attempt)
                    _log.info("chain.retry", method=method, attempt=attempt + 1, wait=wait)
                    await self.sleep(wait)
            raise AllEndpointsFailed(method, errors)

        return retrying


def _retryable(exc: EndpointError) -> bool:
    node_fault: bool = getattr(exc, "node_fault", True)
    return node_fault


@dataclass(frozen=True)
class Head:
    """The latest block an endpoint reported."""

    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True)
class StaleGuard:
    """Judge whether an endpoint's head is stale.

    Args:
        max_lag_blocks: more blocks behind the best known head than this is stale.
        max_age_seconds: a head timestamp older than this (by ``clock``, unix seconds) is
            stale; ``None`` turns the age check off.
    """

    max_lag_blocks: int = 5
    max_age_seconds: float | None = None

    def __post_init__(self) -> None:
        if self.max_lag_blocks < 0 or (
            self.max_age_seconds is not None and self.max_age_seconds <= 0
        ):
            raise ConfigError(
                f"invalid stale guard: max_lag_blocks={self.max_lag_blocks} (>= 0), "
                f"max_age_seconds={self.max_age_seconds} (> 0 or None)"
            )

    def reason(self, head: Head, *, best_number: int, now: float) -> str | None:
        """Why ``head`` is stale, or ``None`` when it is fresh."""
        lag = best_number - head.number
        if lag > self.max_lag_blocks:
            return f"{lag} blocks behind head {best_number}"
        if self.max_age_seconds is not None and now - head.timestamp > self.max_age_seconds:
            return f"head timestamp {now - head.timestamp:.0f} s old"
        return None
