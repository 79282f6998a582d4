"""Import keys lead with the lead id (``row:<lead> <hash>``), so they sort by lead.

Keys of rows imported before keep their meaning: each is recomputed from the
row's stored content, so importing the same file again still stores nothing.

Revision ID: 0004
Revises: 0003
"""

from __future__ import annotations

import hashlib

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"

BATCH = 5_000


def _new_key(lead_id: str, at: int, field: str, value: str | None) -> str:
    # Frozen here on purpose: the key as this revision defines it.
    text = "\x1f".join((lead_id, str(at), field, value or ""))
    return f"row:{lead_id} " + hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()


def upgrade() -> None:
    connection = op.get_bind()
    old = connection.execute(
        sa.text(
            "SELECT seq, lead_id, at, field, value FROM events "
            "WHERE key LIKE 'row:%' AND key NOT LIKE '% %' ORDER BY seq"
        )
    ).all()
    update = sa.text("UPDATE events SET key = :key WHERE seq = :seq")
    for start in range(0, len(old), BATCH):
        connection.execute(
            update,
            [
                {"key": _new_key(r.lead_id, r.at, r.field, r.value), "seq": r.seq}
                for r in old[start : start + BATCH]
            ],
        )


def downgrade() -> None:
    connection = op.get_bind()
    rows = connection.execute(
        sa.text("SELECT seq, lead_id, at, field, value FROM events WHERE key LIKE 'row:% %'")
    ).all()
    update = sa.text("UPDATE events SET key = :key WHERE seq = :seq")
    for start in range(0, len(rows), BATCH):
        batch = []
        for r in rows[start : start + BATCH]:
            text = "\x1f".join((r.lead_id, str(r.at), r.field, r.value or ""))
            digest = hashlib.blake2b(text.encode("utf-8"), digest_size=16).hexdigest()
            batch.append({"key": "row:" + digest, "seq": r.seq})
        connection.execute(update, batch)
