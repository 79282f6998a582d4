"""Qualification and routing: decisions per lead with why, round-robin credits, account owners.

Revision ID: 0003
Revises: 0002
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    op.create_table(
        "lead_decisions",
        sa.Column("id", ID, primary_key=True, autoincrement=True),
        sa.Column("lead_id", sa.String(255), nullable=False),
        sa.Column("at", sa.BigInteger, nullable=False),
        sa.Column("kind", sa.String(32), nullable=False),
        sa.Column("rep", sa.String(255)),
        sa.Column("detail", sa.JSON, nullable=False),
        sa.Column("recorded_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("lead_id", "kind", "at", name="uq_lead_decisions_once"),
    )
    op.create_index("ix_lead_decisions_lead", "lead_decisions", ["lead_id", "at"])
    op.create_index("ix_lead_decisions_rep", "lead_decisions", ["kind", "rep", "at"])
    op.create_table(
        "routing_credits",
        sa.Column("rule", sa.String(255), primary_key=True),
        sa.Column("rep", sa.String(255), primary_key=True),
        sa.Column("credit", sa.Float, nullable=False),
    )
    op.create_table(
        "account_owners",
        sa.Column("account", sa.String(512), primary_key=True),
        sa.Column("rep", sa.String(255), nullable=False),
        sa.Column("since", sa.BigInteger, nullable=False),
    )


def downgrade() -> None:
    for table in ("account_owners", "routing_credits", "lead_decisions"):
        op.drop_table(table)
