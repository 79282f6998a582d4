"""The dashboard's report snapshots: after ingests in random orders, the worker's
snapshot of each scope equals ``leadsla report`` on the database at its instant, on
SQLite and PostgreSQL; pages read them and say the instant."""

from __future__ import annotations

import io
import random
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from leadsla.app import create_app
from leadsla.cli.analytics import stored_report
from leadsla.config import build_rulebook, load_config
from leadsla.core.columns import MICROS_PER_HOUR, MICROS_PER_MINUTE
from leadsla.core.events import parse_instant, read_events
from leadsla.demo.company import company_config, config_yaml, demo_company, write_company_history
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.service.queries import EVERYTHING as SEE_ALL
from leadsla.service.queries import scope_for
from leadsla.service.tokens import Principal, Role, create_token
from leadsla.store.database import open_database
from leadsla.store.snapshots import load_snapshot
from leadsla.web.figures import (
    dashboard_objectives,
    objectives_for,
    overview_counts,
    queue_counts,
    refresh_due,
)
from leadsla.worker import Senders, run_worker

NOW = parse_instant("2026-03-04T15:30:00Z")


def history(tmp_path: Path) -> tuple[Path, list[IncomingEvent]]:
    config_path = tmp_path / "leadsla.yaml"
    config = company_config(demo_company(), end=NOW)
    config["objectives"] = [
        {"name": "A follow-up", "policy": "follow_up", "grades": ["A"], "target": "90%",
         "window": "28 days", "per": "team"},
        {"name": "Own follow-up", "policy": "follow_up", "target": "90%", "window": "28 days",
         "per": "owner"},
    ]  # fmt: skip
    config_path.write_text(config_yaml(config), encoding="utf-8")
    rules = build_rulebook(load_config(config_path))
    out = io.StringIO()
    write_company_history(out, seed=11, leads=300, months=2, end=NOW)
    table, read = read_events(
        io.StringIO(out.getvalue()), statuses=list(rules.statuses),
        grades=[g.name for g in rules.grades],
    )  # fmt: skip
    assert read.errors == []
    return config_path, [IncomingEvent(*row[:4]) for row in table.rows()]


def worker_round(engine: object, config_path: Path, at: int) -> None:
    config = load_config(config_path)
    run_worker(
        engine, build_rulebook(config), config, Senders(), lambda: at,  # type: ignore[arg-type]
        once=True, at=at, log=lambda _line: None,
    )  # fmt: skip


