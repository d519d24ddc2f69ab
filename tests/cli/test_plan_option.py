"""Every command that needs the plan finds it the same way: ``--plan/-p``, else
``$BREAKGLASS_PLAN``, else ``breakglass.yaml``; a missing plan says how to point at one."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from breakglass import store
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
        path: param
        for path, command in _commands()
        for param in command.params
        if param.name in {"plan", "plan_file"} and "--plan" not in param.opts
    }
    assert set(arguments) == POSITIONAL_PLAN
    for path, param in arguments.items():
        assert param.envvar == PLAN_ENV and not param.required, path


Run = Callable[..., subprocess.CompletedProcess[str]]


@pytest.fixture
def run(cli: Run, tmp_path: Path) -> Run:
    """``breakglass ARGS`` in ``tmp_path`` on its own database; ``BREAKGLASS_PLAN`` only when
    ``plan`` names one."""

    url = f"sqlite:///{tmp_path / 'bg.db'}"
    store.upgrade(url)  # short commands never create the schema

    def run(*args: str, plan: str | None = None) -> subprocess.CompletedProcess[str]:
        env = {"BREAKGLASS_DATABASE_URL": url, PLAN_ENV: plan}
        return cli(*args, cwd=tmp_path, env=env)

    return run


@pytest.mark.parametrize(
    "args",
    [
        ["notify", "ack", "1", "--as", "alice"],
        ["status", "render", "--out", "public"],
        ["token", "create", "alice"],
    ],
    ids=["notify-ack", "status-render", "token-create"],
)
def test_a_missing_plan_says_how_to_point_at_one(tmp_path: Path, args: list[str], run: Run) -> None:
    result = run(*args)
    assert result.returncode == 2, result.stderr
    assert "breakglass.yaml: no such plan file" in result.stderr
    assert "--plan PLAN" in result.stderr and PLAN_ENV in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "public").exists()


def test_a_missing_plan_from_the_environment_is_named(tmp_path: Path, run: Run) -> None:
    result = run("token", "create", "alice", plan="elsewhere.yaml")
    assert result.returncode == 2
    assert f"elsewhere.yaml: no such plan file (from {PLAN_ENV})" in result.stderr


def test_the_plan_comes_from_the_environment(tmp_path: Path, run: Run) -> None:
    plan = tmp_path / "plans" / "acme.yaml"
    plan.parent.mkdir()
    plan.write_text(PLAN_YAML)
    result = run("token", "create", "alice", plan=str(plan))
    assert result.returncode == 0, result.stderr
    assert len(result.stdout.strip()) > 20
    result = run("status", "render", "--out", "public", plan=str(plan))
    assert result.returncode == 0, result.stderr
    assert "Acme Lending" in (tmp_path / "public" / "index.html").read_text()


def test_plan_option_wins_over_the_environment(tmp_path: Path, run: Run) -> None:
    (tmp_path / "acme.yaml").write_text(PLAN_YAML)
    missing = str(tmp_path / "missing.yaml")
    result = run("token", "create", "alice", "-p", "acme.yaml", plan=missing)
    assert result.returncode == 0, result.stderr


def test_demo_says_how_to_point_later_commands_at_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    demo._point_at(tmp_path / "demo" / "breakglass.yaml", tmp_path / "demo" / "breakglass.db")
    printed = " ".join(capsys.readouterr().out.split())
    assert f"{PLAN_ENV}={tmp_path}/demo/breakglass.yaml" in printed
    assert f"BREAKGLASS_DATABASE_URL=sqlite:///{tmp_path}/demo/breakglass.db" in printed


def test_commands_on_the_plan_itself_find_it_the_same_way(tmp_path: Path, run: Run) -> None:
    for args in (["monitor"], ["plan", "check"], ["doctor"]):
        result = run(*args)
        assert result.returncode == 2, result.stderr
        assert "breakglass.yaml: no such plan file; name the plan file or set" in result.stderr
        assert "Traceback" not in result.stderr
    (tmp_path / "acme.yaml").write_text(PLAN_YAML)
    result = run("plan", "check", "--format", "json", plan="acme.yaml")
    assert result.returncode in (0, 1), result.stderr
    assert '"protocol": "Acme Lending"' in result.stdout or "Acme Lending" in result.stdout
