"""Each stored cycle judged under the policy version it started under (SPEC §9.6), in
every figure the service shows: the clock view and lead page of the API, the report of
the database, the dashboard's snapshots and the worker's timers; ``db reclock --since``
re-judges them under the config's.

The example config's us-east hours are 09:00-12:00 and 13:00-17:00; r1 is east. The
config changes from v1 (the example: grade A 8 business hours, first step after 24
hours) to v2 (A 4 business hours, first step after 2 hours). Worked by hand:

- Started Monday 2 March 09:00 EST (14:00Z), under v1: v1 is due Tuesday 3 March 10:00
  EST (7 hours on Monday, 1 on Tuesday); v2 would be due Monday 14:00 EST.
  M1 is contacted at 15:00 EST: 5 business hours, met under v1 (breached under v2).
  O1 is never contacted: breached under either. Its v1 warning is at 75 % of 8 business
  hours, 16:00 EST (21:00Z), its v1 first step at 24 hours (3 March 14:00Z); v2 would
  warn at 12:00 EST and step at 16:00Z.
  R1 is contacted at 15:00 EST too (its first cycle: met under v1).
- Started Tuesday 10 March 09:00 EDT (13:00Z), under v2: due 14:00 EDT (18:00Z), first
  step at 15:00Z, warning at 12:00 EDT (16:00Z).
  N1 is contacted at 15:00 EDT: 5 business hours, breached. N2 never: breached.
  R1 is New again (its second cycle, under v2) and contacted at 15:00 EDT: breached.

At 12 March: met M1 and R1's first cycle; breached O1, N1, N2 and R1's second: the
follow-up compliance is 2 / 6. Re-clocked under v2, none is met: 0 / 6.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, select

from leadsla.app import create_app
from leadsla.config import build_rulebook, load_config
from leadsla.config.schema import Config
from leadsla.core.policy import Rulebook
from leadsla.report.full import report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.service import reclock
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.service.timers import fire_due_timers
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database
from leadsla.store.tables import clock_cycles, notifications, policy_versions
from leadsla.web.figures import EVERYTHING, computed

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "leadsla.yaml"
HOUR = 3_600_000_000


def micros(text: str) -> int:
    return int(datetime.fromisoformat(text).astimezone(UTC).timestamp()) * 1_000_000


MONDAY = "2026-03-02T09:00:00-05:00"
MONDAY_CONTACT = "2026-03-02T15:00:00-05:00"
TUESDAY = "2026-03-10T09:00:00-04:00"
TUESDAY_CONTACT = "2026-03-10T15:00:00-04:00"
AS_OF = micros("2026-03-12T12:00:00+00:00")
V1_DUE = "2026-03-03T10:00:00-05:00"
V2_DUE_OLD = "2026-03-02T14:00:00-05:00"
V2_DUE_NEW = "2026-03-10T14:00:00-04:00"
FIVE_HOURS = 5 * 3600


def new_lead(lead: str, at: str) -> list[IncomingEvent]:
    instant = micros(at)
    return [
        IncomingEvent(lead, instant, "status", "New"),
        IncomingEvent(lead, instant, "grade", "A"),
        IncomingEvent(lead, instant, "owner", "r1"),
    ]


def contacted(lead: str, at: str) -> IncomingEvent:
    return IncomingEvent(lead, micros(at), "status", "Contacted")


@dataclass
class Changed:
    engine: Engine
    v1: Rulebook
    v2: Rulebook
    config: Config  # v2's
    # The worker's notifications before the change, then after (lead, kind, step, fire_at).
    fired_before: set[tuple[str, str, int, int]]
    fired_after: set[tuple[str, str, int, int]]


def fired(engine: Engine) -> set[tuple[str, str, int, int]]:
    with engine.connect() as connection:
        rows = connection.execute(
            select(
                notifications.c.lead_id,
                notifications.c.kind,
                notifications.c.step,
                notifications.c.fire_at,
            )
        )
        return {(r.lead_id, r.kind, r.step, r.fire_at) for r in rows}


def write(engine: Engine, rules: Rulebook, events: list[IncomingEvent], at: str) -> None:
    with engine.begin() as connection:
        ingest(connection, rules, events, source="test", recorded_at=micros(at))


def run_worker(engine: Engine, rules: Rulebook, at: str) -> None:
    with engine.begin() as connection:
        fire_due_timers(connection, rules, micros(at), max_delay=1000 * HOUR)


@pytest.fixture
def changed(tmp_path: Path, database_url: str) -> Iterator[Changed]:
    example = EXAMPLE.read_text(encoding="utf-8")
    proposed = example.replace(
        "target: {A: 8 business hours", "target: {A: 4 business hours"
    ).replace("{after: 24 hours, notify: [owner]", "{after: 2 hours, notify: [owner]")
    assert proposed.count("4 business hours") == 1 and "{after: 2 hours" in proposed
    (tmp_path / "v2.yaml").write_text(proposed, encoding="utf-8")
    v1 = build_rulebook(load_config(EXAMPLE))
    config = load_config(tmp_path / "v2.yaml")
    v2 = build_rulebook(config)
    engine = open_database(database_url)
    try:
        write(
            engine,
            v1,
            [
                *new_lead("M1", MONDAY),
                contacted("M1", MONDAY_CONTACT),
                *new_lead("O1", MONDAY),
                *new_lead("R1", MONDAY),
                contacted("R1", MONDAY_CONTACT),
            ],
            "2026-03-02T20:00:00+00:00",
        )
        # The service restarted with v2: its worker's first run, then the new leads.
        run_worker(engine, v2, "2026-03-02T21:30:00+00:00")
        before = fired(engine)
        write(
            engine,
            v2,
            [
                *new_lead("N1", TUESDAY),
                *new_lead("N2", TUESDAY),
                IncomingEvent("R1", micros(TUESDAY), "status", "New"),
            ],
            "2026-03-10T13:00:00+00:00",
        )
        run_worker(engine, v2, "2026-03-10T15:30:00+00:00")
        after = fired(engine) - before
        write(
            engine,
            v2,
            [contacted("N1", TUESDAY_CONTACT), contacted("R1", TUESDAY_CONTACT)],
            "2026-03-10T20:00:00+00:00",
        )
        yield Changed(engine, v1, v2, config, before, after)
    finally:
        engine.dispose()


def follow_ups(clocks: list[dict[str, Any]]) -> dict[tuple[str, int], tuple[str, str, int]]:
    """(lead, cycle) → (state, due_at, business seconds) of the follow-up clocks."""
    return {
        (c["lead_id"], c["cycle"]): (c["state"], c["due_at"], c["business_seconds"])
        for c in clocks
        if c["policy"] == "follow_up"
    }


JUDGED_BY_VERSION = {
    ("M1", 1): ("met", V1_DUE),
    ("O1", 1): ("breached", V1_DUE),
    ("R1", 1): ("met", V1_DUE),
    ("R1", 2): ("breached", V2_DUE_NEW),
    ("N1", 1): ("breached", V2_DUE_NEW),
    ("N2", 1): ("breached", V2_DUE_NEW),
}


def api_clocks(changed: Changed, path: str = "/api/v1/clocks") -> Any:
    with changed.engine.begin() as connection:
        token = create_token(
            connection, changed.v2, role="admin", name="a", rep=None, team=None, now=AS_OF
        )
    app = create_app(changed.v2, changed.engine, lambda: AS_OF, config=changed.config)
    with TestClient(app) as client:
        answer = client.get(path, headers={"Authorization": f"Bearer {token}"})
    assert answer.status_code == 200, answer.text
    return answer.json()


def test_the_worker_fires_an_old_cycle_s_steps_by_its_version(changed: Changed) -> None:
    # First run, 21:30Z: O1's v1 warning (21:00Z) only; v2 would also have fired its
    # first step at 16:00Z and warned at 17:00Z.
    assert changed.fired_before == {("O1", "warning", 0, micros("2026-03-02T21:00:00+00:00"))}
    # Second run: O1's v1 steps at 24, 48 and 72 hours; the cycles started under v2
    # (N1, N2 and R1's second) their first step 2 hours after 13:00Z.
    steps = {(lead, step, at) for lead, kind, step, at in changed.fired_after if kind != "breach"}
    start = micros(MONDAY)
    assert steps == {
        ("O1", 1, start + 24 * HOUR),
        ("O1", 2, start + 48 * HOUR),
        ("O1", 3, start + 72 * HOUR),
        ("N1", 1, micros("2026-03-10T15:00:00+00:00")),
        ("N2", 1, micros("2026-03-10T15:00:00+00:00")),
        ("R1", 1, micros("2026-03-10T15:00:00+00:00")),
    }


def test_the_api_judges_each_cycle_by_its_version(changed: Changed) -> None:
    found = follow_ups(api_clocks(changed))
    assert {k: v[:2] for k, v in found.items()} == JUDGED_BY_VERSION
    assert found["M1", 1][2] == FIVE_HOURS
    assert found["R1", 1][2] == FIVE_HOURS
    assert found["N1", 1][2] == FIVE_HOURS
    lead = api_clocks(changed, "/api/v1/leads/M1")
    assert follow_ups(lead["clocks"]) == {("M1", 1): ("met", V1_DUE, FIVE_HOURS)}


def compliance(changed: Changed) -> tuple[float, float]:
    """The follow-up compliance of the report from the database, and of the dashboard's
    snapshot (both at AS_OF, under v2's config)."""
    with changed.engine.connect() as connection:
        events = stored_events(connection, AS_OF, rules=changed.v2)
        figures = report(events, ReportSettings.of(changed.v2, changed.config), AS_OF)
        shots = computed(connection, changed.v2, changed.config, EVERYTHING, AS_OF, AS_OF)
    (month,) = [shot for shot in shots if shot.period == "month"]
    return (
        figures["overall"]["compliance"]["follow_up"],
        month.report["overall"]["compliance"]["follow_up"],
    )


def test_the_report_and_the_dashboard_judge_each_cycle_by_its_version(changed: Changed) -> None:
    assert compliance(changed) == (pytest.approx(2 / 6), pytest.approx(2 / 6))


def test_reclock_since_judges_the_old_cycles_under_the_new_version(changed: Changed) -> None:
    with changed.engine.begin() as connection:
        planned = reclock.preview(connection, changed.v2, micros("2026-03-01T00:00:00Z"), AS_OF)
        # M1 and R1's first cycle turn from met to breached; O1 stays breached.
        assert planned.by_policy["follow_up"].states == 2
        reclock.apply(connection, changed.v2, planned)
    found = follow_ups(api_clocks(changed))
    assert found["M1", 1][:2] == ("breached", V2_DUE_OLD)
    assert found["R1", 1][:2] == ("breached", V2_DUE_OLD)
    assert found["O1", 1][:2] == ("breached", V2_DUE_OLD)
    assert found["N1", 1][:2] == ("breached", V2_DUE_NEW)
    assert compliance(changed) == (0.0, 0.0)
    with changed.engine.connect() as connection:
        current = connection.scalar(
            select(policy_versions.c.id)
            .where(policy_versions.c.policy == "follow_up")
            .order_by(policy_versions.c.id.desc())
        )
        recorded = set(
            connection.scalars(
                select(clock_cycles.c.policy_version).where(clock_cycles.c.policy == "follow_up")
            )
        )
    assert recorded == {current}


def test_the_old_config_still_judges_its_own_cycles_as_stored(changed: Changed) -> None:
    # Read back under v1 (a roll-back of the config): the cycles started under v2 are
    # judged by v2, those of v1 by v1 (the config's own).
    with changed.engine.connect() as connection:
        events = stored_events(connection, AS_OF, rules=changed.v1)
        settings = ReportSettings.of(changed.v1, load_config(EXAMPLE))
        figures = report(events, settings, AS_OF)
    assert figures["overall"]["compliance"]["follow_up"] == pytest.approx(2 / 6)
