"""EndpointPool on a real anvil chain behind fault-injecting proxies."""

from __future__ import annotations

import asyncio
import contextlib
import time

import pytest

from breakglass.chain import (
    AllEndpointsFailed,
    Endpoint,
    EndpointPool,
    Retry,
    RpcClient,
    StaleGuard,
    redact_url,
)
from breakglass.errors import ChainError

pytestmark = pytest.mark.chain

FAILOVER_MODES = ["drop", "delay", "429", "500", "garbage"]


def _pool(proxies, **kwargs):
    kwargs.setdefault("retry", Retry(attempts=2, backoff=0.01))
    # The faulty proxy (first) has the best priority, so every mode is actually exercised.
    endpoints = [Endpoint(p.url, priority=0 if i == 0 else 1) for i, p in enumerate(proxies)]
    return EndpointPool(endpoints, timeout=0.5, **kwargs)


def _score(pool, proxy):
    return pool.stats()[redact_url(proxy.url)]["score"]


@pytest.mark.parametrize("mode", FAILOVER_MODES)
def test_requests_succeed_and_faulty_endpoint_is_demoted(anvil, proxy_trio, mode):
    faulty, good1, good2 = proxy_trio
    faulty.mode = mode
    faulty.delay = 1.5

    async def run():
        pool = _pool(proxy_trio)
        try:
            for _ in range(6):
                number = await pool.request("eth_blockNumber")
                assert int(number, 16) >= 0
                blocks = await pool.batch([("eth_chainId", []), ("eth_blockNumber", [])])
                assert int(blocks[0], 16) == anvil.chain_id
            return pool.stats()
        finally:
            await pool.aclose()

    stats = asyncio.run(run())
    bad = stats[redact_url(faulty.url)]
    assert bad["failures"] >= 1
    assert bad["score"] < stats[redact_url(good1.url)]["score"]
    assert bad["score"] < stats[redact_url(good2.url)]["score"]
    assert stats[redact_url(good1.url)]["requests"] + stats[redact_url(good2.url)]["requests"] >= 12


def test_lagging_endpoint_is_stale_and_demoted(anvil, proxy_trio):
    faulty, good, _ = proxy_trio
    anvil.rpc("anvil_mine", ["0x14"])
    faulty.mode = "lag"
    faulty.lag_block = 0

    async def run():
        pool = _pool(proxy_trio, stale_guard=StaleGuard(max_lag_blocks=5))
        try:
            heads = await pool.refresh_heads()
            number = await pool.request("eth_blockNumber")
            return pool, heads, number
        finally:
            await pool.aclose()

    pool, heads, number = asyncio.run(run())
    assert heads[redact_url(faulty.url)].number == 0
    assert int(number, 16) >= 20  # served by a fresh endpoint, not the lagging first choice
    assert "blocks behind" in pool.stats()[redact_url(faulty.url)]["stale"]
    assert _score(pool, faulty) < _score(pool, good)


def test_old_head_timestamp_is_stale(anvil, proxy_trio):
    faulty = proxy_trio[0]

    async def run():
        # The chain's head is fresh by wall clock; a clock an hour ahead makes every head old.
        pool = _pool(
            proxy_trio, clock=lambda: time.time() + 3600, stale_guard=StaleGuard(max_age_seconds=60)
        )
        try:
            await pool.refresh_heads()
            return pool.stats()
        finally:
            await pool.aclose()

    stats = asyncio.run(run())
    assert "old" in stats[redact_url(faulty.url)]["stale"]


def test_quorum_head_ignores_wrong_hash(anvil, proxy_trio):
    faulty, good, _ = proxy_trio
    faulty.mode = "wrong_head"

    async def run():
        pool = _pool(proxy_trio)
        try:
            return pool, await pool.head(2)
        finally:
            await pool.aclose()

    pool, head = asyncio.run(run())
    latest = anvil.rpc("eth_getBlockByNumber", ["latest", False])
    assert head.hash == latest["hash"]
    assert _score(pool, faulty) < _score(pool, good)


def test_single_endpoint_down_then_back(anvil, proxy_trio):
    proxy = proxy_trio[0]

    async def run():
        pool = EndpointPool(
            [Endpoint(proxy.url)], timeout=0.5, retry=Retry(attempts=2, backoff=0.01)
        )
        try:
            assert int(await pool.request("eth_blockNumber"), 16) >= 0
            proxy.down()
            with pytest.raises(AllEndpointsFailed) as info:
                await pool.request("eth_blockNumber")
            proxy.up()
            assert int(await pool.request("eth_blockNumber"), 16) >= 0
            return info.value
        finally:
            await pool.aclose()

    error = asyncio.run(run())
    assert "eth_blockNumber: all endpoints failed after 2 attempts" in str(error)
    assert "secret-key" not in str(error)
    assert redact_url(proxy.url) in str(error)


@pytest.mark.parametrize("mode", ["drop", "delay", "429", "500", "garbage", "lag", "wrong_head"])
def test_bad_data_raises_only_chain_errors(anvil, proxy_trio, mode):
    proxy = proxy_trio[0]
    proxy.mode = mode
    proxy.delay = 1.0

    async def run():
        pool = EndpointPool([Endpoint(proxy.url)], timeout=0.5, retry=Retry(attempts=1))
        client = RpcClient(proxy.url, timeout=0.5)
        calls = [
            lambda: pool.request("eth_blockNumber"),
            lambda: pool.batch([("eth_blockNumber", []), ("eth_chainId", [])]),
            lambda: pool.head(1),
            pool.refresh_heads,
            lambda: client.request("eth_getBlockByNumber", ["latest", False]),
        ]
        try:
            for call in calls:
                with contextlib.suppress(ChainError):
                    await call()
        finally:
            await pool.aclose()
            await client.aclose()

    asyncio.run(run())
