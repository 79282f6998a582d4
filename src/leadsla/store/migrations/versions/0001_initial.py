"""The first schema: leads, the event log, clock cycles, API tokens, the notification outbox.

Revision ID: 0001
Revises:
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0001"
down_revision = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "leads",
        sa.Column("lead_id", sa.String(255), primary_key=True),
        sa.Column("fields", sa.JSON, nullable=False),
        sa.Column("status", sa.String(255)),
        sa.Column("owner", sa.String(255)),
        sa.Column("grade", sa.String(255)),
        sa.Column("last_at", sa.BigInteger, nullable=False),
        sa.Column("events", sa.Integer, nullable=False),
        sa.Column("updated_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_leads_owner", "leads", ["owner"])
    op.create_index("ix_leads_status", "leads", ["status"])
    op.create_table(
        "events",
        sa.Column("seq", ID, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("field", sa.String(255), nullable=False),
        sa.Column("value", sa.Text),
        sa.Column("source", sa.String(255), nullable=False),
        sa.Column("key", sa.String(512)),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("key", name="uq_events_key"),
    )
    op.create_index("ix_events_lead_at", "events", ["lead_id", "at", "seq"])
    op.create_table(
        "clock_cycles",
        sa.Column("lead_id", sa.String(255), primary_key=True),
        sa.Column("policy", sa.String(255), primary_key=True),
        sa.Column("cycle", sa.Integer, primary_key=True),
        sa.Column("calendar", sa.String(255), nullable=False),
        sa.Column("started_at", sa.BigInteger, nullable=False),
        sa.Column("stopped_at", sa.BigInteger),
        sa.Column("open", sa.Integer, nullable=False),
        sa.Column("due_at", sa.BigInteger),
        sa.Column("breach_at", sa.BigInteger),
        sa.Column("next_timer_at", sa.BigInteger),
        sa.Column("facts", sa.JSON, nullable=False),
    )
    op.create_index("ix_clock_cycles_next_timer", "clock_cycles", ["next_timer_at"])
    op.create_index("ix_clock_cycles_due", "clock_cycles", ["open", "due_at"])
    op.create_table(
        "api_tokens",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("role", sa.String(32), nullable=False),
        sa.Column("rep", sa.String(255)),
        sa.Column("team", sa.String(255)),
        sa.Column("token_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("revoked_at", sa.BigInteger),
    )
    op.create_table(
        "notifications",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("policy", sa.String(255), nullable=False),
        sa.Column("cycle", sa.Integer, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("step", sa.Integer, nullable=False),
        sa.Column("recipient", sa.String(255), nullable=False),
        sa.Column("channel", sa.String(32), nullable=False),
        sa.Column("state", sa.String(32), nullable=False),
        sa.Column("fire_at", sa.BigInteger, nullable=False),
        sa.Column("attempts", sa.Integer, nullable=False),
        sa.Column("next_attempt_at", sa.BigInteger),
        sa.Column("last_error", sa.Text),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("sent_at", sa.BigInteger),
        sa.UniqueConstraint(
            "lead_id",
            "policy",
            "cycle",
            "kind",
            "step",
            "recipient",
            "channel",
            name="uq_notifications_once",
        ),
    )
    op.create_index("ix_notifications_state", "notifications", ["state", "next_attempt_at"])


def downgrade() -> None:
    for table in ("notifications", "api_tokens", "clock_cycles", "events", "leads"):
        op.drop_table(table)
