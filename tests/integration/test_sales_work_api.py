"""SPEC §9.1–9.3 through the service, on a real SQLite file and PostgreSQL: random
histories under ``tests/sales_work.yaml`` (a policy for every new key) posted to
``/api/v1/events`` in batches, some late, give the clocks ``leadsla evaluate`` writes,
attempts and the reassigned state included; ``first_touch_at`` on a lead made by hand."""

from __future__ import annotations

import random
from collections.abc import Iterator
from typing import Any

import orjson
import pytest
from sqlalchemy import select

from api_setup import Api, as_csv_rows, evaluate_csv, log_in, serving
from leadsla.core.clock import by_instant, replay
from leadsla.service.ingest import cycle_values
from leadsla.store.leads import CYCLE_COLUMNS
from leadsla.store.tables import clock_cycles
from leadsla.store.versions import current_versions
from sales_work import BASE, CONFIG, MINUTE, History, iso, sales_history

DAY = 24 * 60 * MINUTE
NOW = BASE + 60 * DAY  # after every random history: the default as_of reads stored cycles


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    with serving(CONFIG, database_url, NOW) as opened:
        yield opened


def as_events(rows: History) -> list[dict[str, str]]:
    return [{"lead_id": lead, "at": iso(at), "field": f, "value": v} for lead, at, f, v in rows]


def post_in_batches(api: Api, events: list[dict[str, str]], rng: random.Random) -> None:
    """Requests of 1 to 8 events, each answered 200 with nothing rejected."""
    start = 0
    while start < len(events):
        size = rng.randint(1, 8)
        answer = api.post("marketing", events[start : start + size])
        assert answer.status_code == 200, answer.text
        assert answer.json()["rejected"] == []
        start += size


def stored_cycles(api: Api) -> list[tuple[Any, ...]]:
    """The ``clock_cycles`` rows as written, facts decoded (JSON or text per backend)."""
    with api.engine.connect() as connection:
        rows = connection.execute(
            select(*(clock_cycles.c[name] for name in CYCLE_COLUMNS)).order_by(
                clock_cycles.c.lead_id, clock_cycles.c.policy, clock_cycles.c.cycle
            )
        ).all()
    facts = CYCLE_COLUMNS.index("facts")
    return [(*row[:facts], _decoded(row[facts]), *row[facts + 1 :]) for row in rows]


def _decoded(facts: Any) -> Any:
    return facts if isinstance(facts, dict) else orjson.loads(facts)


def replayed_cycles(api: Api, rows: History) -> list[tuple[Any, ...]]:
    """The ``clock_cycles`` rows a replay of the sorted history gives (no worker ran)."""
    by_lead: dict[str, list[tuple[int, str, str | None]]] = {}
    for lead, at, name, value in sorted(rows, key=lambda row: (row[0], row[1])):
        by_lead.setdefault(lead, []).append((at, name, value or None))
    expected: list[tuple[Any, ...]] = []
    facts = CYCLE_COLUMNS.index("facts")
    # Every cycle was recorded under the one config's versions (ids the service chose).
    with api.engine.begin() as connection:
        versions = current_versions(connection, api.rules, 0)
    for lead in sorted(by_lead):
        state = replay(api.rules, lead, by_instant(by_lead[lead]))
        for row in cycle_values(api.rules, state, {}, versions):
            expected.append((*row[:facts], _decoded(row[facts]), *row[facts + 1 :]))
    return sorted(expected, key=lambda row: (row[0], row[1], row[2]))


