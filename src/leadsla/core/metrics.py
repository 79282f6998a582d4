"""The figures of the scorecard (SPEC §8), from replayed leads.

Two steps, so that a history of millions of leads stays cheap:

* :func:`lead_facts` reads one replayed lead (plain Python: it runs inside the
  replay loop, one lead at a time) and returns its MQL facts — one per cycle of
  the MQL policy — and its clock facts — one per cycle of every policy.
* :class:`FactCollector` packs those facts into typed columns, strings as codes;
  :func:`scorecard` aggregates the columns with NumPy (``bincount`` per group),
  never making a Python object per fact.

Where SPEC §8 is silent, this module decides as follows.

* **The MQL policy** is ``follow_up`` when a policy has that name, else the first
  policy whose start statuses are all of stage ``open``. Each of its cycles is one
  MQL, at the cycle's start. Without such a policy an MQL is the status entering
  an ``open`` stage status from outside that stage (or at the lead's first
  instant), and no MQL is a SAL.
* **Reassignment** (SPEC §9.2, ``on_reassign: restart``): a cycle that begins by a
  reassignment (the cycle before it was ended by one at that same instant) is not
  a new MQL. The MQL is the chain of cycles from the one that began it; its SAL,
  follow-up state and time to follow-up are those of the chain's last cycle. A
  cycle ended by a reassignment is in no time to follow-up (it was handed over, not
  followed up); ended ``reassigned`` it counts in no compliance figure either, ended
  ``breached`` it is the previous owner's breach, as SPEC §9.2 says.
* **Sales acceptance** (SPEC §9.5): an MQL's ``sal`` and ``sal_reason`` rows are
  those from its start (for a chain, from the start of its last cycle: the new owner
  decides afresh) until the next MQL, or the evaluation instant; the last ``sal`` row
  decides, an empty one withdraws it. Its recycle, defer or disqualify reason is the
  last status change into such a status, with a ``reason`` row at its instant, from
  the MQL instant on.
* **An assignment start** (SPEC §9.1, ``start: {status: [...], assigned: true}`` on
  the MQL policy): the MQL is marketing's hand-off, so it is counted when the status
  enters the start set (from outside it, or at the lead's first instant; with the
  policy's ``applies_to`` read then), whether or not anyone owns the lead. It is
  linked to the first follow-up cycle (not begun by a reassignment) that starts
  from that instant until the next such entry; its SAL, follow-up state and time to
  follow-up are that cycle's chain's. Its grade, score and segments are the ones at
  the hand-off; its owner and team the ones the linked cycle started with (the rep
  it was handed to). An MQL never assigned has no follow-up verdict, no owner, and
  is not a SAL. (A status that re-enters the start set while the clock still runs
  is one more MQL, with no cycle of its own.)
* **Attempts** are activity rows that are attempts (SPEC §9.1: every activity but
  ``email:automated``); **connects** the ``connected``, ``replied`` and ``held``
  outcomes.
* **A queue's clock** (a policy whose ``stop`` holds on ``assigned``: the time before
  any rep had the lead) is charged to nobody: its clocks have no owner and no team,
  so they count in ``overall`` and ``by_month`` compliance but in no rep's or
  team's figures.
* **The cycle** an MQL's attempts, connects and qualification are counted in runs
  from the MQL instant (included) to the lead's next MQL instant (excluded), or to
  the evaluation instant for the last one.
* **Attempts, connect rate, connects per attempt and conversion to pipeline**
  are over workable MQLs only, as SPEC defines them "per workable lead". An MQL is
  workable when its grade is a workable one or its fields at the MQL instant match a
  workable segment (:mod:`leadsla.core.workable`, read with the grade, owner and team
  a commitment's segment reads).
* **Cohort figures** (``mqls``, ``sals``, workable leads, attempts, connects,
  conversion) are grouped by the grade, owner and team *at the MQL instant* (with
  an assignment start, the owner and team the follow-up started with: see above).
  **Clock figures** (``compliance``, ``time_to_follow_up``) are grouped by the
  clock's verdict: the owner it is attributed to (SPEC §4 rule 9: the owner at the
  breach or the stop, else the current one), that owner's team, and the grade it
  is judged on. A clock is in the period in which it started; a ``follow_up``
  clock therefore sits in its MQL's period.
* **Time to follow-up** covers every stopped clock of the MQL policy, whatever its
  verdict (``met``, ``breached`` or ``lapsed``): it is how long the follow-up took.
  A cycle ended by a reassignment is not stopped in this sense (see above).
* **Periods**: ``overall``, ``by_grade``, ``by_owner`` and ``by_team`` cover the
  period (month or quarter, in ``default_calendar``'s zone) that contains the
  evaluation instant, from its start up to that instant; ``by_month`` covers the
  whole history, one entry per month in which an MQL or a clock started.
* **Score bands** (``by_score_band``) cut the lead's ``score`` at the edges of
  ``MetricRules.score_bands`` (default 0, 25, 50, 75, 100): band ``25-50`` holds
  scores from 25 (included) to 50 (excluded), ``below 0`` the scores under the first
  edge and ``100+`` those from the last. An MQL is banded by its score at the MQL
  instant, a clock by the score at its start (the last value at or before it); a
  lead without a score, or with one that is not a number, is in no band. A grade
  given directly does not move a lead between bands: the band is the score's.
* **Missing keys**: an MQL or clock without a grade, owner or team counts in
  ``overall`` and ``by_month`` but under no key of ``by_grade``, ``by_owner`` or
  ``by_team`` (JSON has no null keys, and an invented "unassigned" could clash
  with a rep id). An owner that is not a configured rep has no team.
* **Commitments** count in the commitment's own period (month, quarter or year)
  that contains the evaluation instant. The elapsed share is wall time from the
  period's start to the evaluation instant over the period's length; the pro-rata
  target is ``target × share`` and the forecast ``count / share`` (``null`` at a
  share of 0). Segments match the MQL's fields at the MQL instant (``grade`` is the
  effective grade, ``owner`` the owner; ``team`` the owner's team unless the lead
  has a ``team`` field). ``workable_leads_per_rep`` counts workable MQLs per owner
  at the MQL instant; its ``count`` is the average over the reps in view (every
  configured rep, plus any other owner with such an MQL), and ``per_rep`` gives
  each rep's count.
"""

from __future__ import annotations

import itertools
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import date, datetime, tzinfo
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from leadsla.core.acceptance import (
    ACCEPTANCE_FIELDS,
    ACCEPTED,
    OUTCOMES,
    REASON_FIELD,
    REASON_OUTCOMES,
    REJECTED,
    SAL_FIELD,
    SAL_REASON_FIELD,
    status_outcomes,
)
from leadsla.core.calendar import local_instant
from leadsla.core.clock import Cycle, State, Verdict, grade_of
from leadsla.core.columns import (
    MICROS_PER_SECOND,
    MINUTES_PER_DAY,
    BoolArray,
    FloatArray,
    IndexArray,
    Int8Array,
    Int32Array,
    Int64Array,
)
from leadsla.core.evaluate import LeadResult
from leadsla.core.instants import format_instant, offsets_seconds
from leadsla.core.policy import CONNECT_OUTCOMES, Policy, Rulebook, is_attempt
from leadsla.core.workable import Workable

__all__ = [
    "CLOCK_COLUMN_TYPES",
    "COMMITMENT_METRICS",
    "DEFAULT_SCORE_BANDS",
    "PERIODS",
    "ClockFact",
    "Commitment",
    "FactCollector",
    "Facts",
    "LeadFacts",
    "MetricRules",
    "MqlFact",
    "Period",
    "acceptance_tables",
    "collect_facts",
    "facts_of",
    "grouped_quantiles",
    "lead_facts",
    "merge_facts",
    "metric_rules",
    "month_numbers",
    "mql_policy_of",
    "outcome_tables",
    "period_containing",
    "row_weights",
    "score_band_edges",
    "score_band_labels",
    "score_of",
    "scorecard",
    "snapped_instants",
    "state_code",
]


FOLLOW_UP = "follow_up"
OPEN, WORKING, QUALIFIED = "open", "working", "qualified"
PERIODS = ("month", "quarter", "year")
_MONTHS_IN = {"month": 1, "quarter": 3, "year": 12}
COMMITMENT_METRICS = ("mqls", "sals", "workable_leads", "workable_leads_per_rep", "opportunities")
DEFAULT_SCORE_BANDS = (0.0, 25.0, 50.0, 75.0, 100.0)

