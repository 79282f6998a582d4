"""Compliance objectives: the error budget of a rolling window, and when it burns too fast.

An objective asks that a share of a policy's clocks be met (say 95% of A leads'
follow-up clocks) over a rolling window (say 28 days), for the company, each team or
each owner. Its **error budget** is the share that may breach, ``1 - target``.

The **burn rate** of a window is how fast the budget goes: the breach share of the
clocks started in that window divided by the budget. At 1 the budget lasts exactly
the objective's window; at 2 it is gone in half of it.

The alert is the two-window rule of SRE practice: it holds while the burn rate over a
long window *and* over a short one are both above a threshold. The long window shows
that enough of the budget went to matter; the short one that it is still going, so
the alert clears soon after the breaching stops instead of staying up for the whole
long window. docs/worker.md gives the defaults and a worked example.

Everything here is given its instant and its clocks; it reads neither clock nor store.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Literal, NamedTuple

from leadsla.core.cycle import State, Verdict
from leadsla.core.policy import Rulebook

__all__ = [
    "COMPANY",
    "DEFAULT_BURN_RATE",
    "BurnAlert",
    "GroupStatus",
    "Objective",
    "Outcome",
    "Per",
    "burn_rate",
    "group_of",
    "objective_statuses",
    "outcomes_of",
]

Per = Literal["company", "team", "owner"]
COMPANY = "company"  # the one group of an objective ``per: company``

# Long window = objective window / 12, short window = long / 12: for 28 days, 56 hours
# and 4 h 40 min. A 2 sustained over the long window spends 2/12 (a sixth) of the
# budget in it and, kept up, would spend the rest in half the objective's window.
LONG_WINDOW_SHARE = 12
SHORT_WINDOW_SHARE = 12
DEFAULT_BURN_RATE = 2.0


@dataclass(frozen=True, slots=True)
class BurnAlert:
    """The two windows (microseconds, wall clock) and the burn rate both must exceed."""

    long_window: int
    short_window: int
    burn_rate: float


@dataclass(frozen=True, slots=True)
class Objective:
    name: str
    policy: str
    grades: frozenset[str]  # empty: every grade
    target: float  # 0.95 for 95%
    window: int  # microseconds, wall clock
    per: Per
    alert: BurnAlert

    @property
    def budget(self) -> float:
        # Rounded: 1 - 0.8 is 0.19999999999999996 in floating point, which would make a
        # breach share of exactly 20% burn a hair above 1 and fire a threshold of 1.
        return round(1.0 - self.target, 12)


class Outcome(NamedTuple):
    """A clock that counts in compliance: when it started, its group, and whether it breached."""

    started_at: int
    group: str
    # False: met. Running, paused and lapsed clocks are never outcomes (SPEC §8).
    breached: bool


@dataclass(frozen=True, slots=True)
class GroupStatus:
    """One group of an objective at an instant.

    ``compliance`` is met / (met + breached) of the clocks started in the objective's
    window (None: none counted); ``budget_left`` the share of the error budget not
    spent (1.0 untouched, 0 spent, below 0 overspent; None with no clock counted);
    the burn rates are None when their window counted no clock.
    """

    objective: str
    group: str
    met: int
    breached: int
    compliance: float | None
    budget_left: float | None
    long_burn: float | None
    short_burn: float | None
    firing: bool


def burn_rate(breached: int, counted: int, budget: float) -> float | None:
    """The breach share of ``counted`` clocks over the error budget; None when none counted."""
    if counted == 0:
        return None
    return (breached / counted) / budget


def group_of(objective: Objective, owner: str | None, rules: Rulebook) -> str | None:
    """The group a clock counts in: the company, the owner's team, or the owner.
    A clock with no owner (or an owner of no team, per team) is in no team or owner group."""
    if objective.per == "company":
        return COMPANY
    if owner is None:
        return None
    if objective.per == "owner":
        return owner
    team = rules.team_of(owner)
    return team.name if team is not None else None


def outcomes_of(
    objective: Objective, rules: Rulebook, verdicts: Iterable[Verdict], now: int
) -> list[Outcome]:
    """The met and breached clocks of the objective's policy and grades started in its
    window ending at ``now``, each with its group (SPEC §8: other states count in neither)."""
    since = now - objective.window
    found: list[Outcome] = []
    for verdict in verdicts:
        if verdict.policy != objective.policy or verdict.state not in (State.MET, State.BREACHED):
            continue
        if not since < verdict.started_at <= now:
            continue
        if objective.grades and verdict.grade not in objective.grades:
            continue
        group = group_of(objective, verdict.owner, rules)
        if group is not None:
            found.append(Outcome(verdict.started_at, group, verdict.state is State.BREACHED))
    return found


def objective_statuses(
    objective: Objective,
    outcomes: Iterable[Outcome],
    now: int,
    *,
    groups: Iterable[str] = (),
) -> dict[str, GroupStatus]:
    """Each group's status at ``now``, from the outcomes of clocks started in the window.

    ``groups`` adds groups with no counted clock (a team with nothing started yet, or one
    whose alert is open and must be seen to clear): they get an unspent budget row."""
    counts: dict[str, list[int]] = {group: [0, 0, 0, 0, 0, 0] for group in groups}
    long_since = now - objective.alert.long_window
    short_since = now - objective.alert.short_window
    for outcome in outcomes:
        if not now - objective.window < outcome.started_at <= now:
            continue
        row = counts.setdefault(outcome.group, [0, 0, 0, 0, 0, 0])
        # [counted, breached] over the objective's window, the long and the short one.
        for offset, since in ((0, None), (2, long_since), (4, short_since)):
            if since is None or outcome.started_at > since:
                row[offset] += 1
                row[offset + 1] += outcome.breached
    return {group: _status(objective, group, row) for group, row in sorted(counts.items())}


def _status(objective: Objective, group: str, row: list[int]) -> GroupStatus:
    counted, breached, long_counted, long_breached, short_counted, short_breached = row
    budget = objective.budget
    spent = burn_rate(breached, counted, budget)
    long_burn = burn_rate(long_breached, long_counted, budget)
    short_burn = burn_rate(short_breached, short_counted, budget)
    threshold = objective.alert.burn_rate
    return GroupStatus(
        objective=objective.name,
        group=group,
        met=counted - breached,
        breached=breached,
        compliance=None if counted == 0 else (counted - breached) / counted,
        # Over the whole window the burn rate is the share of the budget spent.
        budget_left=None if spent is None else 1.0 - spent,
        long_burn=long_burn,
        short_burn=short_burn,
        firing=(
            long_burn is not None
            and short_burn is not None
            and long_burn > threshold
            and short_burn > threshold
        ),
    )
