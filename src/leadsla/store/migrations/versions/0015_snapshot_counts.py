"""The overview's two queue counts in the month's report snapshot.

Revision ID: 0015
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"


def upgrade() -> None:
    # Nullable: a snapshot written before this revision has none, and the page counts live.
    with op.batch_alter_table("report_snapshots") as table:
        table.add_column(sa.Column("counts", sa.Text()))


def downgrade() -> None:
    with op.batch_alter_table("report_snapshots") as table:
        table.drop_column("counts")