# Clock states as small integer codes in the columns.
_STATES: tuple[State, ...] = (
    State.RUNNING,
    State.PAUSED,
    State.MET,
    State.BREACHED,
    State.LAPSED,
    State.REASSIGNED,
)
_STATE_CODE = {state: code for code, state in enumerate(_STATES)}
_OUTCOME = {name: code for code, name in enumerate(OUTCOMES)}
_REASON_OUTCOME = {name: code for code, name in enumerate(REASON_OUTCOMES)}
_MET = _STATE_CODE[State.MET]
_BREACHED = _STATE_CODE[State.BREACHED]


def state_code(state: State) -> int:
    """The code of a clock state in :attr:`Facts.clock_state`."""
    return _STATE_CODE[state]


# -- the rules the figures need -------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Commitment:
    """One ``commitments`` entry: what marketing owes sales in each period."""

    name: str
    metric: str  # one of COMMITMENT_METRICS
    period: str  # month | quarter | year
    target: float
    segment: Mapping[str, frozenset[str]] = field(default_factory=dict)
    team_targets: Mapping[str, float] = field(default_factory=dict)  # team → its share


@dataclass(frozen=True)
class MetricRules:
    """The rulebook plus what only the metrics read (``workable``, ``commitments``)."""

    rules: Rulebook
    mql_policy: str | None
    workable: Workable
    commitments: tuple[Commitment, ...] = ()
    # Reps listed in per-rep figures even with no MQL (a rep without leads is news too).
    reps: tuple[str, ...] = ()
    # Ascending edges that cut scores into the bands of ``by_score_band``.
    score_bands: tuple[float, ...] = DEFAULT_SCORE_BANDS
    # What time to first touch is measured in for speed to lead: wall or business.
    speed_clock: str = "wall"

    # Cached: lead_facts asks for these once per lead.
    @cached_property
    def segment_fields(self) -> tuple[str, ...]:
        """The lead fields some commitment segments on: kept per MQL, at its instant."""
        names: dict[str, None] = {}
        for commitment in self.commitments:
            names.update(dict.fromkeys(commitment.segment))
        return tuple(names)

    @cached_property
    def watched_fields(self) -> tuple[str, ...]:
        """The lead fields the figures read at the MQL instant: those kept per MQL and
        the workable segments' conditions."""
        return tuple(dict.fromkeys([*self.fact_fields, *self.workable.fields]))

    @cached_property
    def fact_fields(self) -> tuple[str, ...]:
        """The lead fields kept per MQL at its instant: the commitments' segment fields
        and those the acceptance tables are cut by (SPEC §9.5)."""
        return tuple(dict.fromkeys((*self.segment_fields, *ACCEPTANCE_FIELDS)))

    @cached_property
    def outcome_of(self) -> dict[str, str]:
        """Status → the outcome a cycle of work ends on there (core/acceptance.py)."""
        return status_outcomes(self.rules.statuses, self.rules.acceptance)

    @cached_property
    def policies(self) -> tuple[str, ...]:
        return tuple(policy.name for policy in self.rules.policies)

    @cached_property
    def mql(self) -> Policy | None:
        """The MQL policy itself (``mql_policy`` names it)."""
        return next((p for p in self.rules.policies if p.name == self.mql_policy), None)

    @cached_property
    def unowned_policies(self) -> frozenset[str]:
        """Policies whose stop holds on assignment (a queue, a routing clock): their
        clocks measure the time before any rep had the lead, charged to nobody."""
        return frozenset(p.name for p in self.rules.policies if p.stop_assigned)

    @cached_property
    def team_of(self) -> dict[str, str]:
        """Rep id → team name (an owner who is no configured rep has no team)."""
        return {
            rep.id: rep.team for rep in self.rules.reps.values() if rep.team in self.rules.teams
        }

    @property
    def zone(self) -> tzinfo:
        return self.rules.default_zone

    @cached_property
    def score_band_names(self) -> list[str]:
        return score_band_labels(self.score_bands)

    def score_band(self, score: float | None) -> int:
        """The code of a score's band in :attr:`score_band_names` (-1: no score)."""
        if score is None:
            return -1
        return bisect_right(self.score_bands, score)


def score_band_edges(edges: Sequence[float]) -> tuple[float, ...]:
    """``edges`` as score band edges, refused unless there is one at least and they
    ascend, each once (config validation and :func:`metric_rules` share this)."""
    bands = tuple(map(float, edges))
    if not bands or any(high <= low for low, high in itertools.pairwise(bands)):
        raise ValueError(f"score band edges must be in ascending order, each once: {list(bands)}")
    return bands


def _edge(value: float) -> str:
    return f"{value:g}"


def score_band_labels(edges: Sequence[float]) -> list[str]:
    """``below e0``, ``e0-e1``, …, ``en+``: one label per band that ``edges`` cut."""
    inner = [f"{_edge(low)}-{_edge(high)}" for low, high in itertools.pairwise(edges)]
    return [f"below {_edge(edges[0])}", *inner, f"{_edge(edges[-1])}+"]


def score_of(fields: Mapping[str, str]) -> float | None:
    """The number in a lead's ``score`` field (None when absent or not a finite number)."""
    return _parsed_score(fields.get("score"))


def _parsed_score(text: str | None) -> float | None:
    if not text:
        return None
    try:
        value = float(text)
    except ValueError:
        return None
    return value if np.isfinite(value) else None


def mql_policy_of(rules: Rulebook) -> Policy | None:
    """``follow_up``, else the first policy that starts on ``open`` statuses only."""
    for policy in rules.policies:
        if policy.name == FOLLOW_UP:
            return policy
    for policy in rules.policies:
        if policy.start and all(rules.statuses.get(s) == OPEN for s in policy.start):
            return policy
    return None


def metric_rules(
    rules: Rulebook,
    *,
    workable: Collection[str] | Workable | None = None,
    commitments: Sequence[Commitment] = (),
    reps: Sequence[str] | None = None,
    score_bands: Sequence[float] | None = None,
    speed_clock: str = "wall",
) -> MetricRules:
    """The metric rules of a rulebook.

    ``workable`` (grades, or a :class:`~leadsla.core.workable.Workable` with segments)
    defaults to every configured grade that is not ``optional`` in the MQL policy
    (SPEC §8); ``reps`` to every configured rep; ``score_bands`` to
    :data:`DEFAULT_SCORE_BANDS`.
    """
    bands = DEFAULT_SCORE_BANDS if score_bands is None else score_band_edges(score_bands)
    policy = mql_policy_of(rules)
    if workable is None:
        optional = policy.optional if policy is not None else frozenset()
        workable = [grade.name for grade in rules.grades if grade.name not in optional]
    for commitment in commitments:
        if commitment.metric not in COMMITMENT_METRICS:
            raise ValueError(
                f"commitment {commitment.name!r}: unknown metric {commitment.metric!r}"
            )
        if commitment.period not in PERIODS:
            raise ValueError(
                f"commitment {commitment.name!r}: unknown period {commitment.period!r}"
            )
    return MetricRules(
        rules=rules,
        mql_policy=policy.name if policy is not None else None,
        workable=workable if isinstance(workable, Workable) else Workable.of(workable),
        commitments=tuple(commitments),
        reps=tuple(rules.reps) if reps is None else tuple(reps),
        score_bands=bands,
        speed_clock=speed_clock,
    )


# -- facts of one lead ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class MqlFact:
    """One MQL: a cycle of the MQL policy, with what happened until the next one."""

    lead_id: str
    cycle: int
    mql_at: int
    grade: str | None
    owner: str | None
    team: str | None
    score: float | None  # at the MQL instant
    segment: tuple[str | None, ...]  # values of MetricRules.segment_fields at mql_at
    is_sal: bool
    workable: bool
    attempts: int
    connects: int
    qualified: bool
    follow_up_state: State | None  # None without an MQL policy
    follow_up_seconds: int | None  # business seconds, only once the clock stopped
    # SPEC §9.5: the last ``sal`` row of the cycle said rejected; the cycle's last
    # ``sal_reason``; the last recycle/defer/disqualify of the cycle and its ``reason``.
    sal_rejected: bool = False
    sal_reason: str | None = None
    reason_outcome: str | None = None
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ClockFact:
    """One cycle of one policy, as its verdict attributes it."""

    lead_id: str
    policy: str
    cycle: int
    started_at: int
    state: State
    grade: str | None
    owner: str | None
    team: str | None
    score: float | None  # at the clock's start
    stopped: bool  # by its stop (a cycle ended by a reassignment was not followed up)
    business_seconds: int
    outcome: str | None = None  # of the status it stopped on (SPEC §9.5: OUTCOMES)


