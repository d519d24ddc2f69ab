"""Engines, sessions and schema migrations.

Alembic runs from code, with its scripts found next to this file, so migrations work from an
installed wheel without an ``alembic.ini``.
"""

from __future__ import annotations

import re
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sqlalchemy import URL, Connection, Engine, create_engine, event, text
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from breakglass.errors import StoreError

if TYPE_CHECKING:
    from alembic.config import Config

__all__ = [
    "MIGRATIONS_DIR",
    "SchemaBehind",
    "current_revision",
    "downgrade",
    "make_engine",
    "require_current",
    "script_head",
    "session_factory",
    "upgrade",
]

MIGRATIONS_DIR = Path(__file__).resolve().parent / "migrations"

# Bare ``postgresql://`` would pick psycopg2, which is not installed; psycopg 3 is.
_POSTGRES_DRIVERS = {"postgres": "postgresql+psycopg", "postgresql": "postgresql+psycopg"}


def make_engine(url: str) -> Engine:
    """Create an engine for ``url``; SQLite gets foreign keys and WAL turned on.

    Raises:
        StoreError: the URL is malformed, names an unknown driver, or its SQLite directory
            cannot be created.
    """
    parsed = _parse(url)
    if parsed.get_backend_name() == "sqlite":
        _create_sqlite_dir(parsed)
    try:
        engine = create_engine(parsed)
    except (SQLAlchemyError, ImportError) as exc:
        raise StoreError(f"cannot use database {_masked(parsed)}: {exc}") from exc
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_on_connect)
    return engine


def session_factory(engine: Engine) -> sessionmaker[Session]:
    """A session factory bound to ``engine``; objects stay usable after commit."""
    return sessionmaker(engine, expire_on_commit=False)


def upgrade(url: str, revision: str = "head") -> None:
    """Migrate the database at ``url`` up to ``revision``.

    A database already at the head is left alone without importing Alembic: every command
    that opens the database calls this, and Alembic's import and script loading cost a
    break-glass ``pause`` about a third of a second.

    Raises:
        StoreError: the database is unreachable or a migration failed.
    """
    if revision == "head" and _at_head(url):
        return
    _migrate(url, lambda config: _alembic_command().upgrade(config, revision))


def downgrade(url: str, revision: str) -> None:
    """Migrate the database at ``url`` down to ``revision`` (``"base"`` drops every table).

    Raises:
        StoreError: the database is unreachable or a migration failed.
    """
    _migrate(url, lambda config: _alembic_command().downgrade(config, revision))


class SchemaBehind(StoreError):
    """The database's schema is older than this breakglass (or it has none yet)."""


def require_current(url: str) -> None:
    """Check that the database at ``url`` is at the newest schema, without migrating it.

    Short commands never change a schema behind a team's back: migrations run through
    ``breakglass db upgrade`` and the commands that start long-running services.

    Raises:
        SchemaBehind: the database has no schema yet, or an older one.
        StoreError: the database is unreachable.
    """
    if _at_head(url):
        return
    current = current_revision(url)
    head = script_head()
    where = _masked(_parse(url))
    if current is None:
        raise SchemaBehind(
            f"the database {where} has no breakglass schema yet: run 'breakglass db upgrade' "
            "(or start 'breakglass monitor' or 'breakglass serve', which create it)"
        )
    if head is not None and current != head:
        raise SchemaBehind(
            f"the database {where} is at schema revision {current}, this breakglass needs "
            f"{head}: run 'breakglass db upgrade'"
        )


def current_revision(url: str) -> str | None:
    """The migration revision the database at ``url`` is at, or None if it has none.

    Raises:
        StoreError: the database is unreachable.
    """
    from alembic.runtime.migration import MigrationContext  # noqa: PLC0415 - slow import

    with _connect(url) as connection:
        return MigrationContext.configure(connection).get_current_revision()


