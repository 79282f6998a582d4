"""The dashboard: server-rendered pages over the same service functions as the API.

Login: the user pastes an API token; the server checks it, then keeps it in a
cookie signed with HMAC-SHA256 (``HttpOnly``, ``SameSite=Lax``). Every request
checks the signature and authenticates the token again, so a revoked token ends
its sessions. The signing key is ``$LEADSLA_SESSION_SECRET``, else a random key
per server process (sessions then end when the server restarts).

Every figure on a page comes from :func:`~leadsla.report.full.report`,
:func:`~leadsla.report.analytics.segments`, :func:`lead_list`, :func:`lead_detail`,
:func:`lead_qualification` or :func:`notification_records`, the functions behind
``/api/v1``; the pages only format them. The at-risk countdown
gets each clock's remaining open intervals from the server and ticks them down.
"""

import hashlib
import hmac
import json
import os
import secrets
from collections.abc import Callable, Iterable, Mapping
from datetime import datetime, timedelta
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Depends, FastAPI, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from jinja2 import Environment, PackageLoader, select_autoescape
from sqlalchemy import Engine

from leadsla.config.schema import Config, PolicyConfig
from leadsla.core.events import parse_instant
from leadsla.core.instants import format_instant
from leadsla.core.policy import Rulebook
from leadsla.report.analytics import segments as report_segments
from leadsla.report.full import report as full_report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.service.qualify import lead_qualification
from leadsla.service.queries import Scope, lead_detail, lead_list, lead_owner, scope_for
from leadsla.service.timers import notification_records
from leadsla.service.tokens import Principal, Role, authenticate

COOKIE = "leadsla_session"
SESSION_SECONDS = 12 * 3600
MICROS_PER_SECOND = 1_000_000
MICROS_PER_HOUR = 3600 * MICROS_PER_SECOND
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

Clock = Callable[[], int]


class LoginRequired(Exception):
    """A page asked for without a valid session: answered with a redirect to the login."""

    def __init__(self, path: str) -> None:
        super().__init__(path)
        self.path = path


def install_web(
    app: FastAPI, rules: Rulebook, engine: Engine, clock: Clock, config: Config | None
) -> None:
    """Add the dashboard to ``app`` (its pages at ``/``, beside ``/api/v1``)."""

    async def to_login(_request: Request, exc: Exception) -> Response:
        path = exc.path if isinstance(exc, LoginRequired) else "/overview"
        return RedirectResponse(f"/login?next={quote(path)}", status_code=303)

    app.add_exception_handler(LoginRequired, to_login)
    app.include_router(web_router(rules, engine, clock, config))


