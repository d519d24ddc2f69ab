"""The dry-run fork keeps an RPC URL's key secret (finding 16 of the hardening issue): not on
anvil's command line (``ps``), not in its log, not in an error."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from breakglass.devchain import Anvil
from breakglass.errors import DevchainError
from breakglass.forkrelay import ForkRelay

KEY = "k3y0f7h3pr0v1d3r9a8b7c6d5e4f"


@pytest.fixture
def provider(anvil: Anvil) -> Iterator[str]:
    """A keyed RPC provider on loopback: ``/v3/<KEY>`` forwards to the test chain."""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
            if self.path != f"/v3/{KEY}":
                self.send_response(401)
                self.send_header("Content-Length", "0")
                self.end_headers()
                return
            reply = httpx.post(
                anvil.http_url, content=body, headers={"content-type": "application/json"}
            )
            self.send_response(reply.status_code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(reply.content)))
            self.end_headers()
            self.wfile.write(reply.content)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v3/{KEY}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(5)


def _cmdline(pid: int) -> str:
    return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode()


def test_fork_url_key_is_not_on_the_command_line_or_in_the_log(anvil: Anvil, provider: str) -> None:
    anvil.rpc("evm_mine")
    with Anvil.start(fork_url=provider) as fork:
        assert int(fork.rpc("eth_blockNumber"), 16) >= int(anvil.rpc("eth_blockNumber"), 16)
        assert fork.rpc("eth_getBalance", [anvil.accounts[0], "latest"])
        assert KEY not in _cmdline(fork.pid)
        assert "--fork-url" in _cmdline(fork.pid)
        assert KEY not in fork.log_tail(500)


@pytest.mark.chain
def test_fork_failure_names_no_key() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]
    with pytest.raises(DevchainError) as caught:
        Anvil.start(fork_url=f"http://127.0.0.1:{port}/v3/{KEY}", startup_timeout=10)
    assert KEY not in str(caught.value)


def test_fork_url_must_be_http() -> None:
    with pytest.raises(DevchainError, match="http or https") as caught:
        ForkRelay(f"file:///tmp/{KEY}")
    assert KEY not in str(caught.value)


def test_the_relay_retries_a_dropped_upstream_connection_once() -> None:
    calls: list[int] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("Content-Length", "0")))
            calls.append(1)
            if len(calls) == 1:  # a provider dropping a kept-alive connection mid-request
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            body = b'{"jsonrpc":"2.0","id":1,"result":"0x7a69"}'
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        with ForkRelay(f"http://127.0.0.1:{server.server_address[1]}/v3/{KEY}") as relay:
            reply = httpx.post(relay.url, json={"jsonrpc": "2.0", "id": 1, "method": "eth_chainId"})
    finally:
        server.shutdown()
        server.server_close()
    assert reply.status_code == 200 and reply.json()["result"] == "0x7a69"
    assert len(calls) == 2
