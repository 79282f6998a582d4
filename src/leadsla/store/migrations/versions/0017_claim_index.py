"""The next queued notification found in id order among the queued ones alone.

A claim asks for the oldest queued notification (``ORDER BY id LIMIT 1``). With only
``ix_notifications_state`` (state, next_attempt_at), PostgreSQL walked the primary key
and passed over every sent and skipped notification before the first queued one: at
1 M leads (1.55 M notifications, nearly all skipped) each claim took 0.2 s, and
``worker --once`` delivered five emails a second. ``ix_notifications_claim`` (state, id)
reads the queued ones in id order.

Revision ID: 0017
Revises: 0016
"""

from __future__ import annotations

from alembic import op

revision = "0017"
down_revision = "0016"


def upgrade() -> None:
    op.create_index("ix_notifications_claim", "notifications", ["state", "id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_claim", table_name="notifications")
