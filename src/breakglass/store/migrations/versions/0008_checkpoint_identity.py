"""Checkpoints record which chain they belong to: chain id and genesis hash.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    # Nullable: rows written before this revision get their identity on the next start.
    with op.batch_alter_table("checkpoints") as batch:
        batch.add_column(sa.Column("chain_id", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("genesis_hash", sa.String(length=66), nullable=True))


def downgrade() -> None:
    # SQLite cannot drop a column in place; the batch copies the table.
    with op.batch_alter_table("checkpoints") as batch:
        batch.drop_column("genesis_hash")
        batch.drop_column("chain_id")
