"""The live queues' candidates read from indexes alone, whatever the number of leads.

``ix_leads_last_at``: the leads with an event after the instant a queue is read at
(judged whatever their stored cycles say) are found without scanning every lead.
``ix_clock_cycles_due`` also holds the breach instant and the lead, so the open cycles
due within an at-risk window are read from the index without their rows.

Revision ID: 0016
Revises: 0015
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0016"
down_revision = "0015"

OPEN = "open = 1"


def _due_index(columns: list[str]) -> None:
    op.drop_index("ix_clock_cycles_due", table_name="clock_cycles")
    op.create_index(
        "ix_clock_cycles_due",
        "clock_cycles",
        columns,
        sqlite_where=sa.text(OPEN),
        postgresql_where=sa.text(OPEN),
    )


def upgrade() -> None:
    op.create_index("ix_leads_last_at", "leads", ["last_at"])
    _due_index(["open", "due_at", "breach_at", "lead_id"])


def downgrade() -> None:
    _due_index(["open", "due_at"])
    op.drop_index("ix_leads_last_at", table_name="leads")
