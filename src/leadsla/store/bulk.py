"""Many rows into one table through the driver's executemany.

SQLAlchemy's per-row parameter processing costs more than the inserts themselves
on the ingest path (profiled: ~60 % of an import's database time), so bulk writes
go to the DBAPI directly. JSON columns are passed as text, already encoded. On
PostgreSQL the rows go through ``COPY``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import orjson
from sqlalchemy import Connection, String, Table, TextualSelect, bindparam, column, text
from sqlalchemy.dialects import postgresql, sqlite


def insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    if not rows:
        return
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    if dialect.name == "postgresql":
        # COPY streams the rows in one round trip; executemany sends a statement per row.
        raw: Any = connection.connection.driver_connection
        with (
            raw.cursor() as cursor,
            cursor.copy(f"COPY {quote(table.name)} ({names}) FROM STDIN") as copy,
        ):
            for row in rows:
                copy.write_row(row)
        return
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join([mark] * len(columns))})"
    )
    connection.exec_driver_sql(statement, list(rows))


def insert_ignoring_duplicates(
    connection: Connection, table: Table, rows: Sequence[Mapping[str, object]]
) -> None:
    """``INSERT … ON CONFLICT DO NOTHING``: a row whose unique key exists is dropped.

    The outbox relies on it: a second firing of the same step for the same
    recipient, by any worker, writes nothing.
    """
    if not rows:
        return
    dialect = connection.dialect.name
    insert = postgresql.insert(table) if dialect == "postgresql" else sqlite.insert(table)
    connection.execute(insert.on_conflict_do_nothing(), list(rows))


def listed(connection: Connection, values: Sequence[str]) -> TextualSelect:
    """A subquery over ``values`` sent as one parameter, for ``column.in_(listed(...))``.

    An ``IN`` list of thousands of bound parameters costs more to compile than to
    run (profiled on the import path), and PostgreSQL planned such lists as a
    scan of the whole table. One JSON text does neither, and has no
    bound-parameter limit.
    """
    encoded = orjson.dumps(list(values)).decode()
    if connection.dialect.name == "postgresql":
        # JSON text, not a text[] parameter: psycopg escapes an array's items one by
        # one in Python (11 s of a 500,000-row import, profiled); PostgreSQL parses JSON in C.
        clause = text("SELECT jsonb_array_elements_text(CAST(:values AS jsonb)) AS value")
    else:
        clause = text("SELECT value FROM json_each(:values)")
    clause = clause.bindparams(bindparam("values", encoded, unique=True))
    return clause.columns(column("value", String))
