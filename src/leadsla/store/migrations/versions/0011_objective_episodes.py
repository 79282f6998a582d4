"""Compliance objectives: each episode of a burn-rate alert, opened once per objective and group.

Revision ID: 0011
Revises: 0010
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"


def upgrade() -> None:
    op.create_table(
        "objective_episodes",
        sa.Column("objective", sa.String(255), primary_key=True),
        sa.Column("group_key", sa.String(255), primary_key=True),
        sa.Column("episode", sa.Integer(), primary_key=True, autoincrement=False),
        sa.Column("started_at", sa.BigInteger(), nullable=False),
        sa.Column("cleared_at", sa.BigInteger()),
        sa.Column("long_burn", sa.Float(), nullable=False),
        sa.Column("short_burn", sa.Float(), nullable=False),
        sa.Column("budget_left", sa.Float()),
    )


def downgrade() -> None:
    op.drop_table("objective_episodes")
