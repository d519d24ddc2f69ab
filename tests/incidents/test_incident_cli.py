"""``breakglass incident …`` as a user runs it: a real process, its own database."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from breakglass import store

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
FULL = ROOT / "examples" / "plans" / "full.yaml"


def _cli(tmp_path: Path) -> Callable[..., subprocess.CompletedProcess[str]]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("BREAKGLASS_")}
    env |= {
        "COLUMNS": "200",
        "NO_COLOR": "1",
        "BREAKGLASS_DATABASE_URL": f"sqlite:///{tmp_path / 'cli.db'}",
    }
    store.upgrade(env["BREAKGLASS_DATABASE_URL"])  # short commands never create the schema

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        result = subprocess.run(
            [sys.executable, "-m", "breakglass", "incident", *args],
            capture_output=True,
            text=True,
            cwd=tmp_path,
            env=env,
            timeout=60,
            check=False,
        )
        assert "Traceback" not in result.stdout + result.stderr, result.stderr
        return result

    return run


def test_incident_end_to_end(tmp_path: Path) -> None:
    run = _cli(tmp_path)
    plan = ("--plan", str(FULL))
    assert run("list").stdout.strip() == "no incidents"
    opened = run(
        "open",
        "--title",
        "Pool drained",
        "--severity",
        "p1",
        "--kind",
        "exploit",
        "--chain",
        "mainnet",
        "--contract",
        "pool",
        "--as",
        "alice",
        *plan,
    )
    assert opened.returncode == 0, opened.stderr
    assert "opened incident #1 [P1] detected: Pool drained" in opened.stdout
    assert (
        run(
            "open",
            "--title",
            "Other",
            "--severity",
            "P2",
            "--kind",
            "oracle",
            "--chain",
            "mainnet",
            *plan,
        ).returncode
        == 0
    )

    bad = run("transition", "1", "closed", "--as", "alice")
    assert bad.returncode == 2
    assert "cannot move an incident from detected to closed; allowed: triaged, " in bad.stderr
    assert "false-positive, duplicate" in bad.stderr
    assert run("ack", "1", "--as", "alice").returncode == 0
    moved = run("transition", "1", "triaged", "--as", "alice", "--note", "confirmed")
    assert moved.returncode == 0 and "next: contained, false-positive, duplicate" in moved.stdout
    dup = run("transition", "2", "duplicate-of", "--as", "bob", "--duplicate-of", "1")
    assert dup.returncode == 0, dup.stderr
    assert run("note", "1", "attacker funded via a mixer", "--as", "erin").returncode == 0
    task = run(
        "task",
        "1",
        "Add an invariant monitor",
        "--owner",
        "incident_lead",
        "--kind",
        "detective",
        "--due",
        "2026-12-01",
    )
    assert task.returncode == 0 and "task #1 (detective) added" in task.stdout
    bad_kind = run("task", "1", "Something", "--kind", "urgent")
    assert bad_kind.returncode == 2 and "unknown task kind 'urgent'" in bad_kind.stderr
    assert "task #1 done" in run("task", "1", "--done", "1").stdout
    update = run(
        "update", "1", "investigating", "Looking into it", "Funds paused.", "--as", "dave", *plan
    )
    assert update.returncode == 0, update.stderr
    backwards = run("update", "1", "nonsense", "x", "y", "--as", "dave", *plan)
    assert backwards.returncode == 2 and "unknown public update status" in backwards.stderr

    listed = run("list", "--status", "duplicate").stdout
    assert "Other" in listed and "Pool drained" not in listed
    shown = run("show", "1")
    assert shown.returncode == 0, shown.stderr
    text = shown.stdout
    for needle in (
        "incident #1 [P1] triaged: Pool drained",
        "headline",
        "funds at risk",
        "not measured",  # nothing measured the losses yet: said so, not "n/a" nor 0
        "milestones",
        "acknowledged",
        "time to acknowledge",
        "roles",
        "incident_lead",
        "alice",
        "timeline",
        "incident triaged (confirmed",
        "attacker funded via a mixer",
        "public update posted (investigating)",
        "tasks",
        "Add an invariant monitor",
        "next update",
    ):
        assert needle in text, needle
    assert "duplicate of #1" in run("show", "2").stdout

    missing = run("show", "99")
    assert missing.returncode == 2 and "no incident #99" in missing.stderr
    reminders = run("reminders", *plan)
    assert reminders.returncode == 0 and "no public update is overdue" in reminders.stdout