@dataclass(frozen=True, slots=True)
class LeadFacts:
    mqls: list[MqlFact]
    clocks: list[ClockFact]


# An MQL being gathered: (instant index, fields after the instant, effective grade, the
# MQL policy's cycle that heads its chain, if any).
_Start = tuple[int, dict[str, str], str | None, Cycle | None]


def lead_facts(result: LeadResult, metric: MetricRules, as_of: int) -> LeadFacts:
    """The MQL facts and clock facts of one lead replayed and judged at ``as_of``."""
    rules = metric.rules
    stages = rules.statuses
    team_of = metric.team_of
    policy = metric.mql
    unowned = metric.unowned_policies
    by_hand_off = policy is not None and policy.start_assigned
    # The MQL policy's cycles that head a chain (SPEC §9.2: a cycle begun by a
    # reassignment continues the MQL of the cycle it replaced), each with the last
    # cycle of its chain; and its verdicts by cycle number.
    heads: list[Cycle] = []
    chain_end: dict[int, int] = {}
    numbered: dict[int, Cycle] = {}
    verdicts: dict[int, Verdict] = {}
    stop_status: dict[int, str | None] = {}
    # Cycles (of any policy) ended by a reassignment: not a follow-up, whatever their state.
    handed_over: set[tuple[str, int]] = set()
    for name, cycles in result.clocks.cycles.items():
        previous: Cycle | None = None
        for cycle in cycles:
            if cycle.started_at > as_of:
                break
            if cycle.reassigned:
                handed_over.add((name, cycle.number))
            if policy is not None and name == policy.name:
                restart = (
                    previous is not None
                    and previous.reassigned
                    and previous.stopped_at == cycle.started_at
                )
                if not restart:
                    heads.append(cycle)
                chain_end[heads[-1].number] = cycle.number
                numbered[cycle.number] = cycle
            previous = cycle
    for v in result.verdicts:
        if v.stopped_at is not None:
            stop_status[v.stopped_at] = None
        if policy is not None and v.policy == policy.name:
            verdicts[v.cycle] = v
    outcome_of = metric.outcome_of
    # MQL instants: the chain heads' starts, with the grade the clock started with (the
    # lead's effective grade after that instant); with an assignment start, the status
    # entering the start set instead (see the module docstring).
    head_at = {} if by_hand_off else {cycle.started_at: cycle for cycle in heads}

    # One walk over the instants: the status after each, its attempts and connects,
    # the fields at each MQL instant and the status each stop left.
    fields: dict[str, str] = {}
    walked: list[int] = []
    scores: list[str | None] = []  # the score text after each instant
    statuses: list[str | None] = []
    attempts: list[int] = []
    connects: list[int] = []
    starts: list[_Start] = []
    # SPEC §9.5, sparse (few leads carry them): (instant index, value) of each instant's
    # last sal and sal_reason row, and (index, outcome, reason) of each status change
    # into a recycle, defer or disqualify status with a reason row at its instant.
    decisions: list[_Row] = []
    sal_reasons: list[_Row] = []
    endings: list[_Row] = []
    was_open = False
    status: str | None = None
    for index, (at, changes) in enumerate(result.instants):
        if at > as_of:
            break
        previous_status = status
        tried = reached = 0
        decision = sal_reason = reason = None
        for name, value in changes:
            # An empty value (a cleared field) is a row too: it withdraws what was said.
            if name == SAL_FIELD:
                decision = value or ""
            elif name == SAL_REASON_FIELD:
                sal_reason = value or ""
            elif name == REASON_FIELD:
                reason = value or ""
            if not value:
                fields.pop(name, None)
                continue
            fields[name] = value
            if name == "activity" and is_attempt(value):
                tried += 1
                reached += value.partition(":")[2] in CONNECT_OUTCOMES
        status = fields.get("status")
        if decision is not None:
            decisions.append((index, decision, None))
        if sal_reason is not None:
            sal_reasons.append((index, sal_reason, None))
        if reason and status != previous_status and status is not None:
            ended = outcome_of.get(status)
            if ended in REASON_OUTCOMES:
                endings.append((index, ended, reason))
        walked.append(at)
        scores.append(fields.get("score"))
        statuses.append(status)
        attempts.append(tried)
        connects.append(reached)
        if policy is None:
            is_open = status is not None and stages.get(status) == OPEN
            if is_open and not was_open:
                starts.append((index, dict(fields), grade_of(rules, fields), None))
            was_open = is_open
            continue
        if at in stop_status:
            stop_status[at] = status
        if by_hand_off:
            if status in policy.start and previous_status not in policy.start:
                grade = grade_of(rules, fields)
                if not policy.applies_to or policy.applies(
                    fields if grade is None else {**fields, "grade": grade}
                ):
                    starts.append((index, dict(fields), grade, None))
        else:
            head = head_at.get(at)
            if head is not None:
                starts.append((index, dict(fields), head.grades[0][1], head))
    if by_hand_off and heads:
        starts = _hand_offs_linked(starts, walked, heads)

    def score_at(instant: int) -> float | None:
        """The score after the last instant at or before ``instant``."""
        index = bisect_right(walked, instant) - 1
        return _parsed_score(scores[index]) if index >= 0 else None

    clocks: list[ClockFact] = []
    for v in result.verdicts:
        if v.started_at > as_of:
            continue
        # A queue's clock (stopped by assignment) is charged to nobody.
        owner = None if v.policy in unowned else v.owner
        stopped = v.stopped_at is not None and (v.policy, v.cycle) not in handed_over
        clocks.append(
            ClockFact(
                lead_id=result.lead_id,
                policy=v.policy,
                cycle=v.cycle,
                started_at=v.started_at,
                state=v.state,
                grade=v.grade,
                owner=owner,
                team=team_of.get(owner) if owner is not None else None,
                score=score_at(v.started_at),
                stopped=stopped,
                business_seconds=v.business_seconds,
                outcome=outcome_of.get(stop_status.get(v.stopped_at) or "")
                if stopped and v.stopped_at is not None
                else None,
            )
        )

    mqls: list[MqlFact] = []
    reads = metric.workable.fields
    for k, (first, at_start, grade, head) in enumerate(starts):
        last = starts[k + 1][0] if k + 1 < len(starts) else len(statuses)
        # The owner the follow-up started with (an assignment start: the rep it was
        # handed to), else the one at the MQL instant.
        owner = head.owners[0][1] if head is not None else at_start.get("owner")
        team = team_of.get(owner) if owner is not None else None
        verdict = verdicts.get(chain_end[head.number]) if head is not None else None
        is_sal = False
        seconds: int | None = None
        if verdict is not None and verdict.stopped_at is not None:
            seconds = verdict.business_seconds
            stopped_on = stop_status.get(verdict.stopped_at)
            is_sal = stopped_on is not None and stages.get(stopped_on) == WORKING
        # SPEC §9.5: the cycle's last sal row decides (an empty one withdraws the decision).
        # A chain (SPEC §9.2) is judged by its last cycle: the decision is that cycle's,
        # taken by the rep who had the lead last.
        since = first
        if head is not None and chain_end[head.number] != head.number:
            since = max(first, bisect_left(walked, numbered[chain_end[head.number]].started_at))
        decided = _last_in(decisions, since, last)
        if decided is not None and decided[1]:
            is_sal = decided[1] == ACCEPTED
        said = _last_in(sal_reasons, since, last)
        ending = _last_in(endings, first, last)
        qualified = any(s is not None and stages.get(s) == QUALIFIED for s in statuses[first:last])
        segment = tuple(
            _segment_value(name, at_start, grade, owner, team) for name in metric.fact_fields
        )
        read = {name: _segment_value(name, at_start, grade, owner, team) for name in reads}
        mqls.append(
            MqlFact(
                lead_id=result.lead_id,
                cycle=head.number if head is not None else k + 1 if policy is None else 0,
                mql_at=walked[first],
                grade=grade,
                owner=owner,
                team=team,
                score=score_of(at_start),
                segment=segment,
                is_sal=is_sal,
                workable=metric.workable.holds(
                    grade, {name: value for name, value in read.items() if value is not None}
                ),
                attempts=sum(attempts[first:last]),
                connects=sum(connects[first:last]),
                qualified=qualified,
                follow_up_state=verdict.state if verdict is not None else None,
                follow_up_seconds=seconds,
                sal_rejected=decided is not None and decided[1] == REJECTED,
                sal_reason=said[1] or None if said is not None else None,
                reason_outcome=ending[1] if ending is not None else None,
                reason=ending[2] if ending is not None else None,
            )
        )
    return LeadFacts(mqls, clocks)


