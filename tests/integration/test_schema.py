"""The migrations build exactly the schema that ``store/tables.py`` declares."""

from __future__ import annotations

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from leadsla.store.database import open_database
from leadsla.store.tables import metadata


def test_migrations_match_the_declared_tables(database_url: str) -> None:
    engine = open_database(database_url)
    try:
        with engine.connect() as connection:
            differences = compare_metadata(MigrationContext.configure(connection), metadata)
    finally:
        engine.dispose()
    assert differences == []
