"""Incidents' own record of respond's events, and the origin of each evidence row.

``response_records`` holds the ``StepPhase``/``ActionExecuted`` events incidents heard, so
their timelines and containment no longer read respond's tables. Runs stored before the
outbox existed sent no events and are not replayed: their incidents keep the timeline rows
they already had.

``incident_runs.run_id`` stops being a foreign key to ``playbook_runs``: the run is named
as respond's events named it, and the two stages' tables may live apart.

Evidence rows gain ``provenance``: ``analysis`` rows are replaced by a re-analysis, ``person``
rows are kept. Existing rows become ``person``: a re-analysis must not delete what may have
been typed by someone (at worst it keeps a stale analysed row beside the new one).

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_RUN_FK = "fk_incident_runs_run_id_playbook_runs"
_EVIDENCE = ("affected_addresses", "fund_movements", "attacker_records")


def upgrade() -> None:
    op.create_table(
        "response_records",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("event_id", sa.String(), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("parent_step_id", sa.Integer(), nullable=True),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("playbook", sa.String(), nullable=False),
        sa.Column("chain", sa.String(), nullable=True),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=True),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("verified", sa.Boolean(), nullable=True),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_response_records")),
        sa.UniqueConstraint("event_id", name=op.f("uq_response_records_event_id")),
    )
    for column in ("run_id", "step_id", "parent_step_id", "trigger"):
        op.create_index(op.f(f"ix_response_records_{column}"), "response_records", [column])
    with op.batch_alter_table("incident_runs") as batch:
        batch.drop_constraint(_RUN_FK, type_="foreignkey")
    for table in _EVIDENCE:
        with op.batch_alter_table(table) as batch:
            batch.add_column(
                sa.Column(
                    "provenance", sa.String(length=16), nullable=False, server_default="person"
                )
            )


def downgrade() -> None:
    for table in _EVIDENCE:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("provenance")
    with op.batch_alter_table("incident_runs") as batch:
        batch.create_foreign_key(_RUN_FK, "playbook_runs", ["run_id"], ["id"])
    for column in ("run_id", "step_id", "parent_step_id", "trigger"):
        op.drop_index(op.f(f"ix_response_records_{column}"), table_name="response_records")
    op.drop_table("response_records")
