"""A drill never speaks on the team's real channels: run with a plan whose war-room and
pages reach a live receiver, the drill pauses the vault and the receiver hears nothing."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy.orm import Session, sessionmaker

from breakglass.drills.service import run_service
from breakglass.errors import DevchainError

pytestmark = pytest.mark.chain


@pytest.fixture
def heard() -> Iterator[tuple[int, list[bytes]]]:
    """A loopback webhook; yields its port and the bodies it received."""
    bodies: list[bytes] = []

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("Content-Length", "0"))))
            self.send_response(200)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1], bodies
    finally:
        server.shutdown()
        server.server_close()


def test_drill_posts_nothing_to_real_channels_or_pages(
    tmp_path: Path, sessions: sessionmaker[Session], heard: tuple[int, list[bytes]]
) -> None:
    port, bodies = heard
    plan = tmp_path / "breakglass.yaml"
    plan.write_text(
        f"""\
version: 1
protocol: Acme Lending
people:
  alice: {{name: Alice, page: "json://127.0.0.1:{port}/page/alice"}}
roles:
  incident_lead: {{members: [alice]}}
chains:
  mainnet: {{chain_id: 1, rpc: [{{url: "http://127.0.0.1:9"}}]}}
channels:
  war-room: "json://127.0.0.1:{port}/war-room"
  security-news: "json://127.0.0.1:{port}/news"
""",
        encoding="utf-8",
    )
    try:
        result = run_service(
            "vault-drain", plan_path=plan, sessions=sessions, output=tmp_path / "report.md"
        )
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test: {exc}", pytrace=False)

    assert result.report.measurements["contained"] is True
    assert bodies == []
    assert "Alice (incident_lead)" in result.report_path.read_text(encoding="utf-8")
