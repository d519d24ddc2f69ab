"""Migrations on SQLite and PostgreSQL: round trips, schema drift, URLs and errors."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import inspect, text
from typer.testing import CliRunner

from breakglass import store
from breakglass.cli.db import app as db_app
from breakglass.errors import StoreError

TABLES = {
    "plan_revisions",
    "checkpoints",
    "canonical_blocks",
    "alerts",
    "incident_candidates",
    "playbook_runs",
    "step_runs",
    "step_events",
    "safe_proposals",
    "safe_signatures",
    "incidents",
    "incident_alerts",
    "incident_runs",
    "role_assignments",
    "timeline_events",
    "tasks",
    "affected_addresses",
    "fund_movements",
    "attacker_records",
    "public_updates",
    "deliveries",
    "pages",
    "api_tokens",
    "user_losses",
    "distributions",
    "drills",
    "postmortems",
    "web_sessions",
    "outbox",
    "side_effects",
    "consumed_events",
    "response_records",
    "asset_units",
}
HEAD = "0015"


def _tables(url: str) -> set[str]:
    engine = store.make_engine(url)
    try:
        return set(inspect(engine).get_table_names()) - {"alembic_version"}
    finally:
        engine.dispose()


def test_upgrade_downgrade_upgrade(database_url: str) -> None:
    store.downgrade(database_url, "base")
    assert store.current_revision(database_url) is None

    store.upgrade(database_url)
    assert store.current_revision(database_url) == HEAD
    assert _tables(database_url) == TABLES

    store.downgrade(database_url, "base")
    assert store.current_revision(database_url) is None
    assert _tables(database_url) == set()

    store.upgrade(database_url)
    assert store.current_revision(database_url) == HEAD
    assert _tables(database_url) == TABLES


def test_upgrade_twice_is_a_no_op(database_url: str) -> None:
    store.upgrade(database_url)
    store.upgrade(database_url)
    assert store.current_revision(database_url) == HEAD


def test_migrated_schema_matches_models(database_url: str) -> None:
    store.upgrade(database_url)
    engine = store.make_engine(database_url)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(connection, opts={"compare_type": True})
            diffs = compare_metadata(context, store.Base.metadata)
    finally:
        engine.dispose()
    assert diffs == []


def test_sqlite_gets_its_directory_foreign_keys_and_wal(tmp_path: Path) -> None:
    url = f"sqlite:///{(tmp_path / 'a' / 'b' / 'breakglass.db').as_posix()}"
    engine = store.make_engine(url)
    try:
        with engine.connect() as connection:
            assert connection.execute(text("PRAGMA foreign_keys")).scalar_one() == 1
            assert connection.execute(text("PRAGMA journal_mode")).scalar_one() == "wal"
    finally:
        engine.dispose()
    assert (tmp_path / "a" / "b" / "breakglass.db").is_file()


@pytest.mark.parametrize("scheme", ["postgresql", "postgres"])
def test_postgres_urls_use_psycopg_3(scheme: str) -> None:
    engine = store.make_engine(f"{scheme}://user@127.0.0.1:5432/db")
    assert engine.dialect.driver == "psycopg"


@pytest.mark.parametrize(
    "call",
    [store.upgrade, store.current_revision, lambda url: store.downgrade(url, "base")],
    ids=["upgrade", "current_revision", "downgrade"],
)
def test_unreachable_database_raises_store_error_without_password(call: object) -> None:
    url = "postgresql://breakglass:s3cret-pw@127.0.0.1:1/breakglass"
    with pytest.raises(StoreError) as caught:
        call(url)  # type: ignore[operator]
    message = str(caught.value)
    assert "s3cret-pw" not in message
    assert "breakglass:***@127.0.0.1:1/breakglass" in message


def test_malformed_url_is_not_echoed() -> None:
    with pytest.raises(StoreError) as caught:
        store.make_engine("not a url s3cret-pw")
    assert "s3cret-pw" not in str(caught.value)


def test_unknown_revision_raises_store_error(tmp_path: Path) -> None:
    with pytest.raises(StoreError, match="nope"):
        store.upgrade(f"sqlite:///{(tmp_path / 'x.db').as_posix()}", "nope")


def test_cli_upgrade_then_current(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("BREAKGLASS_HOME", str(tmp_path / "home"))
    monkeypatch.delenv("BREAKGLASS_DATABASE_URL", raising=False)
    runner = CliRunner()

    before = runner.invoke(db_app, ["current"])
    assert before.exit_code == 0, before.output
    assert "no schema yet" in before.output

    upgraded = runner.invoke(db_app, ["upgrade"])
    assert upgraded.exit_code == 0, upgraded.output
    assert HEAD in upgraded.output
    assert (tmp_path / "home" / "breakglass.db").is_file()

    after = runner.invoke(db_app, ["current"])
    assert after.output.strip() == HEAD
