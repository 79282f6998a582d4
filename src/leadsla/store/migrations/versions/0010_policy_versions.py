"""Policy versions: each policy's definition the first time the service saw it, and the
version each clock cycle started under (stored history is never rewritten by a config
change; ``leadsla db reclock`` re-clocks on request).

Revision ID: 0010
Revises: 0008
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0008"


def upgrade() -> None:
    op.create_table(
        "policy_versions",
        sa.Column(
            "id",
            sa.BigInteger().with_variant(sa.Integer(), "sqlite"),
            primary_key=True,
            autoincrement=True,
        ),
        sa.Column("policy", sa.String(255), nullable=False),
        sa.Column("digest", sa.String(64), nullable=False),
        sa.Column("definition", sa.Text, nullable=False),
        sa.Column("first_seen_at", sa.BigInteger, nullable=False),
        sa.UniqueConstraint("policy", "digest", name="uq_policy_versions_digest"),
    )
    # Cycles stored before versions existed get one when their policy is first seen.
    with op.batch_alter_table("clock_cycles") as batch:
        batch.add_column(sa.Column("policy_version", sa.Integer))


def downgrade() -> None:
    with op.batch_alter_table("clock_cycles") as batch:
        batch.drop_column("policy_version")
    op.drop_table("policy_versions")
