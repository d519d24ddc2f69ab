"""EndpointPool, Health and the middleware pieces on httpx.MockTransport with a hand clock."""

from __future__ import annotations

import asyncio

import httpx
import orjson
import pytest

from breakglass.chain import (
    AllEndpointsFailed,
    Endpoint,
    EndpointPool,
    QuorumNotReached,
    Retry,
    RpcError,
    StaleGuard,
)
from breakglass.errors import ChainError, ConfigError

HASH_A = "0x" + "a" * 64
HASH_B = "0x" + "b" * 64


class Clock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


async def _no_sleep(_seconds: float) -> None:
    return None


def _ok(rid, result):
    return httpx.Response(
        200, content=orjson.dumps({"jsonrpc": "2.0", "id": rid, "result": result})
    )


def _block(number, block_hash=HASH_A, ts=1_000_000):
    return {"number": hex(number), "hash": block_hash, "timestamp": hex(ts)}


class Net:
    """A fake network: host -> behaviour; records which host served each call."""

    def __init__(self) -> None:
        self.modes: dict[str, str] = {}
        self.blocks: dict[str, dict] = {}
        self.by_number: dict[tuple[str, str], dict] = {}
        self.served: list[str] = []

    def handler(self, request: httpx.Request) -> httpx.Response:
        host = request.url.host.split(".")[0]
        mode = self.modes.get(host, "ok")
        self.served.append(host)
        body = orjson.loads(request.content)
        if mode == "down":
            raise httpx.ConnectError("refused")
        if mode == "timeout":
            raise httpx.ReadTimeout("slow")
        if mode == "429":
            return httpx.Response(429)
        if mode == "500":
            return httpx.Response(500)
        if mode == "garbage":
            return httpx.Response(200, content=b"<html>")
        if mode == "huge":
            return httpx.Response(200, content=b"x" * 5000)
        if mode == "node_error":
            err = {"code": -32603, "message": "internal error"}
            return httpx.Response(
                200, content=orjson.dumps({"jsonrpc": "2.0", "id": body["id"], "error": err})
            )
        if mode == "revert":
            err = {"code": 3, "message": "execution reverted"}
            return httpx.Response(
                200, content=orjson.dumps({"jsonrpc": "2.0", "id": body["id"], "error": err})
            )
        if isinstance(body, list):
            return httpx.Response(
                200,
                content=orjson.dumps(
                    [{"jsonrpc": "2.0", "id": b["id"], "result": host} for b in body]
                ),
            )
        if body["method"] == "eth_getBlockByNumber":
            tag = body["params"][0]
            if (host, tag) in self.by_number:
                return _ok(body["id"], self.by_number[host, tag])
            return _ok(body["id"], self.blocks.get(host, _block(100)))
        return _ok(body["id"], host)


def _pool(net, clock=None, hosts=("a", "b", "c"), **kwargs):
    kwargs.setdefault("retry", Retry(attempts=2, sleep=_no_sleep))
    return EndpointPool(
        [Endpoint(f"http://{h}.test/key-{h}", priority=i) for i, h in enumerate(hosts)],
        transport=httpx.MockTransport(net.handler),
        clock=clock or Clock(),
        max_response_bytes=1000,
        **kwargs,
    )


def _run(coro):
    return asyncio.run(coro)


def test_prefers_priority_order():
    net = Net()
    pool = _pool(net)
    assert _run(pool.request("web3_clientVersion")) == "a"
    assert pool.stats()["http://a.test/…"]["requests"] == 1


@pytest.mark.parametrize("mode", ["down", "timeout", "429", "500", "garbage", "huge", "node_error"])
def test_fails_over_and_demotes(mode):
    net = Net()
    net.modes["a"] = mode
    pool = _pool(net)
    for _ in range(5):
        assert _run(pool.request("web3_clientVersion")) == "b"
    stats = pool.stats()
    assert stats["http://a.test/…"]["score"] < stats["http://b.test/…"]["score"]
    assert stats["http://a.test/…"]["failures"] == 1  # demoted after one failure: not retried
    assert stats["http://a.test/…"]["last_error"] is not None


def test_caller_error_is_not_failover():
    net = Net()
    net.modes.update(a="revert", b="revert")
    pool = _pool(net)
    with pytest.raises(RpcError, match="execution reverted"):
        _run(pool.request("eth_call"))
    # A second endpoint confirms the revert before it counts as the caller's answer.
    assert net.served == ["a", "b"]
    assert pool.stats()["http://a.test/…"]["failures"] == 0
    assert pool.stats()["http://b.test/…"]["failures"] == 0


def test_all_down_raises_all_endpoints_failed_with_bounded_attempts():
    net = Net()
    net.modes.update(a="down", b="500", c="garbage")
    sleeps = []

    async def sleep(s):
        sleeps.append(s)

    pool = _pool(net, retry=Retry(attempts=3, backoff=0.1, sleep=sleep))
    with pytest.raises(AllEndpointsFailed) as info:
        _run(pool.request("eth_blockNumber"))
    assert len(info.value.errors) == 9
    assert len(net.served) == 9
    assert sleeps == [0.1, 0.2]
    assert "key-" not in str(info.value)


