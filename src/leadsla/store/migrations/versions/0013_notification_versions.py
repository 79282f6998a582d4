"""The policy version of each notification: an escalation's text (its message, "step N
of M") is its cycle's version's, not the config's of the day it is sent.

Revision ID: 0013
Revises: 0012
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"


def upgrade() -> None:
    # Null for the rows written before: they are rendered from the config, as they were.
    with op.batch_alter_table("notifications") as batch:
        batch.add_column(sa.Column("policy_version", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("notifications") as batch:
        batch.drop_column("policy_version")
