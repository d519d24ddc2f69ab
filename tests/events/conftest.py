"""Event fixtures: the store tests' databases (SQLite and PostgreSQL), migrated."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from sqlalchemy.orm import Session, sessionmaker

from breakglass import store

# The store tests own the database fixtures; reuse them rather than copy them.
_spec = importlib.util.spec_from_file_location(
    "store_fixtures_events", Path(__file__).parents[1] / "store" / "conftest.py"
)
assert _spec is not None and _spec.loader is not None
_fixtures = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fixtures)
postgres_url = _fixtures.postgres_url


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def sessions(request: pytest.FixtureRequest, tmp_path: Path) -> sessionmaker[Session]:
    """A migrated, empty database on each backend."""
    if request.param == "postgres":
        url = request.getfixturevalue("postgres_url")
        store.upgrade(url)
        engine = store.make_engine(url)
        with engine.begin() as conn:
            conn.exec_driver_sql("DELETE FROM outbox")
            conn.exec_driver_sql("DELETE FROM consumed_events")
    else:
        url = f"sqlite:///{(tmp_path / 'events.db').as_posix()}"
        store.upgrade(url)
        engine = store.make_engine(url)
    request.addfinalizer(engine.dispose)
    return store.session_factory(engine)
