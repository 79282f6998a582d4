"""Connecting to the database and bringing its schema up to date.

The embedded default is a SQLite file in WAL mode; PostgreSQL is the production
database. Both are reached by a SQLAlchemy URL.

On SQLite a transaction opened with ``engine.begin()`` (or ``connection.begin()``)
is a writer: it takes the write lock at BEGIN. A connection that just runs queries
(``engine.connect()``) is a reader: a deferred BEGIN, a snapshot of the last commit,
and it never waits for the writer nor makes the writer wait.
"""

from __future__ import annotations

import random
import time
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config as AlembicConfig
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, OperationalError

MIGRATIONS = Path(__file__).with_name("migrations")

# How long one BEGIN IMMEDIATE waits in SQLite's own busy handler, and how often a
# writer tries again after that, backing off: a writer queues behind another writer
# for up to ~45 s before "database is locked" reaches its caller.
BUSY_TIMEOUT = 10.0
WRITE_ATTEMPTS = 4
FIRST_BACKOFF = 0.25


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


def connect(url: str, *, bulk: bool = False, busy_timeout: float = BUSY_TIMEOUT) -> Engine:
    """An engine for ``url``; SQLite files get WAL, foreign keys and a busy timeout.

    ``bulk`` (an import) lets SQLite's write-ahead log grow before it is copied
    into the database, instead of every ~4 MB: index pages that many chunks touch
    are then written once (halved an import's database time, measured). Call
    :func:`checkpoint` at the end. ``busy_timeout`` (seconds) bounds each attempt of
    a SQLite writer to take the write lock.
    """
    parsed = make_url(url)
    options: dict[str, Any] = {}
    if parsed.get_backend_name() == "sqlite":
        options["connect_args"] = {"timeout": busy_timeout}
    else:
        options["pool_pre_ping"] = True
    engine = create_engine(url, **options)
    if parsed.get_backend_name() == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
        if bulk:
            event.listen(engine, "connect", _sqlite_bulk_pragmas)
        engine._connection_cls = _SqliteConnection
        event.listen(engine, "begin", _sqlite_begin)
    return engine


class _SqliteConnection(Connection):
    """A connection that knows whether its transaction began on its own (a reader)."""

    reading = False

    def _autobegin(self) -> None:
        # SQLAlchemy begins a transaction by itself on the first statement of a
        # connection nobody called begin() on: in this code base that is a read.
        self.reading = True
        try:
            super()._autobegin()
        finally:
            self.reading = False


def _sqlite_begin(connection: Connection) -> None:
    if isinstance(connection, _SqliteConnection) and connection.reading:
        # A WAL reader: its snapshot is taken at its first read, without any lock that
        # a writer holds or waits for (with BEGIN IMMEDIATE, GET /health waited 30 s
        # behind a writer and a report kept every POST waiting).
        connection.exec_driver_sql("BEGIN")
        return
    # A deferred transaction that reads, then writes, can fail at once with "database is
    # locked" when another writer got there first (no busy wait for lock upgrades).
    # Taking the write lock at BEGIN makes concurrent writers queue on the busy timeout.
    backoff = FIRST_BACKOFF
    for attempt in range(1, WRITE_ATTEMPTS + 1):
        try:
            connection.exec_driver_sql("BEGIN IMMEDIATE")
            return
        except OperationalError as exc:
            # Nothing has happened in the transaction yet, so trying again is safe.
            if attempt == WRITE_ATTEMPTS or not is_locked(exc):
                raise
        # Jitter: writers that timed out together should not all come back together.
        time.sleep(backoff * random.uniform(0.5, 1.5))
        backoff *= 2


def is_locked(exc: BaseException) -> bool:
    """Whether ``exc`` is SQLite's "database is locked" (or "busy"): another writer."""
    text = str(getattr(exc, "orig", exc)).lower()
    return "database is locked" in text or "database is busy" in text


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