def test_score_recovers_with_time_and_endpoint_returns():
    net = Net()
    clock = Clock()
    net.modes["a"] = "down"
    pool = _pool(net, clock=clock)
    assert _run(pool.request("x")) == "b"
    net.modes["a"] = "ok"
    assert _run(pool.request("x")) == "b"  # still demoted
    clock.now += 120
    assert _run(pool.request("x")) == "a"


def test_batch_fails_over():
    net = Net()
    net.modes["a"] = "500"
    pool = _pool(net)
    assert _run(pool.batch([("x", []), ("y", [])])) == ["b", "b"]


def test_stale_guard_lag_demotes():
    net = Net()
    net.blocks["a"] = _block(90)
    pool = _pool(net, stale_guard=StaleGuard(max_lag_blocks=5))
    heads = _run(pool.refresh_heads())
    assert heads["http://a.test/…"].number == 90
    stats = pool.stats()
    assert "10 blocks behind" in stats["http://a.test/…"]["stale"]
    assert stats["http://a.test/…"]["score"] < stats["http://b.test/…"]["score"]
    assert _run(pool.request("x")) == "b"
    net.blocks["a"] = _block(100)
    _run(pool.refresh_heads())
    assert pool.stats()["http://a.test/…"]["stale"] is None


def test_stale_guard_age_demotes():
    net = Net()
    clock = Clock(now=1_000_000 + 30)
    net.blocks["a"] = _block(100, ts=1_000_000 - 600)
    pool = _pool(net, clock=clock, stale_guard=StaleGuard(max_age_seconds=60))
    _run(pool.refresh_heads())
    assert "old" in pool.stats()["http://a.test/…"]["stale"]
    assert pool.stats()["http://b.test/…"]["stale"] is None


def test_quorum_head_agrees_and_punishes_dissenter():
    net = Net()
    net.blocks["a"] = _block(100, HASH_B)
    pool = _pool(net)
    head = _run(pool.head(2))
    assert (head.number, head.hash) == (100, HASH_A)
    stats = pool.stats()
    assert stats["http://a.test/…"]["score"] < stats["http://b.test/…"]["score"]


def test_quorum_not_reached():
    net = Net()
    net.blocks.update(a=_block(100, HASH_B), b=_block(100, HASH_A))
    net.modes["c"] = "down"
    pool = _pool(net)
    with pytest.raises(QuorumNotReached):
        _run(pool.head(2))
    with pytest.raises(ConfigError):
        _run(pool.head(4))


@pytest.mark.parametrize(
    "block",
    [
        None,
        [],
        {"number": "0x1"},
        {"number": "zz", "hash": HASH_A, "timestamp": "0x1"},
        {"number": "0x1", "hash": 5, "timestamp": "0x1"},
    ],
)
def test_bad_head_data_is_chain_error_only(block):
    net = Net()
    net.blocks.update(a=block, b=block, c=block)
    pool = _pool(net)
    heads = _run(pool.refresh_heads())
    assert all(h is None for h in heads.values())
    with pytest.raises(ChainError):
        _run(pool.head(1))


def test_same_host_endpoints_get_distinct_names():
    pool = EndpointPool([Endpoint("https://p.test/k1"), Endpoint("https://p.test/k2")])
    assert list(pool.stats()) == ["https://p.test/…", "https://p.test/…#2"]


def test_extra_middleware_wraps_pool_requests():
    net = Net()
    calls = []

    def count(handler):
        async def wrapped(method, params):
            calls.append(method)
            return await handler(method, params)

        return wrapped

    pool = _pool(net, middleware=[count])
    _run(pool.request("web3_clientVersion"))
    assert calls == ["web3_clientVersion"]


@pytest.mark.parametrize("a_at_100", [HASH_A, HASH_B])
def test_quorum_across_heights_votes_on_common_block(a_at_100):
    net = Net()
    net.blocks.update(a=_block(101, HASH_B), b=_block(100, HASH_A))
    net.by_number["a", hex(100)] = _block(100, a_at_100)
    net.modes["c"] = "down"
    pool = _pool(net)
    if a_at_100 != HASH_A:
        with pytest.raises(QuorumNotReached):
            _run(pool.head(2))
        return
    head = _run(pool.head(2))
    assert (head.number, head.hash) == (100, HASH_A)
    assert pool.stats()["http://a.test/…"]["head"] == 101  # its own latest is remembered


def test_reprs_do_not_show_keys():
    pool = EndpointPool([Endpoint("https://p.test/v3/SECRET")])
    assert "SECRET" not in repr(pool)
    assert "https://p.test/…" in repr(pool)
