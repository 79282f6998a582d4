"""The worker's mark on each cycle: up to which instant its timers were handled.

Revision ID: 0002
Revises: 0001
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"


def upgrade() -> None:
    with op.batch_alter_table("clock_cycles") as batch:
        batch.add_column(sa.Column("timers_done_until", sa.BigInteger))


def downgrade() -> None:
    with op.batch_alter_table("clock_cycles") as batch:
        batch.drop_column("timers_done_until")
