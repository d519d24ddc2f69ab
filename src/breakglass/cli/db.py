"""``breakglass db``: migrate the database and show its schema revision."""

from __future__ import annotations

import typer

from breakglass.settings import Settings

__all__ = ["app"]

app = typer.Typer(help="Manage the breakglass database schema.", no_args_is_help=True)


@app.command()
def upgrade() -> None:
    """Migrate the database to the newest schema revision."""
    from breakglass import store  # noqa: PLC0415 - SQLAlchemy and Alembic take a second to import

    url = Settings().resolved_database_url()
    store.upgrade(url)
    typer.echo(f"database at revision {store.current_revision(url)}")


@app.command()
def current() -> None:
    """Show the schema revision the database is at."""
    from breakglass import store  # noqa: PLC0415 - see upgrade()

    revision = store.current_revision(Settings().resolved_database_url())
    typer.echo(revision or "database has no schema yet (run 'breakglass db upgrade')")