_REVISION = re.compile(r"^revision\b[^=]*=\s*[\"']([^\"']+)[\"']", re.MULTILINE)
_DOWN_REVISION = re.compile(r"^down_revision\b[^=]*=\s*(.+)$", re.MULTILINE)


def script_head() -> str | None:
    """The head revision of the migration scripts, read from their ``revision`` and
    ``down_revision`` lines without Alembic; None when that is not one plain answer (a
    branch, a computed value), so the caller falls back to Alembic."""
    revisions: set[str] = set()
    parents: set[str] = set()
    for path in (MIGRATIONS_DIR / "versions").glob("*.py"):
        source = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(source), _DOWN_REVISION.search(source)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        parents.update(re.findall(r"[\"']([^\"']+)[\"']", down.group(1)))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 else None


def _at_head(url: str) -> bool:
    head = script_head()
    if head is None:
        return False
    try:
        with _connect(url) as connection:
            rows = connection.execute(text("SELECT version_num FROM alembic_version")).all()
    except StoreError:
        return False  # no alembic_version table yet, or no database: Alembic says which
    return [row[0] for row in rows] == [head]


def _alembic_command() -> Any:
    from alembic import command  # noqa: PLC0415 - slow import, needed only to migrate

    return command


def _migrate(url: str, run: Callable[[Config], None]) -> None:
    from alembic.config import Config  # noqa: PLC0415 - slow import, needed only to migrate

    with _connect(url) as connection:
        if connection.dialect.name == "sqlite":
            # Batch migrations copy and drop tables; with enforcement on, that would cascade
            # deletes into referencing tables. The pragma is ignored inside a transaction.
            connection.exec_driver_sql("PRAGMA foreign_keys=OFF")
            connection.commit()
        config = Config()
        # Config values go through configparser interpolation, so a literal % must be doubled.
        config.set_main_option("script_location", str(MIGRATIONS_DIR).replace("%", "%%"))
        config.attributes["connection"] = connection
        with connection.begin():
            run(config)


@contextmanager
def _connect(url: str) -> Iterator[Connection]:
    """A connection to ``url`` on a private engine; errors become ``StoreError``."""
    engine = make_engine(url)
    try:
        with engine.connect() as connection:
            yield connection
    except SQLAlchemyError as exc:
        raise StoreError(f"database {_masked(engine.url)}: {_describe(exc, engine.url)}") from exc
    except Exception as exc:  # re-raised unless it is Alembic's
        # Alembic is imported only to migrate, so only then can its CommandError arrive.
        alembic_util = sys.modules.get("alembic.util")
        if alembic_util is None or not isinstance(exc, alembic_util.CommandError):
            raise
        raise StoreError(f"database {_masked(engine.url)}: {_describe(exc, engine.url)}") from exc
    finally:
        engine.dispose()


def _parse(url: str) -> URL:
    try:
        parsed = make_url(url)
    except ArgumentError as exc:
        # The text may hold a password, and unparsed it cannot be masked: leave it out.
        raise StoreError("malformed database URL") from exc
    driver = _POSTGRES_DRIVERS.get(parsed.drivername)
    return parsed.set(drivername=driver) if driver else parsed


def _create_sqlite_dir(url: URL) -> None:
    database = url.database or ""
    if database in ("", ":memory:") or database.startswith("file:"):
        return
    try:
        Path(database).parent.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise StoreError(f"cannot create the directory for {_masked(url)}: {exc}") from exc


def _sqlite_on_connect(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    try:
        cursor.execute("PRAGMA foreign_keys=ON")
        # WAL lets readers (the dashboard) run while the ingester writes.
        cursor.execute("PRAGMA journal_mode=WAL")
    finally:
        cursor.close()


def _masked(url: URL) -> str:
    return url.render_as_string(hide_password=True)


def _describe(exc: Exception, url: URL) -> str:
    """A one-line reason, with the password scrubbed should a driver echo it."""
    reason = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    reason = reason.strip().splitlines()[0] if reason.strip() else type(exc).__name__
    if url.password:
        reason = reason.replace(str(url.password), "***")
    return reason