def web_router(
    rules: Rulebook, engine: Engine, clock: Clock, config: Config | None
) -> APIRouter:
    """The dashboard's routes."""
    router = APIRouter(include_in_schema=False)
    secret = os.environ.get("LEADSLA_SESSION_SECRET", "").encode() or secrets.token_bytes(32)
    pages = Environment(
        loader=PackageLoader("leadsla.web", "templates"),
        autoescape=select_autoescape(default=True, default_for_string=True),
        trim_blocks=True,
        lstrip_blocks=True,
    )
    pages.filters["pct"] = percent
    pages.filters["span"] = business_span
    pages.filters["num"] = number
    pages.filters["hms"] = countdown_text
    pages.filters["when"] = readable_instant
    pages.filters["money"] = money
    pages.globals["burn_up_geometry"] = burn_up_geometry
    zone = rules.calendars[rules.default_calendar].zone

    def sign(token: str) -> str:
        return hmac.new(secret, token.encode(), hashlib.sha256).hexdigest()

    def caller_of(request: Request) -> Principal | None:
        value = request.cookies.get(COOKIE, "")
        token, _, signature = value.rpartition(".")
        if not token or not hmac.compare_digest(sign(token), signature):
            return None
        with engine.connect() as connection:
            return authenticate(connection, token)

    def render(
        request: Request, name: str, caller: Principal | None, code: int = 200, **values: Any
    ) -> HTMLResponse:
        html = pages.get_template(name).render(
            caller=caller,
            path=request.url.path,
            nav=NAV,
            **values,
        )
        return HTMLResponse(html, status_code=code)

    def problem(request: Request, caller: Principal | None, status: int, text: str) -> Response:
        return render(request, "error.html.j2", caller, status, status=status, message=text)

    def viewer(request: Request) -> Principal:
        found = caller_of(request)
        if found is None:
            raise LoginRequired(request.url.path)
        return found

    Viewer = Annotated[Principal, Depends(viewer)]

    def report_for(caller: Principal, now: int, period: str = "month") -> dict[str, Any] | None:
        if config is None or caller.role is Role.REP:
            return None
        with engine.connect() as connection:
            owners = scope_for(rules, caller).owners
            events = stored_events(connection, now, owners=owners)
            return full_report(events, ReportSettings.of(rules, config), now, period, owners)

    def segments_for(caller: Principal, now: int) -> dict[str, Any] | None:
        if config is None or caller.role is Role.REP:
            return None
        with engine.connect() as connection:
            owners = scope_for(rules, caller).owners
            table = stored_events(connection, now, owners=owners).table
            return report_segments(
                table, ReportSettings.of(rules, config), now, SEGMENT_BY,
                min_leads=SEGMENT_MIN_LEADS, sort="profit", scope=owners,
            )  # fmt: skip

    @router.get("/")
    def home(request: Request) -> Response:
        target = "/overview" if caller_of(request) else "/login"
        return RedirectResponse(target, status_code=303)

    @router.get("/login", response_class=HTMLResponse)
    def login_page(request: Request, next: str = "/overview") -> Response:
        return render(request, "login.html.j2", None, next=safe_next(next), error=None)

    @router.post("/login")
    async def login(request: Request) -> Response:
        form = parse_qs((await request.body()).decode("utf-8", "replace"))
        token = (form.get("token") or [""])[0].strip()
        target = safe_next((form.get("next") or ["/overview"])[0])
        with engine.connect() as connection:
            found = authenticate(connection, token) if token else None
        if found is None:
            message = "Paste an API token." if not token else "Unknown or revoked token."
            return render(request, "login.html.j2", None, 401, next=target, error=message)
        response = RedirectResponse(target, status_code=303)
        response.set_cookie(
            COOKIE,
            f"{token}.{sign(token)}",
            max_age=SESSION_SECONDS,
            httponly=True,
            samesite="lax",
            secure=request.url.scheme == "https",
        )
        return response

    @router.post("/logout")
    def logout() -> Response:
        response = RedirectResponse("/login", status_code=303)
        response.delete_cookie(COOKIE)
        return response

    @router.get("/overview", response_class=HTMLResponse)
    def overview(request: Request, caller: Viewer) -> Response:
        now = clock()
        scope = scope_for(rules, caller)
        with engine.connect() as connection:
            at_risk = lead_list(
                connection, rules, now, scope=scope,
                at_risk_within=AT_RISK_DEFAULT * MICROS_PER_HOUR, limit=COUNT_LIMIT,
            )  # fmt: skip
            overdue = lead_list(
                connection, rules, now, scope=scope, status=first_open_status(rules),
                breached=True, limit=COUNT_LIMIT,
            )  # fmt: skip
        report = report_for(caller, now)
        this_month = month_label(now, zone)
        months = sorted((report or {}).get("by_month", {}))
        earlier = [m for m in months if m < this_month]
        return render(
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
        with engine.connect() as connection:
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
        return render(
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
    def lead_page(request: Request, lead_id: str, caller: Viewer) -> Response:
        now = clock()
        with engine.connect() as connection:
            exists, owner = lead_owner(connection, lead_id)
            if not exists:
                return problem(request, caller, 404, f"There is no lead {lead_id!r}.")
            if not scope_for(rules, caller).allows(owner):
                return problem(request, caller, 403, f"Lead {lead_id!r} is not one of yours.")
            detail = lead_detail(connection, rules, lead_id, now)
            assert detail is not None
            detail.update(lead_qualification(connection, rules, lead_id, now))
            sent = notification_records(connection, lead_id=lead_id, limit=500)
        for row in sent:
            row["fire_at"] = format_instant(row["fire_at"], zone)
            sent_at = row["sent_at"]
            row["sent_at"] = None if sent_at is None else format_instant(sent_at, zone)
        return render(
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
        )

    @router.get("/reps", response_class=HTMLResponse)
    def reps_page(request: Request, caller: Viewer, period: str = "month") -> Response:
        period = period if period in PERIODS else "month"
        report = report_for(caller, clock(), period)
        return render(
            request, "reps.html.j2", caller, report=report, rules=rules, period=period,
            periods=PERIODS,
            reps=[r for r in rules.reps.values() if report and r.id in report["by_owner"]],
        )  # fmt: skip

    @router.get("/marketing", response_class=HTMLResponse)
    def marketing(request: Request, caller: Viewer) -> Response:
        now = clock()
        return render(
            request, "marketing.html.j2", caller, report=report_for(caller, now),
            segments=segments_for(caller, now), stages=WATERFALL_STAGES,
            has_costs=config is not None and config.costs is not None,
        )  # fmt: skip

    @router.get("/settings", response_class=HTMLResponse)
    def settings(request: Request, caller: Viewer) -> Response:
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
        return render(
            request, "settings.html.j2", caller, calendars=calendars, policies=sentences,
            teams=rules.teams.values(), reps=rules.reps,
        )  # fmt: skip

    return router


NAV = (
    ("/overview", "Overview"),
    ("/at-risk", "At risk"),
    ("/reps", "Reps and teams"),
    ("/marketing", "Marketing"),
    ("/settings", "Settings"),
)
WEEKDAY_NAMES = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


def safe_next(target: str) -> str:
    """Only a path of this site (no scheme, no host): no open redirect through login."""
    if not target.startswith("/") or target.startswith("//") or "\\" in target:
        return "/overview"
    return target


def first_open_status(rules: Rulebook) -> str | None:
    return next((name for name, stage in rules.statuses.items() if stage == "open"), None)


def month_label(instant: int, zone: Any) -> str:
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


def week_hours(by_weekday: Mapping[int, Any]) -> list[tuple[str, str]]:
    return [
        (WEEKDAY_NAMES[day], ", ".join(w.text for w in windows) if windows else "closed")
        for day, windows in by_weekday.items()
    ]


def join_words(words: Iterable[str], last: str = "or") -> str:
    items = list(words)
    if len(items) <= 1:
        return "".join(items)
    return f"{', '.join(items[:-1])} {last} {items[-1]}"


def policy_sentences(name: str, policy: PolicyConfig) -> list[str]:
    """The policy in plain words, one sentence per rule."""
    where = {"owner": "the owner's calendar", "team": "the owner's team's calendar"}.get(
        policy.calendar, f"the {policy.calendar} calendar"
    )
    lines = [
        f"The clock starts when a lead's status becomes {join_words(policy.start.status)} "
        f"and stops at {join_words(policy.stop.status)}; it runs on {where}."
    ]
    if policy.pause.status:
        lines.append(f"It pauses while the status is {join_words(policy.pause.status)}.")
    for grade, duration in policy.target.items():
        who = "Every lead" if grade == "default" else f"{grade} leads"
        optional = " (optional: a miss is not a breach)" if grade in policy.optional else ""
        lines.append(f"{who}: within {duration}{optional}.")
    if policy.warn_at is not None:
        lines.append(f"The owner is warned at {policy.warn_at:.0%} of the target.")
    for number, step in enumerate(policy.escalate, start=1):
        lines.append(
            f"Step {number}: {step.after} after the start, notify {join_words(step.notify, 'and')}."
        )
    return lines


def percent(value: Any) -> str:
    return "n/a" if value is None else f"{float(value):.0%}"


def number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, int) or float(value).is_integer():
        return f"{int(value):,}"
    return f"{float(value):,.{digits}f}"


def money(value: Any, currency: str | None = None) -> str:
    """An amount with no cents, the currency code after it (``n/a`` when there is none)."""
    if value is None:
        return "n/a"
    text = f"{float(value):,.0f}"
    return f"{text} {currency}" if currency else text


def business_span(seconds: Any) -> str:
    """Business seconds as ``2 h 05 min`` (``n/a`` when there is no figure)."""
    if seconds is None:
        return "n/a"
    total = round(float(seconds))
    hours, rest = divmod(total, 3600)
    if hours:
        return f"{hours} h {rest // 60:02d} min"
    return f"{rest // 60} min {rest % 60:02d} s"


def countdown_text(seconds: int) -> str:
    """Business seconds left as ``H:MM:SS`` (the at-risk page's script writes the same)."""
    if seconds <= 0:
        return "due now"
    hours, rest = divmod(seconds, 3600)
    return f"{hours}:{rest // 60:02d}:{rest % 60:02d}"


CHART_WIDTH = 600
CHART_HEIGHT = 260
PLOT = (56, 16, 584, 224)  # left, top, right, bottom of the burn-up's plot area


def burn_up_geometry(entry: Mapping[str, Any]) -> dict[str, Any]:
    """Where a burn-up's lines go in the SVG: the report's cumulative count at the end of
    each day, the target line, and the pro-rata pace (target × share of the period gone).

    Only positions: every figure the chart shows is the report's."""
    start = datetime.fromisoformat(entry["period"]["start"]).date()
    end = datetime.fromisoformat(entry["period"]["end"]).date()
    days = max((end - start).days, 1)
    counts = [int(day["count"]) for day in entry["days"]]
    target = float(entry["target"])
    top = max([target, *counts, 1.0]) * 1.08
    left, upper, right, bottom = PLOT

    def x(day: float) -> float:
        return round(left + (right - left) * day / days, 1)

    def y(value: float) -> float:
        return round(bottom - (bottom - upper) * value / top, 1)

    points = [(x(0), y(0))] + [(x(i + 1), y(c)) for i, c in enumerate(counts)]
    return {
        "width": CHART_WIDTH,
        "height": CHART_HEIGHT,
        "plot": {"left": left, "top": upper, "right": right, "bottom": bottom},
        "line": " ".join(f"{a},{b}" for a, b in points),
        "last": points[-1],
        "target_y": y(target),
        "pace": (x(0), y(0), x(days), y(target)),
        "days": days,
        "first_date": start.isoformat(),
        "last_date": (end - timedelta(days=1)).isoformat(),
    }


def readable_instant(text: str | None) -> str:
    """An API instant (ISO 8601 with offset) as ``Wed 4 Mar 2026 10:30 (UTC-05:00)``."""
    if not text:
        return ""
    moment = datetime.fromisoformat(text)
    offset = text[19:] if len(text) > 19 else ""
    return f"{moment:%a} {moment.day} {moment:%b %Y %H:%M} (UTC{offset})"
