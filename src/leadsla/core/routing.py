"""Routing: which rep gets a new MQL, and why.

Rules are tried in order; the first whose conditions hold for the lead routes it
among its reps (a team's or named ones) by its method:

* ``round_robin`` and ``weighted_round_robin``: smooth weighted round robin. Each
  eligible rep earns its weight in credit, the rep with the most credit gets the lead
  and pays the eligible weight total. Over any stretch in which the same reps are
  eligible, each gets its weight's share, off by less than one lead; a rep who
  joins starts at zero credit, and one who is out keeps the credit it had, so
  neither the oldest members nor the newcomers are favoured.
* ``least_loaded``: the rep holding the fewest open leads (then the fewest assigned
  this month, then config order).

Before the method, reps are skipped — each with its reason — when out of office,
at their monthly ``capacity``, at the open-lead cap, or off their calendar while
a colleague of the rule is on it (when nobody is, the reps whose calendars open
first are eligible). A lead whose account already has an owner goes to that owner.
A lead is never left unassigned for a cap: when every rep of every matching rule
is at a limit, the first matching rule routes among its available reps over the
limit, and says so. Only when nobody is available (all out) does it stay unassigned.

Pure and deterministic: the state (credits, loads, account owners) and the instant
are passed in; :meth:`RoutingState.record` applies an assignment to the state.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

from leadsla.core.calendar import BusinessCalendar
from leadsla.core.scoring import Condition

# Mailbox providers whose domain names no company: a lead writing from one is matched to
# no account by its domain (``assignment.free_mail_domains`` replaces this list).
FREE_MAIL_DOMAINS: tuple[str, ...] = (
    "gmail.com",
    "googlemail.com",
    "yahoo.com",
    "yahoo.co.uk",
    "ymail.com",
    "hotmail.com",
    "hotmail.co.uk",
    "outlook.com",
    "live.com",
    "msn.com",
    "aol.com",
    "icloud.com",
    "me.com",
    "mac.com",
    "proton.me",
    "protonmail.com",
    "gmx.com",
    "gmx.de",
    "gmx.net",
    "web.de",
    "mail.com",
    "yandex.ru",
    "yandex.com",
    "mail.ru",
    "qq.com",
    "163.com",
    "126.com",
    "zoho.com",
    "fastmail.com",
    "hey.com",
    "orange.fr",
    "free.fr",
    "laposte.net",
    "libero.it",
    "btinternet.com",
    "comcast.net",
    "verizon.net",
    "att.net",
)

Method = Literal["round_robin", "weighted_round_robin", "least_loaded"]
METHODS: tuple[Method, ...] = ("round_robin", "weighted_round_robin", "least_loaded")


@dataclass(frozen=True, slots=True)
class RoutingRule:
    name: str
    conditions: tuple[Condition, ...]
    reps: tuple[str, ...]  # in config order (a team's reps, or the named ones)
    method: Method = "round_robin"
    weights: Mapping[str, float] = field(default_factory=dict)

    def applies(self, fields: Mapping[str, str]) -> bool:
        return all(condition.holds(fields) for condition in self.conditions)

    def weight(self, rep: str) -> float:
        if self.method != "weighted_round_robin":
            return 1.0
        return self.weights.get(rep, 1.0)


@dataclass(frozen=True, slots=True)
class Absence:
    rep: str
    start: int  # epoch microseconds, inclusive
    end: int  # exclusive


@dataclass(frozen=True, slots=True)
class Assignment:
    """The rules, limits and calendars that route leads (the ``assignment`` section)."""

    rules: tuple[RoutingRule, ...]
    capacity: Mapping[str, int] = field(default_factory=dict)  # rep → workable leads a month
    open_lead_cap: int | None = None
    absences: tuple[Absence, ...] = ()
    calendars: Mapping[str, BusinessCalendar] = field(default_factory=dict)  # rep → calendar
    use_calendars: bool = True
    account_field: str | None = None
    # The lead field holding its email: its domain is an account key too, unless a
    # free-mail provider's (docs/crm.md).
    email_field: str | None = None
    free_mail_domains: frozenset[str] = frozenset(FREE_MAIL_DOMAINS)
    reroute_policy: str | None = None
    reroute_after_step: int | None = None

    def absent(self, rep: str, at: int) -> bool:
        return any(a.rep == rep and a.start <= at < a.end for a in self.absences)


@dataclass(slots=True)
class RoutingState:
    """What routing remembers between leads; the caller loads and stores it."""

    credits: dict[tuple[str, str], float] = field(default_factory=dict)  # (rule, rep) → credit
    open_leads: dict[str, int] = field(default_factory=dict)  # rep → open leads held
    assigned_this_month: dict[str, int] = field(default_factory=dict)  # rep → leads
    accounts: dict[str, str] = field(default_factory=dict)  # account (casefolded) → owner

    def record(self, decision: Routed, account: str | Sequence[str] | None = None) -> None:
        """Apply a decision: the rep's loads, the rule's credits, the account's owner.

        ``account``: the company name, or the lead's :func:`account_keys`.
        """
        self.credits.update(decision.credits)
        rep = decision.rep
        if rep is None:
            return
        self.open_leads[rep] = self.open_leads.get(rep, 0) + 1
        self.assigned_this_month[rep] = self.assigned_this_month.get(rep, 0) + 1
        keys = [account.strip().casefold()] if isinstance(account, str) else account or []
        for key in keys:
            if key:
                self.accounts.setdefault(key, rep)


@dataclass(frozen=True, slots=True)
class Skip:
    rep: str
    reason: str


@dataclass(frozen=True, slots=True)
class Routed:
    """Who gets the lead, by which rule and method, who was skipped and why."""

    rep: str | None
    rule: str | None
    method: str | None
    reason: str
    skipped: tuple[Skip, ...] = ()
    credits: Mapping[tuple[str, str], float] = field(default_factory=dict)

    def record(self) -> dict[str, object]:
        return {
            "rep": self.rep,
            "rule": self.rule,
            "method": self.method,
            "reason": self.reason,
            "skipped": [{"rep": s.rep, "reason": s.reason} for s in self.skipped],
        }


DOMAIN_KEY_PREFIX = "@"


def email_domain(email: str | None) -> str | None:
    """The domain of an email address, lower case; ``None`` when it has none."""
    if not email:
        return None
    _, at, domain = email.strip().rpartition("@")
    domain = domain.strip().rstrip(".").casefold()
    return domain if at and "." in domain and " " not in domain else None


def account_keys(assignment: Assignment, fields: Mapping[str, str]) -> tuple[str, ...]:
    """The keys a lead's account is known by, strongest first: its company (casefolded)
    and ``@domain`` of its email, unless a free-mail provider's."""
    keys: list[str] = []
    company = fields.get(assignment.account_field) if assignment.account_field else None
    if company and company.strip():
        keys.append(company.strip().casefold())
    domain = email_domain(fields.get(assignment.email_field) if assignment.email_field else None)
    if domain is not None and domain not in assignment.free_mail_domains:
        keys.append(DOMAIN_KEY_PREFIX + domain)
    return tuple(keys)


