"""Token units (symbol and decimals) kept once read, so figures stay in tokens offline.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "asset_units",
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("symbol", sa.String(length=32), nullable=True),
        sa.Column("decimals", sa.Integer(), nullable=True),
        sa.Column("read_at", sa.DateTime(timezone=True), nullable=False),
        sa.PrimaryKeyConstraint("chain", "address", name=op.f("pk_asset_units")),
    )


def downgrade() -> None:
    op.drop_table("asset_units")
