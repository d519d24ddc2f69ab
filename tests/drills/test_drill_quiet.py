"""A drill never speaks on the team's real channels: run with a plan whose war-room and
pages reach a live receiver, the drill pauses the vault and the receiver hears nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from breakglass.drills.service import run_service
from breakglass.errors import DevchainError

from ..notify.loopback import Heard, webhook

pytestmark = pytest.mark.chain


@pytest.fixture
def heard() -> Iterator[Heard]:
    with webhook() as receiver:
        yield receiver


def test_drill_posts_nothing_to_real_channels_or_pages(
    tmp_path: Path, sessions: sessionmaker[Session], heard: Heard
) -> None:
    port = heard.port
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
    assert heard.bodies == []
    assert "Alice (incident_lead)" in result.report_path.read_text(encoding="utf-8")
