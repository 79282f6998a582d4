"""CRM sync: each CRM's watermark, and the write-back ledger.

Revision ID: 0014
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"


def upgrade() -> None:
    op.create_table(
        "sync_watermarks",
        sa.Column("crm", sa.String(32), primary_key=True),
        sa.Column("synced_until", sa.BigInteger(), nullable=False),
        sa.Column("synced_at", sa.BigInteger(), nullable=False),
        sa.Column("written_at", sa.BigInteger()),
    )
    op.create_table(
        "crm_writebacks",
        sa.Column("crm", sa.String(32), primary_key=True),
        sa.Column("lead_id", sa.String(255), primary_key=True),
        sa.Column("due_at", sa.BigInteger()),
        sa.Column("state", sa.String(32)),
        sa.Column("written_at", sa.BigInteger()),
        sa.Column("pending_due_at", sa.BigInteger()),
        sa.Column("pending_state", sa.String(32)),
        sa.Column("attempts", sa.Integer(), nullable=False, server_default="0"),
        sa.Column("last_error", sa.Text()),
    )


def downgrade() -> None:
    op.drop_table("crm_writebacks")
    op.drop_table("sync_watermarks")
