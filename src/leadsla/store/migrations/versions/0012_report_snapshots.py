"""The dashboard's report snapshots, computed by the worker.

Revision ID: 0012
Revises: 0011
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"


def upgrade() -> None:
    op.create_table(
        "report_snapshots",
        sa.Column("scope", sa.String(255), primary_key=True),
        sa.Column("period", sa.String(16), primary_key=True),
        sa.Column("as_of", sa.BigInteger(), nullable=False),
        sa.Column("events_seq", sa.BigInteger(), nullable=False),
        sa.Column("report", sa.Text(), nullable=False),
        sa.Column("segments", sa.Text()),
        sa.Column("objectives", sa.Text()),
        sa.Column("computed_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("report_snapshots")
