"""Dashboard sessions kept on the server, and each API token's prefix in clear.

The login cookie used to carry the API token itself; it now carries a random session
id whose digest is a ``dashboard_sessions`` row, so logging out or revoking the token
ends the session. ``api_tokens.prefix`` lets ``leadsla token list`` and
``leadsla token revoke`` name a token without its secret.

Revision ID: 0006
Revises: 0005
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"

# BIGINT autoincrement on PostgreSQL, INTEGER PRIMARY KEY (rowid) on SQLite.
SEQUENCE_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("prefix", sa.String(32), nullable=True))
    op.create_table(
        "dashboard_sessions",
        sa.Column("id", SEQUENCE_ID, primary_key=True, autoincrement=True),
        sa.Column("session_hash", sa.String(128), nullable=False, unique=True),
        sa.Column("token_id", sa.BigInteger, sa.ForeignKey("api_tokens.id"), nullable=False),
        sa.Column("created_at", sa.BigInteger, nullable=False),
        sa.Column("expires_at", sa.BigInteger, nullable=False),
    )
    op.create_index("ix_dashboard_sessions_token", "dashboard_sessions", ["token_id"])


def downgrade() -> None:
    op.drop_index("ix_dashboard_sessions_token", table_name="dashboard_sessions")
    op.drop_table("dashboard_sessions")
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("prefix")