def _account_label(key: str) -> str:
    if key.startswith(DOMAIN_KEY_PREFIX):
        return f"email domain {key[len(DOMAIN_KEY_PREFIX) :]}"
    return f"account {key}"


def route(
    assignment: Assignment,
    fields: Mapping[str, str],
    at: int,
    state: RoutingState,
    *,
    exclude: frozenset[str] = frozenset(),
) -> Routed:
    """Route one lead at ``at`` (``exclude``: reps it must not go back to, e.g. on re-route)."""
    skipped: list[Skip] = []
    company = fields.get(assignment.account_field) if assignment.account_field else None
    for key in account_keys(assignment, fields):
        owner = state.accounts.get(key)
        if owner is None or any(skip.rep == owner for skip in skipped):
            continue
        # The company as written, as before; a domain as "email domain acme.com".
        label = f"account {company}" if company and key == company.strip().casefold() else None
        label = label or _account_label(key)
        why = _unavailable(assignment, owner, at, exclude)
        if why is None:
            return Routed(owner, None, "account_match", f"{label} is owned by {owner}")
        skipped.append(Skip(owner, f"owns {label} but {why}"))
    matching = [rule for rule in assignment.rules if rule.applies(fields)]
    if not matching:
        return Routed(None, None, None, "no assignment rule matches the lead", tuple(skipped))
    for rule in matching:
        eligible, skips = _eligible(assignment, rule, at, state, exclude)
        skipped.extend(skips)
        if eligible:
            return _pick(rule, eligible, state, tuple(skipped), "")
    # Every rep is at a limit: never leave the lead unassigned for a cap.
    for rule in matching:
        available = [rep for rep in rule.reps if _unavailable(assignment, rep, at, exclude) is None]
        available = _on_calendar(assignment, available, at)[0]
        if available:
            return _pick(
                rule, available, state, tuple(skipped), " (every rep at a limit: over the limit)"
            )
    return Routed(None, None, None, "no rep available", tuple(skipped))


