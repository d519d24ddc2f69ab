"""incident_alerts keeps the facts of each alert incidents attached (from its AlertRaised),
so correlation, severity upgrades and timelines no longer read detect's alerts table.

Existing links are backfilled from the alerts table: a migration may read any table.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_FACTS = (
    "dedupe_key",
    "rule",
    "chain",
    "severity",
    "title",
    "block_number",
    "block_time",
    "tx_hash",
)


def upgrade() -> None:
    with op.batch_alter_table("incident_alerts") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(), nullable=True))
        batch.add_column(sa.Column("rule", sa.String(), nullable=True))
        batch.add_column(sa.Column("chain", sa.String(), nullable=True))
        batch.add_column(sa.Column("severity", sa.String(length=16), nullable=True))
        batch.add_column(sa.Column("title", sa.String(), nullable=True))
        batch.add_column(sa.Column("block_number", sa.BigInteger(), nullable=True))
        batch.add_column(sa.Column("block_time", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("tx_hash", sa.String(length=66), nullable=True))
        batch.add_column(sa.Column("candidate_id", sa.Integer(), nullable=True))
        batch.create_index(op.f("ix_incident_alerts_dedupe_key"), ["dedupe_key"], unique=False)
        batch.create_index(op.f("ix_incident_alerts_candidate_id"), ["candidate_id"], unique=False)
    links = sa.table(
        "incident_alerts",
        sa.column("alert_id", sa.Integer()),
        sa.column("candidate_id", sa.Integer()),
        *(sa.column(name) for name in _FACTS),
    )
    alerts = sa.table(
        "alerts",
        sa.column("id", sa.Integer()),
        sa.column("incident_candidate_id", sa.Integer()),
        *(sa.column(name) for name in _FACTS),
    )
    values = {
        name: sa.select(alerts.c[name]).where(alerts.c.id == links.c.alert_id).scalar_subquery()
        for name in _FACTS
    }
    values["candidate_id"] = (
        sa.select(alerts.c.incident_candidate_id)
        .where(alerts.c.id == links.c.alert_id)
        .scalar_subquery()
    )
    op.execute(links.update().values(**values))


def downgrade() -> None:
    with op.batch_alter_table("incident_alerts") as batch:
        batch.drop_index(op.f("ix_incident_alerts_candidate_id"))
        batch.drop_index(op.f("ix_incident_alerts_dedupe_key"))
        for name in ("candidate_id", *reversed(_FACTS)):
            batch.drop_column(name)