@pytest.mark.parametrize("seed", [1, 2])
def test_clocks_equal_evaluate_under_every_new_key(api: Api, tmp_path: Any, seed: int) -> None:
    rows = sales_history(random.Random(seed), leads=12, prefix=f"S{seed}-")
    events = as_events(sorted(rows, key=lambda row: row[1]))
    rng = random.Random(seed + 100)
    # A quarter of the events is held back and sent last, shuffled: late and out of
    # order, so leads are rebuilt from their stored history as well as extended.
    late = set(rng.sample(range(len(events)), len(events) // 4))
    post_in_batches(api, [e for i, e in enumerate(events) if i not in late], rng)
    held = [e for i, e in enumerate(events) if i in late]
    rng.shuffle(held)
    post_in_batches(api, held, rng)

    last = max(at for _, at, _, _ in rows)
    served: list[dict[str, Any]] = []
    for as_of in (iso(BASE + 4 * DAY), iso(last + DAY), None):
        params = {} if as_of is None else {"as_of": as_of}
        served = api.get("admin", "/api/v1/clocks", **params).json()
        assert as_csv_rows(served) == evaluate_csv(CONFIG, tmp_path, events, as_of or iso(NOW))
    # What the comparison covered: every policy, the reassigned state, attempts.
    assert {row["policy"] for row in served} == {p.name for p in api.rules.policies}
    assert {"met", "breached", "reassigned"} <= {row["state"] for row in served}
    assert any(row["attempts"] > 1 for row in served if row["policy"] == "attempts")
    reassigned = api.get("admin", "/api/v1/clocks", state="reassigned").json()
    assert reassigned == [row for row in served if row["state"] == "reassigned"]
    # The stored cycles (facts with attempts and reassignment, due_at, breach_at and
    # next timer of open cycles) are those of one replay of the whole history.
    assert stored_cycles(api) == replayed_cycles(api, rows)


def at(text: str) -> str:
    """``02T14:15`` → the instant in New York (before DST), as the API writes it."""
    return f"2026-03-{text}:00-05:00"


def test_first_touch_is_the_stop_of_the_latest_follow_up_not_reassigned(api: Api) -> None:
    """First touch (SPEC §9.1): when a follow-up cycle was stopped by its stop conditions.
    A queue before the assignment, a cycle ended by a reassignment and an automated email
    are no touch; a recycled lead's earlier touch stands until its new cycle stops."""
    steps = [
        ("02T09:00", [("status", "New"), ("grade", "A")]),  # in the queue: no follow-up yet
        ("02T10:00", [("owner", "r1")]),  # routing met; follow-up cycle 1 starts
        ("02T11:00", [("owner", "r2")]),  # restart: cycle 1 reassigned, cycle 2 starts
        ("02T11:30", [("activity", "email:automated")]),  # no attempt, no touch
        ("02T14:15", [("activity", "call:attempted")]),  # the first touch: cycle 2 met
        ("03T09:00", [("status", "Recycled")]),
        ("03T10:00", [("status", "New")]),  # New again with an owner: cycle 3 starts
        ("03T12:00", [("activity", "meeting:held")]),  # cycle 3 met
    ]
    api.post("admin", [
        {"lead_id": "FT1", "at": at(when), "field": name, "value": value}
        for when, changes in steps for name, value in changes
    ])  # fmt: skip

    def first_touch(as_of: str) -> str | None:
        answer = api.get("east-manager", "/api/v1/leads/FT1", as_of=at(as_of))
        assert answer.status_code == 200, answer.text
        return answer.json()["first_touch_at"]  # type: ignore[no-any-return]

    for as_of in ("02T09:30", "02T10:30", "02T12:00", "02T14:14"):
        assert first_touch(as_of) is None, as_of
    for as_of in ("02T14:15", "02T17:00", "03T11:00"):
        assert first_touch(as_of) == "2026-03-02T14:15:00-05:00", as_of
    assert first_touch("03T12:00") == "2026-03-03T12:00:00-05:00"

    lead = api.get("admin", "/api/v1/leads/FT1", as_of=at("02T15:00")).json()
    follow_up = [
        (c["cycle"], c["state"], c["owner"], c["stopped_at"], c["attempts"])
        for c in lead["clocks"]
        if c["policy"] == "follow_up"
    ]
    assert follow_up == [
        (1, "reassigned", "r1", at("02T11:00"), 0),
        (2, "met", "r2", at("02T14:15"), 1),  # the automated email is no attempt
    ]
    # The state filter finds the cycles the move ended (the cadence restarts too).
    found = api.get(
        "admin", "/api/v1/clocks", lead_id="FT1", as_of=at("02T15:00"), state="reassigned"
    )
    assert [(r["policy"], r["cycle"]) for r in found.json()] == [
        ("attempts", 1),
        ("follow_up", 1),
    ]

    # The lead page shows the first touch (at the app's now) and the new column.
    assert log_in(api.client, api.tokens["admin"], "/leads/FT1").status_code in (200, 303)
    page = api.client.get("/leads/FT1")
    assert page.status_code == 200
    assert f'<time datetime="{at("03T12:00")}">' in page.text
    assert '<td class="state-reassigned"' in page.text and ">Attempts</th>" in page.text
