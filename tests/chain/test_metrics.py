"""Prometheus metrics of an EndpointPool on httpx.MockTransport, in an injected registry."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest
from prometheus_client import REGISTRY as PROMETHEUS_GLOBAL_REGISTRY
from prometheus_client import CollectorRegistry, generate_latest

from breakglass.chain import METRICS_REGISTRY, Endpoint, EndpointPool, Retry
from breakglass.chain.metrics import rpc_metrics

SECRET = "SECRETKEY123"


def _handler(request: httpx.Request) -> httpx.Response:
    if request.url.host == "down.test":
        raise httpx.ConnectError(f"refused {request.url}")
    body = orjson.loads(request.content)
    if isinstance(body, list):
        answer = [{"jsonrpc": "2.0", "id": b["id"], "result": "0x1"} for b in body]
        return httpx.Response(200, content=orjson.dumps(answer))
    return httpx.Response(
        200, content=orjson.dumps({"jsonrpc": "2.0", "id": body["id"], "result": "0x1"})
    )


def _pool(registry=None, **kwargs):
    return EndpointPool(
        [
            Endpoint(f"https://down.test/v2/{SECRET}", priority=0),
            Endpoint(f"https://up.test/v2/{SECRET}?key={SECRET}", priority=1),
        ],
        transport=httpx.MockTransport(_handler),
        retry=Retry(attempts=1),
        clock=lambda: 1_000_000.0,
        registry=registry,
        **kwargs,
    )


def _sample(registry, name, labels):
    value = registry.get_sample_value(name, labels)
    return 0.0 if value is None else value


def test_requests_failures_latency_and_health_are_exported():
    registry = CollectorRegistry()
    pool = _pool(registry, chain="mainnet")

    async def run():
        try:
            await pool.request("eth_blockNumber")
            await pool.request("eth_blockNumber")
            await pool.batch([("eth_chainId", []), ("eth_blockNumber", [])])
        finally:
            await pool.aclose()

    asyncio.run(run())
    down, up = "https://down.test/…", "https://up.test/…"
    requests = "breakglass_rpc_requests_total"
    expected = [
        (requests, {"chain": "mainnet", "endpoint": up, "method": "eth_blockNumber"}, 2),
        (requests, {"chain": "mainnet", "endpoint": up, "method": "batch"}, 1),
        # Demoted after its first failure, the down endpoint is not tried again.
        (requests, {"chain": "mainnet", "endpoint": down, "method": "eth_blockNumber"}, 1),
        ("breakglass_rpc_failures_total", {"endpoint": down, "kind": "transport"}, 1),
        ("breakglass_rpc_latency_seconds_count", {"endpoint": up}, 3),
        ("breakglass_endpoint_health", {"endpoint": down}, 0.5),
        ("breakglass_endpoint_health", {"endpoint": up}, 1.0),
    ]
    for name, labels, value in expected:
        assert _sample(registry, name, labels) == value, (name, labels)

    text = generate_latest(registry).decode()
    for line in [
        'breakglass_rpc_requests_total{chain="mainnet",endpoint="https://up.test/…",'
        'method="eth_blockNumber"} 2.0',
        'breakglass_rpc_failures_total{endpoint="https://down.test/…",kind="transport"} 1.0',
        'breakglass_rpc_latency_seconds_count{endpoint="https://up.test/…"} 3.0',
        'breakglass_endpoint_health{endpoint="https://down.test/…"} 0.5',
    ]:
        assert line in text
    assert SECRET not in text
    assert "v2" not in text


def test_head_refresh_is_counted():
    registry = CollectorRegistry()
    pool = _pool(registry)
    asyncio.run(pool.refresh_heads())  # "0x1" is no block: malformed
    asyncio.run(pool.aclose())
    for endpoint, kind in [
        ("https://down.test/…", "transport"),
        ("https://up.test/…", "malformed"),
    ]:
        labels = {"chain": "", "endpoint": endpoint, "method": "eth_getBlockByNumber"}
        assert _sample(registry, "breakglass_rpc_requests_total", labels) == 1
        failures = {"endpoint": endpoint, "kind": kind}
        assert _sample(registry, "breakglass_rpc_failures_total", failures) == 1


def test_pools_share_instruments_per_registry_and_default_is_not_global():
    registry = CollectorRegistry()
    first, second = _pool(registry), _pool(registry)  # a second set of metrics would collide
    assert rpc_metrics(registry) is rpc_metrics(registry)
    assert rpc_metrics() is rpc_metrics(METRICS_REGISTRY)
    default = _pool()
    asyncio.run(default.request("eth_chainId"))
    assert b"breakglass_rpc" in generate_latest(METRICS_REGISTRY)
    assert b"breakglass_rpc" not in generate_latest(PROMETHEUS_GLOBAL_REGISTRY)
    for pool in (first, second, default):
        asyncio.run(pool.aclose())


@pytest.mark.parametrize("url", [f"https://host/v2/{SECRET}", f"wss://host/ws/{SECRET}"])
def test_endpoint_labels_never_hold_the_url(url):
    registry = CollectorRegistry()
    pool = EndpointPool([Endpoint(url)], registry=registry, retry=Retry(attempts=1), timeout=0.01)
    assert SECRET not in generate_latest(registry).decode()
    assert SECRET not in repr(pool)
