"""Persistence: SQLAlchemy 2 models and Alembic migrations; SQLite by default, Postgres by URL."""

from __future__ import annotations

from breakglass.store.db import (
    current_revision,
    downgrade,
    make_engine,
    session_factory,
    upgrade,
)
from breakglass.store.models import Base, CanonicalBlock, Checkpoint, PlanRevision
from breakglass.store.service import (
    add_canonical_block,
    canonical_blocks,
    get_checkpoint,
    latest_plan_revision,
    record_plan_revision,
    remove_canonical_block,
    save_checkpoint,
)

__all__ = [
    "Base",
    "CanonicalBlock",
    "Checkpoint",
    "PlanRevision",
    "add_canonical_block",
    "canonical_blocks",
    "current_revision",
    "downgrade",
    "get_checkpoint",
    "latest_plan_revision",
    "make_engine",
    "record_plan_revision",
    "remove_canonical_block",
    "save_checkpoint",
    "session_factory",
    "upgrade",
]
