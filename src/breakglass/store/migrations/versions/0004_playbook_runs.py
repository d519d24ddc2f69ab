"""Playbook runs, their steps and timestamped phases, and Safe proposals with signatures.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "playbook_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("playbook", sa.String(), nullable=False),
        sa.Column("chain", sa.String(), nullable=True),
        sa.Column("trigger", sa.String(), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("parent_step_id", sa.Integer(), nullable=True),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("finished_at", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_playbook_runs")),
    )
    op.create_table(
        "step_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("action", sa.String(length=32), nullable=False),
        sa.Column("mode", sa.String(length=16), nullable=False),
        sa.Column("summary", sa.String(), nullable=False),
        sa.Column("status", sa.String(length=24), nullable=False),
        sa.Column("tx_hash", sa.String(length=66), nullable=True),
        sa.Column("error", sa.String(), nullable=True),
        sa.Column("decided_by", sa.String(), nullable=True),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["run_id"], ["playbook_runs.id"], name=op.f("fk_step_runs_run_id_playbook_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_runs")),
    )
    op.create_index(op.f("ix_step_runs_run_id"), "step_runs", ["run_id"])
    op.create_table(
        "safe_proposals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("chain", sa.String(), nullable=False),
        sa.Column("safe_tx_hash", sa.String(length=66), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=True),
        sa.Column("tx", sa.JSON(), nullable=False),
        sa.Column("threshold", sa.Integer(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("executed_tx", sa.String(length=66), nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_id"], ["step_runs.id"], name=op.f("fk_safe_proposals_step_id_step_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safe_proposals")),
        sa.UniqueConstraint("safe_tx_hash", name=op.f("uq_safe_proposals_safe_tx_hash")),
    )
    op.create_index(op.f("ix_safe_proposals_step_id"), "safe_proposals", ["step_id"])
    op.create_table(
        "step_events",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("step_id", sa.Integer(), nullable=False),
        sa.Column("phase", sa.String(length=16), nullable=False),
        sa.Column("at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("detail", sa.JSON(), nullable=False),
        sa.ForeignKeyConstraint(
            ["step_id"], ["step_runs.id"], name=op.f("fk_step_events_step_id_step_runs")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_step_events")),
    )
    op.create_index(op.f("ix_step_events_step_id"), "step_events", ["step_id"])
    op.create_table(
        "safe_signatures",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("proposal_id", sa.Integer(), nullable=False),
        sa.Column("owner", sa.String(length=42), nullable=False),
        sa.Column("signature", sa.String(), nullable=False),
        sa.Column("added_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["proposal_id"],
            ["safe_proposals.id"],
            name=op.f("fk_safe_signatures_proposal_id_safe_proposals"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_safe_signatures")),
        sa.UniqueConstraint("proposal_id", "owner", name=op.f("uq_safe_signatures_proposal_id")),
    )
    op.create_index(op.f("ix_safe_signatures_proposal_id"), "safe_signatures", ["proposal_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_safe_signatures_proposal_id"), table_name="safe_signatures")
    op.drop_table("safe_signatures")
    op.drop_index(op.f("ix_step_events_step_id"), table_name="step_events")
    op.drop_table("step_events")
    op.drop_index(op.f("ix_safe_proposals_step_id"), table_name="safe_proposals")
    op.drop_table("safe_proposals")
    op.drop_index(op.f("ix_step_runs_run_id"), table_name="step_runs")
    op.drop_table("step_runs")
    op.drop_table("playbook_runs")
