"""The clock cycles' timer and deadline indexes hold only the rows they are read for.

Revision ID: 0005
Revises: 0004
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"

INDEXES = (
    ("ix_clock_cycles_next_timer", ["next_timer_at"], "next_timer_at IS NOT NULL"),
    ("ix_clock_cycles_due", ["open", "due_at"], "open = 1"),
)


def upgrade() -> None:
    for name, columns, where in INDEXES:
        op.drop_index(name, table_name="clock_cycles")
        op.create_index(
            name,
            "clock_cycles",
            columns,
            sqlite_where=sa.text(where),
            postgresql_where=sa.text(where),
        )


def downgrade() -> None:
    for name, columns, _where in INDEXES:
        op.drop_index(name, table_name="clock_cycles")
        op.create_index(name, "clock_cycles", columns)
