"""``breakglass serve`` starts uvicorn with the app: the status page answers over HTTP and
the API wants a token."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from breakglass.detect.alerts import AlertBook
from breakglass.detect.finding import Confidence, Finding, Severity
from breakglass.store.models import Incident

from .conftest import build_api

pytestmark = pytest.mark.e2e


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _serve(api: Any, port: int) -> subprocess.Popen[bytes]:
    url = str(api.sessions.kw["bind"].url)
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": url, "NO_COLOR": "1"}
    args = ["serve", "--plan", str(api.loaded.file), "--port", str(port)]
    server = subprocess.Popen(
        [sys.executable, "-m", "breakglass", *args],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}/status.json", timeout=2)
            return server
        except httpx.TransportError:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            assert time.monotonic() < deadline, "the server did not start in 30 s"
            time.sleep(0.2)


def test_serve_answers_over_http(tmp_path: Path) -> None:
    api = build_api(tmp_path)
    port = _free_port()
    server = _serve(api, port)
    try:
        base = f"http://127.0.0.1:{port}"
        status = httpx.get(f"{base}/status.json", timeout=2)
        assert status.status_code == 200
        assert status.json()["status"] == "operational"
        assert httpx.get(f"{base}/api/incidents", timeout=5).status_code == 401
        me = httpx.get(f"{base}/api/me", headers=api.headers("admin"), timeout=5)
        assert me.json()["person"] == "lead"
    finally:
        server.terminate()
        server.wait(timeout=10)


def test_serve_delivers_the_outbox_without_a_monitor(tmp_path: Path) -> None:
    """An event waiting in the outbox (here an alert whose monitor stopped before its relay
    ran) reaches its consumers through the server's own relay: the incident opens."""
    api = build_api(tmp_path)
    finding = Finding(
        rule="drain",
        kind="large-outflow",
        chain="mainnet",
        block_number=7,
        block_hash="0x" + "07" * 32,
        severity=Severity.CRITICAL,
        confidence=Confidence.HIGH,
        title="100 tokens left the pool",
        description="a drain",
        tx_hash="0x" + "aa" * 32,
        log_index=0,
    )
    now = datetime.now(UTC)
    with api.sessions() as session, session.begin():
        AlertBook().record(session, findings=[finding], block_time=now, now=now)
        assert session.scalar(select(func.count()).select_from(Incident)) == 0
    port = _free_port()
    server = _serve(api, port)
    try:
        deadline = time.monotonic() + 30
        incidents: list[Any] = []
        while not incidents and time.monotonic() < deadline:
            answer = httpx.get(
                f"http://127.0.0.1:{port}/api/incidents", headers=api.headers("admin"), timeout=5
            )
            incidents = answer.json() if answer.status_code == 200 else []
            time.sleep(0.2)
        assert incidents, "the server's relay did not deliver the alert to the desk"
    finally:
        server.terminate()
        server.wait(timeout=10)