@pytest.mark.parametrize("order", [1, 2])
def test_snapshots_equal_the_report_after_random_ingests(
    database_url: str, tmp_path: Path, order: int
) -> None:
    config_path, incoming = history(tmp_path)
    config = load_config(config_path)
    rules = build_rulebook(config)
    engine = open_database(database_url)
    shuffled = incoming[:]
    random.Random(order).shuffle(shuffled)
    third = len(shuffled) // 3
    # Two thirds, in a random order and in batches, then a round of the worker.
    for start in range(0, 2 * third, 500):
        with engine.begin() as connection:
            ingest(connection, rules, shuffled[start : min(start + 500, 2 * third)],
                   source="test", recorded_at=NOW)  # fmt: skip
    early = NOW - 2 * MICROS_PER_HOUR
    worker_round(engine, config_path, early)
    with engine.begin() as connection:
        ingest(connection, rules, shuffled[2 * third :], source="test", recorded_at=NOW)
        # New events: the snapshots miss them.
        assert refresh_due(connection, rules, early + MICROS_PER_MINUTE)
    worker_round(engine, config_path, NOW)
    with engine.connect() as connection:
        assert not refresh_due(connection, rules, NOW + MICROS_PER_MINUTE)
        for period in ("month", "quarter"):
            expected, _ = stored_report(connection, rules, config, NOW, period, False)
            shot = load_snapshot(connection, "all", period)
            assert shot is not None and shot.as_of == NOW
            assert shot.report == expected
        # The overview's objectives, as the page would compute them at that instant.
        assert shot.objectives is None  # the quarter's row carries none
        month = load_snapshot(connection, "all", "month")
        assert month is not None
        assert month.objectives == objectives_for(connection, rules, config, SEE_ALL, NOW)
        assert [g["group"] for g in month.objectives[0]["groups"]] == sorted(rules.teams)
        # The overview's queue counts, as the At risk and Breached queues count at that instant.
        assert month.counts == queue_counts(connection, rules, SEE_ALL, NOW)
        assert month.counts["at_risk"] + month.counts["overdue"] > 0
        assert shot.counts is None
        # A rep reads the company's snapshot, kept to the rows a rep may see: their own.
        maya = Principal("Maya", Role.REP, rep="maya", team="east")
        assert dashboard_objectives(connection, rules, config, maya, NOW) == objectives_for(
            connection, rules, config, scope_for(rules, maya), NOW
        )
        mine = dashboard_objectives(connection, rules, config, maya, NOW)
        assert [[g["group"] for g in item["groups"]] for item in mine] == [[], ["maya"]]
        east = load_snapshot(connection, "team:east", "month")
        assert east is not None
        # A rep's overview counts: their own, kept in their team's snapshot, as their
        # queues count at that instant.
        assert overview_counts(connection, rules, maya, NOW) == (
            queue_counts(connection, rules, scope_for(rules, maya), NOW),
            NOW,
        )
        assert {name for name in east.counts or {} if ":" in name} == {
            f"{count}:{rep}" for rep in rules.teams["east"].reps for count in ("at_risk", "overdue")
        }
        assert sum((east.counts or {})[f"at_risk:{rep}"] for rep in rules.teams["east"].reps) > 0
        assert set(east.report["by_owner"]) <= set(rules.teams["east"].reps)
        assert east.report["overall"]["mqls"] < shot.report["overall"]["mqls"]
    engine.dispose()  # type: ignore[attr-defined]


def test_pages_read_the_snapshot_and_say_its_instant(tmp_path: Path) -> None:
    config_path, incoming = history(tmp_path)
    config = load_config(config_path)
    rules = build_rulebook(config)
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    with engine.begin() as connection:
        ingest(connection, rules, incoming, source="test", recorded_at=NOW)
        token = create_token(
            connection, rules, role="admin", name="admin", rep=None, team=None, now=NOW
        )
    snapshot_at = NOW - 10 * MICROS_PER_MINUTE
    worker_round(engine, config_path, snapshot_at)
    app = create_app(rules, engine, lambda: NOW, config=config)
    with TestClient(app, base_url="http://127.0.0.1") as client:
        login = client.get("/login")
        csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
        answer = client.post("/login", data={"token": token, "csrf": csrf})
        assert answer.status_code in (200, 303)
        page = client.get("/reps")
        assert page.status_code == 200
        assert 'data-figure="figures-as-of"' in page.text
        assert "Wed 4 Mar 2026 10:20" in page.text  # the snapshot's instant, New York
        overview = client.get("/overview")
        assert overview.text.count('data-objective="A follow-up"') == len(rules.teams)
        # The two counts are the snapshot's, said to be (the queues themselves are live).
        assert "the leads due and overdue above with them" in overview.text
        with engine.connect() as connection:
            counted = queue_counts(connection, rules, SEE_ALL, snapshot_at)
        assert f'data-figure="overdue">{counted["overdue"]}<' in overview.text
    # An hour and more without a worker: the page computes the figures itself.
    late = create_app(rules, engine, lambda: NOW + 2 * MICROS_PER_HOUR, config=config)
    with TestClient(late, base_url="http://127.0.0.1") as client:
        login = client.get("/login")
        csrf = login.text.split('name="csrf" value="')[1].split('"')[0]
        client.post("/login", data={"token": token, "csrf": csrf})
        page = client.get("/reps")
        assert 'data-figure="figures-as-of"' not in page.text
