"""The dashboard's pages: server-rendered views over the same service functions as the API.

Every figure on a page comes from :func:`~leadsla.report.full.report`,
:func:`~leadsla.report.analytics.segments`, :func:`lead_list`, :func:`lead_detail`,
:func:`lead_qualification` or :func:`notification_records`, the functions behind
``/api/v1``; the pages only format them. The at-risk countdown
gets each clock's remaining open intervals from the server and ticks them down.

Login and the session cookie: :mod:`leadsla.web.session`.
"""

import json
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Connection, Engine
from starlette.concurrency import run_in_threadpool

from leadsla.api.deps import AppClock, AppConfig, Database, Reading, Rules, Zone
from leadsla.config.schema import Config
from leadsla.core.acceptance import SAL_FIELD, SAL_REASON_FIELD
from leadsla.core.columns import MICROS_PER_HOUR, MICROS_PER_SECOND
from leadsla.core.events import parse_instant
from leadsla.core.instants import format_instant
from leadsla.core.metrics import mql_policy_of
from leadsla.core.policy import Rulebook
from leadsla.report.analytics import segments as report_segments
from leadsla.report.full import report as full_report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.service.acceptance import DecisionRefused, decide, may_decide
from leadsla.service.qualify import lead_qualification
from leadsla.service.queries import Scope, lead_detail, lead_list, lead_owner, scope_for
from leadsla.service.timers import notification_records
from leadsla.service.tokens import Principal, Role
from leadsla.web.csrf import form_is_ours
from leadsla.web.render import error_page, page
from leadsla.web.session import Viewer, posted_form, refused_form
from leadsla.web.wording import policy_sentences, week_hours

AT_RISK_CHOICES = (4, 8, 16, 40)
AT_RISK_DEFAULT = 8
AT_RISK_LIMIT = 200
PERIODS = {"month": "This month", "quarter": "This quarter"}
COUNT_LIMIT = 1000  # the overview counts up to this many leads (the API's page size)
# The Marketing page's segment table: as ``GET /api/v1/segments?by=source,grade``.
SEGMENT_BY = ("source", "grade")
SEGMENT_MIN_LEADS = 30
WATERFALL_STAGES = (
    ("inquiries", "Inquiries", None),
    ("mqls", "MQLs", "inquiry_to_mql"),
    ("sals", "SALs", "mql_to_sal"),
    ("opportunities", "Opportunities", "sal_to_opportunity"),
    ("won", "Won", "opportunity_to_won"),
)

router = APIRouter(include_in_schema=False)


def report_for(
    connection: Connection,
    rules: Rulebook,
    config: Config | None,
    caller: Principal,
    now: int,
    period: str = "month",
) -> dict[str, Any] | None:
    """The report the caller may see (as ``GET /api/v1/report``); None for a rep or no config."""
    if config is None or caller.role is Role.REP:
        return None
    owners = scope_for(rules, caller).owners
    events = stored_events(connection, now, owners=owners)
    return full_report(events, ReportSettings.of(rules, config), now, period, owners)


def segments_for(
    connection: Connection, rules: Rulebook, config: Config | None, caller: Principal, now: int
) -> dict[str, Any] | None:
    if config is None or caller.role is Role.REP:
        return None
    owners = scope_for(rules, caller).owners
    table = stored_events(connection, now, owners=owners).table
    return report_segments(
        table, ReportSettings.of(rules, config), now, SEGMENT_BY,
        min_leads=SEGMENT_MIN_LEADS, sort="profit", scope=owners,
    )  # fmt: skip


@router.get("/overview", response_class=HTMLResponse)
def overview(
    request: Request,
    caller: Viewer,
    rules: Rules,
    config: AppConfig,
    clock: AppClock,
    zone: Zone,
    connection: Reading,
) -> Response:
    now = clock()
    scope = scope_for(rules, caller)
    at_risk = lead_list(
        connection, rules, now, scope=scope,
        at_risk_within=AT_RISK_DEFAULT * MICROS_PER_HOUR, limit=COUNT_LIMIT,
    )  # fmt: skip
    overdue = lead_list(
        connection, rules, now, scope=scope, status=first_open_status(rules),
        breached=True, limit=COUNT_LIMIT,
    )  # fmt: skip
    report = report_for(connection, rules, config, caller, now)
    this_month = month_label(now, zone)
    months = sorted((report or {}).get("by_month", {}))
    earlier = [m for m in months if m < this_month]
    return page(
        request,
        "overview.html.j2",
        caller,
        report=report,
        this_month=this_month,
        last_month=earlier[-1] if earlier else None,
        policies=[p.name for p in rules.policies],
        grades=[g.name for g in rules.grades],
        at_risk=len(at_risk),
        at_risk_hours=AT_RISK_DEFAULT,
        overdue=len(overdue),
        count_limit=COUNT_LIMIT,
        now=format_instant(now, zone),
    )


