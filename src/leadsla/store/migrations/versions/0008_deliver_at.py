"""When each notification is to be delivered: its instant, or the next opening of the
recipient's calendar with ``deliver: recipient_hours`` (SPEC §9.4).

Revision ID: 0008
Revises: 0007
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"


def upgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("deliver_at", sa.BigInteger))
    # Everything queued so far was delivered as it fell due.
    op.execute("UPDATE notifications SET deliver_at = fire_at")
    with op.batch_alter_table("notifications") as batch:
        batch.alter_column("deliver_at", existing_type=sa.BigInteger, nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("deliver_at")
