"""Dashboard sessions held server-side, and an opaque public id per incident.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-05
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "web_sessions",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("person", sa.String(), nullable=False),
        sa.Column("session_sha256", sa.String(length=64), nullable=False),
        sa.Column("token_id", sa.Integer(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("revoked_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(
            ["token_id"], ["api_tokens.id"], name=op.f("fk_web_sessions_token_id_api_tokens")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_web_sessions")),
        sa.UniqueConstraint("session_sha256", name=op.f("uq_web_sessions_session_sha256")),
    )
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(sa.Column("public_id", sa.String(length=32), nullable=True))
        batch.create_unique_constraint(batch.f("uq_incidents_public_id"), ["public_id"])
    # Incidents already on a status page get their opaque id now, so their links stop
    # naming the internal sequence at once.
    incidents = sa.table("incidents", sa.column("id", sa.Integer), sa.column("public_id"))
    bind = op.get_bind()
    for (incident_id,) in bind.execute(sa.select(incidents.c.id)).all():
        bind.execute(
            incidents.update()
            .where(incidents.c.id == incident_id)
            .values(public_id=secrets.token_hex(8))
        )


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_constraint(batch.f("uq_incidents_public_id"), type_="unique")
        batch.drop_column("public_id")
    op.drop_table("web_sessions")