@router.get("/at-risk", response_class=HTMLResponse)
def at_risk(
    request: Request,
    caller: Viewer,
    rules: Rules,
    clock: AppClock,
    connection: Reading,
    team: str = "",
    owner: str = "",
    grade: str = "",
    hours: str = str(AT_RISK_DEFAULT),
) -> Response:
    now = clock()
    scope = scope_for(rules, caller)
    teams = [t for t in rules.teams.values() if any(scope.allows(r) for r in t.reps)]
    reps = [r for r in rules.reps.values() if scope.allows(r.id)]
    choice = int(hours) if hours.isdigit() else 0
    within = choice if choice in AT_RISK_CHOICES else AT_RISK_DEFAULT  # not an error page
    if team and team in rules.teams:
        scope = Scope(frozenset(r for r in rules.teams[team].reps if scope.allows(r)))
    found = lead_list(
        connection,
        rules,
        now,
        scope=scope,
        owner=owner or None,
        grade=grade or None,
        at_risk_within=within * MICROS_PER_HOUR,
        limit=AT_RISK_LIMIT,
    )
    rows = sorted(
        (row for lead in found if (row := countdown_row(rules, lead, now)) is not None),
        key=lambda row: (row["remaining"], row["lead_id"]),
    )
    return page(
        request,
        "at_risk.html.j2",
        caller,
        rows=rows,
        teams=teams,
        reps=reps,
        grades=[g.name for g in rules.grades],
        chosen={"team": team, "owner": owner, "grade": grade, "hours": within},
        hour_choices=AT_RISK_CHOICES,
        limit=AT_RISK_LIMIT,
        server_now_ms=now // 1000,
    )


@router.get("/leads/{lead_id}", response_class=HTMLResponse)
def lead_page(
    request: Request,
    lead_id: str,
    caller: Viewer,
    rules: Rules,
    clock: AppClock,
    zone: Zone,
    connection: Reading,
) -> Response:
    now = clock()
    exists, owner = lead_owner(connection, lead_id)
    # Another rep's lead reads as a missing one, as on the API (require_visible).
    if not exists or not scope_for(rules, caller).allows(owner):
        return error_page(request, caller, 404, f"There is no lead {lead_id!r}.")
    detail = lead_detail(connection, rules, lead_id, now)
    if detail is None:  # leads are never deleted, but the two reads are separate statements
        return error_page(request, caller, 404, f"There is no lead {lead_id!r}.")
    detail.update(lead_qualification(connection, rules, lead_id, now))
    sent = notification_records(connection, lead_id=lead_id, limit=500)
    for row in sent:
        row["fire_at"] = format_instant(row["fire_at"], zone)
        sent_at = row["sent_at"]
        row["sent_at"] = None if sent_at is None else format_instant(sent_at, zone)
    return page(
        request,
        "lead.html.j2",
        caller,
        lead=detail,
        statuses=[e for e in detail["events"] if e["field"] in ("status", "owner", "grade")],
        notifications=sent,
        score=detail["score_explanation"],
        assignment=detail["assignment"],
        scoring=rules.scoring is not None,
        routing=rules.assignment is not None,
        rep_names={r.id: r.name for r in rules.reps.values()},
        decision=sales_decision(rules, detail),
        may_decide=may_decide(rules, caller, owner),
        sal_reasons=sorted(rules.acceptance.sal_reasons or ()),
    )


def sales_decision(rules: Rulebook, lead: Mapping[str, Any]) -> dict[str, Any] | None:
    """The decision on the lead's latest follow-up cycle (SPEC §9.5): its last ``sal`` row
    and last ``sal_reason`` since the cycle started; None before any, or once withdrawn."""
    policy = mql_policy_of(rules)
    starts = [
        parse_instant(c["started_at"])
        for c in lead["clocks"]
        if policy is not None and c["policy"] == policy.name
    ]
    since = max(starts, default=None)
    decision: str | None = None
    reason: str | None = None
    at: str | None = None
    # The history is in instant order, rows of one instant in the order they came.
    for event in lead["events"]:
        if since is not None and parse_instant(event["at"]) < since:
            continue
        if event["field"] == SAL_FIELD:
            decision, at = event["value"] or None, event["at"]
        elif event["field"] == SAL_REASON_FIELD:
            reason = event["value"] or None
    return None if decision is None else {"sal": decision, "reason": reason, "at": at}


