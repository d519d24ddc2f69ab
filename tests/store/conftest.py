"""Database fixtures: a SQLite file per test, a throwaway PostgreSQL database per module.

PostgreSQL is required, not optional: when it cannot be reached the tests fail with a message
saying so, because a silent skip would hide a backend that never ran.
"""

from __future__ import annotations

import os
import secrets
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql
from sqlalchemy import URL, delete
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from breakglass import store

DEFAULT_POSTGRES_URL = "postgresql://127.0.0.1:5432/test"


def _server_url() -> URL:
    url = make_url(os.environ.get("BREAKGLASS_TEST_POSTGRES_URL", DEFAULT_POSTGRES_URL))
    # psycopg wants a libpq URI, which has no "+driver" part.
    return url.set(drivername="postgresql")


def _admin_connection(server: URL) -> psycopg.Connection[tuple[object, ...]]:
    try:
        return psycopg.connect(
            server.render_as_string(hide_password=False), autocommit=True, connect_timeout=5
        )
    except psycopg.Error as exc:
        error = exc
    # Failing outside the except block keeps psycopg's traceback out of the report.
    pytest.fail(
        f"PostgreSQL at {server.render_as_string(hide_password=True)} is unreachable: {error}\n"
        "Start it, or point BREAKGLASS_TEST_POSTGRES_URL at a server where this user may "
        "CREATE DATABASE.",
        pytrace=False,
    )


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """URL of a fresh PostgreSQL database, dropped when the module's tests are done."""
    server = _server_url()
    name = f"bg_test_{secrets.token_hex(6)}"
    with _admin_connection(server) as admin:
        admin.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    try:
        yield server.set(database=name).render_as_string(hide_password=False)
    finally:
        with _admin_connection(server) as admin:
            # FORCE ends any connection a failing test left open.
            admin.execute(sql.SQL("DROP DATABASE {} WITH (FORCE)").format(sql.Identifier(name)))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """An empty database on each backend: SQLite in tmp_path, or the module's Postgres one."""
    if request.param == "sqlite":
        return f"sqlite:///{(tmp_path / 'state' / 'breakglass.db').as_posix()}"
    url: str = request.getfixturevalue("postgres_url")
    return url


@pytest.fixture
def session(database_url: str) -> Iterator[Session]:
    """A session on a migrated database; every row is deleted afterwards.

    The Postgres database is shared by a module, so rows must not leak between tests.
    """
    store.upgrade(database_url)
    engine = store.make_engine(database_url)
    factory = store.session_factory(engine)
    try:
        with factory() as db_session:
            yield db_session
        with factory.begin() as cleanup:
            for table in reversed(store.Base.metadata.sorted_tables):
                cleanup.execute(delete(table))
    finally:
        engine.dispose()
