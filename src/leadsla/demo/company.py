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
here, so each rep's speed stays theirs). Some leads arrive without a country, which
no routing rule matches: they wait in the lead desk's queue until the desk assigns
them by hand.

The config clocks real sales work (SPEC §9): a ``routing`` clock measures the queue,
the rep's ``follow_up`` clock starts at assignment and stops at the first real touch
(a working status, a call, an email reply or a meeting), an ``attempts`` cadence asks
for six attempts in ten business days, at most a business day apart, and reminders
are delivered in the recipients' hours (an ownerless lead's go to the lead desk).

Reps differ: Maya Chen answers within minutes, Owen Pratt within days, Lena
Vogel is on holiday for two weeks (her leads wait) and Felix Braun is out of office
at the end (his newest leads wait, and routing skips him); a lead untouched for two
business days is often reassigned to a teammate. A marketing sequence sends some new
leads an automated email (no touch); some reps log a call without setting the status.
After the first touch come more attempts while nobody answers (most within a
business day of the last), then a decision: qualified (an opportunity, later won or
lost), recycled to nurture (some come back as MQLs: a new cycle), deferred (with a
revisit date: on it the lead is an MQL again and is worked, as the worker would make
it) or not a lead. Optional C leads that nobody works are handed back to marketing
within a few business days. The chance of an opportunity falls as the time to first
touch grows, after the HBR lead-response figures (:data:`RESPONSE_DECAY`). The history
is what the engine leaves as it is: the worker's first round at the history's end
finds no deferred lead to bring back, and the untouched leads past their deadline are
few.

