"""The database fixtures give what they promise: real, empty, separate databases per backend.

Each test runs on a SQLite file and on the session's PostgreSQL 15 server, with
plain SQLAlchemy 2 Core so that a failure here points at the setup, not at leadsla.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import (
    Column,
    Engine,
    Integer,
    MetaData,
    String,
    Table,
    create_engine,
    func,
    insert,
    inspect,
    select,
)
from sqlalchemy.dialects import postgresql, sqlite

metadata = MetaData()
leads = Table(
    "leads",
    metadata,
    Column("lead_id", String(64), primary_key=True),
    Column("owner", String(64), nullable=False),
    Column("score", Integer, nullable=False),
)

# The dialect-specific INSERT constructs are the ones with on_conflict_do_nothing().
DIALECT_INSERT: dict[str, Callable[[Table], Any]] = {
    "sqlite": sqlite.insert,
    "postgresql": postgresql.insert,
}


@pytest.fixture
def engine(database_url: str) -> Iterator[Engine]:
    engine = create_engine(database_url)
    yield engine
    engine.dispose()


def rows(engine: Engine) -> list[tuple[str, str, int]]:
    with engine.connect() as connection:
        result = connection.execute(
            select(leads.c.lead_id, leads.c.owner, leads.c.score).order_by(leads.c.lead_id)
        )
        return [(lead_id, owner, score) for lead_id, owner, score in result]


def test_each_test_gets_an_empty_database(engine: Engine) -> None:
    assert inspect(engine).get_table_names() == []


def test_create_insert_select(engine: Engine) -> None:
    metadata.create_all(engine)
    with engine.begin() as connection:
        connection.execute(
            insert(leads),
            [
                {"lead_id": "L-2", "owner": "bo", "score": 7},
                {"lead_id": "L-1", "owner": "ada", "score": 3},
            ],
        )
    assert rows(engine) == [("L-1", "ada", 3), ("L-2", "bo", 7)]


def test_insert_on_conflict_do_nothing(engine: Engine) -> None:
    metadata.create_all(engine)
    upsert = (
        DIALECT_INSERT[engine.dialect.name](leads)
        .on_conflict_do_nothing(index_elements=[leads.c.lead_id])
        # SQLAlchemy promises an INSERT's rowcount only with this option; without
        # it psycopg reports -1 (SQLite happens to report the count anyway).
        .execution_options(preserve_rowcount=True)
    )
    with engine.begin() as connection:
        first = connection.execute(upsert, {"lead_id": "L-1", "owner": "ada", "score": 3})
        again = connection.execute(upsert, {"lead_id": "L-1", "owner": "eve", "score": 9})
        other = connection.execute(upsert, {"lead_id": "L-2", "owner": "bo", "score": 7})
    assert (first.rowcount, again.rowcount, other.rowcount) == (1, 0, 1)
    assert rows(engine) == [("L-1", "ada", 3), ("L-2", "bo", 7)]


def test_other_connections_see_committed_data_only(engine: Engine) -> None:
    metadata.create_all(engine)
    count = select(func.count()).select_from(leads)
    with engine.connect() as writer, engine.connect() as reader:
        assert writer.connection.dbapi_connection is not reader.connection.dbapi_connection
        writer.execute(insert(leads).values(lead_id="L-1", owner="ada", score=3))
        assert reader.execute(count).scalar_one() == 0
        # End the reader's transaction: a SQLite reader mid-transaction would
        # block the writer's commit, and a new one must see the commit.
        reader.rollback()
        writer.commit()
        assert reader.execute(count).scalar_one() == 1


def test_backend_is_the_one_named(engine: Engine, request: pytest.FixtureRequest) -> None:
    backend = request.node.callspec.params["database_url"]
    assert engine.dialect.name == backend
    with engine.connect() as connection:
        if backend == "sqlite":
            connection.exec_driver_sql("CREATE TABLE probe (x INTEGER)")
            assert engine.url.database is not None
            assert Path(engine.url.database).is_file()  # a real file, not :memory:
        else:
            version = connection.exec_driver_sql("SHOW server_version").scalar_one()
            number = int(connection.exec_driver_sql("SHOW server_version_num").scalar_one())
            assert 150000 <= number < 160000, f"want PostgreSQL 15, got {version}"
