"""A realistic demo company: its ``leadsla.yaml`` and six months of lead history.

*Northwind Analytics* sells a data platform from three offices: New York (east),
San Francisco (west) and Berlin (emea), each with its own time zone, lunch hours
and public holidays; 14 reps with monthly capacities. Leads arrive with a weekly
rhythm (Tuesday and Wednesday busiest, few at weekends), a daily one (the office's
mornings and early afternoons) and two campaign spikes: a trade-show day whose
badge scans are entered the next morning, and a webinar. Scores come from the
config's ``scoring`` rules (source, title and size, web behaviour; a buying timeframe
triggers an A); grades from its thresholds. The newest leads are partly inbound web
leads without status or owner: at import, scoring makes them MQLs or leaves them in
nurture, and ``assignment`` routes the MQLs (the older leads keep the owners drawn
here, so each rep's speed stays theirs).

Reps differ: Maya Chen answers within minutes, Owen Pratt within days, Lena
Vogel is on holiday for two weeks (her leads wait) and Felix Braun is out of office
at the end (his newest leads wait, and routing skips him). After the first touch come
more attempts, then a decision: qualified (an opportunity, later won or lost),
recycled to nurture (some come back as MQLs: a new cycle), deferred or not a lead.
The chance of an opportunity falls as the time to first touch grows, the way the
published lead-response studies report it.

Everything is drawn from one seeded ``random.Random``: the same seed, size, months
and end give the same file, byte for byte.
"""

from __future__ import annotations

import csv
import math
import random
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import numpy as np
import yaml

from leadsla.config import build_rulebook, load_config_text
from leadsla.core.calendar import BusinessCalendar
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.instants import format_instants
from leadsla.core.policy import Rulebook
from leadsla.core.scoring import Score, score_rows

MINUTE = 60 * MICROS_PER_SECOND
HOUR = 60 * MINUTE
DAY = 24 * HOUR

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri")
# Share of a week's leads per weekday (Monday first): Tuesday and Wednesday peak.
WEEKDAY_WEIGHT = (1.0, 1.25, 1.2, 1.0, 0.8, 0.15, 0.1)
# Share of a day's leads per local hour (0-23): office mornings and early afternoons.
HOUR_WEIGHT = (
    0.1, 0.05, 0.05, 0.05, 0.05, 0.1, 0.3, 0.6, 1.0, 1.4, 1.6, 1.5,
    1.1, 1.2, 1.4, 1.3, 1.0, 0.7, 0.5, 0.4, 0.35, 0.3, 0.2, 0.15,
)  # fmt: skip
INDUSTRIES = ("Healthcare", "Financial Services", "Manufacturing", "Retail", "Software")
SOURCES = ("website", "paid_search", "content", "referral", "webinar", "event")
SOURCE_WEIGHT = (0.35, 0.25, 0.2, 0.1, 0.05, 0.05)
SOURCE_COST = (60, 250, 90, 40, 150, 600)  # USD per lead, by SOURCES (B2B-like)
TITLES = ("VP Operations", "Director of IT", "Analyst", "CFO", "Office Manager", "CTO")
# (upper bound of the time to first touch in minutes, factor on the chance of an opportunity)
RESPONSE_DECAY = ((5, 1.0), (30, 0.7), (60, 0.55), (240, 0.4), (1440, 0.3), (math.inf, 0.2))
OPPORTUNITY_BASE = {"A": 0.55, "B": 0.35, "C": 0.15}
DEFAULT_SMTP_PORT = 8025


@dataclass(frozen=True)
class DemoRep:
    id: str
    name: str
    team: str
    capacity: int
    median_minutes: float  # business minutes to the first touch, typical
    holiday: tuple[int, int] | None = None  # days from the history's start: away
    away_at_end: tuple[int, int] | None = None  # days before and after the history's end: away

    def absences(self, start: int, end: int) -> list[tuple[int, int]]:
        """The instants (from, until) at which the rep is away."""
        found = []
        if self.holiday is not None:
            found.append((start + self.holiday[0] * DAY, start + self.holiday[1] * DAY))
        if self.away_at_end is not None:
            found.append((end - self.away_at_end[0] * DAY, end + self.away_at_end[1] * DAY))
        return found


