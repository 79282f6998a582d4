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
from dataclasses import asdict, dataclass
from datetime import datetime, tzinfo
from typing import Any
from urllib.parse import quote

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from sqlalchemy import Engine
from starlette.concurrency import run_in_threadpool

from leadsla.api.deps import AppClock, AppConfig, Database, Reading, Rules, Zone
from leadsla.core.acceptance import SAL_FIELD, SAL_REASON_FIELD
from leadsla.core.columns import MICROS_PER_HOUR, MICROS_PER_SECOND
from leadsla.core.events import parse_instant
from leadsla.core.instants import format_instant
from leadsla.core.metrics import mql_policy_of
from leadsla.core.policy import Rep, Rulebook, Team
from leadsla.service.acceptance import DecisionRefused, decide, may_decide
from leadsla.service.qualify import lead_qualification
from leadsla.service.queries import Scope, lead_detail, lead_list, lead_owner, scope_for
from leadsla.service.timers import notification_records
from leadsla.service.tokens import Principal, Role
from leadsla.store.versions import list_versions
from leadsla.web.csrf import form_is_ours
from leadsla.web.figures import (
    AT_RISK_HOURS,
    COUNT_LIMIT,
    dashboard_objectives,
    first_open_status,
    overview_counts,
    report_for,
    segments_for,
    team_view,
)
from leadsla.web.render import error_page, page
from leadsla.web.session import Viewer, posted_form, refused_form
from leadsla.web.wording import policy_sentences, week_hours

AT_RISK_CHOICES = (4, 8, 16, 40)
AT_RISK_DEFAULT = AT_RISK_HOURS
AT_RISK_LIMIT = 200
PERIODS = {"month": "This month", "quarter": "This quarter"}
OPENING_HORIZON = 30 * 24 * MICROS_PER_HOUR  # a calendar closed longer names no opening
WATERFALL_STAGES = (
    ("inquiries", "Inquiries", None),
    ("mqls", "MQLs", "inquiry_to_mql"),
    ("sals", "SALs", "mql_to_sal"),
    ("opportunities", "Opportunities", "sal_to_opportunity"),
    ("won", "Won", "opportunity_to_won"),
)

router = APIRouter(include_in_schema=False)


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
    counts, counted_at = overview_counts(connection, rules, caller, now)
    report = report_for(connection, rules, config, caller, now)
    if report is not None and config is not None and caller.role is Role.MANAGER:
        report = team_view(connection, rules, config, caller, now, report)
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
        at_risk=counts["at_risk"],
        at_risk_hours=AT_RISK_HOURS,
        overdue=counts["overdue"],
        counted_at=None if counted_at is None else format_instant(counted_at, zone),
        count_limit=COUNT_LIMIT,
        now=format_instant(now, zone),
        objectives=dashboard_objectives(connection, rules, config, caller, now),
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
    queue = QueueFilters.of(rules, caller, team)
    choice = int(hours) if hours.isdigit() else 0
    within = choice if choice in AT_RISK_CHOICES else AT_RISK_DEFAULT  # not an error page
    found = lead_list(
        connection,
        rules,
        now,
        scope=queue.scope,
        owner=owner or None,
        grade=grade or None,
        at_risk_within=within * MICROS_PER_HOUR,
        limit=AT_RISK_LIMIT,
    )
    zone = viewer_zone(rules, caller)
    rows = sorted(
        (row for lead in found if (row := countdown_row(rules, lead, now, zone)) is not None),
        key=lambda row: (row["remaining"], row["lead_id"]),
    )
    return page(
        request,
        "at_risk.html.j2",
        caller,
        rows=rows,
        chosen={"team": team, "owner": owner, "grade": grade, "hours": within},
        hour_choices=AT_RISK_CHOICES,
        server_now_ms=now // 1000,
        **queue.shown(rules, zone, now),
    )


