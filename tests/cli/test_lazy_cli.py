"""Commands load lazily: ``--help`` lists them all from the table, and the table cannot drift
from the commands it names."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
import typer

from breakglass.cli.app import COMMANDS, app
from breakglass.cli.lazy import LazyCommand, first_sentence, load_command

ROOT = Path(__file__).parents[2]
HEAVY = (
    "web3",
    "sqlalchemy",
    "alembic",
    "safe_eth",
    "eth_account",
    "fastapi",
    "reportlab",
    # not heavy, but a tenth of a second between them that version and --help need not pay
    "pydantic",
    "structlog",
)


def run(*code_or_args: str, code: bool = False) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "COLUMNS": "250", "NO_COLOR": "1"}
    argv = ["-c", code_or_args[0]] if code else ["-m", "breakglass", *code_or_args]
    return subprocess.run(
        [sys.executable, *argv],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env=env,
        timeout=60,
        check=False,
    )


def test_help_lists_every_command_with_its_summary() -> None:
    result = run("--help")
    assert result.returncode == 0, result.stderr
    # Rich wraps long summaries inside the panel: compare the text with the borders removed.
    text = " ".join(" ".join(line.strip("│ ").split()) for line in result.stdout.splitlines())
    for entry in COMMANDS:
        assert f" {entry.name} {entry.summary}" in text, entry.name
    assert " version Print the breakglass version." in text


@pytest.mark.parametrize("entry", COMMANDS, ids=lambda entry: entry.name)
def test_summary_is_the_first_sentence_of_the_real_help(entry: LazyCommand) -> None:
    command = load_command(entry)
    assert command.name == entry.name
    assert entry.summary == first_sentence(command.help)


def test_table_names_are_unique_and_do_not_shadow_eager_commands() -> None:
    names = [entry.name for entry in COMMANDS]
    assert len(names) == len(set(names))
    eager = {info.name for info in app.registered_commands}
    assert not eager & set(names)


@pytest.mark.parametrize("args", [("version",), ("--help",)], ids=" ".join)
def test_startup_imports_no_heavy_library(args: tuple[str, ...]) -> None:
    code = (
        "import sys\n"
        f"sys.argv = ['breakglass', *{args!r}]\n"
        "from breakglass.cli.app import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        f"print('LOADED', sorted({{m.split('.')[0] for m in sys.modules}} & set({HEAVY!r})))\n"
    )
    result = run(code, code=True)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout[-400:]


def test_pause_path_imports_no_safe_web3_alembic_or_eth_account() -> None:
    code = (
        "import sys\n"
        "import breakglass.cli.respond, breakglass.respond.service, breakglass.store\n"
        "print('LOADED', sorted({m.split('.')[0] for m in sys.modules} & "
        "{'safe_eth', 'web3', 'alembic', 'eth_account', 'py_ecc', 'fastapi', 'reportlab'}))\n"
    )
    result = run(code, code=True)
    assert result.returncode == 0, result.stderr
    assert "LOADED []" in result.stdout, result.stdout[-400:]


def test_a_command_imports_only_its_own_module() -> None:
    code = (
        "import sys\n"
        "sys.argv = ['breakglass', 'db', '--help']\n"
        "from breakglass.cli.app import main\n"
        "try:\n"
        "    main()\n"
        "except SystemExit:\n"
        "    pass\n"
        "print('CLI', sorted(m for m in sys.modules if m.startswith('breakglass.cli.')))\n"
    )
    result = run(code, code=True)
    assert result.returncode == 0, result.stderr
    assert "CLI ['breakglass.cli.app', 'breakglass.cli.db', 'breakglass.cli.lazy']" in result.stdout


def test_unknown_command_is_a_clear_error() -> None:
    result = run("pasue")
    assert result.returncode == 2
    assert "No such command 'pasue'" in result.stderr
    assert "Did you mean 'pause'" in result.stderr
    assert "Traceback" not in result.stderr


def test_first_sentence() -> None:
    assert first_sentence("Break glass: pause CONTRACT now. Prechecked,\n  simulated.") == (
        "Break glass: pause CONTRACT now."
    )
    assert first_sentence("One line\nwrapped here.\n\nSecond paragraph.") == (
        "One line wrapped here."
    )
    assert first_sentence(None) == ""


def test_lazy_group_builds_subcommand_groups() -> None:
    group = typer.main.get_command(app)
    ctx = typer.Context(group)
    safe = group.get_command(ctx, "safe")  # type: ignore[attr-defined]
    assert safe is not None
    assert {"sign", "list", "export", "import"} <= set(safe.commands)
