"""End to end: ``breakglass demo`` on a real anvil, once in-process and once as a user runs it.

Needs anvil, solcjs and the npm contract builds (``npm install``); without them the demo
fails with a message saying what is missing.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
import time
import xml.etree.ElementTree as ET
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select
from typer.testing import CliRunner

from breakglass import store
from breakglass.demo import DemoResult, format_summary, run_demo
from breakglass.demo.plan import GUARDIAN_ENV
from breakglass.demo.run import plan_check
from breakglass.plan import load_plan
from breakglass.recovery.merkle import MerkleDistribution
from breakglass.store.models import Distribution

pytestmark = pytest.mark.chain

REPO = Path(__file__).resolve().parents[2]


def _cli_registered() -> bool:
    from breakglass.cli.app import app  # noqa: PLC0415

    return any(command.name == "demo" for command in app.registered_commands)


@pytest.fixture(scope="module")
def first(tmp_path_factory: pytest.TempPathFactory) -> DemoResult:
    """The demo as a function call."""
    directory = tmp_path_factory.mktemp("demo-call")
    lines: list[str] = []
    result = run_demo(directory, say=lines.append)
    assert lines, "the demo narrates what it does"
    return result


@pytest.fixture(scope="module")
def second(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, Any], float, str]:
    """The demo as a user runs it: a separate process (``python -m breakglass demo``)."""
    directory = tmp_path_factory.mktemp("demo-process")
    module = ["-m", "breakglass", "demo"] if _cli_registered() else ["-m", "breakglass.cli.demo"]
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, *module, "--dir", str(directory)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
        env={k: v for k, v in os.environ.items() if k != GUARDIAN_ENV},
        check=False,
    )
    elapsed = time.monotonic() - started
    assert done.returncode == 0, done.stdout + done.stderr
    figures = json.loads((directory / "summary.json").read_text())
    return directory, figures, elapsed, done.stdout


def test_pause_lands_before_the_attacker_finishes(first: DemoResult) -> None:
    assert first.alert_block == first.attack_block
    assert first.pause_block == first.attack_block + 1
    reverted = [tx for tx in first.attack_txs if not tx[2]]
    assert reverted or first.unsent > 0
    assert first.unsent > 0, "the attacker stops once it sees the pool paused"
    assert first.incident_id is not None


def test_funds_saved_above_the_floor(first: DemoResult) -> None:
    assert first.at_risk > 0
    assert first.saved > first.floor
    assert first.lost + first.saved == first.at_risk
    summary = "\n".join(format_summary(first))
    assert "pool paused in block" in summary
    assert "floor" not in summary  # jargon: the line says what the bar is
    assert "(the demo's bar: at least 220,000.00 dUSD saved, the pool less two drains)" in summary
    figures = first.figures()
    assert figures["token"] == {"symbol": "dUSD", "decimals": 18}
    for name in ("at_risk", "lost", "saved", "floor", "merkle_total"):
        exact = int(str(figures[name]))
        assert Decimal(str(figures[f"{name}_dusd"])) * 10**18 == exact, name
    assert figures["floor_dusd"] == "220000"


def test_plan_loads_passes_the_check_and_holds_no_secret(first: DemoResult) -> None:
    plan_file = first.paths["plan"]
    loaded = load_plan(plan_file)
    assert loaded.plan.analysis is not None and loaded.plan.analysis.positions
    passed, summary = plan_check(plan_file)
    assert passed, summary
    assert first.plan_check_passed
    key = os.environ[GUARDIAN_ENV].removeprefix("0x")
    assert f"${{{GUARDIAN_ENV}}}" in plan_file.read_text()
    for path in first.directory.rglob("*"):
        if path.is_file() and path.suffix in (".yaml", ".json", ".jsonl", ".html", ".atom"):
            assert key not in path.read_text(errors="replace"), path


def test_status_page_files_parse(first: DemoResult) -> None:
    document = json.loads(first.paths["status_json"].read_text())
    assert document
    ET.parse(first.paths["status_atom"])
    assert "paused" in first.paths["status_html"].read_text()


def test_merkle_tree_matches_the_database(first: DemoResult) -> None:
    tree = MerkleDistribution.load(json.loads(first.paths["merkle_tree"].read_text()))
    claims = json.loads(first.paths["merkle_claims"].read_text())
    assert claims
    engine = store.make_engine(f"sqlite:///{first.paths['database'].as_posix()}")
    try:
        with store.session_factory(engine)() as session:
            rows = session.scalars(select(Distribution)).all()
    finally:
        engine.dispose()
    assert [row.root for row in rows] == [tree.root_hex] == [first.merkle_root]
    assert tree.total == first.merkle_total > 0
    assert first.merkle_total <= first.lost


def test_postmortem_written_when_the_module_exists(first: DemoResult) -> None:
    try:
        import breakglass.report.postmortem  # noqa: F401, PLC0415
    except ImportError:
        assert any("post-mortem" in note for note in first.notes)
        return
    html = first.paths.get("postmortem_html")
    assert html is not None and html.stat().st_size > 0
    pdf = first.paths.get("postmortem_pdf")
    if pdf is not None:
        assert pdf.read_bytes().startswith(b"%PDF")
    else:
        assert any("pdf" in note for note in first.notes)


@pytest.mark.e2e
def test_two_runs_give_the_same_blocks_and_amounts(
    first: DemoResult, second: tuple[Path, dict[str, Any], float, str]
) -> None:
    directory, figures, _elapsed, stdout = second
    assert figures == json.loads(json.dumps(first.figures()))
    assert "Summary" in stdout and str(first.pause_block) in stdout
    for name in (
        "breakglass.yaml",
        "breakglass.db",
        "status/status.json",
        "distribution/tree.json",
    ):
        assert (directory / name).is_file(), name


def test_cli_command_through_typer(tmp_path: Path, first: DemoResult) -> None:
    """The Typer command (the main app's when registered, else the module's own)."""
    if _cli_registered():
        from breakglass.cli.app import app  # noqa: PLC0415
    else:
        from breakglass.cli.demo import app  # noqa: PLC0415
    refused = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path), "--port", "0"])
    assert refused.exit_code == 2
    assert not (tmp_path / "breakglass.yaml").exists()
    result = CliRunner().invoke(app, ["demo", "--dir", str(tmp_path / "cli")])
    assert result.exit_code == 0, result.output
    assert "funds saved" in result.output
    figures = json.loads((tmp_path / "cli" / "summary.json").read_text())
    assert figures == json.loads(json.dumps(first.figures()))


def test_postmortem_and_title_speak_in_dusd(first: DemoResult) -> None:
    html_path = first.paths.get("postmortem_html")
    assert html_path is not None
    html = html_path.read_text()
    impact = html[
        html.index('<section id="impact">') : html.index('<section id="response-actions">')
    ]
    assert re.search(r"<td>[\d,]+(\.\d\d?)? dUSD</td>", impact), impact
    assert not re.search(r"\d{19}", impact)  # no wei-sized base-unit figures
    # The monitor's alert is the incident's title: the token by its symbol, the receiver short.
    assert re.search(r"[\d,]+(\.\d\d?)? dUSD left pool to 0x[0-9a-f]{4}…[0-9a-f]{4}", html), html[
        :2000
    ]


def test_no_delivery_left_pending(first: DemoResult) -> None:
    """The demo's notifier settles what it sends before the webhook stops: a delivery the
    receiver got and the database still calls pending would be sent again by a later
    ``monitor`` on the demo's database."""
    from breakglass.store.models import Delivery  # noqa: PLC0415

    engine = store.make_engine(f"sqlite:///{first.paths['database']}")
    try:
        with store.session_factory(engine)() as session:
            states = {d.id: d.status for d in session.scalars(select(Delivery))}
    finally:
        engine.dispose()
    assert states and all(s == "sent" for s in states.values()), states
    received = first.paths["notifications"].read_text(encoding="utf-8").splitlines()
    assert len(received) == len(states)
