"""The dashboard's figures: the report of the viewer's scope, read from the snapshot the
worker keeps (:mod:`leadsla.store.snapshots`), or computed now when there is none.

Recomputing a report from every event on each page load took 15 to 50 seconds at
200,000 leads, and held the server while it ran. The worker instead computes the report
of each scope (everything, and each team) for the month and the quarter after new
events, and at least every :data:`REFRESH_EVERY`; a page reads one row. A snapshot is
the report at its ``as_of`` over the events stored by then — the same figures
``leadsla report --as-of`` gives for that instant — and the pages say which instant.
A snapshot older than :data:`MAX_AGE` (no worker running) is not shown: the page
computes the report itself, slowly but current.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection, Engine

from leadsla.config import build_objectives
from leadsla.config.schema import Config
from leadsla.core.columns import MICROS_PER_HOUR, MICROS_PER_MINUTE
from leadsla.core.metrics import team_commitment
from leadsla.core.policy import Rulebook
from leadsla.report.analytics import segments as report_segments
from leadsla.report.full import report as full_report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents, stored_events
from leadsla.service.objectives import objective_figures, visible
from leadsla.service.queries import EVERYTHING as SEE_ALL
from leadsla.service.queries import Scope, lead_list, scope_for
from leadsla.service.tokens import Principal, Role
from leadsla.store.snapshots import (
    Snapshot,
    last_event_seq,
    load_snapshot,
    save_snapshot,
    snapshot_marks,
)

PERIODS = ("month", "quarter")
EVERYTHING = "all"
REFRESH_EVERY = 5 * MICROS_PER_MINUTE
MAX_AGE = MICROS_PER_HOUR
# The Marketing page's segment table: as ``GET /api/v1/segments?by=source,grade``.
SEGMENT_BY = ("source", "grade")
SEGMENT_MIN_LEADS = 30
AT_RISK_HOURS = 8  # the overview's window, the At risk page's default
COUNT_LIMIT = 1000  # the overview counts up to this many leads (the API's page size)


def scope_key(rules: Rulebook, caller: Principal) -> str | None:
    """The snapshot a caller reads: everything, their team's, or none (a rep)."""
    if caller.role is Role.REP:
        return None
    if caller.role is Role.MANAGER:
        return f"team:{caller.team or ''}"
    return EVERYTHING


def scope_keys(rules: Rulebook) -> list[str]:
    """Every scope the worker keeps a snapshot of."""
    return [EVERYTHING, *(f"team:{name}" for name in rules.teams)]


def owners_of(rules: Rulebook, key: str) -> frozenset[str] | None:
    """The reps whose leads a scope covers (None: everyone's)."""
    if key == EVERYTHING:
        return None
    team = rules.teams.get(key.removeprefix("team:"))
    return frozenset(team.reps if team else ())


def _segments(events: LeadEvents, settings: ReportSettings, now: int, owners: Any) -> Any:
    return report_segments(
        events.table, settings, now, SEGMENT_BY,
        min_leads=SEGMENT_MIN_LEADS, sort="profit", scope=owners,
    )  # fmt: skip


def computed(
    connection: Connection, rules: Rulebook, config: Config, key: str, now: int, computed_at: int
) -> list[Snapshot]:
    """The snapshots of one scope at ``now``, both periods, from one read of its events;
    the month's carries the segment table and the compliance objectives too."""
    seq = last_event_seq(connection)
    owners = owners_of(rules, key)
    events = stored_events(connection, now, owners=owners, rules=rules)
    settings = ReportSettings.of(rules, config)
    scope = SEE_ALL if owners is None else Scope(owners)
    monthly = period_extras = counts = None
    shots = []
    for period in PERIODS:
        if period == "month":
            monthly = _segments(events, settings, now, owners)
            period_extras = objectives_for(connection, rules, config, scope, now)
            counts = queue_counts(connection, rules, scope, now) | rep_counts(
                connection, rules, key, now
            )
        shots.append(
            Snapshot(
                scope=key,
                period=period,
                as_of=now,
                events_seq=seq,
                report=full_report(events, settings, now, period, owners),
                segments=monthly if period == "month" else None,
                objectives=period_extras if period == "month" else None,
                computed_at=computed_at,
                counts=counts if period == "month" else None,
            )
        )
    return shots