# (instant index, value, reason): a sal or sal_reason row, or a status change with its reason.
_Row = tuple[int, str, str | None]


def _last_in(rows: Sequence[_Row], first: int, last: int) -> _Row | None:
    """The last of ``rows`` (ordered by instant index) with an index in ``[first, last)``."""
    position = bisect_right(rows, (last,)) - 1 if rows else -1
    # (last,) sorts before every (last, …): position is the last row with index < last.
    if position >= 0 and rows[position][0] >= first:
        return rows[position]
    return None


def _hand_offs_linked(
    starts: list[_Start], walked: Sequence[int], heads: Sequence[Cycle]
) -> list[_Start]:
    """Each hand-off (the status entering an assignment start's status set) with the first
    chain head that starts from its instant until the next hand-off's."""
    linked: list[_Start] = []
    position = 0
    for k, (first, at_start, grade, _) in enumerate(starts):
        since = walked[first]
        until = walked[starts[k + 1][0]] if k + 1 < len(starts) else None
        while position < len(heads) and heads[position].started_at < since:
            position += 1
        head: Cycle | None = None
        if position < len(heads) and (until is None or heads[position].started_at < until):
            head = heads[position]
            position += 1
        linked.append((first, at_start, grade, head))
    return linked


def _segment_value(
    name: str, fields: Mapping[str, str], grade: str | None, owner: str | None, team: str | None
) -> str | None:
    # The effective grade (a score maps to one) is what a "grade" segment means.
    if name == "grade":
        return grade
    if name == "owner":
        return owner
    if name == "team" and "team" not in fields:
        return team
    return fields.get(name)


# -- columns ------------------------------------------------------------------------------


class _Codes:
    """Strings to dense integer codes, -1 for none."""

    def __init__(self) -> None:
        self.index: dict[str, int] = {}

    def code(self, name: str | None) -> int:
        if name is None:
            return -1
        found = self.index.get(name)
        if found is None:
            found = self.index[name] = len(self.index)
        return found

    @property
    def names(self) -> list[str]:
        return list(self.index)


@dataclass(frozen=True)
class Facts:
    """MQL facts and clock facts as columns; strings are codes into the name lists (-1: none)."""

    # One row per MQL.
    mql_at: Int64Array
    grade: Int32Array
    owner: Int32Array
    team: Int32Array
    is_sal: BoolArray
    workable: BoolArray
    attempts: Int64Array
    connects: Int64Array
    qualified: BoolArray
    score_band: Int32Array  # index into ``score_bands``
    segment: Mapping[str, Int32Array]  # MetricRules.fact_fields
    sal_rejected: BoolArray
    sal_reason: Int32Array  # index into ``sal_reasons``
    reason_outcome: Int8Array  # index into REASON_OUTCOMES
    reason: Int32Array  # index into ``reasons``
    # One row per clock cycle.
    clock_policy: Int32Array  # index into ``policies``
    clock_started_at: Int64Array
    clock_state: Int8Array  # index into the states running … reassigned (see state_code)
    clock_grade: Int32Array
    clock_owner: Int32Array
    clock_team: Int32Array
    clock_score_band: Int32Array
    clock_stopped: BoolArray
    clock_seconds: Int64Array
    clock_outcome: Int8Array  # index into OUTCOMES (-1: stopped on none, or running)
    # Names of the codes, shared by MQL and clock columns.
    grades: list[str]
    owners: list[str]
    teams: list[str]
    segment_values: Mapping[str, list[str]]
    policies: list[str]
    score_bands: list[str]  # the labels of MetricRules.score_bands, every band
    sal_reasons: list[str] = field(default_factory=list)
    reasons: list[str] = field(default_factory=list)
    # How many MQLs (clocks) each row stands for; ``None``: one each. A tally of facts
    # (``leadsla.report.partials``) folds rows that no figure tells apart into one row,
    # its ``attempts`` and ``connects`` the rows' sums.
    mql_weight: Int64Array | None = None
    clock_weight: Int64Array | None = None

    def __len__(self) -> int:
        return len(self.mql_at)

    @property
    def mql_count(self) -> int:
        """MQLs (rows, counted with their weight)."""
        return len(self.mql_at) if self.mql_weight is None else int(self.mql_weight.sum())

    def take(self, mqls: IndexArray, clocks: IndexArray) -> Facts:
        """The MQL rows ``mqls`` and the clock rows ``clocks``, with the same names."""
        return replace(
            self,
            mql_weight=None if self.mql_weight is None else self.mql_weight[mqls],
            clock_weight=None if self.clock_weight is None else self.clock_weight[clocks],
            segment={name: codes[mqls] for name, codes in self.segment.items()},
            **{
                name: getattr(self, name)[clocks if name.startswith("clock_") else mqls]
                for name in _COLUMN_TYPES
            },
        )


class FactCollector:
    """Gathers the facts of many leads into :class:`Facts` columns.

    ``owners`` keeps only the facts attributed to those owners (an MQL by its owner
    at the MQL instant, a clock by its verdict's owner): a manager's view.
    """

    def __init__(self, metric: MetricRules, *, owners: frozenset[str] | None = None) -> None:
        self.metric = metric
        self.owners = owners
        self._policy_code = {name: code for code, name in enumerate(metric.policies)}
        self._segment_fields = metric.fact_fields
        self._grades = _Codes()
        self._owners = _Codes()
        self._teams = _Codes()
        self._segment_codes = {name: _Codes() for name in self._segment_fields}
        self._sal_reasons = _Codes()
        self._reasons = _Codes()
        self._sal_reason = array("i")
        self._reason_outcome = array("b")
        self._reason = array("i")
        self._clock_outcome = array("b")
        # array.array grows in place: no Python object kept per fact.
        self._mql_at = array("q")
        self._grade = array("i")
        self._owner = array("i")
        self._team = array("i")
        self._flags = array("b")  # bit 0 sal, 1 workable, 2 qualified, 3 sal rejected
        self._attempts = array("q")
        self._connects = array("q")
        self._score_band = array("i")
        self._segment = {name: array("i") for name in self._segment_fields}
        self._clock_policy = array("i")
        self._clock_started = array("q")
        self._clock_state = array("b")
        self._clock_grade = array("i")
        self._clock_owner = array("i")
        self._clock_team = array("i")
        self._clock_score_band = array("i")
        self._clock_stopped = array("b")
        self._clock_seconds = array("q")

    def _allowed(self, owner: str | None) -> bool:
        return self.owners is None or (owner is not None and owner in self.owners)

    def add(self, facts: LeadFacts) -> None:
        for mql in facts.mqls:
            if not self._allowed(mql.owner):
                continue
            self._mql_at.append(mql.mql_at)
            self._grade.append(self._grades.code(mql.grade))
            self._owner.append(self._owners.code(mql.owner))
            self._team.append(self._teams.code(mql.team))
            self._flags.append(
                mql.is_sal | mql.workable << 1 | mql.qualified << 2 | mql.sal_rejected << 3
            )
            self._sal_reason.append(self._sal_reasons.code(mql.sal_reason))
            self._reason_outcome.append(
                -1 if mql.reason_outcome is None else _REASON_OUTCOME[mql.reason_outcome]
            )
            self._reason.append(self._reasons.code(mql.reason))
            self._attempts.append(mql.attempts)
            self._connects.append(mql.connects)
            self._score_band.append(self.metric.score_band(mql.score))
            for name, value in zip(self._segment_fields, mql.segment, strict=True):
                self._segment[name].append(self._segment_codes[name].code(value))
        for clock in facts.clocks:
            if not self._allowed(clock.owner):
                continue
            self._clock_policy.append(self._policy_code[clock.policy])
            self._clock_started.append(clock.started_at)
            self._clock_state.append(_STATE_CODE[clock.state])
            self._clock_grade.append(self._grades.code(clock.grade))
            self._clock_owner.append(self._owners.code(clock.owner))
            self._clock_team.append(self._teams.code(clock.team))
            self._clock_score_band.append(self.metric.score_band(clock.score))
            self._clock_stopped.append(clock.stopped)
            self._clock_seconds.append(clock.business_seconds)
            self._clock_outcome.append(-1 if clock.outcome is None else _OUTCOME[clock.outcome])

    def add_result(self, result: LeadResult, as_of: int) -> None:
        self.add(lead_facts(result, self.metric, as_of))

    def facts(self) -> Facts:
        flags = np.frombuffer(self._flags, dtype=np.int8)
        return Facts(
            mql_at=np.frombuffer(self._mql_at, dtype=np.int64),
            grade=np.frombuffer(self._grade, dtype=np.int32),
            owner=np.frombuffer(self._owner, dtype=np.int32),
            team=np.frombuffer(self._team, dtype=np.int32),
            is_sal=(flags & 1) != 0,
            workable=(flags & 2) != 0,
            qualified=(flags & 4) != 0,
            sal_rejected=(flags & 8) != 0,
            sal_reason=np.frombuffer(self._sal_reason, dtype=np.int32),
            reason_outcome=np.frombuffer(self._reason_outcome, dtype=np.int8),
            reason=np.frombuffer(self._reason, dtype=np.int32),
            attempts=np.frombuffer(self._attempts, dtype=np.int64),
            connects=np.frombuffer(self._connects, dtype=np.int64),
            score_band=np.frombuffer(self._score_band, dtype=np.int32),
            segment={n: np.frombuffer(a, dtype=np.int32) for n, a in self._segment.items()},
            clock_policy=np.frombuffer(self._clock_policy, dtype=np.int32),
            clock_started_at=np.frombuffer(self._clock_started, dtype=np.int64),
            clock_state=np.frombuffer(self._clock_state, dtype=np.int8),
            clock_grade=np.frombuffer(self._clock_grade, dtype=np.int32),
            clock_owner=np.frombuffer(self._clock_owner, dtype=np.int32),
            clock_team=np.frombuffer(self._clock_team, dtype=np.int32),
            clock_score_band=np.frombuffer(self._clock_score_band, dtype=np.int32),
            clock_stopped=np.frombuffer(self._clock_stopped, dtype=np.int8) != 0,
            clock_seconds=np.frombuffer(self._clock_seconds, dtype=np.int64),
            clock_outcome=np.frombuffer(self._clock_outcome, dtype=np.int8),
            grades=self._grades.names,
            owners=self._owners.names,
            teams=self._teams.names,
            segment_values={n: c.names for n, c in self._segment_codes.items()},
            policies=list(self.metric.policies),
            score_bands=self.metric.score_band_names,
            sal_reasons=self._sal_reasons.names,
            reasons=self._reasons.names,
        )


