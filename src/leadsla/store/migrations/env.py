"""Alembic environment: run migrations on the connection or URL leadsla hands over."""

from __future__ import annotations

from alembic import context
from sqlalchemy import Connection, create_engine

from leadsla.store.tables import metadata

config = context.config
connection = config.attributes.get("connection")


def run(conn: Connection) -> None:
    context.configure(connection=conn, target_metadata=metadata, render_as_batch=True)
    with context.begin_transaction():
        context.run_migrations()


if connection is not None:
    run(connection)
else:
    engine = create_engine(config.get_main_option("sqlalchemy.url") or "")
    with engine.connect() as conn:
        run(conn)
        conn.commit()
    engine.dispose()
