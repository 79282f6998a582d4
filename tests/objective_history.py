"""A small history for compliance objectives: two teams, ten days of met follow-up
clocks each, then east's A leads breach (tests/integration/test_objective_alerts.py,
test_objectives_overview.py)."""

from __future__ import annotations

from sqlalchemy import Engine

from leadsla.config import build_rulebook, load_config_text
from leadsla.config.schema import Config
from leadsla.core.events import parse_instant
from leadsla.core.policy import Rulebook
from leadsla.service.ingest import IncomingEvent, ingest
from leadsla.store.database import open_database

HOUR = 3_600_000_000
MINUTE = HOUR // 60
DAY = 24 * HOUR
T0 = parse_instant("2026-03-02T00:00:00Z")

# Open around the clock, so that 1 hour of target is 1 hour on the wall: a clock never
# stopped is breached one hour after it starts.
CONFIG = """\
calendars:
  office:
    timezone: UTC
    hours: {mon: ["00:00-24:00"], tue: ["00:00-24:00"], wed: ["00:00-24:00"],
            thu: ["00:00-24:00"], fri: ["00:00-24:00"], sat: ["00:00-24:00"],
            sun: ["00:00-24:00"]}
teams:
  east:
    manager: {name: Dana Whitfield, email: dana@example.com}
    reps: [{id: r1, name: Sam Ortiz, email: sam@example.com}]
  west:
    manager: {name: Tom Hale, email: tom@example.com}
    reps: [{id: r2, name: Ana Lopes, email: ana@example.com},
           {id: r4, name: Lee Park, email: lee@example.com}]
grades: [{name: A, min_score: 80}, {name: B, min_score: 0}]
policies:
  follow_up:
    start: {status: [New]}
    stop: {status: [Contacted]}
    target: {default: 1 hours}
# 90% over 12 days: budget 10%. Long window 1 day, short 2 hours, threshold 2: the
# rule holds while more than 20% of the clocks started in both windows breached.
objectives:
  - {name: A follow-up, policy: follow_up, grades: [A], target: 90%, window: 12 days, per: team}
notifications:
  email: {host: 127.0.0.1, port: PORT, from: leadsla@example.com}
"""


def lead(name: str, at: int, owner: str, grade: str, met: bool) -> list[IncomingEvent]:
    rows = [
        IncomingEvent(name, at, "status", "New", f"{name}:s"),
        IncomingEvent(name, at, "grade", grade, f"{name}:g"),
        IncomingEvent(name, at, "owner", owner, f"{name}:o"),
    ]
    if met:
        rows.append(IncomingEvent(name, at + 10 * MINUTE, "status", "Contacted", f"{name}:c"))
    return rows


def setup(url: str, port: int = 25) -> tuple[Engine, Rulebook, Config]:
    config = load_config_text(CONFIG.replace("PORT", str(port)))
    rules = build_rulebook(config)
    engine = open_database(url)
    # Ten days of met clocks in each team, one a day.
    rows = [
        event
        for day in range(10)
        for name, owner in ((f"E{day}", "r1"), (f"W{day}", "r2"))
        for event in lead(name, T0 + day * DAY, owner, "A", met=True)
    ]
    # Day 10: east breaches twice (00:00 and 01:00); west only on a B lead, which the
    # objective leaves out.
    rows += lead("X1", T0 + 10 * DAY, "r1", "A", met=False)
    rows += lead("X2", T0 + 10 * DAY + HOUR, "r1", "A", met=False)
    rows += lead("Y1", T0 + 10 * DAY + HOUR, "r2", "B", met=False)
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="test", recorded_at=T0)
    return engine, rules, config
