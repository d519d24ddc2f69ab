"""Health, the middleware pieces and their validating builders."""

from __future__ import annotations

import asyncio

import pytest

from breakglass.chain import (
    Endpoint,
    EndpointPool,
    Health,
    HealthPolicy,
    Retry,
    StaleGuard,
    compose,
)
from breakglass.errors import ConfigError


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _run(coro):
    return asyncio.run(coro)


def test_retry_delay_is_bounded_exponential():
    retry = Retry(attempts=5, backoff=0.5, max_backoff=1.5)
    assert [retry.delay(i) for i in range(4)] == [0.5, 1.0, 1.5, 1.5]


@pytest.mark.parametrize(
    "build",
    [
        lambda: EndpointPool([]),
        lambda: EndpointPool([Endpoint("http://a"), Endpoint("http://a")]),
        lambda: Retry(attempts=0),
        lambda: StaleGuard(max_lag_blocks=-1),
        lambda: HealthPolicy(penalty=2),
    ],
)
def test_builders_validate(build):
    with pytest.raises(ConfigError):
        build()


def test_health_decays_and_recovers():
    clock = Clock()
    health = Health(clock=clock)
    health.failure("transport")
    assert health.score == pytest.approx(0.5)
    assert not health.healthy
    clock.now += 30
    assert health.score == pytest.approx(1 - 0.5 / 2.718281828, rel=1e-6)
    health.success()
    assert (health.requests, health.failures, health.last_error) == (2, 1, "transport")


def test_middleware_composes_outermost_first():
    seen = []

    def tag(label):
        def middleware(handler):
            async def wrapped(method, params):
                seen.append(label)
                return await handler(method, params)

            return wrapped

        return middleware

    async def base(method, params):
        return method

    handler = compose(base, tag("outer"), tag("inner"))
    assert _run(handler("m", ())) == "m"
    assert seen == ["outer", "inner"]
