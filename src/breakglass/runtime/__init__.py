"""The composition root: where the stages are built and wired together, once, for the CLI,
the demo and the drills alike."""

from __future__ import annotations

from breakglass.runtime.database import database_url, open_database, transaction

__all__ = ["database_url", "open_database", "transaction"]
