"""The live queues read through the indexes equal the queues that judge every lead's
clocks, on the demo company at instants across a week and the day before its end, on
SQLite and PostgreSQL (real servers).

The bounds under test: an at-risk candidate is a lead with an open cycle stored as due
within the window and not breached (cadences included), or a lead with an event after
the instant (``leads.last_at``, read through its own index); a queue reads its
candidates' ids at once and their rows a chunk at a time.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import select

from leadsla.config import build_rulebook, load_config
from leadsla.core.columns import MICROS_PER_HOUR
from leadsla.core.events import parse_instant
from leadsla.demo.company import company_config, config_yaml, demo_company, write_company_history
from leadsla.demo.setup import load_demo
from leadsla.service import queries
from leadsla.service.queries import EVERYTHING, Scope, lead_list
from leadsla.store import leads as stored_leads
from leadsla.store.database import open_database
from leadsla.store.tables import clock_cycles as cycles
from leadsla.web.figures import first_open_status

NOW = parse_instant("2026-03-04T15:30:00Z")  # Wednesday 10:30 in New York
INSTANTS = (
    "2026-03-03T16:00:00Z",  # the day before the history's end: later events are replayed
    "2026-03-04T15:30:00Z",  # Wednesday morning in New York: offices open
    "2026-03-05T03:00:00Z",  # Wednesday night in New York, Thursday early in Berlin
    "2026-03-07T12:00:00Z",  # Saturday: every office closed
    "2026-03-10T14:00:00Z",  # the next Tuesday: leads breached since
)
WINDOWS = (4, 8, 40)


@pytest.fixture(scope="module")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The demo's config and history (600 leads over a month), written once."""
    directory = tmp_path_factory.mktemp("demo")
    config = company_config(demo_company(), end=NOW)
    (directory / "leadsla.yaml").write_text(config_yaml(config), encoding="utf-8")
    with (directory / "events.csv").open("w", encoding="utf-8", newline="") as out:
        write_company_history(out, seed=3, leads=600, months=1, end=NOW)
    return directory


def test_the_indexed_queues_are_the_judged_ones(
    demo_files: Path, database_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    load_demo(demo_files, database_url, now=NOW)
    rules = build_rulebook(load_config(demo_files / "leadsla.yaml"))
    engine = open_database(database_url)
    untouched = first_open_status(rules)
    scopes = [EVERYTHING, Scope(frozenset(rules.teams["east"].reps)), Scope(frozenset({"maya"}))]
    replayed = 0
    with engine.connect() as connection:
        for at in INSTANTS:
            as_of = parse_instant(at)
            replayed += len(
                stored_leads.queue_keys(
                    connection, due=stored_leads.DueFilter(since=0, before=0, as_of=as_of)
                )
            )
            for scope in scopes:
                indexed = {
                    hours: lead_list(
                        connection, rules, as_of, scope=scope,
                        at_risk_within=hours * MICROS_PER_HOUR, limit=10_000,
                    )
                    for hours in WINDOWS
                }  # fmt: skip
                # The Breached queue's first page and the rest after it.
                breached = [
                    lead_list(
                        connection,
                        rules,
                        as_of,
                        scope=scope,
                        status=untouched,
                        breached=True,
                        limit=40,
                        offset=offset,
                    )
                    for offset in (0, 40)
                ]
                # Without the index bound: every lead's clocks judged.
                with monkeypatch.context() as patched:
                    patched.setattr(queries, "at_risk_span", lambda *_: None)
                    for hours in WINDOWS:
                        judged = lead_list(
                            connection, rules, as_of, scope=scope,
                            at_risk_within=hours * MICROS_PER_HOUR, limit=10_000,
                        )  # fmt: skip
                        assert indexed[hours] == judged, (at, hours, scope)
                        if at == "2026-03-04T15:30:00Z" and scope is EVERYTHING:
                            assert judged  # the instant the demo was made for has some
                    every = lead_list(connection, rules, as_of, scope=scope, limit=10_000)
                    overdue = [
                        lead
                        for lead in every
                        if lead["status"] == untouched
                        and any(clock["state"] == "breached" for clock in lead["clocks"])
                    ]
                    assert breached[0] + breached[1] == overdue[:80], (at, scope)
    # The day before the end reads leads with later events through leads.last_at.
    assert replayed > 0
    engine.dispose()


def test_a_cadence_overdue_and_unbreached_cannot_be_stored(
    demo_files: Path, database_url: str
) -> None:
    """The bound's premise, on the stored rows: an open cadence cycle due before an
    instant's last open stretch is breached by then, by its stored breach instant."""
    load_demo(demo_files, database_url, now=NOW)
    rules = build_rulebook(load_config(demo_files / "leadsla.yaml"))
    engine = open_database(database_url)
    cadences = {p.name for p in rules.policies if p.is_cadence}
    assert cadences
    with engine.connect() as connection:
        rows = connection.execute(
            select(cycles.c.policy, cycles.c.calendar, cycles.c.due_at, cycles.c.breach_at).where(
                cycles.c.open == 1
            )
        ).all()
    engine.dispose()
    open_cadences = [row for row in rows if row.policy in cadences]
    assert open_cadences
    for at in INSTANTS[1:]:
        as_of = parse_instant(at)
        for row in open_cadences:
            since = queries.last_open_end(rules.calendars[row.calendar], as_of)
            if row.due_at is not None and row.due_at < since:
                assert row.breach_at is not None and row.breach_at <= as_of, (at, row)
