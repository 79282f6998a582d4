"""Reads never queue behind a writer; a writer that finds the database busy tries again.

On SQLite every transaction used to begin ``BEGIN IMMEDIATE``, reads included: a held
write lock turned ``GET /api/v1/health`` into a 500 after 30 s. The same reads run on
PostgreSQL against a table lock that blocks writers only, as a reference.
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text
from sqlalchemy.engine import make_url

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.service.tokens import create_token
from leadsla.store import database
from leadsla.store.database import connect, open_database

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
START = parse_instant("2026-03-02T09:00:00-05:00")
PROMPT = 5.0  # seconds; the old reads waited the 30 s busy timeout


@contextmanager
def write_lock_held(url: str, engine: Engine) -> Iterator[Callable[[], None]]:
    """Another connection holds the write lock (and has written) until released."""
    if make_url(url).get_backend_name() == "sqlite":
        holder = sqlite3.connect(
            str(make_url(url).database), isolation_level=None, check_same_thread=False
        )
        holder.execute("BEGIN IMMEDIATE")
        holder.execute("UPDATE leads SET owner = owner")
        released = threading.Event()

        def release() -> None:
            if not released.is_set():
                released.set()
                holder.execute("COMMIT")

        try:
            yield release
        finally:
            release()
            holder.close()
        return
    connection = engine.connect()
    connection.begin()
    # EXCLUSIVE blocks every writer and no plain reader.
    connection.exec_driver_sql(
        "LOCK TABLE leads, events, clock_cycles, notifications IN EXCLUSIVE MODE"
    )
    try:
        yield lambda: None
    finally:
        connection.rollback()
        connection.close()


def within(seconds: float, call: Callable[[], object]) -> object:
    """``call``'s result, or a failure if it takes longer than ``seconds``."""
    result: list[object] = []
    worker = threading.Thread(target=lambda: result.append(call()), daemon=True)
    worker.start()
    worker.join(seconds)
    assert result, f"no answer within {seconds} s"
    return result[0]


def test_reads_answer_while_another_connection_holds_the_write_lock(database_url: str) -> None:
    rules = build_rulebook(load_config(CONFIG))
    engine = open_database(database_url)
    rows = [
        IncomingEvent("L1", START, "status", "New", "k1"),
        IncomingEvent("L1", START, "grade", "A", "k2"),
        IncomingEvent("L1", START, "owner", "r1", "k3"),
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=START)
        token = create_token(connection, rules, role="admin", name="a", rep=None, team=None,
                             now=START)  # fmt: skip
    client = TestClient(create_app(rules, engine, lambda: START + 3600 * 1_000_000))
    bearer = {"Authorization": f"Bearer {token}"}
    try:
        with write_lock_held(database_url, engine):
            health = within(PROMPT, lambda: client.get("/api/v1/health"))
            clocks = within(PROMPT, lambda: client.get("/api/v1/clocks", headers=bearer))
        assert health.status_code == 200, health.text  # type: ignore[attr-defined]
        assert clocks.status_code == 200, clocks.text  # type: ignore[attr-defined]
        assert [row["lead_id"] for row in clocks.json()] == ["L1"]  # type: ignore[attr-defined]
    finally:
        client.close()
        engine.dispose()


def scratch(url: str) -> None:
    """A migrated SQLite file at ``url`` with a one-column table to write to."""
    engine = open_database(url)
    with engine.begin() as connection:
        connection.execute(text("CREATE TABLE scratch (x INTEGER)"))
    engine.dispose()


def test_a_writer_waits_for_a_busy_database_and_then_writes(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'leadsla.db'}"
    scratch(url)
    # Each attempt gives up after 50 ms; the lock is held for ~0.4 s: only a retry
    # after the first "database is locked" can get the write through.
    engine = connect(url, busy_timeout=0.05)
    try:
        with write_lock_held(url, engine) as release:
            threading.Timer(0.4, release).start()
            began = time.monotonic()
            with engine.begin() as connection:
                connection.execute(text("INSERT INTO scratch VALUES (7)"))
            waited = time.monotonic() - began
        assert waited >= 0.3
        with engine.connect() as connection:
            assert connection.scalar(text("SELECT x FROM scratch")) == 7
    finally:
        engine.dispose()


def test_a_writer_gives_up_on_a_database_that_stays_locked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"sqlite:///{tmp_path / 'leadsla.db'}"
    scratch(url)
    monkeypatch.setattr(database, "FIRST_BACKOFF", 0.01)
    engine = connect(url, busy_timeout=0.02)
    try:
        with (
            write_lock_held(url, engine),
            pytest.raises(Exception, match="database is locked"),
            engine.begin() as connection,
        ):
            connection.execute(text("INSERT INTO scratch VALUES (7)"))
    finally:
        engine.dispose()
