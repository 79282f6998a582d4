"""The demo's story holds after the worker's first round (issue 18): the history is
consistent with what the engine does to it, so the dashboard tells the story the demo's
docs tell (docs/dashboard.md, "The demo's story")."""

from __future__ import annotations

import csv
import json
from pathlib import Path

from leadsla.config import build_rulebook, load_config
from leadsla.core.events import instant_or_date, parse_instant
from leadsla.demo.setup import prepare_demo
from leadsla.report.full import report as full_report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.service.queries import lead_list
from leadsla.store.database import open_database
from leadsla.worker import Senders, run_worker

NOW = parse_instant("2026-03-04T15:30:00Z")  # a Wednesday, 10:30 in New York


def test_the_first_worker_round_leaves_the_story_intact(tmp_path: Path) -> None:
    # Three months (a quarter of figures per rep) of a small company: seconds, not minutes.
    setup = prepare_demo(tmp_path / "demo", now=NOW, leads=500, months=3, seed=2)
    config = load_config(setup.config)
    rules = build_rulebook(config)

    # Deferred leads whose revisit date has passed came back and were worked in the
    # history: the status New at the revisit instant (midnight in the default zone, as
    # the worker reads the date), then a touch.
    rows: dict[str, list[tuple[int, str, str]]] = {}
    with setup.events.open(encoding="utf-8", newline="") as handle:
        for e in csv.DictReader(handle):
            rows.setdefault(e["lead_id"], []).append(
                (parse_instant(e["at"]), e["field"], e["value"])
            )
    revisited = 0
    for lead_rows in rows.values():
        for _at, name, value in lead_rows:
            back = instant_or_date(value, rules.default_zone) if name == "revisit_at" else None
            if back is not None and back <= NOW:
                assert (back, "status", "New") in lead_rows
                revisited += 1
    assert revisited > 0

    engine = open_database(setup.database_url, create=False)
    logs: list[str] = []
    run_worker(engine, rules, config, Senders(), lambda: NOW, once=True, at=NOW, log=logs.append)
    [round_line] = [json.loads(line) for line in logs if '"worker.round"' in line]
    assert round_line["resurfaced"] == 0  # nothing was left for the worker to bring back

    with engine.connect() as connection:
        untouched = lead_list(connection, rules, NOW, status="New", breached=True, limit=10_000)
        total = connection.exec_driver_sql("select count(*) from leads").scalar()
        events = stored_events(connection, NOW)
    engine.dispose()
    assert total == setup.imported.leads > 450
    assert len(untouched) < 0.05 * total

    # The quarter's figures per rep (as the Reps page shows them): Maya answers within
    # minutes and has the best follow-up compliance, Owen answers within days and has the
    # worst.
    figures = full_report(events, ReportSettings.of(rules, config), NOW, "quarter", None)
    by_owner = figures["by_owner"]
    compliance = {rep: f["compliance"]["follow_up"] for rep, f in by_owner.items() if f["mqls"]}
    assert compliance["maya"] == max(compliance.values())
    assert compliance["owen"] == min(compliance.values()) < 0.5
    medians = {rep: by_owner[rep]["time_to_follow_up"]["median"] for rep in compliance}
    assert medians["maya"] == min(medians.values()) < 15 * 60  # business seconds
    assert medians["owen"] == max(medians.values())


def test_every_lead_names_its_campaign_and_an_objective_is_burning(tmp_path: Path) -> None:
    from leadsla.config import build_objectives
    from leadsla.service.objectives import objective_figures

    # The demo's own density (3,000 leads in 6 months): A leads enough in a week per team.
    setup = prepare_demo(tmp_path / "demo", now=NOW, leads=1500, months=3, seed=2)
    config = load_config(setup.config)
    rules = build_rulebook(config)
    campaigns: dict[str, str] = {}
    sources: dict[str, str] = {}
    with setup.events.open(encoding="utf-8", newline="") as handle:
        for e in csv.DictReader(handle):
            if e["field"] == "campaign":
                campaigns[e["lead_id"]] = e["value"]
            elif e["field"] == "source":
                sources[e["lead_id"]] = e["value"]
    assert set(campaigns) == set(sources) and len(campaigns) > 1400
    named = {c for lead, c in campaigns.items() if sources[lead] == "webinar"}
    assert named and all(c.startswith("Webinar: speed to lead (") for c in named)
    assert {c.split(" ")[0] for lead, c in campaigns.items() if sources[lead] == "paid_search"} == {
        "paid_search"
    }
    # The workable-lead objective (95% per rep over 28 days): some rep burns the budget
    # fast enough for the two-window rule, which the overview shows as "Burning".
    engine = open_database(setup.database_url, create=False)
    with engine.connect() as connection:
        figures = objective_figures(connection, rules, build_objectives(config), NOW)
    engine.dispose()
    [groups] = figures.values()
    assert set(groups) == set(rules.reps)
    assert any(status.firing for status in groups.values())


def test_sales_accepts_and_rejects_with_reasons(tmp_path: Path) -> None:
    setup = prepare_demo(tmp_path / "demo", now=NOW, leads=500, months=3, seed=2)
    config = load_config(setup.config)
    rules = build_rulebook(config)
    engine = open_database(setup.database_url, create=False)
    with engine.connect() as connection:
        figures = full_report(
            stored_events(connection, NOW), ReportSettings.of(rules, config), NOW, "quarter"
        )
    engine.dispose()
    overall = figures["overall"]
    # Sales rejects the MQLs it disqualifies, each with a reason from the config's list;
    # it accepts most of the rest (an Accept click or a working status).
    assert overall["sal_rejected"] > 0
    assert 0.6 < overall["acceptance_rate"] < 0.99
    assert set(overall["sal_reasons"]) <= set(config.sal.reasons) and overall["sal_reasons"]
    assert sum(overall["sal_reasons"].values()) >= overall["sal_rejected"]
    listed = config.reasons.model_dump()
    assert set(overall["reasons"]) == {"recycled", "deferred", "disqualified"}
    for kind, counts in overall["reasons"].items():
        assert counts and set(counts) <= set(listed[kind])
