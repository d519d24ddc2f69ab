"""The README's plan commands work as written, on any day: the example plan is checked as of
the day its dates were written for, so it cannot rot with the calendar."""

from __future__ import annotations

import re
import shlex
from datetime import date
from pathlib import Path

import pytest
from typer.testing import CliRunner

import breakglass.cli.plan as plan_cli
from breakglass.cli.app import app

ROOT = Path(__file__).parents[2]
README = ROOT / "README.md"
_COMMAND = re.compile(r"^\.venv/bin/breakglass (?P<args>(?:init|plan) [^#\n]*?)\s*(?:#.*)?$")


def readme_commands() -> list[list[str]]:
    """Every `breakglass init` and `breakglass plan ...` line of the README's code blocks."""
    commands = []
    in_block = False
    for line in README.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_block = not in_block
        elif in_block and (match := _COMMAND.match(line.strip())):
            commands.append(shlex.split(match["args"]))
    return commands


@pytest.fixture
def far_future(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> date:
    """Years after the examples were written, with no stored drills to lean on."""
    day = date(2031, 6, 1)
    monkeypatch.setattr(plan_cli, "_today", lambda: day)
    monkeypatch.setenv("BREAKGLASS_DATABASE_URL", f"sqlite:///{tmp_path / 'none.db'}")
    return day


def test_the_readme_names_the_example_commands() -> None:
    commands = readme_commands()
    assert ["init", "my-protocol"] in commands
    full = [c for c in commands if "examples/plans/full.yaml" in c]
    assert full and all("--as-of" in c for c in full), full


def test_the_readme_plan_commands_work_on_any_day(
    far_future: date, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    runner = CliRunner()
    for written in readme_commands():
        # examples are read from the repository, the starter plan is written in a scratch dir
        args = [str(ROOT / a) if a.startswith("examples/") else a for a in written]
        monkeypatch.chdir(tmp_path)
        result = runner.invoke(app, args)
        assert result.exception is None or isinstance(result.exception, SystemExit), (
            args,
            result.output,
        )
        if "examples/plans/full.yaml" in " ".join(args):
            assert result.exit_code == 0, (args, result.output)
        elif args[:2] == ["plan", "check"]:  # the starter plan lists what it lacks
            assert result.exit_code in (0, 1), (args, result.output)
            assert "checks passed" in result.output
        else:
            assert result.exit_code == 0, (args, result.output)


def test_without_as_of_the_example_is_judged_as_of_today(far_future: date) -> None:
    result = CliRunner().invoke(
        app, ["plan", "check", str(ROOT / "examples" / "plans" / "full.yaml"), "--format", "json"]
    )
    assert result.exit_code == 0  # only warnings: overdue drills and stale contacts
    assert "overdue since" in result.output
    assert "last reviewed" in result.output