@dataclass(frozen=True)
class DemoTeam:
    name: str
    calendar: str
    timezone: str
    country: str  # the office's public holidays: ISO country and subdivision
    subdivision: str
    hours: tuple[str, ...]
    manager: tuple[str, str]  # name, and mailbox at the company's domain
    countries: tuple[str, ...]  # where the team's leads come from
    share: float  # of all leads


@dataclass(frozen=True)
class DemoCompany:
    """The company's shape; :func:`demo_company` gives the one the demo uses."""

    teams: tuple[DemoTeam, ...]
    reps: tuple[DemoRep, ...]
    executive: tuple[str, str] = ("Chris Young", "chris.young@northwind.example")  # name, email


def demo_company() -> DemoCompany:
    teams = (
        DemoTeam("east", "new-york", "America/New_York", "US", "NY",
                 ("09:00-12:00", "13:00-17:30"), ("Dana Whitfield", "dana"), ("US",), 0.45),
        DemoTeam("west", "san-francisco", "America/Los_Angeles", "US", "CA",
                 ("08:30-12:00", "13:00-17:00"), ("Marco Ruiz", "marco"), ("US", "CA"), 0.25),
        DemoTeam("emea", "berlin", "Europe/Berlin", "DE", "BE",
                 ("08:00-12:30", "13:30-17:00"), ("Tom Hale", "tom"), ("DE", "GB", "FR"), 0.30),
    )  # fmt: skip
    reps = (
        DemoRep("maya", "Maya Chen", "east", 60, 6),  # the fast one
        DemoRep("sam", "Sam Ortiz", "east", 50, 90),
        DemoRep("priya", "Priya Nair", "east", 50, 120),
        DemoRep("jonah", "Jonah Reed", "east", 40, 200),
        DemoRep("ella", "Ella Brooks", "east", 40, 150),
        DemoRep("owen", "Owen Pratt", "west", 40, 900),  # the slow one
        DemoRep("kira", "Kira Patel", "west", 45, 60),
        DemoRep("luis", "Luis Romero", "west", 45, 180),
        DemoRep("ana", "Ana Lopes", "emea", 45, 45),
        DemoRep("lena", "Lena Vogel", "emea", 40, 100, holiday=(95, 109)),  # two weeks away
        DemoRep("felix", "Felix Braun", "emea", 40, 240, away_at_end=(2, 5)),  # out this week
        DemoRep("chloe", "Chloé Martin", "emea", 35, 130),
        DemoRep("david", "David Okafor", "emea", 35, 300),
        DemoRep("nina", "Nina Berg", "emea", 30, 160),
    )
    return DemoCompany(teams=teams, reps=reps)


