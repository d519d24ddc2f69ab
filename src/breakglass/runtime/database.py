"""Opening the database: the one place that resolves its URL, checks or migrates its schema
and makes the engine.

Short commands (``incident``, ``notify``, ``recover`` …) open it as it is and refuse a schema
that is behind with a message saying what to run; ``breakglass db upgrade``, the commands that
start long-running services (``monitor``, ``serve``, ``demo``, ``drill``, ``backfill``) and the
break-glass actions (``pause``, ``playbook run``: a schema must never stand between a team
and a pause) migrate it first.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from breakglass.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session, sessionmaker

__all__ = ["database_url", "open_database", "transaction"]


def database_url(url: str | None = None) -> str:
    """``url``, or the configured one (``BREAKGLASS_DATABASE_URL``, else SQLite under the
    breakglass home)."""
    return url or Settings().resolved_database_url()


@contextmanager
def open_database(
    url: str | None = None, *, migrate: bool = False
) -> Iterator[sessionmaker[Session]]:
    """Sessions on the database, disposed of on exit.

    Args:
        url: the database (default: :func:`database_url`).
        migrate: bring the schema up to date first (long-running services and
            ``db upgrade``); otherwise a schema that is behind is refused.

    Raises:
        SchemaBehind: ``migrate`` is false and the schema is missing or older.
        StoreError: the database is unreachable or a migration failed.
    """
    # SQLAlchemy and Alembic take a second to import; commands without a database skip it.
    from breakglass import store  # noqa: PLC0415

    resolved = database_url(url)
    if migrate:
        store.upgrade(resolved)
    else:
        store.require_current(resolved)
    engine = store.make_engine(resolved)
    try:
        yield store.session_factory(engine)
    finally:
        engine.dispose()


@contextmanager
def transaction(url: str | None = None) -> Iterator[Session]:
    """One session in one transaction on the database, committed on success."""
    with open_database(url) as sessions, sessions.begin() as session:
        yield session
