"""RpcClient against httpx.MockTransport: every failure class becomes a typed EndpointError."""

from __future__ import annotations

import asyncio
import logging

import httpx
import orjson
import pytest

from breakglass.chain import (
    HttpStatusError,
    MalformedResponse,
    ResponseTooLarge,
    RpcClient,
    RpcError,
    TransportError,
    redact_url,
)
from breakglass.errors import ChainError

SECRET_URL = "https://user:pw@rpc.example.com:8545/v3/SECRETKEY?apikey=SECRET2"


def _echo(result):
    def handler(request: httpx.Request) -> httpx.Response:
        body = orjson.loads(request.content)
        if isinstance(body, list):
            return httpx.Response(
                200,
                content=orjson.dumps(
                    [{"jsonrpc": "2.0", "id": b["id"], "result": result(b)} for b in reversed(body)]
                ),
            )
        return httpx.Response(
            200, content=orjson.dumps({"jsonrpc": "2.0", "id": body["id"], "result": result(body)})
        )

    return handler


def _call(handler, coro_fn, **kwargs):
    async def run():
        async with RpcClient(SECRET_URL, transport=httpx.MockTransport(handler), **kwargs) as c:
            return await coro_fn(c)

    return asyncio.run(run())


def test_redact_url_hides_path_query_and_userinfo():
    assert redact_url(SECRET_URL) == "https://rpc.example.com:8545/…"
    assert redact_url("http://127.0.0.1:8545") == "http://127.0.0.1:8545"
    assert redact_url("http://127.0.0.1:8545/") == "http://127.0.0.1:8545"


def test_request_returns_result():
    assert _call(_echo(lambda b: b["method"]), lambda c: c.request("eth_chainId")) == "eth_chainId"


def test_batch_returns_results_in_call_order():
    calls = [("a", [1]), ("b", [2]), ("c", [3])]
    got = _call(_echo(lambda b: b["params"][0]), lambda c: c.batch(calls))
    assert got == [1, 2, 3]


def test_empty_batch_sends_nothing():
    assert _call(lambda r: pytest.fail("sent"), lambda c: c.batch([])) == []


@pytest.mark.parametrize("status", [429, 500, 502, 503])
def test_http_status_rejected(status):
    with pytest.raises(HttpStatusError) as info:
        _call(lambda r: httpx.Response(status, text="busy"), lambda c: c.request("eth_blockNumber"))
    assert info.value.status == status
    assert info.value.method == "eth_blockNumber"


def test_error_envelope_is_typed():
    def handler(request):
        rid = orjson.loads(request.content)["id"]
        err = {"code": 3, "message": "execution reverted", "data": "0x08c379a0"}
        return httpx.Response(
            200, content=orjson.dumps({"jsonrpc": "2.0", "id": rid, "error": err})
        )

    with pytest.raises(RpcError) as info:
        _call(handler, lambda c: c.request("eth_call", [{}]))
    assert (info.value.code, info.value.message, info.value.data) == (
        3,
        "execution reverted",
        "0x08c379a0",
    )
    assert not info.value.node_fault


@pytest.mark.parametrize(
    ("code", "message", "node_fault"),
    [
        (-32603, "internal error", True),
        (-32005, "limit exceeded", True),
        (-32005, "query returned more than 10000 results", False),
        (-32000, "exceed maximum block range: 5000", False),
        (-32000, "header not found", True),
        (-32000, "execution reverted", False),
        (-32000, "nonce too low", False),
        (-32602, "invalid params", False),
        (3, "execution reverted: paused", False),
    ],
)
def test_node_fault_classification(code, message, node_fault):
    assert RpcError(code, message, endpoint="e", method="m").node_fault is node_fault


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"",
        b"[1, 2]",
        b'"text"',
        b'{"jsonrpc": "2.0", "id": 1}',
        b'{"jsonrpc": "2.0", "id": 999, "result": "0x1"}',
        b'{"jsonrpc": "2.0", "id": 1, "error": "boom"}',
        b'{"jsonrpc": "2.0", "id": 1, "error": {"code": "x", "message": 1}}',
        b"\xff\xfe\x00",
    ],
)
def test_malformed_answers_rejected(body):
    with pytest.raises(MalformedResponse):
        _call(lambda r: httpx.Response(200, content=body), lambda c: c.request("eth_blockNumber"))


