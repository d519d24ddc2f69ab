"""Review of ``breakglass serve``'s relay: a dead letter there is paged, not only logged.

The monitor watches the outbox with a health check that pages the incident lead; the
server runs a relay of its own and no health check, so a dead letter it set aside (with no
monitor running) reached nobody: one ``events.dead_letter`` log line.
"""

from __future__ import annotations

import importlib.util
import os
import socket
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest
from sqlalchemy import select

from breakglass.store.models import OutboxRecord

pytestmark = pytest.mark.e2e

_spec = importlib.util.spec_from_file_location(
    "api_fixtures_review", Path(__file__).parents[1] / "api" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_api = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = _api  # its dataclasses look their module up
_spec.loader.exec_module(_api)


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def test_a_dead_letter_set_aside_by_the_servers_relay_pages_the_lead(tmp_path: Path) -> None:
    api = _api.build_api(tmp_path)
    with api.sessions() as session, session.begin():
        session.add(
            OutboxRecord(
                event_id="poison",
                kind="alert.raised",
                version=99,  # no code reads it: its next failure is its last
                payload={},
                created_at=datetime.now(UTC),
                attempts=7,
            )
        )
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
        deadline = time.monotonic() + 30
        dead = False
        while not dead and time.monotonic() < deadline:
            with api.sessions() as session:
                dead = session.scalar(select(OutboxRecord.attempts)) == 8
            time.sleep(0.2)
        assert dead, "the server's relay never tried the poison event"
        httpx.get(f"http://127.0.0.1:{port}/status.json", timeout=5)  # still serving
        time.sleep(0.5)
    finally:
        server.terminate()
        output = server.communicate(timeout=10)[0].decode(errors="replace")
    assert "events.dead_letter" in output
    assert "runtime.events_stuck" in output, "the dead letter was logged, and nobody paged"
