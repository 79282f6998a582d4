"""Many rows into one table through the driver's executemany.

SQLAlchemy's per-row parameter processing costs more than the inserts themselves
on the ingest path (profiled: ~60 % of an import's database time), so bulk writes
go to the DBAPI directly. JSON columns are passed as text, already encoded. On
PostgreSQL the rows go through ``COPY``.

Rows made in another process (an import's workers) can be *packed* there in the
database's own bulk form — a serialized SQLite database holding the tables, or
PostgreSQL ``COPY`` text — so that the writer copies them in without touching
each row in Python (:func:`pack_rows`, :func:`insert_packed`).
"""

from __future__ import annotations

import operator
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import (
    ColumnElement,
    Connection,
    Integer,
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
    if dialect.name == "postgresql":
        # COPY streams the rows in one round trip; executemany sends a statement per row.
        with _copy_into(connection, table.name, columns) as copy:
            for row in rows:
                copy.write_row(row)
        return
    quote = dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {quote(table.name)} ({names}) VALUES ({', '.join([mark] * len(columns))})"
    )
    connection.exec_driver_sql(statement, list(rows))


@contextmanager
def _copy_into(connection: Connection, table: str, columns: Sequence[str]) -> Iterator[Any]:
    """psycopg's ``COPY table (columns) FROM STDIN`` writer, open for the block."""
    quote = connection.dialect.identifier_preparer.quote
    names = ", ".join(quote(c) for c in columns)
    raw: Any = connection.connection.driver_connection
    with (
        raw.cursor() as cursor,
        cursor.copy(f"COPY {quote(table)} ({names}) FROM STDIN") as copy,
    ):
        yield copy


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


# The schema a packed SQLite chunk is attached as while it is copied in.
STAGE = "leadsla_stage"
_NULLS = operator.methodcaller("count", None)
_COPY_ESCAPED = re.compile(r"\\(.)", re.DOTALL)
_COPY_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass(frozen=True)
class PackedRows:
    """Rows of some tables in one database's bulk form, made away from the database.

    ``data`` is one serialized SQLite database holding a table of each name (the
    columns untyped, rows in order), or one block of PostgreSQL ``COPY`` text per
    table. Either pickles as plain bytes, without a Python object per row.
    """

    dialect: str
    tables: tuple[tuple[str, tuple[str, ...]], ...]  # (table, columns), in insert order
    counts: tuple[int, ...]  # rows per table
    data: tuple[bytes, ...]


def can_pack(dialect: str) -> bool:
    """Whether rows can be packed for ``dialect``: Python's sqlite3 serializes a
    database only where its SQLite was built with that API (the default since 3.36)."""
    return dialect == "postgresql" or (
        dialect == "sqlite" and hasattr(sqlite3.Connection, "serialize")
    )


def pack_rows(
    dialect: str, parts: Sequence[tuple[Table, Sequence[str], Sequence[tuple[object, ...]]]]
) -> PackedRows:
    """The rows of each (table, columns, rows) part packed for ``dialect``.

    Values are ``None``, ``int`` or ``str`` (JSON already encoded), as for :func:`insert_rows`.
    """
    tables = tuple((table.name, tuple(columns)) for table, columns, _rows in parts)
    counts = tuple(len(rows) for _table, _columns, rows in parts)
    if dialect == "postgresql":
        texts = tuple(_copy_text(rows) for _table, _columns, rows in parts)
        return PackedRows(dialect, tables, counts, texts)
    stage = sqlite3.connect(":memory:", isolation_level=None)
    try:
        stage.execute("BEGIN")
        for table, columns, rows in parts:
            names = ", ".join(f'"{c}"' for c in columns)
            stage.execute(f'CREATE TABLE "{table.name}" ({names})')
            marks = ", ".join(["?"] * len(columns))
            stage.executemany(f'INSERT INTO "{table.name}" VALUES ({marks})', rows)
        stage.execute("COMMIT")
        return PackedRows(dialect, tables, counts, (stage.serialize(),))
    finally:
        stage.close()