def company_config(
    company: DemoCompany, *, smtp_port: int = DEFAULT_SMTP_PORT, end: int | None = None
) -> dict[str, Any]:
    """The company's ``leadsla.yaml`` as a mapping (dump it with :func:`config_yaml`).

    ``end`` (epoch µs, the history's end) dates the out-of-office of the reps away then.
    """
    domain = "northwind.example"
    calendars: dict[str, Any] = {}
    teams: dict[str, Any] = {}
    for team in company.teams:
        calendars[team.calendar] = {
            "timezone": team.timezone,
            "hours": {day: list(team.hours) for day in WEEKDAYS},
            "holidays": {"country": team.country, "subdivision": team.subdivision},
        }
        manager_name, manager_mail = team.manager
        teams[team.name] = {
            "calendar": team.calendar,
            "manager": {"name": manager_name, "email": f"{manager_mail}@{domain}"},
            "reps": [
                {"id": r.id, "name": r.name, "email": f"{r.id}@{domain}", "capacity": r.capacity}
                for r in company.reps
                if r.team == team.name
            ],
        }
    quarter_mqls = round(sum(r.capacity for r in company.reps) * 3 * 0.8, -1)
    return {
        "default_calendar": company.teams[0].calendar,
        "calendars": calendars,
        "teams": teams,
        "executives": [{"name": company.executive[0], "email": company.executive[1]}],
        "grades": [
            {"name": "A", "min_score": 80},
            {"name": "B", "min_score": 50},
            {"name": "C", "min_score": 0},
        ],
        "policies": {
            "follow_up": {
                "start": {"status": ["New"]},
                "stop": {"status": ["Attempting to Contact", "Contacted", "Invalid Information"]},
                "target": {
                    "A": "4 business hours",
                    "B": "8 business hours",
                    "C": "3 business days",
                },
                "optional": ["C"],
                "calendar": "owner",
                "warn_at": "75%",
                "escalate": [
                    {"after": "24 hours", "notify": ["owner"]},
                    {"after": "48 hours", "notify": ["owner", "manager"]},
                    {"after": "72 hours", "notify": ["executive"]},
                ],
            },
            "qualification": {
                "start": {"status": ["Attempting to Contact", "Contacted"]},
                "stop": {
                    "status": [
                        "Qualified",
                        "Deferred",
                        "Recycled",
                        "Not a Lead",
                        "Invalid Information",
                    ]
                },
                "target": {"default": "10 business days"},
                "calendar": "owner",
            },
        },
        "commitments": [
            {
                "name": "MQLs per quarter",
                "metric": "mqls",
                "period": "quarter",
                "target": int(quarter_mqls),
            },
            {
                "name": "Healthcare MQLs per month",
                "metric": "mqls",
                "period": "month",
                "target": 60,
                "segment": {"industry": "Healthcare"},
            },
            {
                "name": "Workable leads per rep",
                "metric": "workable_leads_per_rep",
                "period": "month",
                "target": 30,
            },
        ],
        "workable": {"grade": ["A", "B"]},
        # What a lead costs marketing by source (``leadsla segments``, the Marketing page).
        "costs": {"per_lead": dict(zip(SOURCES, SOURCE_COST, strict=True)), "currency": "USD"},
        "scoring": scoring_section(),
        "assignment": assignment_section(company, end),
        "notifications": {
            "email": {
                "host": "127.0.0.1",
                "port": smtp_port,
                "from": f"leadsla@{domain}",
                "starttls": False,
            },
        },
    }


EXECUTIVE_TITLES = ["VP Operations", "CFO", "CTO"]
BUYING_SOON = ["1-3 months", "3-6 months"]
MQL_THRESHOLD = 50
BUYING_SOON_SHARE = 0.05  # of leads: say they buy within 6 months (the trigger)
# Web behaviour a lead shows when it is entered: (the web row, how many of it: drawn).
WEB_VISITS = (
    ("pricing_page", (0, 0, 1, 1, 2)),
    ("download", (0, 1, 1, 2)),
    ("email_click", (0, 1, 2, 3, 4)),
)
# The newest leads (of the last 36 hours) are partly inbound web leads without status
# or owner: scoring decides MQL or nurture at import, routing assigns the MQLs.
INBOUND_WINDOW = 36 * HOUR
INBOUND_SHARE = 0.6


def scoring_section() -> dict[str, Any]:
    """Who is an MQL: the profile points the generator's leads earn, the web behaviour
    they show (decaying), a buying-timeframe trigger. Grades are the config's."""
    return {
        "mql_threshold": MQL_THRESHOLD,
        "profile": [
            {"name": "event or referral", "field": "source", "op": "in",
             "value": ["event", "referral"], "points": 30},
            {"name": "webinar lead", "field": "source", "op": "eq", "value": "webinar",
             "points": 25},
            {"name": "paid search", "field": "source", "op": "eq", "value": "paid_search",
             "points": 10},
            {"name": "website or content", "field": "source", "op": "in",
             "value": ["website", "content"], "points": 5},
            {"name": "executive buyer", "field": "title", "op": "in", "value": EXECUTIVE_TITLES,
             "points": 25},
            {"name": "other title", "field": "title", "op": "not_in", "value": EXECUTIVE_TITLES,
             "points": 10},
            {"name": "mid-market or larger", "field": "employees", "op": "gte", "value": 250,
             "points": 20},
            {"name": "small company", "field": "employees", "op": "lt", "value": 250,
             "points": 5},
        ],
        "behaviour": [
            {"name": "pricing page", "field": "web", "value": "pricing_page", "points": 10,
             "half_life": "7 days"},
            {"name": "content download", "field": "web", "value": "download", "points": 5,
             "half_life": "30 days"},
            {"name": "email click", "field": "web", "value": "email_click", "points": 2,
             "half_life": "14 days", "group": "email"},
        ],
        "caps": {"behaviour": 40, "email": 10, "total": 100},
        "triggers": [
            {"name": "buying within 6 months",
             "when": {"field": "buying_timeframe", "op": "in", "value": BUYING_SOON},
             "grade": "A"},
        ],
    }  # fmt: skip