@router.get("/breached", response_class=HTMLResponse)
def breached_queue(
    request: Request,
    caller: Viewer,
    rules: Rules,
    clock: AppClock,
    connection: Reading,
    team: str = "",
    owner: str = "",
    grade: str = "",
) -> Response:
    """The untouched leads past their deadline (the overview's count), longest overdue first."""
    now = clock()
    queue = QueueFilters.of(rules, caller, team)
    found = lead_list(
        connection, rules, now, scope=queue.scope, owner=owner or None, grade=grade or None,
        status=first_open_status(rules), breached=True, limit=AT_RISK_LIMIT,
    )  # fmt: skip
    zone = viewer_zone(rules, caller)
    rows = sorted(
        (row for lead in found if (row := breached_row(rules, lead, now, zone)) is not None),
        key=lambda row: (-row["overdue"], row["lead_id"]),
    )
    return page(
        request,
        "breached.html.j2",
        caller,
        rows=rows,
        chosen={"team": team, "owner": owner, "grade": grade},
        **queue.shown(rules, zone, now),
    )


@dataclass(frozen=True)
class QueueFilters:
    """What a queue page may list for the caller: the teams and reps of the filters, and
    the scope once the chosen team narrows it."""

    teams: list[Team]
    reps: list[Rep]
    scope: Scope

    @classmethod
    def of(cls, rules: Rulebook, caller: Principal, team: str) -> "QueueFilters":
        scope = scope_for(rules, caller)
        teams = [t for t in rules.teams.values() if any(scope.allows(r) for r in t.reps)]
        reps = [r for r in rules.reps.values() if scope.allows(r.id)]
        if team and team in rules.teams:
            scope = Scope(frozenset(r for r in rules.teams[team].reps if scope.allows(r)))
        return cls(teams, reps, scope)

    def shown(self, rules: Rulebook, zone: tzinfo, now: int) -> dict[str, Any]:
        """What every queue page shows besides its rows: the filters' choices, the row
        limit and the zone its instants are in."""
        return {
            "teams": self.teams,
            "reps": self.reps,
            "grades": [g.name for g in rules.grades],
            "limit": AT_RISK_LIMIT,
            "zone_label": zone_label(zone, now),
        }


def viewer_zone(rules: Rulebook, caller: Principal) -> tzinfo:
    """The zone the queues show instants in: a rep's own calendar's, a manager's team's,
    else the default calendar's (one zone per page, whatever the leads' calendars)."""
    name: str | None = None
    if caller.rep is not None and caller.rep in rules.reps:
        rep = rules.reps[caller.rep]
        team = rules.teams.get(rep.team)
        name = rep.calendar or (team.calendar if team else None)
    elif caller.team is not None and caller.team in rules.teams:
        name = rules.teams[caller.team].calendar
    calendar = rules.calendars.get(name or rules.default_calendar)
    return calendar.zone if calendar is not None else rules.default_zone


def zone_label(zone: tzinfo, now: int) -> str:
    """``America/Los_Angeles (PST)``: the zone's name and its abbreviation at ``now``."""
    moment = datetime.fromtimestamp(now / MICROS_PER_SECOND, zone)
    return f"{zone} ({moment:%Z})"


def short_instant(instant: int, zone: tzinfo) -> str:
    """``Thu 09:00 PST``: an instant within the week, as a queue's sentence says it."""
    moment = datetime.fromtimestamp(instant / MICROS_PER_SECOND, zone)
    return f"{moment:%a %H:%M %Z}"


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
    # One zone for the whole page: the clocks come in their calendars' zones and the
    # history in the default one; side by side they read as contradictions.
    view_zone = viewer_zone(rules, caller)
    return page(
        request,
        "lead.html.j2",
        caller,
        view_zone=view_zone,
        zone_label=zone_label(view_zone, now),
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
    request: Request,
    caller: Viewer,
    rules: Rules,
    config: AppConfig,
    clock: AppClock,
    connection: Reading,
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
        teams=visible_teams(rules, caller), reps=rules.reps,
        versions=[
            {**asdict(v), "first_seen": format_instant(v.first_seen_at, rules.default_zone)}
            for v in list_versions(connection, rules)
        ],
    )  # fmt: skip


