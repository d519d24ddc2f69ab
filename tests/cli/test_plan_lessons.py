"""``plan check`` warns about plan changes from post-mortems that are still open."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from breakglass import store
from breakglass.incidents import add_task, open_incident, set_task_status
from breakglass.plan import load_plan

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).resolve().parents[2]
PLAN = ROOT / "examples" / "plans" / "full.yaml"


def _check(db_url: str, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "BREAKGLASS_DATABASE_URL": db_url}
    return subprocess.run(
        [sys.executable, "-m", "breakglass", "plan", "check", str(PLAN), "--as-of", "2026-11-23",
         *args],
        capture_output=True, text=True, env=env, cwd=ROOT, check=False,
    )  # fmt: skip


def test_open_lessons_warn_until_their_task_is_done(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'breakglass.db'}"
    store.upgrade(url)
    sessions = store.session_factory(store.make_engine(url))
    plan = load_plan(PLAN).plan
    with sessions() as session, session.begin():
        incident = open_incident(
            session, plan, title="Pool drained", kind="exploit", severity="P1",
            chains=["mainnet"], contracts=["pool"], detected_at=datetime(2026, 11, 1, tzinfo=UTC),
        )  # fmt: skip
        task = add_task(
            session, incident.id, "[plan:playbooks] pause the receipt token too",
            owner="pauser", due_at=None, kind="corrective", source="post-mortem", actor="alice",
        )  # fmt: skip
        task_id = task.id

    result = _check(url)
    assert result.returncode == 0, result.stderr
    assert "playbooks: open lesson from incident" in result.stderr
    assert "pause the receipt token too" in result.stderr
    assert _check(url, "--fail-on", "warning").returncode == 1
    lessons = json.loads(_check(url, "--format", "json").stdout)["open_lessons"]
    assert [(x["section"], x["task"]) for x in lessons] == [("playbooks", task_id)]

    with sessions() as session, session.begin():
        set_task_status(session, task_id, "done", actor="bob")
    result = _check(url)
    assert "open lesson" not in result.stderr


def test_no_database_no_lessons(tmp_path: Path) -> None:
    result = _check(f"sqlite:///{tmp_path / 'absent.db'}")
    assert result.returncode == 0
    assert "open lesson" not in result.stderr
    assert not (tmp_path / "absent.db").exists()