def assignment_section(company: DemoCompany, end: int | None) -> dict[str, Any]:
    """Routing of the MQLs that arrive without an owner (the newest web leads): by
    country to the office, weighted by capacity in North America, the least-loaded rep
    in EMEA; reps off their calendar or out of office are skipped."""
    by_team = {t.name: [r for r in company.reps if r.team == t.name] for t in company.teams}
    america = by_team["east"] + by_team["west"]
    section: dict[str, Any] = {
        "rules": [
            {"name": "EMEA", "when": {"field": "country", "op": "in", "value": ["DE", "GB", "FR"]},
             "team": "emea", "method": "least_loaded"},
            {"name": "North America", "reps": [r.id for r in america],
             "method": "weighted_round_robin", "weights": {r.id: r.capacity for r in america}},
        ],
    }  # fmt: skip
    if end is not None:
        zone = {t.name: ZoneInfo(t.timezone) for t in company.teams}
        section["out_of_office"] = [
            {
                "rep": rep.id,
                "from": _local_day(end - rep.away_at_end[0] * DAY, zone[rep.team]),
                "until": _local_day(end + rep.away_at_end[1] * DAY, zone[rep.team]),
            }
            for rep in company.reps
            if rep.away_at_end is not None
        ]
    return section


def _local_day(instant: int, zone: tzinfo) -> str:
    return datetime.fromtimestamp(instant / MICROS_PER_SECOND, zone).date().isoformat()


def config_yaml(config: Mapping[str, Any]) -> str:
    header = "# The demo company of `leadsla demo` (Northwind Analytics): three offices, 14 reps.\n"
    return header + yaml.safe_dump(dict(config), sort_keys=False, allow_unicode=True, width=100)


def company_rules(company: DemoCompany) -> Rulebook:
    return build_rulebook(load_config_text(config_yaml(company_config(company)), "demo.yaml"))


@dataclass(frozen=True)
class HistoryStats:
    leads: int
    events: int
    first: int
    last: int


@dataclass
class _Lead:
    id: str
    created: int
    rows: list[tuple[int, str, str]] = field(default_factory=list)

    def add(self, at: int, name: str, value: str) -> None:
        self.rows.append((at - at % MICROS_PER_SECOND, name, value))


def write_company_history(
    out: TextIO,
    *,
    seed: int = 1,
    leads: int = 3000,
    months: int = 6,
    end: int,
    company: DemoCompany | None = None,
) -> HistoryStats:
    """Write the company's history (native events CSV, SPEC §3) ending at ``end`` (epoch µs).

    Leads arrive over ``months`` × 30 days before ``end``; the last days' leads are
    still being worked at ``end`` (open clocks for the at-risk list).
    """
    if leads < 1:
        raise ValueError("leads: at least 1")
    if months < 1:
        raise ValueError("months: at least 1")
    company = company or demo_company()
    rules = company_rules(company)
    rng = random.Random(seed)
    start = end - months * 30 * DAY
    arrivals = _arrival_instants(rng, company, rules, start, end, leads)
    by_team = {t.name: [r for r in company.reps if r.team == t.name] for t in company.teams}
    zone = rules.default_zone
    written: list[_Lead] = []
    for number, (created, team, campaign) in enumerate(arrivals, start=1):
        lead = _Lead(f"NW{number:05d}", created)
        reps = by_team[team.name]
        rep = rng.choices(reps, weights=[r.capacity for r in reps])[0]
        _one_lead(rng, lead, rep, team, campaign, rules, start, end)
        written.append(lead)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["lead_id", "at", "field", "value"])
    kept = [
        (lead.id, at, name, value)
        for lead in written
        for at, name, value in sorted(lead.rows, key=lambda row: row[0])
        if at <= end
    ]
    stamps = format_instants(np.array([row[1] for row in kept], dtype=np.int64), zone)
    writer.writerows(
        (lead_id, stamp, name, value)
        for (lead_id, _at, name, value), stamp in zip(kept, stamps, strict=True)
    )
    return HistoryStats(len(written), len(kept), start, end)


