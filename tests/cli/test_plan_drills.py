"""``plan check`` counts drills stored in the database as run."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from breakglass import store
from breakglass.store.models import Drill

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plans" / "full.yaml"


def _schedule(db_url: str, as_of: str) -> dict[str, object]:
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": db_url}
    result = subprocess.run(
        [sys.executable, "-m", "breakglass", "plan", "check", str(PLAN), "--as-of", as_of,
         "--format", "json"],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip
    report = json.loads(result.stdout)
    return next(c for c in report["checks"] if c["id"] == "drills.schedule")


def test_a_stored_drill_makes_an_overdue_scenario_current(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    late = "2027-06-01"  # every scenario in the example plan is overdue by then
    overdue = _schedule(url, late)
    assert overdue["status"] == "warn"
    assert "'vault-drain' drill is overdue" in str(overdue["message"])

    sessions = store.session_factory(store.make_engine(url))
    with sessions() as session, session.begin():
        session.add(
            Drill(
                scenario="vault-drain", kind="run", plan_sha256=None, participants=[],
                started_at=datetime(2027, 5, 30, tzinfo=UTC),
                finished_at=datetime(2027, 5, 30, 1, tzinfo=UTC), status="contained",
                measurements={}, findings=[], answers=[], report_path=None,
            )
        )  # fmt: skip
    after = _schedule(url, late)
    assert "vault-drain" not in str(after["message"])
