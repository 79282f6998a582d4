"""A running worker drains a backlog without pausing, outlives a locked database, and
leaves a heartbeat that /api/v1/health reports."""

from __future__ import annotations

import json
import sqlite3
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, event
from sqlalchemy.engine import make_url

from leadsla import worker
from leadsla.app import create_app
from leadsla.bootstrap import Wiring
from leadsla.config import build_rulebook, load_config_text
from leadsla.config.schema import Config
from leadsla.core.events import parse_instant
from leadsla.core.policy import Rulebook
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.store import database
from leadsla.store.database import open_database
from leadsla.worker import Senders, run_worker
from mail_server import Inbox

CONFIG = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
START = parse_instant("2026-03-02T09:00:00-05:00")
NOW = parse_instant("2026-03-05T10:00:00-05:00")  # every step of every ladder is due
SECOND = 1_000_000
LEADS = 6
EMAILS = LEADS * 5  # the warning and the owner's, manager's and executive's steps


class Woken(Exception):
    """Raised by a test's sleep: ends a running worker."""


def backlog(url: str, port: int) -> tuple[Engine, Rulebook, Config]:
    """LEADS leads whose whole ladder is due at NOW, nothing fired yet."""
    text = CONFIG.read_text(encoding="utf-8").replace("port: 8025", f"port: {port}")
    config = load_config_text(text.rstrip("\n") + "\n  max_delay: 30 days\n")
    rules = build_rulebook(config)
    engine = open_database(url)
    rows = [
        IncomingEvent(f"L{i}", START, name, value, f"{i}:{name}")
        for i in range(LEADS)
        for name, value in (("status", "New"), ("grade", "A"), ("owner", "r1"))
    ]
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=START)
    return engine, rules, config


def events(lines: list[str]) -> list[dict[str, Any]]:
    """The rounds' lines (the dashboard refresh beside them logs its own)."""
    return [parsed for line in lines if "figures" not in (parsed := json.loads(line))]


def test_a_running_worker_drains_a_backlog_without_sleeping_between_rounds(
    database_url: str, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    received, port = smtp
    engine, rules, config = backlog(database_url, port)
    senders, _ = Wiring({}).senders(config, rules)
    monkeypatch.setattr(worker, "DELIVER_BATCH", 7)  # the backlog takes 5 rounds
    slept: list[float] = []
    lines: list[str] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        raise Woken

    with pytest.raises(Woken):
        run_worker(engine, rules, config, senders, lambda: NOW, once=False, at=NOW,
                   log=lines.append, sleep=sleep)  # fmt: skip
    # Every message went out before the worker first paused, in full rounds.
    assert len(received.messages) == EMAILS
    assert len(slept) == 1
    assert [line["sent"] for line in events(lines)] == [7, 7, 7, 7, 2]
    engine.dispose()


def test_a_round_refused_by_a_locked_database_is_taken_again(
    tmp_path: Path, smtp: tuple[Inbox, int], monkeypatch: pytest.MonkeyPatch
) -> None:
    received, port = smtp
    url = f"sqlite:///{tmp_path / 'leadsla.db'}"
    engine, rules, config = backlog(url, port)
    senders, _ = Wiring({}).senders(config, rules)
    # Give up on the lock at once: the round itself must meet "database is locked".
    monkeypatch.setattr(database, "WRITE_ATTEMPTS", 1, raising=False)
    engine.dispose()
    event.listen(engine, "connect", lambda dbapi, _record: dbapi.execute("PRAGMA busy_timeout=50"))
    holder = sqlite3.connect(str(make_url(url).database), isolation_level=None)
    holder.execute("BEGIN IMMEDIATE")
    holder.execute("UPDATE leads SET owner = owner")
    slept: list[float] = []
    lines: list[str] = []

    def sleep(seconds: float) -> None:
        slept.append(seconds)
        if len(slept) == 1:
            holder.execute("COMMIT")  # the other writer is done
            return
        raise Woken

    try:
        with pytest.raises(Woken):
            run_worker(engine, rules, config, senders, lambda: NOW, once=False, at=NOW,
                       log=lines.append, sleep=sleep)  # fmt: skip
    finally:
        holder.close()
    logged = events(lines)
    assert logged[0]["event"] == "worker.error"
    assert "database is locked" in logged[0]["error"]
    assert slept[0] == worker.SHORTEST_PAUSE
    assert [line["event"] for line in logged[1:]] == ["worker.round"]
    assert logged[1]["sent"] == EMAILS
    assert len(received.messages) == EMAILS
    engine.dispose()


def test_health_reports_a_worker_that_has_not_completed_a_round_lately(
    database_url: str,
) -> None:
    config = load_config_text(CONFIG.read_text(encoding="utf-8"))
    rules = build_rulebook(config)
    engine = open_database(database_url)
    now = [START]
    client = TestClient(create_app(rules, engine, lambda: now[0]))
    try:
        health = client.get("/api/v1/health").json()
        assert (health["worker"], health["worker_last_round"]) == ("none", None)
        assert health["status"] == "ok" and health["queued_notifications"] == 0
        run_worker(engine, rules, config, Senders(), lambda: START, once=True,
                   log=print)  # fmt: skip
        now[0] = START + 10 * SECOND
        health = client.get("/api/v1/health").json()
        assert health["worker"] == "ok"
        assert health["worker_last_round"] == "2026-03-02T09:00:00-05:00"
        assert health["worker_round_age_seconds"] == 10.0
        now[0] = START + 6 * 60 * SECOND
        health = client.get("/api/v1/health").json()
        assert (health["worker"], health["worker_round_age_seconds"]) == ("stale", 360.0)
        assert health["status"] == "ok"  # the API itself still answers
    finally:
        client.close()
        engine.dispose()
