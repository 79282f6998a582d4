"""The worker's heartbeat: the instant its last round completed, one row for all workers.

Any worker's completed round counts: the question /api/v1/health answers is whether
the outbox is being worked at all, not which process does it.
"""

from __future__ import annotations

from sqlalchemy import Connection, select
from sqlalchemy.dialects import postgresql, sqlite

from leadsla.store.tables import worker_heartbeat

_ROW = 1


def record_round(connection: Connection, finished_at: int) -> None:
    """Note that a worker completed a round at ``finished_at`` (epoch microseconds)."""
    dialect = connection.dialect.name
    insert = (postgresql.insert if dialect == "postgresql" else sqlite.insert)(worker_heartbeat)
    statement = insert.values(id=_ROW, finished_at=finished_at)
    connection.execute(
        statement.on_conflict_do_update(
            index_elements=[worker_heartbeat.c.id],
            set_={"finished_at": statement.excluded.finished_at},
        )
    )


def last_round(connection: Connection) -> int | None:
    """When some worker last completed a round; None when none ever did."""
    return connection.scalar(
        select(worker_heartbeat.c.finished_at).where(worker_heartbeat.c.id == _ROW)
    )
