"""Every command that needs the plan finds it the same way: ``--plan/-p``, else
``$BREAKGLASS_PLAN``, else ``breakglass.yaml``; a missing plan says how to point at one."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from breakglass.cli import demo
from breakglass.cli.app import COMMANDS
from breakglass.cli.lazy import load_command
from breakglass.cli.options import PLAN_ENV

PLAN_YAML = """
protocol: Acme Lending
people: {alice: {name: Alice}}
roles: {incident_lead: [alice]}
chains: {mainnet: {chain_id: 1, rpc: ["http://127.0.0.1:9"]}}
"""

# These take the plan as their subject, an argument: `plan check PLAN` and `doctor PLAN`
# examine any file; `monitor PLAN` is how the README and the services start it.
POSITIONAL_PLAN = {"plan check", "doctor", "monitor"}


def _commands() -> Iterator[tuple[str, Any]]:
    def walk(command: Any, path: str) -> Iterator[tuple[str, Any]]:
        subcommands = getattr(command, "commands", None)
        if subcommands is None:
            yield path, command
            return
        for name, sub in subcommands.items():
            yield from walk(sub, f"{path} {name}")

    for entry in COMMANDS:
        yield from walk(load_command(entry), entry.name)


def test_every_plan_option_is_the_same() -> None:
    seen = []
    for path, command in _commands():
        plan = [p for p in command.params if "--plan" in getattr(p, "opts", [])]
        if not plan:
            continue
        (option,) = plan
        seen.append(path)
        assert set(option.opts) == {"--plan", "-p"}, path
        assert option.envvar == PLAN_ENV, path
        assert not option.required, f"{path}: --plan must default to $BREAKGLASS_PLAN or the file"
    for expected in ("notify ack", "status render", "token create", "recover compute", "pause"):
        assert expected in seen
    arguments = {
        path
        for path, command in _commands()
        if any(p.name in {"plan", "plan_file"} and "--plan" not in p.opts for p in command.params)
    }
    assert arguments == POSITIONAL_PLAN


def _run(
    cwd: Path, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    full = {**os.environ, "NO_COLOR": "1", "COLUMNS": "200", **(env or {})}
    full.setdefault("BREAKGLASS_DATABASE_URL", f"sqlite:///{cwd / 'bg.db'}")
    if env is None or PLAN_ENV not in env:
        full.pop(PLAN_ENV, None)
    return subprocess.run(
        [sys.executable, "-m", "breakglass", *args],
        capture_output=True,
        text=True,
        env=full,
        cwd=cwd,
        timeout=120,
        check=False,
    )


@pytest.mark.e2e
@pytest.mark.parametrize(
    "args",
    [
        ["notify", "ack", "1", "--as", "alice"],
        ["status", "render", "--out", "public"],
        ["token", "create", "alice"],
    ],
    ids=["notify-ack", "status-render", "token-create"],
)
def test_a_missing_plan_says_how_to_point_at_one(tmp_path: Path, args: list[str]) -> None:
    result = _run(tmp_path, *args)
    assert result.returncode == 2, result.stderr
    assert "breakglass.yaml: no such plan file" in result.stderr
    assert "--plan PLAN" in result.stderr and PLAN_ENV in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "public").exists()


@pytest.mark.e2e
def test_a_missing_plan_from_the_environment_is_named(tmp_path: Path) -> None:
    result = _run(tmp_path, "token", "create", "alice", env={PLAN_ENV: "elsewhere.yaml"})
    assert result.returncode == 2
    assert f"elsewhere.yaml: no such plan file (from {PLAN_ENV})" in result.stderr


@pytest.mark.e2e
def test_the_plan_comes_from_the_environment(tmp_path: Path) -> None:
    plan = tmp_path / "plans" / "acme.yaml"
    plan.parent.mkdir()
    plan.write_text(PLAN_YAML)
    result = _run(tmp_path, "token", "create", "alice", env={PLAN_ENV: str(plan)})
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) > 20
    result = _run(tmp_path, "status", "render", "--out", "public", env={PLAN_ENV: str(plan)})
    assert result.returncode == 0, result.stderr
    assert "Acme Lending" in (tmp_path / "public" / "index.html").read_text()


@pytest.mark.e2e
def test_plan_option_wins_over_the_environment(tmp_path: Path) -> None:
    (tmp_path / "acme.yaml").write_text(PLAN_YAML)
    env = {PLAN_ENV: str(tmp_path / "missing.yaml")}
    result = _run(tmp_path, "token", "create", "alice", "-p", "acme.yaml", env=env)
    assert result.returncode == 0, result.stderr


def test_demo_says_how_to_point_later_commands_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo._point_at(tmp_path / "demo" / "breakglass.yaml", tmp_path / "demo" / "breakglass.db")
    printed = " ".join(capsys.readouterr().out.split())
    assert f"{PLAN_ENV}={tmp_path}/demo/breakglass.yaml" in printed
    assert f"BREAKGLASS_DATABASE_URL=sqlite:///{tmp_path}/demo/breakglass.db" in printed
