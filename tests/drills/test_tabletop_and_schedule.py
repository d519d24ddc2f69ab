"""Tabletop exercises from an answers file, stored drills feeding ``drills.schedule``, the
CLI, custom templates, and the fork fallback (no chain needed)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker
from typer.testing import CliRunner

from breakglass.cli.drill import app
from breakglass.drills.library import PHASES
from breakglass.drills.report import DrillReport, NextDrill, save_drill, stored_dates_provider
from breakglass.drills.service import find_fork_url, tabletop_service
from breakglass.drills.tabletop import QUESTIONS
from breakglass.plan import load_plan
from breakglass.plan.checks import drills_schedule
from breakglass.plan.checks.base import CheckContext
from breakglass.store.models import Drill

ANSWERS = {
    "participants": ["Carol (scribe)"],
    "discovery": ["The large-outflow alert in the war room", "Page the incident lead"],
    "gathering": {"who": "Alice then Bob", "backup": "Bob"},
    "analysis": ["A fifth of the vault per block", "The drain traces"],
    "action": ["Guardian pause", "Status page and X"],
    "reflection": {"worked": "The pause", "improve": "Add a second guardian key (Bob)"},
}


@pytest.fixture
def provider_reset() -> Iterator[None]:
    yield
    drills_schedule.drill_dates_provider = None


def _answers(tmp_path: Path) -> Path:
    path = tmp_path / "answers.yaml"
    path.write_text(yaml.safe_dump(ANSWERS), encoding="utf-8")
    return path


def test_tabletop_records_every_phase(
    tmp_path: Path, sessions: sessionmaker[Session], user_plan: Path
) -> None:
    result = tabletop_service(
        "vault-drain",
        plan_path=user_plan,
        answers_path=_answers(tmp_path),
        sessions=sessions,
        output=tmp_path / "tabletop.md",
    )
    phases = result.report.phases
    assert [p["phase"] for p in phases] == list(PHASES)
    for phase in phases:
        assert len(phase["answers"]) == len(QUESTIONS[phase["phase"]])
        assert all(a["answer"] for a in phase["answers"])
        assert phase["prompts"] and phase["started_at"] <= phase["finished_at"]
    assert "Add a second guardian key (Bob)" in result.report.corrective_actions
    text = result.report_path.read_text(encoding="utf-8")
    for heading in ("## Header", "## Measurements", "## Findings", "## Next drill"):
        assert heading in text
    assert "### Reflection" in text and "Alice then Bob" in text
    assert "Carol (scribe)" in text and "Alice (incident_lead)" in text
    # The user's plan schedules vault-drain every 30 days.
    assert result.report.next.due == result.report.finished_at.date() + timedelta(days=30)
    with sessions() as session:
        row = session.scalars(select(Drill)).one()
    assert row.kind == "tabletop" and row.status == "completed"
    assert [p["phase"] for p in row.answers] == list(PHASES)


def test_tabletop_asks_what_the_file_does_not_answer(
    tmp_path: Path, sessions: sessionmaker[Session]
) -> None:
    asked: list[str] = []

    def ask(question: str) -> str:
        asked.append(question)
        return "asked"

    result = tabletop_service(
        "governance-takeover", ask=ask, sessions=sessions, output=tmp_path / "t.md"
    )
    assert len(asked) == sum(len(q) for q in QUESTIONS.values())
    assert all(a["answer"] == "asked" for p in result.report.phases for a in p["answers"])


def test_cli_tabletop_with_an_answers_file(tmp_path: Path) -> None:
    db = f"sqlite:///{(tmp_path / 'cli.db').as_posix()}"
    out = tmp_path / "cli.md"
    args = ["tabletop", "oracle-manipulation", "--answers", str(_answers(tmp_path))]
    result = CliRunner().invoke(app, [*args, "--database-url", db, "--output", str(out)])
    assert result.exit_code == 0, result.output
    assert "drill #1" in result.output and out.is_file()


def test_cli_lists_the_scenarios() -> None:
    result = CliRunner().invoke(app, ["list"])
    assert result.exit_code == 0
    assert "vault-drain" in result.output and "dependency-failure" in result.output


def test_a_custom_template_is_used(tmp_path: Path, sessions: sessionmaker[Session]) -> None:
    template = tmp_path / "mine.md.j2"
    template.write_text("{{ report.scenario }} / {{ report.kind }} / {{ report.next.due }}\n")
    result = tabletop_service(
        "admin-key-compromise",
        answers_path=_answers(tmp_path),
        sessions=sessions,
        template=template,
        output=tmp_path / "custom.md",
    )
    assert result.report_path.read_text().startswith("admin-key-compromise / tabletop / ")


def _ctx(plan: Path, today: date) -> CheckContext:
    return CheckContext(loaded=load_plan(plan), today=today)


def test_drills_schedule_uses_a_stored_drill_date(
    sessions: sessionmaker[Session], user_plan: Path, provider_reset: None
) -> None:
    check = drills_schedule.DrillSchedule()
    today = date(2026, 6, 1)
    messages = [f.message for f in check.findings(_ctx(user_plan, today))]
    assert "the 'vault-drain' drill has never been run" in messages

    drilled = datetime(2026, 5, 20, 12, tzinfo=UTC)
    report = DrillReport(
        scenario="vault-drain", title="t", summary="s", goals=[], kind="run",
        started_at=drilled, finished_at=drilled, participants=[], plan_sha256=None,
        status="contained", next=NextDrill(today, "30d", "drills.schedule"),
    )  # fmt: skip
    save_drill(sessions, report, None)
    drills_schedule.drill_dates_provider = stored_dates_provider(sessions)
    messages = [f.message for f in check.findings(_ctx(user_plan, today))]
    assert not any("vault-drain' drill" in m for m in messages), messages
    # 30 days after the stored drill it is overdue again.
    later = [f.message for f in check.findings(_ctx(user_plan, date(2026, 7, 1)))]
    assert "the 'vault-drain' drill is overdue since 2026-06-19" in later


def test_plan_only_behaviour_without_a_provider(user_plan: Path) -> None:
    assert drills_schedule.drill_dates_provider is None
    check = drills_schedule.DrillSchedule()
    messages = [f.message for f in check.findings(_ctx(user_plan, date(2026, 6, 1)))]
    assert "the 'vault-drain' drill has never been run" in messages


def test_fork_falls_back_when_the_plan_rpc_is_unreachable(user_plan: Path) -> None:
    said: list[str] = []
    assert find_fork_url(load_plan(user_plan), said.append) is None
    assert any("unreachable" in line for line in said)