@router.post("/leads/{lead_id}/acceptance")
async def lead_acceptance(
    request: Request,
    lead_id: str,
    caller: Viewer,
    rules: Rules,
    engine: Database,
    clock: AppClock,
) -> Response:
    """The lead page's Accept and Reject buttons: :func:`decide`, then back to the page."""
    form = await posted_form(request)
    if not form_is_ours(request, form):
        return refused_form(request)
    decision = (form.get("decision") or [""])[0]
    reason = (form.get("reason") or [""])[0]
    try:
        await run_in_threadpool(_decided, engine, rules, caller, lead_id, decision, reason, clock())
    except DecisionRefused as refused:
        return error_page(request, caller, refused.status, refused.message)
    return RedirectResponse(f"/leads/{quote(lead_id, safe='')}", status_code=303)


def _decided(
    engine: Engine,
    rules: Rulebook,
    caller: Principal,
    lead_id: str,
    decision: str,
    reason: str,
    now: int,
) -> None:
    with engine.begin() as connection:
        decide(
            connection, rules, caller, lead_id, decision, reason, now, source=f"web:{caller.name}"
        )


@router.get("/reps", response_class=HTMLResponse)
def reps_page(
    request: Request,
    caller: Viewer,
    rules: Rules,
    config: AppConfig,
    clock: AppClock,
    connection: Reading,
    period: str = "month",
) -> Response:
    period = period if period in PERIODS else "month"
    report = report_for(connection, rules, config, caller, clock(), period)
    return page(
        request, "reps.html.j2", caller, report=report, rules=rules, period=period,
        periods=PERIODS,
        reps=[r for r in rules.reps.values() if report and r.id in report["by_owner"]],
    )  # fmt: skip


@router.get("/marketing", response_class=HTMLResponse)
def marketing(
    request: Request,
    caller: Viewer,
    rules: Rules,
    config: AppConfig,
    clock: AppClock,
    connection: Reading,
) -> Response:
    now = clock()
    return page(
        request, "marketing.html.j2", caller,
        report=report_for(connection, rules, config, caller, now),
        segments=segments_for(connection, rules, config, caller, now), stages=WATERFALL_STAGES,
        has_costs=config is not None and config.costs is not None,
    )  # fmt: skip


@router.get("/settings", response_class=HTMLResponse)
def settings(
    request: Request, caller: Viewer, rules: Rules, config: AppConfig, clock: AppClock
) -> Response:
    now = clock()
    calendars = []
    for name, calendar in rules.calendars.items():
        shape = config.calendars[name] if config is not None else None
        upcoming = calendar.open_intervals(now, now + 14 * 24 * MICROS_PER_HOUR)[:4]
        calendars.append(
            {
                "name": name,
                "timezone": str(calendar.zone),
                "hours": week_hours(shape.hours.by_weekday()) if shape else [],
                "holidays": shape.holidays if shape else None,
                "next_open": [
                    (format_instant(a, calendar.zone), format_instant(b, calendar.zone))
                    for a, b in upcoming
                ],
            }
        )
    sentences = (
        [(name, policy_sentences(name, p)) for name, p in config.policies.items()]
        if config is not None
        else []
    )
    return page(
        request, "settings.html.j2", caller, calendars=calendars, policies=sentences,
        teams=rules.teams.values(), reps=rules.reps,
    )  # fmt: skip


def first_open_status(rules: Rulebook) -> str | None:
    return next((name for name, stage in rules.statuses.items() if stage == "open"), None)


def month_label(instant: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(instant / MICROS_PER_SECOND, zone).strftime("%Y-%m")


def countdown_row(rules: Rulebook, lead: Mapping[str, Any], now: int) -> dict[str, Any] | None:
    """The lead's running clock due soonest, with the open intervals left before its due."""
    best: dict[str, Any] | None = None
    for clock in lead["clocks"]:
        if clock["state"] != "running" or clock["due_at"] is None:
            continue
        calendar = rules.calendars[clock["calendar"]]
        due = parse_instant(clock["due_at"])
        remaining = calendar.elapsed(now, max(due, now))  # as the at-risk filter measures it
        if best is None or remaining < best["remaining"]:
            intervals = calendar.open_intervals(now, max(due, now))
            best = {
                "lead_id": lead["lead_id"],
                "owner": lead["owner"],
                "grade": lead["grade"],
                "status": lead["status"],
                "policy": clock["policy"],
                "due_at": clock["due_at"],
                "escalations": clock["escalations"],
                "remaining": remaining // MICROS_PER_SECOND,
                "intervals": json.dumps([[a // 1000, b // 1000] for a, b in intervals]),
            }
    return best