def test_batch_missing_id_rejected():
    def handler(request):
        body = orjson.loads(request.content)
        return httpx.Response(
            200, content=orjson.dumps([{"jsonrpc": "2.0", "id": body[0]["id"], "result": 1}])
        )

    with pytest.raises(MalformedResponse, match="misses 1 of 2"):
        _call(handler, lambda c: c.batch([("a", []), ("b", [])]))


@pytest.mark.parametrize("body", [b'{"x": 1}', b"[1]", b'[{"id": true, "result": 1}]'])
def test_batch_malformed_rejected(body):
    with pytest.raises(MalformedResponse):
        _call(lambda r: httpx.Response(200, content=body), lambda c: c.batch([("a", [])]))


def test_batch_item_error_raises_rpc_error():
    def handler(request):
        body = orjson.loads(request.content)
        return httpx.Response(
            200,
            content=orjson.dumps(
                [
                    {"jsonrpc": "2.0", "id": body[0]["id"], "result": 1},
                    {
                        "jsonrpc": "2.0",
                        "id": body[1]["id"],
                        "error": {"code": -32000, "message": "header not found"},
                    },
                ]
            ),
        )

    with pytest.raises(RpcError) as info:
        _call(handler, lambda c: c.batch([("a", []), ("b", [])]))
    assert info.value.method == "b"


def test_oversized_by_content_length_rejected():
    big = b'{"jsonrpc": "2.0", "id": 1, "result": "' + b"a" * 2000 + b'"}'
    with pytest.raises(ResponseTooLarge, match="Content-Length"):
        _call(
            lambda r: httpx.Response(200, content=big),
            lambda c: c.request("x"),
            max_response_bytes=1000,
        )


def test_oversized_streamed_body_without_length_rejected():
    async def chunks():
        for _ in range(10):
            yield b"a" * 500

    with pytest.raises(ResponseTooLarge, match="body over cap"):
        _call(
            lambda r: httpx.Response(200, content=chunks()),
            lambda c: c.request("x"),
            max_response_bytes=1000,
        )


@pytest.mark.parametrize(
    "exc",
    [
        httpx.ConnectError("refused " + SECRET_URL),
        httpx.ReadTimeout("slow"),
        httpx.RemoteProtocolError("x"),
    ],
)
def test_transport_failures_typed_and_redacted(exc):
    def handler(request):
        raise exc

    with pytest.raises(TransportError) as info:
        _call(handler, lambda c: c.request("eth_blockNumber"))
    text = str(info.value)
    assert "SECRET" not in text and "pw" not in text
    assert "https://rpc.example.com:8545/…" in text
    assert isinstance(info.value, ChainError)


def test_secret_never_in_any_error_message():
    bodies = [b"garbage", b'{"jsonrpc":"2.0","id":1,"error":{"code":-1,"message":"m"}}']
    for body in bodies:
        with pytest.raises(ChainError) as info:
            _call(lambda r, b=body: httpx.Response(200, content=b), lambda c: c.request("x"))
        assert "SECRET" not in str(info.value)


def test_request_level_error_envelope_is_rpc_error():
    body = (
        b'{"jsonrpc": "2.0", "id": null, "error": {"code": -32600, "message": "Invalid request"}}'
    )
    with pytest.raises(RpcError) as info:
        _call(lambda r: httpx.Response(200, content=body), lambda c: c.request("x"))
    assert info.value.code == -32600


def test_httpx_request_log_does_not_show_the_key(caplog):
    with caplog.at_level(logging.INFO, logger="httpx"):
        _call(_echo(lambda b: 1), lambda c: c.request("x"))
    assert caplog.records, "httpx should log the request"
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "SECRET" not in text
    assert "rpc.example.com" in text
