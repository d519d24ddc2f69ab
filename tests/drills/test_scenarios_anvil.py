"""Every built-in scenario, end to end on anvil (block time 1 s): the real monitor and
playbooks detect and contain the scripted attack, the report has every section and the
drill is stored."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from breakglass.cli.drill import app
from breakglass.drills.library import scenario_names
from breakglass.drills.service import run_service
from breakglass.errors import DevchainError
from breakglass.store.models import Drill

pytestmark = pytest.mark.chain

SECTIONS = (
    "## Header",
    "## Goals and scenario",
    "## Measurements",
    "## Findings",
    "## Corrective actions",
    "## Next drill",
)
DRAINS = {"vault-drain", "oracle-manipulation", "governance-takeover", "dependency-failure"}


def test_the_library_has_the_five_scenarios() -> None:
    assert set(scenario_names()) == {*DRAINS, "admin-key-compromise"}


@pytest.mark.parametrize("name", sorted(scenario_names()))
def test_scenario_is_detected_and_contained(
    name: str, tmp_path: Path, sessions: sessionmaker[Session], user_plan: Path
) -> None:
    try:
        result = run_service(
            name, plan_path=user_plan, sessions=sessions, output=tmp_path / "report.md"
        )
    except DevchainError as exc:
        pytest.fail(f"anvil is needed by this test: {exc}", pytrace=False)

    m = result.report.measurements
    assert m["alert_block"] is not None, "no alert fired"
    assert m["detect_blocks"] is not None and m["detect_blocks"] >= 0
    assert m["pause_block"] is not None, "no pause was mined"
    assert m["contained"] is True
    assert "pause:done" in m["playbook_status"]
    assert m["first_exploit_block"] is not None
    if name in DRAINS:
        assert m["saved_share"] is not None and m["saved_share"] > 0
    if name != "vault-drain":  # preparation signals: the pause lands before any outflow
        assert m["saved_share"] in (None, 1.0)

    text = result.report_path.read_text(encoding="utf-8")
    for section in SECTIONS:
        assert section in text, section
    assert "Alice (incident_lead)" in text and "Bob (pauser)" in text
    assert result.report.plan_sha256 is not None and result.report.plan_sha256 in text
    assert "detection took" in text

    with sessions() as session:
        row = session.scalars(select(Drill)).one()
    assert row.id == result.drill_id
    assert row.scenario == name and row.kind == "run" and row.status == "contained"
    assert row.measurements["pause_block"] == m["pause_block"]
    assert row.report_path == str(result.report_path)
    assert row.finished_at is not None


def test_cli_drill_run_falls_back_to_a_local_chain(tmp_path: Path, user_plan: Path) -> None:
    db = f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    out = tmp_path / "run.md"
    args = ["run", "admin-key-compromise", "--plan", str(user_plan), "--fork"]
    result = CliRunner().invoke(app, [*args, "--database-url", db, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "unreachable" in result.output and "fresh local chain" in result.output
    assert "contained" in result.output and out.is_file()