def first_open_status(rules: Rulebook) -> str | None:
    """The status a lead nobody has touched yet is in (the first open one)."""
    return next((name for name, stage in rules.statuses.items() if stage == "open"), None)


def queue_counts(connection: Connection, rules: Rulebook, scope: Scope, now: int) -> dict[str, int]:
    """The overview's two counts at ``now``, each up to :data:`COUNT_LIMIT`: leads with a
    running clock due within :data:`AT_RISK_HOURS` business hours (``at_risk``), and
    untouched leads past their deadline (``overdue``): the At risk and Breached queues'."""
    at_risk = lead_list(
        connection, rules, now, scope=scope, at_risk_within=AT_RISK_HOURS * MICROS_PER_HOUR,
        limit=COUNT_LIMIT,
    )  # fmt: skip
    overdue = lead_list(
        connection, rules, now, scope=scope, status=first_open_status(rules), breached=True,
        limit=COUNT_LIMIT,
    )  # fmt: skip
    return {"at_risk": len(at_risk), "overdue": len(overdue)}


def rep_counts(connection: Connection, rules: Rulebook, key: str, now: int) -> dict[str, int]:
    """Each rep's two counts at ``now`` for a team's snapshot (none for the company's),
    keyed ``at_risk:<rep>`` and ``overdue:<rep>``: the counts of the rep's own overview."""
    team = rules.teams.get(key.removeprefix("team:")) if key != EVERYTHING else None
    counts: dict[str, int] = {}
    for rep in team.reps if team is not None else ():
        for name, count in queue_counts(connection, rules, Scope(frozenset({rep})), now).items():
            counts[f"{name}:{rep}"] = count
    return counts


def overview_counts(
    connection: Connection, rules: Rulebook, caller: Principal, now: int
) -> tuple[dict[str, int], int | None]:
    """The overview's counts for the caller and the snapshot instant they were counted
    at (None: counted now). Judging up to a thousand leads' clocks twice per load took
    about a second at 200,000 leads, so a manager or an admin reads the counts of their
    snapshot, taken with its figures, and a rep their own counts in their team's: a
    rep's leads due within the window grow with the company's flow (about 250 a rep at
    200,000 leads, so a thousand or more at 1 M), and were judged on every load."""
    key = scope_key(rules, caller)
    if key is not None:
        shot = _fresh(connection, key, "month", now)
        if shot is not None and shot.counts is not None:
            return {name: shot.counts[name] for name in ("at_risk", "overdue")}, shot.as_of
    elif caller.rep is not None and caller.rep in rules.reps:
        team = rules.reps[caller.rep].team
        shot = _fresh(connection, f"team:{team}", "month", now)
        names = {name: f"{name}:{caller.rep}" for name in ("at_risk", "overdue")}
        if shot is not None and shot.counts is not None and set(names.values()) <= set(shot.counts):
            return {name: shot.counts[kept] for name, kept in names.items()}, shot.as_of
    return queue_counts(connection, rules, scope_for(rules, caller), now), None


def refresh_due(connection: Connection, rules: Rulebook, now: int) -> bool:
    """Whether a snapshot is missing, misses events, or is older than REFRESH_EVERY."""
    seq = last_event_seq(connection)
    # The worker asks every 30 s: the marks only, not every report's JSON.
    marks = snapshot_marks(connection)
    for key in scope_keys(rules):
        for period in PERIODS:
            mark = marks.get((key, period))
            if mark is None or mark[1] < seq or now - mark[0] >= REFRESH_EVERY:
                return True
    return False


def refresh_snapshots(
    engine: Engine, rules: Rulebook, config: Config, now: int, clock: Callable[[], int]
) -> int:
    """Compute and store every scope's snapshots at ``now``; how many were written.

    Each scope's report is read in its own transaction and written in a short one, so
    a page or an ingest never waits behind the whole refresh.
    """
    written = 0
    for key in scope_keys(rules):
        with engine.connect() as connection:
            shots = computed(connection, rules, config, key, now, clock())
        with engine.begin() as connection:
            for shot in shots:
                save_snapshot(connection, shot)
                written += 1
    return written


def _fresh(connection: Connection, key: str, period: str, now: int) -> Snapshot | None:
    shot = load_snapshot(connection, key, period)
    if shot is None or now - shot.as_of > MAX_AGE or shot.as_of > now:
        return None
    return shot


