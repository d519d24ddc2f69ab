"""The CLI as a user runs it: a real process, real files, exit codes and messages."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import orjson
import pytest

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
FULL = ROOT / "examples" / "plans" / "full.yaml"
MINIMAL = ROOT / "examples" / "plans" / "minimal.yaml"


def run(*args: str | Path, cwd: Path = ROOT) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "200", "NO_COLOR": "1"}
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *map(str, args)],
        capture_output=True,
        text=True,
        cwd=cwd,
        env=env,
        timeout=60,
        check=False,
    )


def no_traceback(result: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in result.stdout + result.stderr


def test_full_plan_passes() -> None:
    result = run("plan", "check", FULL, "--as-of", "2026-11-23")
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"0 failed, 0 warnings, \d+ checks passed", result.stdout)
    assert "Scenario coverage" in result.stdout


def test_full_plan_json() -> None:
    result = run("plan", "check", FULL, "--format", "json", "--as-of", "2026-11-23")
    assert result.returncode == 0
    report = orjson.loads(result.stdout)
    assert report["plan"]["protocol"] == "Acme Lending"
    assert {c["status"] for c in report["checks"]} == {"pass"}
    assert {"id", "status", "message", "location"} <= set(report["checks"][0])
    assert len(report["coverage"]) == 6


def test_fail_on_levels() -> None:
    as_error = run("plan", "check", MINIMAL, "--as-of", "2026-11-23")
    assert as_error.returncode == 1
    assert "roles.mitigation-owners" in as_error.stdout
    starter_like = run("plan", "check", FULL, "--as-of", "2027-06-01", "--fail-on", "warning")
    assert starter_like.returncode == 1  # contacts and drills are stale by then
    assert "contacts.freshness" in starter_like.stdout
    assert run("plan", "check", FULL, "--as-of", "2027-06-01").returncode == 0


def test_bad_plan_lists_every_problem(tmp_path: Path) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_text(
        FULL.read_text()
        .replace("signer: guardian, mode: auto, verify", "signer: guardain, mode: auto, verify", 1)
        .replace("chain_id: 1\n", "chain_id: mainnet\n", 1)
        .replace("members: [alice, bob], handles: [coordinate]", "members: [alice, bobby]", 1)
    )
    result = run("plan", "check", plan)
    assert result.returncode == 2
    no_traceback(result)
    assert "3 problems in the plan" in result.stderr
    assert "unknown signer 'guardain'; did you mean 'guardian'?" in result.stderr
    assert "chains.mainnet.chain_id" in result.stderr
    assert (
        "roles.incident_lead.members[1]: unknown person 'bobby'; did you mean 'bob'?"
        in result.stderr
    )
    as_json = run("plan", "check", plan, "--format", "json")
    assert as_json.returncode == 2
    errors = orjson.loads(as_json.stdout)["errors"]
    assert {e["path"] for e in errors} >= {"chains.mainnet.chain_id"}
    assert all(e["line"] for e in errors)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\x7fELF\x02\x01\x01\x00" + bytes(range(256)) * 4, "binary file"),
        (b"protocol: [", "invalid YAML"),
        (b"protocol: x\n\tpeople: {}\n", "invalid YAML"),
    ],
)
def test_unusable_input_exits_2(tmp_path: Path, content: bytes, message: str) -> None:
    plan = tmp_path / "plan.yaml"
    plan.write_bytes(content)
    result = run("plan", "check", plan)
    assert result.returncode == 2
    assert message in result.stderr
    no_traceback(result)


def test_fifty_megabyte_file(tmp_path: Path) -> None:
    plan = tmp_path / "huge.yaml"
    plan.write_bytes(b"protocol: x\n" + b"# padding\n" * 5_000_000)
    result = run("plan", "check", plan)
    assert result.returncode == 2
    assert "a plan file is at most 2 MiB" in result.stderr
    no_traceback(result)


def test_bad_option_value() -> None:
    result = run("plan", "check", FULL, "--as-of", "tomorrow")
    assert result.returncode == 2
    assert "not a date" in result.stderr
    no_traceback(result)


def test_init_then_check_gives_only_warnings(tmp_path: Path) -> None:
    created = run("init", tmp_path / "acme", "--protocol", "Acme")
    assert created.returncode == 0, created.stderr
    plan = tmp_path / "acme" / "breakglass.yaml"
    assert "# " in plan.read_text()  # commented for the team
    result = run("plan", "check", plan, "--format", "json")
    assert result.returncode == 0, result.stdout + result.stderr
    statuses = {c["id"]: c["status"] for c in orjson.loads(result.stdout)["checks"]}
    assert "fail" not in statuses.values()
    assert statuses["plan.placeholders"] == "warn"
    again = run("init", tmp_path / "acme")
    assert again.returncode == 2
    assert "already exists; pass --force" in again.stderr
    assert run("init", tmp_path / "acme", "--force").returncode == 0


def test_version() -> None:
    result = run("version")
    assert result.returncode == 0
    assert result.stdout.strip() == "0.1.0"
