"""``breakglass serve`` starts uvicorn with the app: the status page answers over HTTP and
the API wants a token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from .conftest import build_api

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_serve_answers_over_http(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    port = _free_port()
    url = str(api.sessions.kw["bind"].url)
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": url, "NO_COLOR": "1"}
    args = ["serve", "--plan", str(api.loaded.file), "--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-m", "breakglass", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        deadline = time.monotonic() + 30
        while True:
            try:
                status = httpx.get(f"{base}/status.json", timeout=2)
                break
            except httpx.TransportError:
                assert server.poll() is None, server.stdout.read() if server.stdout else ""
                assert time.monotonic() < deadline, "the server did not start in 30 s"
                time.sleep(0.2)
        assert status.status_code == 200
        assert status.json()["status"] == "operational"
        assert httpx.get(f"{base}/api/incidents", timeout=5).status_code == 401
        me = httpx.get(f"{base}/api/me", headers=api.headers("admin"), timeout=5)
        assert me.json()["person"] == "lead"
    finally:
        server.terminate()
        server.wait(timeout=10)
