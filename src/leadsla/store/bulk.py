"""Many rows into one table through the driver's executemany.

SQLAlchemy's per-row parameter processing costs more than the inserts themselves
on the ingest path (profiled: ~60 % of an import's database time), so bulk writes
go to the DBAPI directly. JSON columns are passed as text, already encoded.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, Table


def insert_rows(
    connection: Connection, table: Table, columns: Sequence[str], rows: Sequence[tuple[object, ...]]
) -> None:
    if not rows:
        return
    dialect = connection.dialect
    quote = dialect.identifier_preparer.quote
    mark = "?" if dialect.paramstyle == "qmark" else "%s"
    statement = (
        f"INSERT INTO {quote(table.name)} ({', '.join(quote(c) for c in columns)}) "
        f"VALUES ({', '.join([mark] * len(columns))})"
    )
    connection.exec_driver_sql(statement, list(rows))