def report_for(
    connection: Connection,
    rules: Rulebook,
    config: Config | None,
    caller: Principal,
    now: int,
    period: str = "month",
) -> dict[str, Any] | None:
    """The report the caller may see (as ``GET /api/v1/report``); None for a rep or no
    config. Its ``as_of`` says the instant of the figures (a snapshot's, or ``now``)."""
    key = scope_key(rules, caller)
    if config is None or key is None:
        return None
    return _scope_report(connection, rules, config, key, now, period)


def _scope_report(
    connection: Connection, rules: Rulebook, config: Config, key: str, now: int, period: str
) -> dict[str, Any]:
    """The report of a snapshot scope: its fresh snapshot, else computed now."""
    shot = _fresh(connection, key, period, now)
    if shot is not None:
        return {**shot.report, "snapshot": True}
    owners = owners_of(rules, key)
    events = stored_events(connection, now, owners=owners, rules=rules)
    return full_report(events, ReportSettings.of(rules, config), now, period, owners)


def segments_for(
    connection: Connection, rules: Rulebook, config: Config | None, caller: Principal, now: int
) -> dict[str, Any] | None:
    key = scope_key(rules, caller)
    if config is None or key is None:
        return None
    shot = _fresh(connection, key, "month", now)
    if shot is not None and shot.segments is not None:
        return shot.segments
    owners = scope_for(rules, caller).owners
    events = stored_events(connection, now, owners=owners)
    result: dict[str, Any] = _segments(events, ReportSettings.of(rules, config), now, owners)
    return result


def team_view(
    connection: Connection,
    rules: Rulebook,
    config: Config,
    caller: Principal,
    now: int,
    report: dict[str, Any],
) -> dict[str, Any]:
    """A manager's report with each commitment as the team can read it: the team's count
    against the team's share of the target where the config gives one
    (``team_targets``), else the company's count against the company's target, labelled
    as such. Never the team's count against the company's target: that reads as
    "behind pace" to a manager whose admin sees "on track"."""
    team = caller.team or ""
    shares = {c.name: (c.team_targets or {}).get(team) for c in config.commitments}
    company: dict[str, Any] | None = None
    commitments, burn_ups = [], {b["name"]: b for b in report.get("burn_up", [])}
    for entry in report["commitments"]:
        share = shares.get(entry["name"])
        if share is not None:
            commitments.append(team_commitment(entry, team, share))
            if entry["name"] in burn_ups:
                burn_ups[entry["name"]] = {**burn_ups[entry["name"]], "target": share}
            continue
        if company is None:
            company = _scope_report(connection, rules, config, EVERYTHING, now, "month")
        whole = next(c for c in company["commitments"] if c["name"] == entry["name"])
        commitments.append({**whole, "scope": "company"})
        for b in company.get("burn_up", []):
            if b["name"] == entry["name"]:
                burn_ups[b["name"]] = b
    return {**report, "commitments": commitments, "burn_up": list(burn_ups.values())}


def objectives_for(
    connection: Connection, rules: Rulebook, config: Config | None, scope: Scope, now: int
) -> list[dict[str, Any]]:
    """Each compliance objective with the budget of the groups ``scope`` may see, as
    plain values (a snapshot stores them)."""
    objectives = build_objectives(config) if config is not None else ()
    figures = objective_figures(connection, rules, objectives, now, scope=scope)
    return [
        {
            "objective": {
                "name": objective.name,
                "policy": objective.policy,
                "grades": sorted(objective.grades),
                "target": objective.target,
                "window": objective.window,
                "per": objective.per,
            },
            "groups": [asdict(status) for status in figures[objective.name].values()],
        }
        for objective in objectives
    ]


def dashboard_objectives(
    connection: Connection, rules: Rulebook, config: Config | None, caller: Principal, now: int
) -> list[dict[str, Any]]:
    """The overview's objectives: from the caller's snapshot, else computed now."""
    key = scope_key(rules, caller)
    scope = scope_for(rules, caller)
    # A rep has no snapshot of their own: their rows are the whole company's, filtered.
    shot = _fresh(connection, EVERYTHING if key is None else key, "month", now)
    if shot is not None and shot.objectives is not None:
        if key is not None:
            return shot.objectives
        return [
            {
                **item,
                "groups": [
                    group
                    for group in item["groups"]
                    if visible(item["objective"]["per"], group["group"], rules, scope)
                ],
            }
            for item in shot.objectives
        ]
    return objectives_for(connection, rules, config, scope, now)
