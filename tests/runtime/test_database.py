"""Opening the database: short commands never migrate, and say what to run when the schema
is missing or behind; `db upgrade` and long-running services migrate."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import inspect

from breakglass import store
from breakglass.runtime import open_database, transaction
from breakglass.store import SchemaBehind


def _url(tmp_path: Path) -> str:
    return f"sqlite:///{(tmp_path / 'team.db').as_posix()}"


def test_a_short_command_refuses_a_database_without_a_schema(tmp_path: Path) -> None:
    expected = "no breakglass schema yet: run 'breakglass db upgrade'"
    with pytest.raises(SchemaBehind, match=expected), open_database(_url(tmp_path)):
        pass
    engine = store.make_engine(_url(tmp_path))
    try:
        assert inspect(engine).get_table_names() == []  # nothing was created behind our back
    finally:
        engine.dispose()


def test_a_schema_behind_names_both_revisions(tmp_path: Path) -> None:
    url = _url(tmp_path)
    store.upgrade(url, "0009")
    expected = r"revision 0009, this breakglass needs 0\d\d\d"
    with pytest.raises(SchemaBehind, match=expected), transaction(url):
        pass
    assert store.current_revision(url) == "0009"


def test_a_long_running_service_migrates_and_then_short_commands_work(tmp_path: Path) -> None:
    url = _url(tmp_path)
    with open_database(url, migrate=True) as sessions, sessions() as session:
        assert session.connection().dialect.name == "sqlite"
    assert store.current_revision(url) == store.db.script_head()
    with transaction(url) as session:
        assert session.in_transaction()


def test_the_cli_says_what_to_run_and_exits_2(tmp_path: Path, cli: Any) -> None:
    env = {"BREAKGLASS_DATABASE_URL": _url(tmp_path)}
    refused = cli("incident", "list", env=env)
    assert refused.returncode == 2
    assert "breakglass db upgrade" in refused.stderr
    assert "Traceback" not in refused.stderr
    upgraded = cli("db", "upgrade", env=env)
    assert upgraded.returncode == 0, upgraded.stderr
    listed = cli("incident", "list", env=env)
    assert listed.returncode == 0, listed.stderr
