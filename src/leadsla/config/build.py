"""A validated :class:`~leadsla.config.schema.Config` as the core's :class:`Rulebook`.

The core knows nothing of YAML or pydantic: it gets plain frozen values, and the
qualification sections are built by :mod:`leadsla.config.qualify` beside the rest.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import date

import holidays

from leadsla.config.qualify import build_assignment, build_intake, build_scoring
from leadsla.config.schema import (
    CalendarConfig,
    Config,
    HolidaysConfig,
    ObjectiveConfig,
    PersonConfig,
    PolicyConfig,
)
from leadsla.core.acceptance import REASON_OUTCOMES, Acceptance
from leadsla.core.calendar import BusinessCalendar, HolidaySource
from leadsla.core.crm_identity import CrmSettings
from leadsla.core.objectives import LONG_WINDOW_SHARE, SHORT_WINDOW_SHARE, BurnAlert, Objective
from leadsla.core.policy import EscalationStep, Person, Policy, Rep, Rulebook, Team
from leadsla.core.recipients import Delivery
from leadsla.core.scoring import Grade

__all__ = ["build_acceptance", "build_crm", "build_delivery", "build_objectives", "build_rulebook"]


def build_rulebook(config: Config) -> Rulebook:
    """The core's view of a validated config."""
    teams: dict[str, Team] = {}
    reps: dict[str, Rep] = {}
    for team_name, team in config.teams.items():
        teams[team_name] = Team(
            name=team_name,
            calendar=team.calendar,
            manager=_person(team.manager) if team.manager is not None else None,
            reps=tuple(rep.id for rep in team.reps),
        )
        for rep in team.reps:
            reps[rep.id] = Rep(
                id=rep.id,
                name=rep.name,
                email=rep.email,
                team=team_name,
                calendar=rep.calendar,
                capacity=rep.capacity,
            )
    grades = tuple(Grade(name=g.name, min_score=g.min_score) for g in config.grades)
    intake = build_intake(config.intake, config.default_calendar_name)
    rulebook = Rulebook(
        calendars={name: _calendar(name, c) for name, c in config.calendars.items()},
        default_calendar=config.default_calendar_name,
        policies=tuple(_policy(name, p) for name, p in config.policies.items())
        + ((intake,) if intake is not None else ()),
        grades=grades,
        statuses={status.name: status.stage for status in config.statuses},
        teams=teams,
        reps=reps,
        executives=tuple(_person(person) for person in config.executives),
        scoring=build_scoring(config.scoring, grades),
        intake=intake,
        acceptance=build_acceptance(config),
        crm=build_crm(config),
    )
    return replace(rulebook, assignment=build_assignment(config.assignment, rulebook))


def build_crm(config: Config) -> CrmSettings:
    """Reps' CRM user ids and the ``connectors`` section's activity rules (docs/crm.md)."""
    rep_ids = {
        rep.id: {
            crm: user
            for crm, user in (("salesforce", rep.crm.salesforce), ("hubspot", rep.crm.hubspot))
            if user is not None
        }
        for team in config.teams.values()
        for rep in team.reps
        if rep.crm is not None
    }
    connectors = config.connectors
    return CrmSettings.of(
        rep_ids,
        salesforce_rules=connectors.salesforce.activity_rules(),
        hubspot_rules=connectors.hubspot.activity_rules(),
        closed_statuses=tuple(connectors.salesforce.closed_statuses),
    )


def build_acceptance(config: Config) -> Acceptance:
    """SPEC §9.5: the closed reason lists and the statuses' outcomes the config gives."""
    reasons: dict[str, frozenset[str]] = {}
    if config.reasons is not None:
        for outcome in REASON_OUTCOMES:
            listed = getattr(config.reasons, outcome)
            if listed is not None:
                reasons[outcome] = frozenset(listed)
    sal_reasons = config.sal.reasons if config.sal is not None else None
    return Acceptance(
        sal_reasons=frozenset(sal_reasons) if sal_reasons is not None else None,
        reasons=reasons,
        outcomes={s.name: s.outcome for s in config.statuses if s.outcome is not None},
    )


def build_delivery(config: Config) -> Delivery:
    """SPEC §9.4: whether messages wait for the recipient's hours, and who gets the
    ``owner`` and ``manager`` steps of a lead with no owner."""
    notifications = config.notifications
    return Delivery(
        in_hours=notifications.deliver == "recipient_hours",
        unassigned=tuple(_person(person) for person in notifications.unassigned),
    )


def build_objectives(config: Config) -> tuple[Objective, ...]:
    """The ``objectives`` section, each alert's windows resolved to microseconds."""
    return tuple(_objective(objective) for objective in config.objectives)


def _objective(config: ObjectiveConfig) -> Objective:
    window = config.window.micros()
    alert = config.alert
    long = alert.long_window.micros() if alert.long_window else window // LONG_WINDOW_SHARE
    short = alert.short_window.micros() if alert.short_window else long // SHORT_WINDOW_SHARE
    return Objective(
        name=config.name,
        policy=config.policy,
        grades=frozenset(config.grades),
        target=config.target,
        window=window,
        per=config.per,
        alert=BurnAlert(long_window=long, short_window=short, burn_rate=alert.burn_rate),
    )


def _person(person: PersonConfig) -> Person:
    return Person(
        name=person.name, email=person.email, slack=person.slack, calendar=person.calendar
    )


def _calendar(name: str, calendar: CalendarConfig) -> BusinessCalendar:
    hours = {
        number: [(window.start, window.end) for window in windows]
        for number, windows in calendar.hours.by_weekday().items()
        if windows
    }
    return BusinessCalendar(
        name=name,
        timezone=calendar.timezone,
        hours=hours,
        holidays=_holiday_source(calendar.holidays) if calendar.holidays else None,
        day_hours=calendar.day_hours,
    )


def _holiday_source(config: HolidaysConfig) -> HolidaySource:
    country, subdivision, extra = config.country, config.subdivision, tuple(config.dates)

    def closed_dates(year: int) -> set[date]:
        closed = {day for day in extra if day.year == year}
        if country is not None:
            closed.update(holidays.country_holidays(country, subdiv=subdivision, years=year))
        return closed

    return closed_dates


def _policy(name: str, policy: PolicyConfig) -> Policy:
    return Policy(
        name=name,
        start=frozenset(policy.start.status),
        stop=frozenset(policy.stop.status),
        pause=frozenset(policy.pause.status),
        applies_to={key: frozenset(values) for key, values in policy.applies_to.items()},
        targets=dict(policy.target),
        optional=frozenset(policy.optional),
        calendar=policy.calendar,
        warn_at=policy.warn_at,
        escalate=tuple(
            EscalationStep(
                number=number,
                after=step.after,
                notify=tuple(step.notify),
                message=step.message,
                urgent=step.urgent,
            )
            for number, step in enumerate(policy.escalate, start=1)
        ),
        start_activity=frozenset(policy.start.activity),
        start_assigned=policy.start.assigned,
        stop_activity=frozenset(policy.stop.activity),
        stop_assigned=policy.stop.assigned,
        on_reassign=policy.on_reassign,
        kind=policy.kind,
        attempts=policy.attempts or 0,
        within=policy.within,
        gap=policy.gap,
    )