def _copy_text(rows: Sequence[tuple[object, ...]]) -> bytes:
    """Rows in ``COPY … FROM STDIN`` text format: tab-separated, ``\\N`` for NULL.

    Values rarely hold a tab, newline, carriage return or backslash, so the rows are
    joined as they are, then the text is checked: only the separators' tabs and
    newlines and the NULLs' backslashes in it means nothing needed escaping (a third
    less CPU than escaping value by value, measured); else each value is escaped.
    """
    if not rows:
        return b""
    lines = [
        "\t".join([v if type(v) is str else "\\N" if v is None else str(v) for v in row])
        for row in rows
    ]
    lines.append("")
    text = "\n".join(lines)
    if (
        text.count("\t") == len(rows) * (len(rows[0]) - 1)  # one table's rows: one width
        and text.count("\n") == len(rows)
        and "\r" not in text
        and text.count("\\") == sum(map(_NULLS, rows))
    ):
        return text.encode("utf-8")
    lines = [
        "\t".join(
            ["\\N" if v is None else _copy_escaped(v) if type(v) is str else str(v) for v in row]
        )
        for row in rows
    ]
    lines.append("")
    return "\n".join(lines).encode("utf-8")


def _copy_escaped(value: str) -> str:
    # Four scans in C cost less than translate() on the many values that need nothing.
    if "\\" in value or "\t" in value or "\n" in value or "\r" in value:
        return value.translate(_COPY_ESCAPES)
    return value


@contextmanager
def attached(connection: Connection, packed: PackedRows | None) -> Iterator[None]:
    """A packed SQLite chunk readable as schema :data:`STAGE` during the block.

    Call outside a transaction: SQLite detaches a schema only outside one.
    """
    if packed is None or packed.dialect != "sqlite":
        yield
        return
    raw: Any = connection.connection.driver_connection
    raw.execute(f"ATTACH DATABASE ':memory:' AS {STAGE}")
    try:
        raw.deserialize(packed.data[0], name=STAGE)
        yield
    finally:
        raw.execute(f"DETACH DATABASE {STAGE}")


def insert_packed(connection: Connection, packed: PackedRows) -> None:
    """:func:`insert_rows` for packed rows (on SQLite, inside :func:`attached`)."""
    quote = connection.dialect.identifier_preparer.quote
    for index, (name, columns) in enumerate(packed.tables):
        if packed.dialect == "postgresql":
            with _copy_into(connection, name, columns) as copy:
                copy.write(packed.data[index])
        else:
            names = ", ".join(quote(c) for c in columns)
            # Rowid order is the order packed: events keep their arrival order (seq).
            connection.exec_driver_sql(
                f"INSERT INTO main.{quote(name)} ({names}) "
                f"SELECT {names} FROM {STAGE}.{quote(name)} ORDER BY rowid"
            )


def unpack_rows(packed: PackedRows, table: Table) -> list[tuple[object, ...]]:
    """The rows packed for ``table``, as they were given to :func:`pack_rows`."""
    index, columns = next(
        (i, columns) for i, (name, columns) in enumerate(packed.tables) if name == table.name
    )
    if packed.dialect == "postgresql":
        numeric = [isinstance(table.c[c].type, Integer) for c in columns]
        text = packed.data[index].decode("utf-8")
        return [
            tuple(
                _from_copy(value, number)
                for value, number in zip(line.split("\t"), numeric, strict=True)
            )
            for line in text.split("\n")[:-1]
        ]
    stage = sqlite3.connect(":memory:")
    try:
        stage.deserialize(packed.data[0])
        names = ", ".join(f'"{c}"' for c in columns)
        return stage.execute(f'SELECT {names} FROM "{table.name}" ORDER BY rowid').fetchall()
    finally:
        stage.close()


def _from_copy(value: str, number: bool) -> object:
    if value == "\\N":
        return None
    if number:
        return int(value)
    return _COPY_ESCAPED.sub(_unescape, value) if "\\" in value else value


def _unescape(match: re.Match[str]) -> str:
    char = match.group(1)
    return {"t": "\t", "n": "\n", "r": "\r"}.get(char, char)
