"""The worker's heartbeat: when its last round completed, for /api/v1/health.

Revision ID: 0007
Revises: 0006
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"


def upgrade() -> None:
    op.create_table(
        "worker_heartbeat",
        sa.Column("id", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("finished_at", sa.BigInteger(), nullable=False),
    )


def downgrade() -> None:
    op.drop_table("worker_heartbeat")
