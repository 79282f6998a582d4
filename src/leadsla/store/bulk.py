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
from sqlalchemy import (
    ColumnElement,
    Connection,
    String,
    Table,
    TextualSelect,
    any_,
    bindparam,
    text,
)
from sqlalchemy import column as sql_column
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.elements import BindParameter

# Ids handled per query or per batch of leads: bounds the rows held at once.
KEY_CHUNK = 500


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


def among(
    connection: Connection, column: ColumnElement[Any], values: Sequence[str]
) -> ColumnElement[bool]:
    """``column`` is one of ``values``, which travel as one JSON text parameter.

    An ``IN`` list of thousands of bound parameters costs more to compile than to
    run (profiled on the import path), and psycopg escapes a ``text[]`` parameter's
    items one by one in Python (11 s of a 500,000-row import). On PostgreSQL the
    JSON becomes an array once (an InitPlan), so ``= ANY`` keeps the index: an
    ``IN (SELECT …)`` over the JSON was planned as a scan of the whole table
    (54 ms for one lead's clocks at 100,000 leads, measured).
    """
    if connection.dialect.name == "postgresql":
        array = text("(ARRAY(SELECT jsonb_array_elements_text(CAST(:values AS jsonb))))")
        return column == any_(array.bindparams(_json_values(values)))
    return column.in_(listed_values(connection, values))


def listed_values(connection: Connection, values: Sequence[str]) -> TextualSelect:
    """The values as rows of one column ``value``, from one JSON text parameter."""
    if connection.dialect.name == "postgresql":
        clause = text("SELECT jsonb_array_elements_text(CAST(:values AS jsonb)) AS value")
    else:
        clause = text("SELECT value FROM json_each(:values)")
    return clause.bindparams(_json_values(values)).columns(sql_column("value", String))


def _json_values(values: Sequence[str]) -> BindParameter[str]:
    return bindparam("values", orjson.dumps(list(values)).decode(), unique=True)