def visible_teams(rules: Rulebook, caller: Principal) -> list[Team]:
    """The rosters the caller may read: a rep sees their own team's only (the others'
    capacities are their managers' business), everyone else every team."""
    if caller.role is not Role.REP:
        return list(rules.teams.values())
    rep = rules.reps.get(caller.rep or "")
    return [rules.teams[rep.team]] if rep is not None and rep.team in rules.teams else []


# The dashboard's icon: a clock face in the header's colours. Browsers ask for
# /favicon.ico on every page; without it each page logs a 404 in the console.
FAVICON = (
    '<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 32 32">'
    '<circle cx="16" cy="16" r="14" fill="#14213d"/>'
    '<circle cx="16" cy="16" r="11" fill="none" stroke="#f5a623" stroke-width="2"/>'
    '<path d="M16 9v7l5 3" fill="none" stroke="#fff" stroke-width="2.5" stroke-linecap="round"/>'
    "</svg>"
)


@router.get("/favicon.ico")
def favicon() -> Response:
    return Response(
        FAVICON, media_type="image/svg+xml", headers={"Cache-Control": "public, max-age=86400"}
    )


def month_label(instant: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(instant / MICROS_PER_SECOND, zone).strftime("%Y-%m")


def countdown_row(
    rules: Rulebook, lead: Mapping[str, Any], now: int, zone: tzinfo
) -> dict[str, Any] | None:
    """The lead's running clock due soonest, with the open intervals left before its due.

    Instants in the viewer's ``zone``, with the clock's own calendar's local time beside
    (the page shows it on hover). A clock whose business time has run out while its
    office is closed is not breached yet: it breaches at the next opening, which the row
    names (``breaches_at``), instead of a bare "due now" under an evening's due time.
    """
    best: dict[str, Any] | None = None
    for clock in lead["clocks"]:
        if clock["state"] != "running" or clock["due_at"] is None:
            continue
        calendar = rules.calendars[clock["calendar"]]
        due = parse_instant(clock["due_at"])
        remaining = calendar.elapsed(now, max(due, now))  # as the at-risk filter measures it
        if best is None or remaining < best["remaining"]:
            intervals = calendar.open_intervals(now, max(due, now))
            breaches_at = None
            if remaining == 0:
                opening = calendar.open_intervals(now, now + OPENING_HORIZON)
                breaches_at = short_instant(opening[0][0], zone) if opening else None
            best = {
                "lead_id": lead["lead_id"],
                "owner": lead["owner"],
                "owner_name": rep_name(rules, lead["owner"]),
                "grade": lead["grade"],
                "status": lead["status"],
                "policy": clock["policy"],
                "due_at": clock["due_at"],
                "due_shown": format_instant(due, zone),
                "due_local": format_instant(due, calendar.zone),
                "breaches_at": breaches_at,
                "escalations": clock["escalations"],
                "remaining": remaining // MICROS_PER_SECOND,
                "intervals": json.dumps([[a // 1000, b // 1000] for a, b in intervals]),
            }
    return best


def breached_row(
    rules: Rulebook, lead: Mapping[str, Any], now: int, zone: tzinfo
) -> dict[str, Any] | None:
    """The lead's clock that breached first, and the business time it has been overdue
    on its calendar."""
    first: dict[str, Any] | None = None
    for clock in lead["clocks"]:
        if clock["state"] != "breached" or clock["breached_at"] is None:
            continue
        calendar = rules.calendars[clock["calendar"]]
        at = parse_instant(clock["breached_at"])
        if first is None or at < first["at"]:
            first = {
                "at": at,
                "lead_id": lead["lead_id"],
                "owner": lead["owner"],
                "owner_name": rep_name(rules, lead["owner"]),
                "grade": lead["grade"],
                "policy": clock["policy"],
                "breached_shown": format_instant(at, zone),
                "breached_local": format_instant(at, calendar.zone),
                "overdue": calendar.elapsed(at, max(at, now)) // MICROS_PER_SECOND,
                "escalations": clock["escalations"],
            }
    return first


def rep_name(rules: Rulebook, owner: str | None) -> str:
    """The owner as people know them: the rep's name, else the id the CRM gave."""
    if owner is None:
        return ""
    rep = rules.reps.get(owner)
    return rep.name if rep is not None else owner