def _arrival_instants(
    rng: random.Random,
    company: DemoCompany,
    rules: Rulebook,
    start: int,
    end: int,
    count: int,
) -> list[tuple[int, DemoTeam, str | None]]:
    """(instant, team, campaign) per lead, sorted by instant."""
    days = (end - start) // DAY
    first_day = datetime.fromtimestamp(start / MICROS_PER_SECOND, UTC).date()
    event_day = _next_weekday(first_day + timedelta(days=round(days * 0.35)), 1)  # a Tuesday
    webinar_day = _next_weekday(first_day + timedelta(days=round(days * 0.7)), 3)  # a Thursday
    weights: list[float] = []
    for offset in range(days):
        day = first_day + timedelta(days=offset)
        weight = WEEKDAY_WEIGHT[day.weekday()]
        if day == event_day + timedelta(days=1):  # the badge scans, entered next morning
            weight *= 8
        if day in (webinar_day, webinar_day + timedelta(days=1)):
            weight *= 4
        weights.append(weight)
    chosen_days = rng.choices(range(days), weights=weights, k=count)
    result: list[tuple[int, DemoTeam, str | None]] = []
    for offset in chosen_days:
        day = first_day + timedelta(days=offset)
        campaign: str | None = None
        if day == event_day + timedelta(days=1) and rng.random() < 0.85:
            campaign = "event"
        elif day in (webinar_day, webinar_day + timedelta(days=1)) and rng.random() < 0.75:
            campaign = "webinar"
        team = rng.choices(company.teams, weights=[t.share for t in company.teams])[0]
        hour = rng.choices(range(24), weights=HOUR_WEIGHT)[0]
        if campaign == "event":
            hour = rng.choice((9, 10, 11))
        local = datetime.combine(day, datetime.min.time()).replace(
            hour=hour, minute=rng.randrange(60), second=rng.randrange(60),
            tzinfo=rules.calendars[team.calendar].zone,
        )  # fmt: skip
        at = int(local.timestamp()) * MICROS_PER_SECOND
        if start <= at < end:
            result.append((at, team, campaign))
    result.sort(key=lambda item: item[0])
    return result


def _next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _one_lead(
    rng: random.Random,
    lead: _Lead,
    rep: DemoRep,
    team: DemoTeam,
    campaign: str | None,
    rules: Rulebook,
    start: int,
    end: int,
) -> None:
    at = lead.created
    source = campaign or rng.choices(SOURCES[:4], weights=SOURCE_WEIGHT[:4])[0]
    industry = rng.choice(INDUSTRIES)
    title = rng.choice(TITLES)
    employees = rng.choice((20, 80, 250, 900, 4000))
    lead.add(at, "source", source)
    lead.add(at, "industry", industry)
    lead.add(at, "title", title)
    lead.add(at, "employees", str(employees))
    lead.add(at, "country", rng.choice(team.countries))
    lead.add(at, "product_line", rng.choice(("Platform", "Insights")))
    if rng.random() < BUYING_SOON_SHARE:
        lead.add(at, "buying_timeframe", rng.choice(BUYING_SOON))
    for visit, counts in WEB_VISITS:
        for _ in range(rng.choice(counts)):
            lead.add(at, "web", visit)
    if at >= end - INBOUND_WINDOW and rng.random() < INBOUND_SHARE:
        return  # no status, no owner: qualification and routing decide at import
    score = _scored(rules, lead, at)
    lead.add(at, "status", "New")
    lead.add(at, "score", f"{score.score:g}")
    if score.trigger is not None and score.grade is not None:
        lead.add(at, "grade", score.grade)
    lead.add(at, "owner", rep.id)
    calendar = rules.calendars[team.calendar]
    grade = score.grade or "C"
    _work_cycle(rng, lead, rep, grade, calendar, at, start, end, rules=rules, first=True)