Everything is drawn from one seeded ``random.Random``: the same seed, size, months
and end give the same file, byte for byte.
"""

from __future__ import annotations

import csv
import math
import random
import zlib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta, tzinfo
from typing import Any, TextIO
from zoneinfo import ZoneInfo

import numpy as np
import yaml

from leadsla.config import build_rulebook, load_config_text
from leadsla.core.calendar import BusinessCalendar
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.events import instant_or_date
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
# Why sales rejects an MQL, and why a worked lead goes back to marketing: each lead's
# reason is picked by its id (no random draw, so the rest of the history is the same).
SAL_REASONS = ("No budget", "Not the buyer", "Duplicate", "Wrong contact data",
               "Student or job seeker")  # fmt: skip
END_REASONS = {
    "recycled": ("No response", "Not ready", "Timing"),
    "deferred": ("Next quarter", "Budget cycle"),
    "disqualified": ("Competitor", "Student or job seeker", "Spam", "Out of territory"),
}
# The share of worked leads whose rep also clicks "Accept" (the others are SALs by
# their working status alone), in hundredths.
ACCEPT_CLICKED = 60

SOURCES = ("website", "paid_search", "content", "referral", "webinar", "event")
SOURCE_WEIGHT = (0.35, 0.25, 0.2, 0.1, 0.05, 0.05)
SOURCE_COST = (60, 250, 90, 40, 150, 600)  # USD per lead, by SOURCES (B2B-like)
TITLES = ("VP Operations", "Director of IT", "Analyst", "CFO", "Office Manager", "CTO")
# (upper bound of the time to first touch in wall minutes, factor on the chance of an
# opportunity), after the HBR study of lead response (Oldroyd, McElheran, Elkington, "The
# Short Life of Online Sales Leads", 2011): a lead answered within the hour is about 7
# times as likely to qualify as one answered later that day, and about 60 times as
# likely as one answered after 24 hours (0.9 / 0.13 and 0.9 / 0.01 here).
RESPONSE_DECAY = ((5, 1.0), (30, 0.9), (60, 0.8), (240, 0.14), (1440, 0.12), (math.inf, 0.01))
OPPORTUNITY_BASE = {"A": 0.55, "B": 0.35, "C": 0.15}
DEFAULT_SMTP_PORT = 8025
# Leads made, and rows written, between two calls of a progress callback.
PROGRESS_LEADS = 1000
PROGRESS_ROWS = 100_000


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


def team_shares(company: DemoCompany, target: int) -> dict[str, int]:
    """A target split between the teams by the share of leads each one receives."""
    total = sum(team.share for team in company.teams)
    return {team.name: round(target * team.share / total) for team in company.teams}


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
            # Queue time (SPEC §9.1): from arrival to an owner, on the lead desk's
            # calendar, charged to no rep; its step goes to the desk (the lead has no owner).
            "routing": {
                "start": {"status": ["New"]},
                "stop": {"assigned": True},
                "target": {"default": "2 business hours"},
                "calendar": company.teams[0].calendar,
                "escalate": [{"after": "1 business hour", "notify": ["owner"]}],
            },
            # The rep's SLA: from assignment to the first real touch.
            "follow_up": {
                "start": {"status": ["New"], "assigned": True},
                "stop": {
                    "status": ["Attempting to Contact", "Contacted", "Invalid Information"],
                    "activity": ["call", "email:replied", "meeting"],
                },
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
            # Six attempts to reach the lead within 10 business days, none more than a
            # business day apart (SPEC §9.3); a connect or a decision ends the cadence.
            "attempts": {
                "kind": "cadence",
                "start": {"status": ["New"], "assigned": True},
                "stop": {
                    "status": [
                        "Contacted",
                        "Qualified",
                        "Not a Lead",
                        "Invalid Information",
                        "Recycled",
                        "Deferred",
                    ],
                    "activity": ["call:connected", "email:replied", "meeting"],
                },
                "attempts": CADENCE_ATTEMPTS,
                "within": "10 business days",
                "gap": "1 business day",
                "calendar": "owner",
                "escalate": [{"after": "6 business hours", "notify": ["owner"]}],
            },
        },
        "commitments": [
            {
                "name": "MQLs per quarter",
                "metric": "mqls",
                "period": "quarter",
                "target": int(quarter_mqls),
                # Each team's share, for its manager's view: by the number of its reps.
                "team_targets": team_shares(company, int(quarter_mqls)),
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
        # Sales acceptance (SPEC §9.5): the reasons sales may give, closed lists.
        "sal": {"reasons": list(SAL_REASONS)},
        "reasons": {kind: list(values) for kind, values in END_REASONS.items()},
        # Sales' promise on workable leads, watched per rep with its error budget: the
        # slow rep burns it (the overview's objectives, the managers' alerts).
        "objectives": [
            {
                "name": "Workable leads followed up",
                "policy": "follow_up",
                "grades": ["A", "B"],
                "target": "95%",
                "window": "28 days",
                "per": "owner",
                "alert": {"burn_rate": 2, "long_window": "7 days", "short_window": "3 days"},
            }
        ],
        # What a lead costs marketing by source (``leadsla segments``, the Marketing page).
        "costs": {"per_lead": dict(zip(SOURCES, SOURCE_COST, strict=True)), "currency": "USD"},
        "scoring": scoring_section(),
        "assignment": assignment_section(company, end),
        "notifications": {
            # Reminders wait for the recipient's working hours (SPEC §9.4); a weekend's
            # hold is some 60 hours, inside max_delay. Ownerless leads' steps: the desk.
            "deliver": "recipient_hours",
            "unassigned": [{"name": "Lead desk", "email": f"leads@{domain}"}],
            "max_delay": "72 hours",
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
# The newest leads (of the last 3 business hours on their office's calendar, and of the
# last 36 hours) are partly inbound web leads without status or owner: scoring decides
# MQL or nurture at import, routing assigns the MQLs. The history cannot work them (it
# does not know their rep), so they are young enough to be within their target at the
# demo's now: waiting on the at-risk list, not past deadline.
INBOUND_WINDOW = 36 * HOUR
INBOUND_BUSINESS = 3 * HOUR
INBOUND_SHARE = 0.6
# The rest of the history: some leads arrive without a country, which no routing rule
# matches: they wait in the lead desk's queue (New York hours) until the desk looks the
# country up and assigns them by hand, after a wait of business minutes drawn around
# QUEUE_MINUTES. A marketing sequence sends an automated email to some new leads.
QUEUE_SHARE = 0.15
QUEUE_MINUTES = 45
SEQUENCE_SHARE = 0.5
# Some reps log a call without setting the status (the touch stops the follow-up clock
# all the same); the status follows at the next attempt or the decision.
NO_STATUS_SHARE = 0.3
# A lead nobody touched for two business days is reassigned to a teammate, often.
REASSIGN_AFTER = 16 * HOUR
REASSIGN_SHARE = 0.5
CADENCE_ATTEMPTS = 6
# Optional C leads: some are never worked, and the rep hands them back to marketing
# unworked within a few business days (a lead left `New` for months would sit in the
# dashboard's "untouched past deadline" for ever).
SKIPPED_C_SHARE = 0.3
SKIPPED_C_CLEARED = (8 * HOUR, 40 * HOUR)  # business time after assignment: drawn in this


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
    in EMEA; reps off their calendar or out of office are skipped. A lead without a
    country matches no rule: it waits in the lead desk's queue."""
    by_team = {t.name: [r for r in company.reps if r.team == t.name] for t in company.teams}
    america = by_team["east"] + by_team["west"]
    section: dict[str, Any] = {
        "rules": [
            {"name": "EMEA", "when": {"field": "country", "op": "in", "value": ["DE", "GB", "FR"]},
             "team": "emea", "method": "least_loaded"},
            {"name": "North America",
             "when": {"field": "country", "op": "in", "value": ["US", "CA"]},
             "reps": [r.id for r in america],
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
    progress: Callable[[str, int, int | None], None] | None = None,
) -> HistoryStats:
    """Write the company's history (native events CSV, SPEC §3) ending at ``end`` (epoch µs).

    Leads arrive over ``months`` × 30 days before ``end``; the last days' leads are
    still being worked at ``end`` (open clocks for the at-risk list). ``progress`` is
    told the stage, its units done and their total: the leads made, then the rows
    written.
    """
    if leads < 1:
        raise ValueError("leads: at least 1")
    if months < 1:
        raise ValueError("months: at least 1")
    company = company or demo_company()
    rules = company_rules(company)
    rng = random.Random(seed)
    start = end - months * 30 * DAY
    by_team = {t.name: [r for r in company.reps if r.team == t.name] for t in company.teams}
    zone = rules.default_zone
    # The window's first day is cut at the time of day the history ends at (and an
    # office's local day straddles two UTC dates), so a few draws fall outside it: the
    # leads they would have been are drawn again, from a generator of their own, and
    # come last, so that the history has the leads asked for at any hour and the rest
    # of it is what the seed gives.
    drawn = [
        (arrival, rng) for arrival in _arrival_instants(rng, company, rules, start, end, leads)
    ]
    extra = random.Random(f"{seed} more leads")
    while len(drawn) < leads:
        more = _arrival_instants(extra, company, rules, start, end, leads - len(drawn))
        drawn += [(arrival, extra) for arrival in more]
    written: list[_Lead] = []
    for number, ((created, team, campaign), drawing) in enumerate(drawn, start=1):
        lead = _Lead(f"NW{number:05d}", created)
        reps = by_team[team.name]
        rep = drawing.choices(reps, weights=[r.capacity for r in reps])[0]
        _one_lead(drawing, lead, rep, team, reps, campaign, rules, start, end)
        written.append(lead)
        if progress is not None and number % PROGRESS_LEADS == 0:
            progress("generating the leads", number, leads)
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["lead_id", "at", "field", "value"])
    kept = [
        (lead.id, at, name, value)
        for lead in written
        for at, name, value in sorted(lead.rows, key=lambda row: row[0])
        if at <= end
    ]
    stamps = format_instants(np.array([row[1] for row in kept], dtype=np.int64), zone)
    for first in range(0, len(kept), PROGRESS_ROWS):
        if progress is not None:
            progress("writing the rows", first, len(kept))
        last = first + PROGRESS_ROWS
        writer.writerows(
            (lead_id, stamp, name, value)
            for (lead_id, _at, name, value), stamp in zip(
                kept[first:last], stamps[first:last], strict=True
            )
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


def campaign_of(source: str, at: int, team: DemoTeam) -> str:
    """The marketing campaign a lead answered: the trade show and the webinar by name,
    the other sources by channel and month (``paid_search 2026-03``), the way campaign
    names read in a CRM. Drawn from nothing random, so the rest of the history is the
    same with or without it."""
    moment = datetime.fromtimestamp(at / MICROS_PER_SECOND, UTC)
    if source == "event":
        return f"Trade show {moment:%Y} ({team.name})"
    if source == "webinar":
        return f"Webinar: speed to lead ({moment:%b %Y})"
    return f"{source} {moment:%Y-%m}"


def _next_weekday(day: date, weekday: int) -> date:
    return day + timedelta(days=(weekday - day.weekday()) % 7)


def _one_lead(
    rng: random.Random,
    lead: _Lead,
    rep: DemoRep,
    team: DemoTeam,
    team_reps: Sequence[DemoRep],
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
    country = rng.choice(team.countries)
    office = rules.calendars[team.calendar]
    inbound = (
        at >= end - INBOUND_WINDOW
        and office.elapsed(at, end) <= INBOUND_BUSINESS
        and rng.random() < INBOUND_SHARE
    )
    queued = not inbound and rng.random() < QUEUE_SHARE
    lead.add(at, "source", source)
    lead.add(at, "campaign", campaign_of(source, at, team))
    lead.add(at, "industry", industry)
    lead.add(at, "title", title)
    lead.add(at, "employees", str(employees))
    if not queued:
        lead.add(at, "country", country)
    lead.add(at, "product_line", rng.choice(("Platform", "Insights")))
    if rng.random() < BUYING_SOON_SHARE:
        lead.add(at, "buying_timeframe", rng.choice(BUYING_SOON))
    for visit, counts in WEB_VISITS:
        for _ in range(rng.choice(counts)):
            lead.add(at, "web", visit)
    if inbound:
        return  # no status, no owner: qualification and routing decide at import
    score = _scored(rules, lead, at)
    lead.add(at, "status", "New")
    lead.add(at, "score", f"{score.score:g}")
    if score.trigger is not None and score.grade is not None:
        lead.add(at, "grade", score.grade)
    assigned = at
    if queued:
        # The desk (New York hours) looks the country up and assigns the lead by hand.
        desk = rules.calendars[rules.default_calendar]
        wait = QUEUE_MINUTES * rng.lognormvariate(0, 1.0)
        assigned = desk.add(at, round(wait * MINUTE)) + rng.randrange(MINUTE)
        lead.add(assigned, "country", country)
    lead.add(assigned, "owner", rep.id)
    if rng.random() < SEQUENCE_SHARE:
        lead.add(at + rng.randrange(2 * MINUTE, 15 * MINUTE), "activity", "email:automated")
    calendar = rules.calendars[team.calendar]
    grade = score.grade or "C"
    _work_cycle(
        rng, lead, rep, team_reps, grade, calendar, at, start, end,
        rules=rules, first=True, assigned=assigned,
    )  # fmt: skip


def _scored(rules: Rulebook, lead: _Lead, at: int) -> Score:
    """The lead's score at ``at`` by the config's ``scoring`` (as the service computes it)."""
    assert rules.scoring is not None
    return score_rows(rules.scoring, lead.rows, at)


def _work_cycle(
    rng: random.Random,
    lead: _Lead,
    rep: DemoRep,
    team_reps: Sequence[DemoRep],
    grade: str,
    calendar: BusinessCalendar,
    mql_at: int,
    start: int,
    end: int,
    *,
    rules: Rulebook,
    first: bool,
    assigned: int | None = None,
) -> None:
    """One MQL cycle: first touch, more attempts, then a decision (and maybe a recycle).

    ``assigned`` (default ``mql_at``) is when the rep got the lead: their speed counts
    from then; the lead's experience (the chance of an opportunity) from ``mql_at``.
    """
    assigned = mql_at if assigned is None else assigned
    if grade == "C" and rng.random() < SKIPPED_C_SHARE:
        cleared = calendar.add(assigned, rng.randrange(*SKIPPED_C_CLEARED))
        # (a lead that still qualifies by score would be an MQL again at once)
        qualifies = _scored(rules, lead, cleared).mql
        if qualifies:
            _decided(lead, cleared, "Not a Lead", "disqualified")
        else:
            _decided(lead, cleared, "Recycled", "recycled")
        return
    touched = _first_touch(rng, rep, grade, calendar, assigned, start, end)
    untouched = calendar.elapsed(assigned, touched)
    if untouched > REASSIGN_AFTER and rng.random() < REASSIGN_SHARE:
        # Untouched for two business days: the manager gives the lead to a teammate
        # (before its owner would have got to it).
        extra = rng.randrange(min(4 * HOUR, untouched - REASSIGN_AFTER))
        taken = calendar.add(assigned, REASSIGN_AFTER + extra)
        others = [r for r in team_reps if r.id != rep.id and not _away(r, taken, start, end)]
        if others:
            rep = rng.choices(others, weights=[r.capacity for r in others])[0]
            lead.add(taken, "owner", rep.id)
            touched = _first_touch(rng, rep, grade, calendar, taken, start, end)
    waited = (touched - mql_at) / MINUTE  # wall minutes: what the lead experienced
    connected = rng.random() < 0.45
    status_later = rng.random() < NO_STATUS_SHARE
    # A sent email is a touch only with the status that says so: a rep who leaves the
    # status for later has called.
    missed = ("call:no_answer", "call:voicemail", "call:attempted")
    lead.add(touched, "activity", "call:connected" if connected else rng.choice(
        missed if status_later else (*missed, "email:sent")))  # fmt: skip
    status = "Contacted" if connected else "Attempting to Contact"
    if not status_later:
        lead.add(touched, "status", status)
    if zlib.crc32(f"{lead.id}:{mql_at}".encode()) % 100 < ACCEPT_CLICKED:
        lead.add(touched, "sal", "accepted")  # the rep clicked Accept on the lead page
    at = touched
    # More attempts while nobody answered: most within a business day of the last,
    # some later (a breach of the cadence), until a connect or the rep gives up.
    for _ in range(0 if connected else rng.choice((0, 1, 2, 3, 4, 5, 5, 6))):
        gap = rng.randrange(HOUR, 8 * HOUR) if rng.random() < 0.85 else rng.randrange(20 * HOUR)
        at = calendar.add(at, gap)
        outcome = rng.choice(
            ("call:no_answer", "call:voicemail", "call:attempted", "email:sent", "call:connected")
        )
        lead.add(at, "activity", outcome)
        if status_later:
            lead.add(at, "status", "Attempting to Contact")
            status_later = False
        if outcome == "call:connected":
            connected = True
            lead.add(at, "status", "Contacted")
            break
    if status_later:  # no more attempts: the rep updates the status a little later
        lead.add(calendar.add(touched, rng.randrange(10 * MINUTE, 3 * HOUR)), "status", status)
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
        _decided(lead, decided, "Recycled", "recycled")
        back = decided + rng.randrange(20 * DAY, 70 * DAY)
        if first and rng.random() < 0.3 and back < end:
            # The lead answers a nurture email, and marketing hands it back a little later.
            lead.add(back - rng.randrange(5 * MINUTE, HOUR), "activity", "email:replied")
            lead.add(back, "status", "New")  # qualified again: a new follow-up cycle
            _work_cycle(
                rng, lead, rep, team_reps, grade, calendar, back, start, end,
                rules=rules, first=False,
            )  # fmt: skip
    elif roll < chance + 0.5:
        _decided(lead, decided, "Deferred", "deferred")
        revisit = decided + rng.randrange(30 * DAY, 90 * DAY)
        revisit_day = _local_day(revisit, calendar.zone)
        lead.add(decided, "revisit_at", revisit_day)
        # On its revisit date (midnight in the default zone, as the worker reads it) the
        # lead is an MQL again with the owner it has, and is worked within the history: the
        # worker finds no deferred lead overdue at the demo's now (its status entered at the
        # revisit instant is not earlier than the date). Dates after now stay ahead.
        returns = instant_or_date(revisit_day, rules.default_zone)
        if returns is not None and returns <= end:
            lead.add(returns, "status", "New")
            _work_cycle(
                rng, lead, rep, team_reps, grade, calendar, returns, start, end,
                rules=rules, first=False,
            )  # fmt: skip
    else:
        _decided(lead, decided, "Not a Lead", "disqualified")


def _picked(lead: _Lead, choices: Sequence[str], salt: str) -> str:
    """One of ``choices`` for this lead, by a hash of its id (stable, no random draw)."""
    return choices[zlib.crc32(f"{lead.id}:{salt}".encode()) % len(choices)]


def _decided(lead: _Lead, at: int, status: str, kind: str) -> None:
    """A status change that ends sales' work, with its reason row at the same instant
    (SPEC §9.5); sales rejects the MQL it disqualifies, with its own reason."""
    lead.add(at, "status", status)
    lead.add(at, "reason", _picked(lead, END_REASONS[kind], kind))
    if kind == "disqualified":
        lead.add(at, "sal", "rejected")
        lead.add(at, "sal_reason", _picked(lead, SAL_REASONS, "sal"))


def _first_touch(
    rng: random.Random,
    rep: DemoRep,
    grade: str,
    calendar: BusinessCalendar,
    since: int,
    start: int,
    end: int,
) -> int:
    """When the rep first touches a lead they got at ``since``: their typical speed,
    slower for lower grades, after their absence if they are away then."""
    speed = {"A": 0.6, "B": 1.0, "C": 2.5}[grade]
    minutes = rep.median_minutes * speed * rng.lognormvariate(0, 0.9)
    touch_from = since
    for away_from, away_to in rep.absences(start, end):
        if away_from <= since < away_to:
            touch_from = away_to + rng.randrange(DAY)  # the backlog after the absence
    return calendar.add(touch_from, round(minutes * MINUTE))


def _away(rep: DemoRep, at: int, start: int, end: int) -> bool:
    return any(away_from <= at < away_to for away_from, away_to in rep.absences(start, end))


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