def _unavailable(assignment: Assignment, rep: str, at: int, exclude: frozenset[str]) -> str | None:
    if rep in exclude:
        return "is the owner being re-routed from"
    if assignment.absent(rep, at):
        return "is out of office"
    return None


def _eligible(
    assignment: Assignment,
    rule: RoutingRule,
    at: int,
    state: RoutingState,
    exclude: frozenset[str],
) -> tuple[list[str], list[Skip]]:
    skips: list[Skip] = []
    fits: list[str] = []
    for rep in rule.reps:
        why = _unavailable(assignment, rep, at, exclude)
        capacity = assignment.capacity.get(rep)
        taken = state.assigned_this_month.get(rep, 0)
        held = state.open_leads.get(rep, 0)
        cap = assignment.open_lead_cap
        if why is None and capacity is not None and taken >= capacity:
            why = f"is at capacity ({taken} of {capacity} leads this month)"
        if why is None and cap is not None and held >= cap:
            why = f"holds {held} open leads (cap {cap})"
        if why is not None:
            skips.append(Skip(rep, why))
        else:
            fits.append(rep)
    on, off = _on_calendar(assignment, fits, at)
    skips.extend(off)
    return on, skips


def _on_calendar(
    assignment: Assignment, reps: Sequence[str], at: int
) -> tuple[list[str], list[Skip]]:
    """The reps whose calendar is open at ``at``; if none is, those whose opens first."""
    if not assignment.use_calendars or not reps:
        return list(reps), []
    opening = {rep: _next_opening(assignment.calendars.get(rep), at) for rep in reps}
    first = min(opening.values())
    on = [rep for rep in reps if opening[rep] == first]
    off = [
        Skip(rep, "is off their calendar" if first == at else "their calendar opens later")
        for rep in reps
        if opening[rep] != first
    ]
    return on, off


def _next_opening(calendar: BusinessCalendar | None, at: int) -> int:
    return at if calendar is None else calendar.next_opening(at)


def _pick(
    rule: RoutingRule,
    eligible: Sequence[str],
    state: RoutingState,
    skipped: tuple[Skip, ...],
    note: str,
) -> Routed:
    if rule.method == "least_loaded":
        order = {rep: index for index, rep in enumerate(rule.reps)}
        rep = min(
            eligible,
            key=lambda r: (
                state.open_leads.get(r, 0),
                state.assigned_this_month.get(r, 0),
                order[r],
            ),
        )
        held = state.open_leads.get(rep, 0)
        return Routed(
            rep,
            rule.name,
            rule.method,
            f"rule {rule.name}: fewest open leads ({held}){note}",
            skipped,
        )
    total = sum(rule.weight(rep) for rep in eligible)
    credits = {
        (rule.name, rep): state.credits.get((rule.name, rep), 0.0) + rule.weight(rep)
        for rep in eligible
    }
    rep = max(eligible, key=lambda r: credits[(rule.name, r)])  # first in order on a tie
    credits[(rule.name, rep)] -= total
    share = rule.weight(rep) / total
    return Routed(
        rep,
        rule.name,
        rule.method,
        f"rule {rule.name}: {rule.method.replace('_', ' ')} turn ({share:.0%} share){note}",
        skipped,
        credits,
    )
