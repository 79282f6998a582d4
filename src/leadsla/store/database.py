"""Connecting to the database and bringing its schema up to date.

The embedded default is a SQLite file in WAL mode (readers never wait for the
writer); PostgreSQL is the production database. Both are reached by a
SQLAlchemy URL.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError

MIGRATIONS = Path(__file__).with_name("migrations")


class DatabaseError(Exception):
    """The database cannot be reached or used; the message says which and why."""


def database_url(url: str) -> str:
    """``url`` as SQLAlchemy is to open it, or a :class:`DatabaseError` saying why not."""
    if url.startswith("postgresql://"):
        # Plain postgresql:// means psycopg2 to SQLAlchemy; we ship psycopg 3.
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    try:
        make_url(url)
    except ArgumentError as exc:
        raise DatabaseError(f"--database: {url!r} is not a database URL ({exc})") from exc
    return url


def connect(url: str, *, bulk: bool = False) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout.

    ``bulk`` (an import) lets SQLite's write-ahead log grow before it is copied
    into the database, instead of every ~4 MB: index pages that many chunks touch
    are then written once (halved an import's database time, measured). Call
    :func:`checkpoint` at the end.
    """
    parsed = make_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": 30}
    else:
        options["pool_pre_ping"] = True
    engine = create_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if bulk:
            event.listen(engine, "connect", _sqlite_bulk_pragmas)
        event.listen(engine, "begin", _sqlite_begin_immediate)
    return engine


def _sqlite_begin_immediate(connection: Any) -> None:
    # A deferred transaction that reads, then writes, can fail at once with "database is
    # locked" when another writer got there first (no busy wait for lock upgrades).
    # Taking the write lock at BEGIN makes concurrent writers queue on the busy timeout.
    connection.exec_driver_sql("BEGIN IMMEDIATE")


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # Let SQLAlchemy's "begin" event issue BEGIN itself (pysqlite would defer it).
    dbapi_connection.isolation_level = None
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA cache_size=-65536")  # 64 MiB: index pages of large tables stay hot
    cursor.close()


def _sqlite_bulk_pragmas(dbapi_connection: Any, _record: Any) -> None:
    dbapi_connection.execute("PRAGMA wal_autocheckpoint=100000")


def checkpoint(engine: Engine) -> None:
    """Copy SQLite's write-ahead log into the database file and empty it."""
    if engine.dialect.name == "sqlite":
        # Outside any transaction: a checkpoint cannot run inside one.
        raw = engine.raw_connection()
        try:
            raw.driver_connection.execute("PRAGMA wal_checkpoint(TRUNCATE)")  # type: ignore[union-attr]
        finally:
            raw.close()


def settle_after_import(engine: Engine) -> None:
    """Leave the database quick to read after a bulk load.

    SQLite: the write-ahead log checkpointed (:func:`checkpoint`). PostgreSQL: fresh
    planner statistics for the tables an import fills. Without them, right after a
    large COPY the planner guessed a parallel scan of ``clock_cycles`` for one lead's
    clocks: 16 ms median at 1 M leads instead of 4.8 ms (measured); autovacuum would
    only catch up later.
    """
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE leads, events, clock_cycles")
    else:
        checkpoint(engine)


def _alembic_config(engine: Engine) -> AlembicConfig:
    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", engine.url.render_as_string(hide_password=False))
    return config


def upgrade(engine: Engine) -> str:
    """Apply every migration not yet applied; return the revision now in force."""
    config = _alembic_config(engine)
    with engine.begin() as connection:
        config.attributes["connection"] = connection
        command.upgrade(config, "head")
    return current_revision(engine) or ""


def current_revision(engine: Engine) -> str | None:
    with engine.connect() as connection:
        return MigrationContext.configure(connection).get_current_revision()


def head_revision() -> str:
    script = ScriptDirectory(str(MIGRATIONS))
    head = script.get_current_head()
    assert head is not None
    return head


def open_database(url: str, *, create: bool = True, bulk: bool = False) -> Engine:
    """Connect, and migrate a new or old database when ``create`` (``serve``, ``import``)."""
    try:
        engine = connect(url, bulk=bulk)
        revision = current_revision(engine)
    except Exception as exc:  # the driver's own errors vary; all mean "cannot reach it"
        raise DatabaseError(f"cannot open database {_shown(url)}: {_first_line(exc)}") from exc
    if revision != head_revision():
        if not create:
            raise DatabaseError(
                f"database {_shown(url)} is at revision {revision or 'none'}, "
                f"not {head_revision()}: run `leadsla db upgrade`"
            )
        upgrade(engine)
    return engine


def _shown(url: str) -> str:
    return make_url(url).render_as_string(hide_password=True)


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0] if text else type(exc).__name__