def _scored(rules: Rulebook, lead: _Lead, at: int) -> Score:
    """The lead's score at ``at`` by the config's ``scoring`` (as the service computes it)."""
    assert rules.scoring is not None
    return score_rows(rules.scoring, lead.rows, at)


def _work_cycle(
    rng: random.Random,
    lead: _Lead,
    rep: DemoRep,
    grade: str,
    calendar: BusinessCalendar,
    mql_at: int,
    start: int,
    end: int,
    *,
    rules: Rulebook,
    first: bool,
) -> None:
    """One MQL cycle: first touch, more attempts, then a decision (and maybe a recycle)."""
    if grade == "C" and rng.random() < 0.3:
        return  # optional C leads: some are never touched
    speed = {"A": 0.6, "B": 1.0, "C": 2.5}[grade]
    minutes = rep.median_minutes * speed * rng.lognormvariate(0, 0.9)
    touch_from = mql_at
    for away_from, away_to in rep.absences(start, end):
        if away_from <= mql_at < away_to:
            touch_from = away_to + rng.randrange(DAY)  # the backlog after the absence
    touched = calendar.add(touch_from, round(minutes * MINUTE))
    waited = (touched - mql_at) / MINUTE  # wall minutes: what the lead experienced
    connected = rng.random() < 0.45
    lead.add(touched, "activity", "call:connected" if connected else rng.choice(
        ("call:no_answer", "call:voicemail", "email:sent")))  # fmt: skip
    lead.add(touched, "status", "Contacted" if connected else "Attempting to Contact")
    at = touched
    for _ in range(rng.choice((0, 1, 1, 2, 3))):
        at = calendar.add(at, rng.randrange(2 * HOUR, 16 * HOUR))
        connected = connected or rng.random() < 0.3
        lead.add(at, "activity", rng.choice(("call:no_answer", "email:sent", "call:connected")))
    decided = calendar.add(at, rng.randrange(4 * HOUR, 60 * HOUR))
    factor = next(f for limit, f in RESPONSE_DECAY if waited < limit)
    chance = OPPORTUNITY_BASE[grade] * factor * (1.3 if connected else 0.6)
    roll = rng.random()
    if roll < chance:
        lead.add(decided, "status", "Qualified")
        lead.add(decided, "opportunity", "open")
        amount = rng.choice((12_000, 24_000, 36_000, 60_000, 90_000))
        lead.add(decided, "amount", str(amount))
        closed = decided + rng.randrange(14 * DAY, 75 * DAY)
        lead.add(closed, "outcome", "won" if rng.random() < 0.3 + 0.1 * factor else "lost")
    elif roll < chance + 0.35 and not _scored(rules, lead, decided).mql:
        # (a lead that still qualifies by score would be an MQL again at once: deferred)
        lead.add(decided, "status", "Recycled")
        back = decided + rng.randrange(20 * DAY, 70 * DAY)
        if first and rng.random() < 0.3 and back < end:
            lead.add(back, "activity", "email:replied")
            lead.add(back, "status", "New")  # qualified again: a new follow-up cycle
            _work_cycle(rng, lead, rep, grade, calendar, back, start, end, rules=rules, first=False)
    elif roll < chance + 0.5:
        lead.add(decided, "status", "Deferred")
        revisit = decided + rng.randrange(30 * DAY, 90 * DAY)
        lead.add(decided, "revisit_at", _local_day(revisit, calendar.zone))
    else:
        lead.add(decided, "status", "Not a Lead")


def today_end(now: int) -> int:
    """The instant a demo history ends at: ``now`` to the second."""
    return now - now % MICROS_PER_SECOND


def parse_end(text: str) -> int:
    """``YYYY-MM-DD`` (end of that UTC day) as epoch µs; ValueError with a clear message."""
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise ValueError(f"--end: {text!r} is not a date YYYY-MM-DD") from None
    midnight = datetime.combine(day + timedelta(days=1), datetime.min.time(), tzinfo=UTC)
    return int(midnight.timestamp()) * MICROS_PER_SECOND