_COLUMN_TYPES: dict[str, type[np.generic]] = {
    "mql_at": np.int64,
    "grade": np.int32,
    "owner": np.int32,
    "team": np.int32,
    "is_sal": np.bool_,
    "workable": np.bool_,
    "attempts": np.int64,
    "connects": np.int64,
    "qualified": np.bool_,
    "score_band": np.int32,
    "sal_rejected": np.bool_,
    "sal_reason": np.int32,
    "reason_outcome": np.int8,
    "reason": np.int32,
    "clock_policy": np.int32,
    "clock_started_at": np.int64,
    "clock_state": np.int8,
    "clock_grade": np.int32,
    "clock_owner": np.int32,
    "clock_team": np.int32,
    "clock_score_band": np.int32,
    "clock_stopped": np.bool_,
    "clock_seconds": np.int64,
    "clock_outcome": np.int8,
}

# The clock columns among them (one row per clock cycle).
CLOCK_COLUMN_TYPES = {
    name: kind for name, kind in _COLUMN_TYPES.items() if name.startswith("clock_")
}


def facts_of(
    columns: Mapping[str, npt.NDArray[Any]],
    *,
    segment: Mapping[str, Int32Array],
    grades: list[str],
    owners: list[str],
    teams: list[str],
    segment_values: Mapping[str, list[str]],
    policies: list[str],
    score_bands: list[str],
    sal_reasons: list[str] | None = None,
    reasons: list[str] | None = None,
    mql_weight: Int64Array | None = None,
    clock_weight: Int64Array | None = None,
) -> Facts:
    """:class:`Facts` from its array columns by name, each cast to its column type."""
    typed = {
        name: np.asarray(columns[name]).astype(kind, copy=False)
        for name, kind in _COLUMN_TYPES.items()
    }
    return Facts(
        **typed,
        segment={name: np.asarray(codes, dtype=np.int32) for name, codes in segment.items()},
        grades=grades,
        owners=owners,
        teams=teams,
        segment_values=segment_values,
        policies=policies,
        score_bands=score_bands,
        sal_reasons=sal_reasons or [],
        reasons=reasons or [],
        mql_weight=mql_weight,
        clock_weight=clock_weight,
    )


def row_weights(facts: Facts, clocks: bool) -> Int64Array:
    """Each MQL row's (``clocks``: clock row's) weight; one each where the facts are not
    a tally."""
    weights = facts.clock_weight if clocks else facts.mql_weight
    if weights is not None:
        return weights
    return np.ones(len(facts.clock_policy) if clocks else len(facts), dtype=np.int64)


def _weights(parts: Sequence[Facts], clocks: bool) -> Int64Array | None:
    """The parts' row weights joined (ones for a part without), ``None`` if no part has."""
    if all((p.clock_weight if clocks else p.mql_weight) is None for p in parts):
        return None
    joined: Int64Array = np.concatenate([row_weights(p, clocks) for p in parts])
    return joined


def merge_facts(parts: Sequence[Facts]) -> Facts:
    """The facts of all parts in one set of columns, their codes mapped to shared names."""
    if not parts:
        raise ValueError("merge_facts needs at least one part")
    # A part without a fact adds nothing (all leads plain, or none): no copy of the rest.
    holding = [part for part in parts if len(part) or len(part.clock_policy)]
    if len(holding) <= 1:
        return holding[0] if holding else parts[0]

    def recoded(
        names_of: Sequence[list[str]], columns: Sequence[Sequence[Int32Array]]
    ) -> tuple[list[Int32Array], list[str]]:
        """Columns (each given per part) coded into one name list built from all parts."""
        index: dict[str, int] = {}
        # One spare slot at the end of each map, so that code -1 (none) maps to -1.
        maps = [
            np.array([*(index.setdefault(n, len(index)) for n in names), -1], dtype=np.int32)
            for names in names_of
        ]
        result = [
            np.concatenate([m[c] for m, c in zip(maps, per_part, strict=True)]).astype(np.int32)
            for per_part in columns
        ]
        return result, list(index)

    def joined(name: str) -> npt.NDArray[Any]:
        return np.concatenate([getattr(p, name) for p in parts])

    def per_part(*names: str) -> list[list[Int32Array]]:
        return [[getattr(p, name) for p in parts] for name in names]

    (grade, clock_grade), grades = recoded(
        [p.grades for p in parts], per_part("grade", "clock_grade")
    )
    (owner, clock_owner), owners = recoded(
        [p.owners for p in parts], per_part("owner", "clock_owner")
    )
    (team, clock_team), teams = recoded([p.teams for p in parts], per_part("team", "clock_team"))
    (sal_reason,), sal_reasons = recoded([p.sal_reasons for p in parts], per_part("sal_reason"))
    (reason,), reasons = recoded([p.reasons for p in parts], per_part("reason"))
    segment: dict[str, Int32Array] = {}
    segment_values: dict[str, list[str]] = {}
    for name in parts[0].segment:
        (segment[name],), segment_values[name] = recoded(
            [p.segment_values[name] for p in parts], [[p.segment[name] for p in parts]]
        )
    return facts_of(
        {name: joined(name) for name in _COLUMN_TYPES}
        | {
            "grade": grade,
            "owner": owner,
            "team": team,
            "clock_grade": clock_grade,
            "clock_owner": clock_owner,
            "clock_team": clock_team,
            "sal_reason": sal_reason,
            "reason": reason,
        },
        segment=segment,
        grades=grades,
        owners=owners,
        teams=teams,
        segment_values=segment_values,
        policies=list(parts[0].policies),
        score_bands=list(parts[0].score_bands),
        sal_reasons=sal_reasons,
        reasons=reasons,
        mql_weight=_weights(parts, clocks=False),
        clock_weight=_weights(parts, clocks=True),
    )


# -- periods ------------------------------------------------------------------------------


def month_numbers(instants: Int64Array, zone: tzinfo) -> Int64Array:
    """The local calendar month of each instant in ``zone``, as months since 1970-01.

    The instants of the first and the last month are read in local time; every other is
    placed among the months' first instants between them by one binary search (millions
    of clocks: the local time of each would cost several passes over them).
    """
    instants = np.asarray(instants, dtype=np.int64)
    if instants.size == 0:
        return np.zeros(0, dtype=np.int64)
    first, last = _local_months(np.array([instants.min(), instants.max()]), zone).tolist()
    starts = np.array([_month_start(m, zone) for m in range(first + 1, last + 1)], np.int64)
    # Each start must be the first instant of its month (a zone whose clocks change at
    # midnight on the 1st could make local midnight absent or twice): else, local time.
    edges = _local_months(np.concatenate([starts - 1, starts]), zone)
    expected = np.arange(first, last, dtype=np.int64)
    if not np.array_equal(edges, np.concatenate([expected, expected + 1])):
        return _local_months(instants, zone)
    months: Int64Array = first + np.searchsorted(starts, instants, side="right")
    return months


