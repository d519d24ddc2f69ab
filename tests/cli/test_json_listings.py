"""Listing commands print JSON with ``--format json``, and tables never cut an id, even
piped into a narrow terminal."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import yaml
from rich.console import Console
from typer.testing import CliRunner

from breakglass import store
from breakglass.cli import drill, incident, news, notify, regulatory, respond, rules
from breakglass.cli.listing import table_with
from breakglass.detect import load_plugins, registered_rules
from breakglass.drills.library import scenario_names
from breakglass.incidents import service
from breakglass.notify import Notifier
from breakglass.plan.models import Plan
from breakglass.report.news import NewsItem, NewsStore
from breakglass.report.regime import load_regimes

PLAN_YAML = """
protocol: Acme Lending
people: {alice: {name: Alice}}
roles: {incident_lead: [alice]}
chains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:9"]}}
channels: {war-room: "json://127.0.0.1:9/hook"}
regulatory: {regimes: [gdpr]}
"""

runner = CliRunner()


def _json(app: object, *args: str) -> list[dict[str, object]]:
    result = runner.invoke(app, [*args, "--format", "json"])  # type: ignore[arg-type]
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout)
    assert isinstance(rows, list)
    return rows


@pytest.fixture
def database(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A plan file and a migrated database holding one incident and one queued message."""
    url = f"sqlite:///{tmp_path / 'bg.db'}"
    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", url)
    (tmp_path / "breakglass.yaml").write_text(PLAN_YAML)
    monkeypatch.setenv("BREAKGLASS_PLAN", str(tmp_path / "breakglass.yaml"))
    store.upgrade(url)
    engine = store.make_engine(url)
    sessions = store.session_factory(engine)
    plan = Plan.model_validate(yaml.safe_load(PLAN_YAML))
    with sessions() as session, session.begin():
        service.open_incident(
            session,
            plan,
            title="Pool drain",
            kind="exploit",
            severity="P1",
            chains=["mainnet"],
            contracts=[],
            detected_at=datetime(2026, 3, 1, tzinfo=UTC),
        )
    Notifier(plan, sessions).notify("test", {"channel": "war-room"}, channels=["war-room"])
    engine.dispose()
    return tmp_path


def test_rules_list_json_names_every_rule() -> None:
    load_plugins()
    rows = _json(rules.app, "list")
    assert {row["id"] for row in rows} == set(registered_rules())
    assert set(rows[0]) == {"id", "category", "severity", "confidence", "title"}


def test_drill_list_json() -> None:
    rows = _json(drill.app, "list")
    assert [row["name"] for row in rows] == list(scenario_names())


def test_regulatory_list_json() -> None:
    rows = _json(regulatory.app, "list")
    assert {row["id"] for row in rows} == set(load_regimes())
    assert all(row["deadlines"] for row in rows)


def test_regulatory_clocks_json(database: Path) -> None:
    plan = str(database / "breakglass.yaml")
    rows = _json(regulatory.app, "clocks", "1", "--plan", plan, "--now", "2026-03-01T06:00Z")
    assert rows, "the plan names gdpr; its clocks are listed"
    assert {row["regime"] for row in rows} == {"gdpr"}
    assert {"deadline", "due", "status", "time_left_seconds", "urgent"} <= set(rows[0])


def test_notify_log_json(database: Path) -> None:
    [row] = _json(notify.app, "log")
    assert row["channel"] == "war-room"
    assert row["status"] == "pending"
    assert row["event"] == "test"


def test_incident_list_json(database: Path) -> None:
    [row] = _json(incident.app, "list")
    assert row["id"] == 1
    assert row["title"] == "Pool drain"
    assert row["detected_at"].startswith("2026-03-01")


def test_playbook_runs_and_safe_proposals_json_when_empty(database: Path) -> None:
    assert _json(respond.playbook_app, "runs") == []
    assert _json(respond.safe_app, "list") == []


def test_news_list_json(tmp_path: Path) -> None:
    path = tmp_path / "news.json"
    saved = NewsStore(path)
    saved.add(
        NewsItem(
            key="GHSA-xxxx",
            component="openzeppelin-contracts",
            source="osv",
            title="A flaw",
            url=None,
            published=None,
            summary="",
            aliases=[],
            affects=True,
            reason="4.9.6 is in range",
            first_seen="2026-03-01T00:00:00+00:00",
        )
    )
    saved.save()
    [row] = _json(news.app, "list", "--store", str(path))
    assert row["key"] == "GHSA-xxxx"
    assert row["affects"] is True


def test_piped_tables_keep_ids_whole_in_a_narrow_terminal(cli: Any) -> None:
    load_plugins()
    result = cli("rules", "list", env={"COLUMNS": "60"})
    assert result.returncode == 0, result.stderr
    printed = {line.split()[0] for line in result.stdout.splitlines() if line.strip()}
    assert set(registered_rules()) <= printed


def test_rules_list_reads_at_80_columns(cli: Any) -> None:
    """Grouped by category, without vertical borders: the title keeps room to read, a rule
    takes two lines on average (three at most), and none is wider than the terminal."""
    load_plugins()
    result = cli("rules", "list", env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = [line for line in result.stdout.splitlines() if line.strip()]
    assert all(len(line) <= 80 for line in lines)
    rules = registered_rules()
    categories = {rule.category for rule in rules.values()}
    severities = {rule.severity.value for rule in rules.values()}
    starts = [
        i
        for i, line in enumerate(lines)
        if line.split()[0] in rules and line.split()[1:2] and line.split()[1] in severities
    ]
    assert len(starts) == len(rules)
    for here, after in zip(starts, [*starts[1:], len(lines)], strict=True):
        rows = [line for line in lines[here:after] if line.split()[0] not in categories]
        assert len(rows) <= 3, rows
    assert sum(a - h for h, a in zip(starts, [*starts[1:], len(lines)], strict=True)) <= (
        2 * len(rules) + len(categories)
    )
    assert lines[0].index("title") <= 80 - 36  # the title keeps at least 36 columns


@pytest.mark.parametrize("width", [200, 100, 60, 30])
def test_id_columns_lose_no_character_at_any_width(width: int) -> None:
    tx, sender = "0x" + "ab" * 32, "0x" + "cd" * 20
    table = table_with(("tx", "from", "note"), ids=("tx", "from"))
    table.add_row(tx, sender, "a note long enough to need wrapping in a narrow terminal")
    console = Console(width=width, file=io.StringIO(), color_system=None)
    console.print(table)
    lines = [line.split("│") for line in console.file.getvalue().splitlines() if "│" in line]
    for index, value in ((1, tx), (2, sender)):
        assert "".join(cells[index].strip() for cells in lines) == value
    if width >= 150:  # the two ids fit side by side: each stays on one line
        assert lines[0][1].strip() == tx and lines[0][2].strip() == sender
