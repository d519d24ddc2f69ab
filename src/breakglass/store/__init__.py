"""Persistence: SQLAlchemy 2 models and Alembic migrations; SQLite by default, Postgres by URL."""

from __future__ import annotations

from breakglass.store.db import (
    current_revision,
    downgrade,
    make_engine,
    session_factory,
    upgrade,
)
from breakglass.store.models import Base, Checkpoint, PlanRevision
from breakglass.store.service import (
    get_checkpoint,
    latest_plan_revision,
    record_plan_revision,
    save_checkpoint,
)

__all__ = [
    "Base",
    "Checkpoint",
    "PlanRevision",
    "current_revision",
    "downgrade",
    "get_checkpoint",
    "latest_plan_revision",
    "make_engine",
    "record_plan_revision",
    "save_checkpoint",
    "session_factory",
    "upgrade",
]
