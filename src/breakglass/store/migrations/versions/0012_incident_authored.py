"""Whether an incident's title and summary were written by a person, and its funds at risk
in tokens.

Until the incident lead writes them, the title is the first alert's and the summary the
rule's; readers are shown a generated title in plain words instead, so the flags say which
is which. ``funds_at_risk`` holds ``[{chain, asset, amount}]`` in base units, so the headline
can say "440,000 dUSD at risk" where no USD price exists.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.add_column(
            sa.Column("title_authored", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("summary_authored", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(sa.Column("funds_at_risk", sa.JSON(), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("incidents") as batch:
        batch.drop_column("funds_at_risk")
        batch.drop_column("summary_authored")
        batch.drop_column("title_authored")