def _local_months(instants: Int64Array, zone: tzinfo) -> Int64Array:
    """:func:`month_numbers` by each instant's local time."""
    local = instants // MICROS_PER_SECOND + offsets_seconds(instants, zone)
    months: Int64Array = local.astype("datetime64[s]").astype("datetime64[M]").astype(np.int64)
    return months


def _month_label(month: int) -> str:
    return f"{1970 + month // 12:04d}-{month % 12 + 1:02d}"


def _month_start(month: int, zone: tzinfo) -> int:
    return local_instant(date(1970 + month // 12, month % 12 + 1, 1), 0, zone)


@dataclass(frozen=True, slots=True)
class Period:
    """A calendar month, quarter or year in a zone: months ``[first, stop)``, instants too."""

    kind: str
    label: str
    first_month: int
    stop_month: int
    start: int
    end: int

    def elapsed_share(self, at: int) -> float:
        """The share of the period's wall time gone by at ``at`` (0 to 1)."""
        share = (at - self.start) / (self.end - self.start)
        return min(max(share, 0.0), 1.0)

    def contains(self, months: Int64Array) -> BoolArray:
        inside: BoolArray = (months >= self.first_month) & (months < self.stop_month)
        return inside

    def describe(self, zone: tzinfo) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "label": self.label,
            "start": format_instant(self.start, zone),
            "end": format_instant(self.end, zone),
        }


def period_containing(instant: int, kind: str, zone: tzinfo) -> Period:
    """The month, quarter or year of ``zone``'s calendar that contains ``instant``."""
    if kind not in _MONTHS_IN:
        raise ValueError(f"period must be one of {', '.join(PERIODS)}, not {kind!r}")
    month = int(month_numbers(np.array([instant], dtype=np.int64), zone)[0])
    size = _MONTHS_IN[kind]
    # Month 0 is January 1970, so quarters and years start at multiples of 3 and 12.
    first = month - month % size
    year = 1970 + first // 12
    if kind == "month":
        label = _month_label(first)
    elif kind == "quarter":
        label = f"{year:04d}-Q{first % 12 // 3 + 1}"
    else:
        label = f"{year:04d}"
    return Period(
        kind,
        label,
        first,
        first + size,
        _month_start(first, zone),
        _month_start(first + size, zone),
    )


# -- aggregation ----------------------------------------------------------------------------


def _ratio(numerator: float, denominator: float) -> float | None:
    return None if denominator == 0 else float(numerator) / float(denominator)


def _count(
    groups: Int64Array,
    size: int,
    where: BoolArray | None = None,
    weights: Int64Array | None = None,
) -> Int64Array:
    """Rows per group (``weights``: each row counts as its weight)."""
    chosen = groups if where is None else groups[where]
    if weights is None:
        counts: Int64Array = np.bincount(chosen, minlength=size).astype(np.int64)
        return counts
    chosen_weights = weights if where is None else weights[where]
    return _total(chosen, chosen_weights, size)


def _weighted(weights: Int64Array | None, where: BoolArray) -> int:
    """How many rows ``where`` holds, each counted with its weight."""
    if weights is None:
        return int(np.count_nonzero(where))
    return int(weights[where].sum())


def _total(groups: Int64Array, values: Int64Array, size: int) -> Int64Array:
    # bincount sums in float64: exact for integer totals below 2**53.
    sums = np.bincount(groups, weights=values.astype(np.float64), minlength=size)
    totals: Int64Array = np.rint(sums).astype(np.int64)
    return totals


def _coded_counts(
    groups: Int64Array,
    codes: Int32Array,
    names: Sequence[str],
    size: int,
    weights: Int64Array | None = None,
) -> list[dict[str, int]]:
    """Per group, how many rows hold each name of a code column (code -1: none), by name."""
    width = len(names)
    has = codes >= 0
    if not width or not has.any():
        return [{} for _ in range(size)]
    cells = groups[has] * width + codes[has].astype(np.int64)
    counts = _count(cells, size * width, weights=None if weights is None else weights[has]).reshape(
        size, width
    )
    order = sorted(range(width), key=names.__getitem__)
    return [{names[c]: int(row[c]) for c in order if row[c]} for row in counts.tolist()]


def _lerp(a: FloatArray, b: FloatArray, t: FloatArray) -> FloatArray:
    """NumPy's own interpolation step (``numpy.lib._function_base_impl._lerp``), for
    percentiles equal to ``numpy.percentile`` to the last bit."""
    diff = b - a
    result: FloatArray = np.where(t >= 0.5, b - diff * (1 - t), a + diff * t)
    return result


def _sorted_within_groups(groups: Int64Array, values: Int64Array) -> Int64Array:
    """``values`` in (group, value) order. Where one int64 key holds both, a plain sort
    of that key: several times faster than ``lexsort`` on two keys, and the values
    alone are wanted (equal values need no stable order)."""
    if values.size == 0:
        return values
    low, high = int(values.min()), int(values.max())
    span = high - low + 1
    if (int(groups.max()) + 1) * span >= 2**62:
        ordered: Int64Array = values[np.lexsort((values, groups))]
        return ordered
    key = groups.astype(np.int64) * span
    key += values
    key -= low
    key.sort()
    key %= span
    key += low
    return key


def grouped_quantiles(
    groups: Int64Array,
    values: Int64Array,
    size: int,
    quantiles: Sequence[float],
    weights: Int64Array | None = None,
) -> tuple[Int64Array, FloatArray, list[FloatArray]]:
    """Count, mean and quantiles (``numpy.quantile``'s linear method) of each group.

    One sort for all groups: values sorted within groups, then each quantile is a
    gather and an interpolation for every group at once. ``weights``: each row is its
    value that many times (a value histogram): the same figures as the rows repeated.
    """
    # With weights, the k-th value of the repeated rows is the row whose running total
    # of weights first passes k.
    ends = None
    if weights is None:
        ordered = _sorted_within_groups(groups, values).astype(np.float64)
    else:
        # A histogram's weights follow its values: the order itself is needed.
        order = np.lexsort((values, groups))
        ordered = values[order].astype(np.float64)
        ends = np.cumsum(weights[order])
    counts = _count(groups, size, weights=weights)
    product = values if weights is None else values * weights
    # Integer sums below 2**53 are exact in float64, in any order.
    sums = np.bincount(groups, weights=product.astype(np.float64), minlength=size)
    means: FloatArray = np.divide(sums, counts, out=np.full(size, np.nan), where=counts > 0)
    starts = np.cumsum(counts) - counts
    present = counts > 0
    results: list[FloatArray] = []
    for q in quantiles:
        virtual = (counts - 1) * q
        below = np.floor(virtual)
        gamma = virtual - below
        low = starts + below.astype(np.int64)
        high = starts + np.minimum(below.astype(np.int64) + 1, counts - 1)
        if ends is not None:
            low = np.searchsorted(ends, low, side="right")
            high = np.searchsorted(ends, high, side="right")
        out = np.full(size, np.nan)
        out[present] = _lerp(ordered[low[present]], ordered[high[present]], gamma[present])
        results.append(out)
    return counts, means, results


def _number(value: float) -> float | None:
    return None if np.isnan(value) else float(value)


class _Figures:
    """The F objects of SPEC §8 for groups of facts, computed for all groups at once."""

    def __init__(self, facts: Facts, mql_policy: str | None) -> None:
        self.facts = facts
        self.policy_count = len(facts.policies)
        self.mql_policy = facts.policies.index(mql_policy) if mql_policy is not None else -1
        self.connected = facts.connects > 0

    def compute(
        self, fact_group: Int64Array, clock_group: Int64Array, size: int
    ) -> tuple[list[dict[str, Any]], BoolArray]:
        """The figures of groups ``0..size-1`` (group -1: left out) and which groups hold
        any fact or clock."""
        f = self.facts
        keep = fact_group >= 0
        groups = fact_group[keep]
        weight = None if f.mql_weight is None else f.mql_weight[keep]
        mqls = _count(groups, size, weights=weight)
        sals = _count(groups, size, f.is_sal[keep], weight)
        rejected = _count(groups, size, f.sal_rejected[keep], weight)
        sal_reasons = _coded_counts(groups, f.sal_reason[keep], f.sal_reasons, size, weight)
        outcomes = f.reason_outcome[keep]
        reasons = {
            name: _coded_counts(
                groups[outcomes == k],
                f.reason[keep][outcomes == k],
                f.reasons,
                size,
                None if weight is None else weight[outcomes == k],
            )
            for k, name in enumerate(REASON_OUTCOMES)
        }
        workable = f.workable[keep]
        w_groups = groups[workable]
        w_weight = None if weight is None else weight[workable]
        workables = _count(w_groups, size, weights=w_weight)
        attempts = _total(w_groups, f.attempts[keep][workable], size)
        connects = _total(w_groups, f.connects[keep][workable], size)
        connected = _count(w_groups, size, self.connected[keep][workable], w_weight)
        opportunities = _count(w_groups, size, f.qualified[keep][workable], w_weight)

        kept = clock_group >= 0
        c_groups = clock_group[kept]
        c_weight = None if f.clock_weight is None else f.clock_weight[kept]
        states = f.clock_state[kept]
        cells = c_groups * self.policy_count + f.clock_policy[kept]
        shape = (size, self.policy_count)
        cell_count = size * self.policy_count
        met = _count(cells, cell_count, states == _MET, c_weight).reshape(shape)
        breached = _count(cells, cell_count, states == _BREACHED, c_weight).reshape(shape)
        clocks = _count(c_groups, size, weights=c_weight)
        stopped = f.clock_stopped[kept] & (f.clock_policy[kept] == self.mql_policy)
        ttf_count, ttf_mean, (ttf_median, ttf_p90) = grouped_quantiles(
            c_groups[stopped],
            f.clock_seconds[kept][stopped],
            size,
            (0.5, 0.9),
            None if c_weight is None else c_weight[stopped],
        )

        figures: list[dict[str, Any]] = []
        for g in range(size):
            figures.append(
                {
                    "mqls": int(mqls[g]),
                    "sals": int(sals[g]),
                    "mql_to_sal": _ratio(sals[g], mqls[g]),
                    "sal_rejected": int(rejected[g]),
                    "acceptance_rate": _ratio(sals[g], sals[g] + rejected[g]),
                    "sal_reasons": sal_reasons[g],
                    "reasons": {name: counts[g] for name, counts in reasons.items()},
                    "workable_leads": int(workables[g]),
                    "compliance": {
                        name: _ratio(met[g, p], met[g, p] + breached[g, p])
                        for p, name in enumerate(f.policies)
                    },
                    "time_to_follow_up": {
                        "count": int(ttf_count[g]),
                        "mean": _number(ttf_mean[g]),
                        "median": _number(ttf_median[g]),
                        "p90": _number(ttf_p90[g]),
                    },
                    "attempts": int(attempts[g]),
                    "connects": int(connects[g]),
                    "opportunities": int(opportunities[g]),
                    "attempts_per_workable_lead": _ratio(attempts[g], workables[g]),
                    "connect_rate": _ratio(connected[g], workables[g]),
                    "connects_per_attempt": _ratio(connects[g], attempts[g]),
                    "conversion_to_pipeline": _ratio(opportunities[g], workables[g]),
                }
            )
        present: BoolArray = (mqls > 0) | (clocks > 0)
        return figures, present

    def by_key(
        self,
        fact_codes: Int32Array,
        clock_codes: Int32Array,
        names: list[str],
        fact_in: BoolArray,
        clock_in: BoolArray,
        *,
        by_name: bool = True,
    ) -> dict[str, dict[str, Any]]:
        """Figures per name of a code column, over the rows in the period; sorted by name,
        or in code order when ``by_name`` is false (score bands, low to high)."""
        fact_group = np.where(fact_in, fact_codes, -1).astype(np.int64)
        clock_group = np.where(clock_in, clock_codes, -1).astype(np.int64)
        figures, present = self.compute(fact_group, clock_group, len(names))
        shown = [(names[g], figures[g]) for g in np.flatnonzero(present).tolist()]
        return dict(sorted(shown) if by_name else shown)


def _acceptance_row(mqls: int, sals: int, rejected: int) -> dict[str, Any]:
    return {
        "mqls": mqls,
        "sals": sals,
        "sal_rejected": rejected,
        "acceptance_rate": _ratio(sals, sals + rejected),
    }


def acceptance_tables(facts: Facts) -> dict[str, dict[str, dict[str, Any]]]:
    """SPEC §9.5: MQLs, SALs, rejections and acceptance rate by source, campaign, grade
    and owner (at the MQL instant), each sorted by name; an MQL without the field is in
    no row of that table."""
    columns = {
        "by_source": (facts.segment.get("source"), facts.segment_values.get("source", [])),
        "by_campaign": (facts.segment.get("campaign"), facts.segment_values.get("campaign", [])),
        "by_grade": (facts.grade, facts.grades),
        "by_owner": (facts.owner, facts.owners),
    }
    tables: dict[str, dict[str, dict[str, Any]]] = {}
    for key, (codes, names) in columns.items():
        table: dict[str, dict[str, Any]] = {}
        if codes is not None and len(names):
            has = codes >= 0
            groups = codes[has].astype(np.int64)
            weight = None if facts.mql_weight is None else facts.mql_weight[has]
            mqls = _count(groups, len(names), weights=weight)
            sals = _count(groups, len(names), facts.is_sal[has], weight)
            rejected = _count(groups, len(names), facts.sal_rejected[has], weight)
            for code in sorted(np.flatnonzero(mqls).tolist(), key=names.__getitem__):
                table[names[code]] = _acceptance_row(
                    int(mqls[code]), int(sals[code]), int(rejected[code])
                )
        tables[key] = table
    return tables


def outcome_tables(facts: Facts, metric: MetricRules) -> dict[str, dict[str, Any]]:
    """The outcome split of each policy that stops on an outcome status (the
    qualification SLA: converted, deferred, recycled, disqualified): per outcome, the
    clocks stopped there within the target (``met``) and late (``breached`` or
    ``lapsed``), the share of the clocks started that ended there in time, and the
    clocks with no outcome yet."""
    outcome_of = metric.outcome_of
    tables: dict[str, dict[str, Any]] = {}
    for p, policy in enumerate(metric.rules.policies):
        if policy.name == metric.mql_policy or not any(s in outcome_of for s in policy.stop):
            continue
        mine = facts.clock_policy == p
        outcome = facts.clock_outcome[mine]
        states = facts.clock_state[mine]
        weight = None if facts.clock_weight is None else facts.clock_weight[mine]
        codes = outcome.astype(np.int64)
        met = _count(codes, len(OUTCOMES), (outcome >= 0) & (states == _MET), weight)
        late_states = (states == _BREACHED) | (states == _STATE_CODE[State.LAPSED])
        late = _count(codes, len(OUTCOMES), (outcome >= 0) & late_states, weight)
        clocks = _weighted(facts.clock_weight, mine)
        tables[policy.name] = {
            "clocks": clocks,
            "within_target": {name: int(met[k]) for k, name in enumerate(OUTCOMES)},
            "late": {name: int(late[k]) for k, name in enumerate(OUTCOMES)},
            "share_within_target": {
                name: _ratio(met[k], clocks) for k, name in enumerate(OUTCOMES)
            },
            # Still running, or stopped on a status that is no outcome.
            "no_outcome": _weighted(weight, outcome < 0),
        }
    return tables


def _per_owner(facts: Facts, where: BoolArray, reps: Sequence[str]) -> dict[str, int]:
    """Workable MQLs per owner among the rows ``where``: every rep in ``reps``, plus any
    other owner with some."""
    chosen = where & facts.workable & (facts.owner >= 0)
    counts = _count(facts.owner.astype(np.int64), len(facts.owners), chosen, facts.mql_weight)
    result = dict.fromkeys(reps, 0)
    for code in np.flatnonzero(counts).tolist():
        result[facts.owners[code]] = int(counts[code])
    return dict(sorted(result.items()))


def _segment_mask(facts: Facts, commitment: Commitment) -> BoolArray:
    mask = np.ones(len(facts), dtype=np.bool_)
    for name, allowed in commitment.segment.items():
        column = facts.segment.get(name)
        if column is None:
            # Facts gathered for other commitments: nothing is known to match.
            return np.zeros(len(facts), dtype=np.bool_)
        names = facts.segment_values[name]
        codes = [code for code, value in enumerate(names) if value in allowed]
        mask &= np.isin(column, np.array(codes, dtype=np.int32))
    return mask


def _commitment(
    facts: Facts,
    months: Int64Array,
    commitment: Commitment,
    metric: MetricRules,
    as_of: int,
) -> dict[str, Any]:
    zone = metric.zone
    period = period_containing(as_of, commitment.period, zone)
    cohort = period.contains(months) & _segment_mask(facts, commitment)
    per_rep: dict[str, int] | None = None
    count: float
    weight = facts.mql_weight
    if commitment.metric == "mqls":
        count = _weighted(weight, cohort)
    elif commitment.metric == "sals":
        count = _weighted(weight, cohort & facts.is_sal)
    elif commitment.metric == "workable_leads":
        count = _weighted(weight, cohort & facts.workable)
    elif commitment.metric == "opportunities":
        count = _weighted(weight, cohort & facts.workable & facts.qualified)
    else:  # workable_leads_per_rep: the target is per rep, so is the count
        per_rep = _per_owner(facts, cohort, metric.reps)
        count = sum(per_rep.values()) / len(per_rep) if per_rep else 0.0
    share = period.elapsed_share(as_of)
    target: float = int(commitment.target) if commitment.target.is_integer() else commitment.target
    pro_rata = commitment.target * share
    entry: dict[str, Any] = {
        "name": commitment.name,
        "metric": commitment.metric,
        "period": period.describe(zone),
        "segment": {k: sorted(v) for k, v in commitment.segment.items()} or None,
        "count": count,
        "target": target,
        "elapsed_share": share,
        "pro_rata_target": pro_rata,
        "forecast": count / share if share > 0 else None,
        "on_track": count >= pro_rata,
    }
    if per_rep is not None:
        entry["per_rep"] = per_rep
    return entry


def scorecard(
    facts: Facts, metric: MetricRules, as_of: int, period: str = "month"
) -> dict[str, Any]:
    """The report object of SPEC §8 (JSON-ready) for facts gathered at ``as_of``.

    ``overall``, ``by_grade``, ``by_owner`` and ``by_team`` cover the ``period``
    (``month`` or ``quarter`` of ``default_calendar``'s zone) that contains ``as_of``;
    ``by_month`` the whole history. See the module docstring for every choice made
    where SPEC is silent.
    """
    if period not in ("month", "quarter"):
        raise ValueError(f"period must be month or quarter, not {period!r}")
    zone = metric.zone
    current = period_containing(as_of, period, zone)
    mql_months = month_numbers(facts.mql_at, zone)
    clock_months = month_numbers(facts.clock_started_at, zone)
    figures = _Figures(facts, metric.mql_policy)
    # The period's rows once: the figures of the period then read only them (a month of
    # a half-year history is a sixth of its clocks).
    inside = facts.take(
        np.flatnonzero(current.contains(mql_months)), np.flatnonzero(current.contains(clock_months))
    )
    fact_in = np.ones(len(inside), dtype=np.bool_)
    clock_in = np.ones(len(inside.clock_policy), dtype=np.bool_)
    period_figures = _Figures(inside, metric.mql_policy)
    overall, _ = period_figures.compute(
        np.zeros(len(inside), dtype=np.int64), np.zeros(len(inside.clock_policy), dtype=np.int64), 1
    )
    by_grade = period_figures.by_key(
        inside.grade, inside.clock_grade, inside.grades, fact_in, clock_in
    )
    by_owner = period_figures.by_key(
        inside.owner, inside.clock_owner, inside.owners, fact_in, clock_in
    )
    by_team = period_figures.by_key(inside.team, inside.clock_team, inside.teams, fact_in, clock_in)
    by_score_band = period_figures.by_key(
        inside.score_band,
        inside.clock_score_band,
        inside.score_bands,
        fact_in,
        clock_in,
        by_name=False,
    )

    by_month: dict[str, dict[str, Any]] = {}
    if len(mql_months) or len(clock_months):
        first = int(min(np.min(mql_months, initial=2**62), np.min(clock_months, initial=2**62)))
        last = int(max(np.max(mql_months, initial=-1), np.max(clock_months, initial=-1)))
        monthly, present = figures.compute(
            mql_months - first, clock_months - first, last - first + 1
        )
        for g in np.flatnonzero(present).tolist():
            by_month[_month_label(first + g)] = monthly[g]

    month = period_containing(as_of, "month", zone)
    return {
        "as_of": format_instant(as_of, zone),
        "period": current.describe(zone),
        "overall": overall[0],
        "by_grade": by_grade,
        "by_owner": by_owner,
        "by_team": by_team,
        "by_month": by_month,
        "by_score_band": by_score_band,
        "commitments": [
            _commitment(facts, mql_months, commitment, metric, as_of)
            for commitment in metric.commitments
        ],
        "workable_leads_per_rep_month_to_date": _per_owner(
            facts, month.contains(mql_months), metric.reps
        ),
        "mqls_month_to_date": mqls_month_to_date(
            facts.mql_at, as_of, zone, weights=facts.mql_weight
        ),
        "acceptance": acceptance_tables(inside),
        "qualification_outcomes": outcome_tables(inside, metric),
    }


def team_commitment(entry: Mapping[str, Any], team: str, target: float) -> dict[str, Any]:
    """A commitment entry of a team's own figures judged against the team's ``target``
    (its share of the company's): the pro-rata target and the pace follow; the count and
    forecast are the team's already."""
    share = float(entry["elapsed_share"])
    pro_rata = target * share
    return {
        **entry,
        "target": int(target) if float(target).is_integer() else target,
        "pro_rata_target": pro_rata,
        "on_track": entry["count"] >= pro_rata,
        "scope": {"team": team},
    }


def mqls_month_to_date(
    mql_at: Int64Array, as_of: int, zone: tzinfo, *, weights: Int64Array | None = None
) -> dict[str, Any]:
    """MQLs of the month so far, and of the same stretch of last month: from its first day
    to the same day of the month and time of day (its end, where it is shorter).

    Three days of December against the whole of November reads as a collapse; three
    days against three days is the comparison a manager means.
    """
    month, previous, same = _month_to_date_stretches(as_of, zone)

    def stretch(start: int, end: int) -> dict[str, Any]:
        count = _weighted(weights, (mql_at >= start) & (mql_at <= end))
        return {"from": format_instant(start, zone), "to": format_instant(end, zone), "mqls": count}

    return {
        "this_month": {"label": month.label, **stretch(month.start, as_of)},
        "last_month": {"label": previous.label, **stretch(previous.start, same)},
    }


def _month_to_date_stretches(as_of: int, zone: tzinfo) -> tuple[Period, Period, int]:
    """The month of ``as_of``, the month before, and the instant in that month as far in
    as ``as_of`` is in its own (its end, where it is shorter)."""
    month = period_containing(as_of, "month", zone)
    previous = period_containing(month.start - 1, "month", zone)
    seconds, micros = divmod(as_of, MICROS_PER_SECOND)
    local = datetime.fromtimestamp(seconds, zone)
    minute = (local.day - 1) * MINUTES_PER_DAY + local.hour * 60 + local.minute
    first_day = date(1970 + previous.first_month // 12, previous.first_month % 12 + 1, 1)
    same = local_instant(first_day, minute, zone) + local.second * MICROS_PER_SECOND + micros
    same = min(same, previous.end)
    return month, previous, same


def collect_facts(
    results: Iterable[LeadResult],
    metric: MetricRules,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
) -> Facts:
    """The facts of every lead replayed, in columns (see :class:`FactCollector`)."""
    collector = FactCollector(metric, owners=owners)
    for result in results:
        collector.add_result(result, as_of)
    return collector.facts()


def snapped_instants(instants: Int64Array, as_of: int, zone: tzinfo) -> Int64Array:
    """Each instant moved back to the latest of its month's start, and the month-to-date
    stretches' ends (:func:`mqls_month_to_date`), at or before it: the scorecard reads
    an MQL's or a clock's instant only through its month and those stretches, so the
    moved instants give every figure the instants give. A tally of facts keeps these,
    so that rows a day apart fold into one."""
    instants = np.asarray(instants, dtype=np.int64)
    if instants.size == 0:
        return instants
    months = month_numbers(np.array([instants.min(), instants.max()]), zone).tolist()
    starts = [_month_start(m, zone) for m in range(months[0], months[1] + 2)]
    _, _, same = _month_to_date_stretches(as_of, zone)
    marks = np.unique(np.array([*starts, same + 1, as_of + 1], dtype=np.int64))
    snapped: Int64Array = marks[np.searchsorted(marks, instants, side="right") - 1]
    return snapped
