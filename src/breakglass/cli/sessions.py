"""The database session a command works in: migrated, one transaction, committed on success.

Some command modules still carry their own copy of this (incident, recover, regulatory,
analyze_incident); new commands use this one.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from breakglass.settings import Settings

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

__all__ = ["migrated_session"]


@contextmanager
def migrated_session() -> Iterator[Session]:
    """One migrated database session in one transaction, committed on success."""
    from breakglass import store  # noqa: PLC0415 - SQLAlchemy is slow to import

    url = Settings().resolved_database_url()
    store.upgrade(url)
    engine = store.make_engine(url)
    try:
        with store.session_factory(engine).begin() as session:
            yield session
    finally:
        engine.dispose()
