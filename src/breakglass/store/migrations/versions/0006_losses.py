"""Per-user losses and compensation Merkle distributions.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "distributions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("token", sa.String(length=42), nullable=False),
        sa.Column("root", sa.String(length=66), nullable=False),
        sa.Column("total", sa.String(), nullable=False),
        sa.Column("tree", sa.JSON(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_distributions_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_distributions")),
    )
    op.create_index(op.f("ix_distributions_incident_id"), "distributions", ["incident_id"])
    op.create_table(
        "user_losses",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("incident_id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("address", sa.String(length=42), nullable=False),
        sa.Column("asset", sa.String(length=42), nullable=False),
        sa.Column("amount", sa.String(), nullable=False),
        sa.Column("usd_value", sa.Float(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["incident_id"], ["incidents.id"], name=op.f("fk_user_losses_incident_id_incidents")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_user_losses")),
        sa.UniqueConstraint(
            "incident_id", "chain", "address", "asset", name=op.f("uq_user_losses_incident_id")
        ),
    )
    op.create_index(op.f("ix_user_losses_incident_id"), "user_losses", ["incident_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_user_losses_incident_id"), table_name="user_losses")
    op.drop_table("user_losses")
    op.drop_index(op.f("ix_distributions_incident_id"), table_name="distributions")
    op.drop_table("distributions")
