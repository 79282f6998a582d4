"""Scorecard facts of a whole history at once, column by column, with an exact fallback.

Replaying millions of leads through :meth:`LeadClocks.apply` one instant at a time
costs tens of microseconds per lead. Most leads, though, have a plain history: their
grade, owner and the other fields the figures read are set at their first instant
and never again, no status they reach pauses a clock, and each policy's start set is
entered at most once. For such a lead every clock of SPEC §4 has at most one cycle
with one running segment, from the instant the status enters the start set to the
first later instant it enters the stop set (or the evaluation instant), and rules 3,
5, 7 and 9 have nothing to do. Its facts (:mod:`leadsla.core.metrics`) then follow
from a few columns: the first instant, the last value of each field, the status
after each instant, and one :meth:`~leadsla.core.calendar.BusinessCalendar.elapsed_many`
call per calendar and policy.

The keys of SPEC §9.1–9.3 keep such a lead plain:

* ``stop.activity``: the cycle stops at the earlier of its status stop and the first
  matching activity from its start on (one at the start instant stops it at once);
* ``assigned`` in ``start`` or ``stop``: the owner is fixed since the first instant, so
  an assignment start is the status entry of a lead with an owner (a lead without one
  starts no such clock), and an assignment stop holds at the start or never;
* ``on_reassign: restart`` never applies (no owner changes);
* ``kind: cadence``: the attempts of the one cycle, its gaps and its window are
  columns too, with one ``add_many`` per calendar for the gaps' and the window's ends
  (:func:`_cadence`).

A lead with an activity that ``start.activity`` matches is left to the engine (such a
clock can start again after any stop).

:func:`columnar_facts` computes the facts of every such lead with NumPy and marks
every other lead for the exact engine; :func:`report_facts` runs those through
:func:`~leadsla.core.evaluate.lead_results` and :func:`~leadsla.core.metrics.lead_facts`
and merges both into one :class:`~leadsla.core.metrics.Facts`. A property test
checks that the result equals the replay of every lead, on histories built to hit
every rule.

The table must be *lead-grouped*: each lead's rows contiguous, ordered by instant
and then by line (what :meth:`EventTable.sorted` gives; the order of the leads
themselves does not matter).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, replace
from functools import cached_property

import numpy as np
import numpy.typing as npt

from leadsla.core.calendar import WALL_CLOCK
from leadsla.core.clock import State, grade_of, plan_for
from leadsla.core.columns import MICROS_PER_SECOND, BoolArray, IndexArray, Int32Array, Int64Array
from leadsla.core.evaluate import lead_results
from leadsla.core.events import EventTable
from leadsla.core.instants import unique_inverse
from leadsla.core.intake import CAPTURED_FIELD
from leadsla.core.metrics import (
    FactCollector,
    Facts,
    MetricRules,
    facts_of,
    merge_facts,
    score_of,
    state_code,
)
from leadsla.core.policy import CONNECT_OUTCOMES, Policy, Rulebook, activity_matches, is_attempt

WORKING, QUALIFIED = "working", "qualified"
# Fields whose changes after the first instant the fast path never has to follow.
_FREE_FIELDS = frozenset({"status", "activity"})


def supported(metric: MetricRules) -> bool:
    """Whether the agreement is one the column path can evaluate at all.

    It needs an MQL policy, no status that both starts and stops a policy, and
    ``applies_to`` filters on fields other than ``status``.
    """
    if metric.mql_policy is None:
        return False
    return all(
        not (policy.start & policy.stop) and "status" not in policy.applies_to
        for policy in metric.rules.policies
    )


@dataclass(frozen=True, slots=True)
class _Names:
    """Dense codes for keys (value codes, -1: none) and the name of each code."""

    codes: Int32Array
    names: list[str]


def _dense(keys: Int64Array, name_of: Callable[[int], str | None]) -> _Names:
    """Codes 0… for the distinct non-negative keys (named by ``name_of``), -1 elsewhere.

    Keys whose names are equal share a code; a key named ``None`` gets -1.
    """
    distinct, inverse = unique_inverse(keys)
    by_name: dict[str, int] = {}
    mapped = np.empty(len(distinct), dtype=np.int32)
    for index, key in enumerate(distinct.tolist()):
        name = name_of(key) if key >= 0 else None
        mapped[index] = -1 if name is None else by_name.setdefault(name, len(by_name))
    return _Names(mapped[inverse], list(by_name))


def _first_per_group(group: Int64Array, rows: IndexArray) -> IndexArray:
    """The first of ``rows`` (increasing) in each group."""
    if rows.size == 0:
        return rows
    chosen = group[rows]
    first = np.ones(rows.size, dtype=np.bool_)
    np.not_equal(chosen[1:], chosen[:-1], out=first[1:])
    return rows[first]


def _last_per_group(group: Int64Array, rows: IndexArray) -> IndexArray:
    """The last of ``rows`` (increasing) in each group."""
    if rows.size == 0:
        return rows
    chosen = group[rows]
    last = np.ones(rows.size, dtype=np.bool_)
    np.not_equal(chosen[1:], chosen[:-1], out=last[:-1])
    return rows[last]


class _Columns:
    """The columns of a lead-grouped table, read up to ``as_of``, and per-lead columns."""

    def __init__(self, table: EventTable, as_of: int, groups: int, group: Int64Array) -> None:
        # Rows after ``as_of`` stay in the columns; ``rows_of`` leaves them out. A lead
        # whose first row is after it has no row left at all.
        self.as_of = as_of
        self.group = group
        self.at = table.at
        self.field = table.field
        self.value = table.value
        self.groups = groups
        self.field_code = {name: code for code, name in enumerate(table.fields)}
        self.values = table.values
        first = np.ones(len(group), dtype=np.bool_)
        np.not_equal(group[1:], group[:-1], out=first[1:])
        self.first_at = table.at[first]
        self._rows: dict[str, IndexArray] = {}

    def rows_of(self, name: str) -> IndexArray:
        """The rows of a field, up to ``as_of`` (found once per field)."""
        rows = self._rows.get(name)
        if rows is None:
            code = self.field_code.get(name)
            if code is None:
                return np.zeros(0, dtype=np.intp)
            rows = np.flatnonzero(self.field == code)
            rows = self._rows[name] = rows[self.at[rows] <= self.as_of]
        return rows

    def last_value(self, name: str) -> Int64Array:
        """Each lead's last value code of a field (-1: never set, or cleared)."""
        result = np.full(self.groups, -1, dtype=np.int64)
        last = _last_per_group(self.group, self.rows_of(name))
        result[self.group[last]] = self.value[last]
        return result

    @cached_property
    def value_code(self) -> dict[str, int]:
        return {text: code for code, text in enumerate(self.values)}

    def value_flags(self, names: frozenset[str] | set[str]) -> BoolArray:
        """A lookup by value code (the last slot stands for code -1) of membership in ``names``."""
        flags = np.zeros(len(self.values) + 1, dtype=np.bool_)
        codes = [self.value_code[name] for name in names if name in self.value_code]
        flags[codes] = True
        return flags


def columnar_facts(
    table: EventTable,
    metric: MetricRules,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
) -> tuple[Facts, BoolArray]:
    """The facts of the plain leads of a lead-grouped table, and the rows of the others.

    Returns the facts (as :class:`FactCollector` would gather them from the replay of
    those leads) and a mask over the table's rows that selects every lead the column
    path leaves to the exact engine.
    """
    rules = metric.rules
    size = len(table)
    empty = FactCollector(metric, owners=owners).facts()
    if size == 0:
        return empty, np.zeros(0, dtype=np.bool_)
    starts = np.ones(size, dtype=np.bool_)
    np.not_equal(table.lead[1:], table.lead[:-1], out=starts[1:])
    group: Int64Array = np.cumsum(starts, dtype=np.int64) - 1
    groups = int(group[-1]) + 1
    if not supported(metric):
        return empty, np.ones(size, dtype=np.bool_)
    cols = _Columns(table, as_of, groups, group)
    exact = np.zeros(groups, dtype=np.bool_)

    # Fields the figures read must not change after the lead's first instant.
    watched = {"grade", "score", "owner", *metric.segment_fields}
    for policy in rules.policies:
        watched.update(policy.applies_to)
    for name in sorted(watched - _FREE_FIELDS):
        rows = cols.rows_of(name)
        late = rows[cols.at[rows] != cols.first_at[cols.group[rows]]]
        exact[cols.group[late]] = True

    if rules.intake is not None:
        # Marketing's intake clock starts at a capture, not a status: left to the engine.
        exact[cols.group[cols.rows_of(CAPTURED_FIELD)]] = True
    status = _StatusRows(cols)
    paused = cols.value_flags({s for p in rules.policies for s in p.pause})
    exact[status.group[paused[status.value]]] = True
    activity = _Activities(cols)
    lead = _LeadFields(cols, metric)
    # The owner is fixed since the first instant (above): SPEC §9.1's assignment
    # conditions hold from the first instant or never, and §9.2 never restarts a cycle.
    owned = cols.last_value("owner") >= 0

    clock_parts: list[_ClockPart] = []
    mql_part: _ClockPart | None = None
    for number, policy in enumerate(rules.policies):
        entry = status.entries(cols.value_flags(policy.start))
        exact |= np.bincount(status.group[entry], minlength=groups) > 1
        if policy.start_activity:
            # A cycle an activity can start (again) is left to the engine.
            exact[activity.group[activity.matching(policy.start_activity)]] = True
        first_entry = np.flatnonzero(entry)
        first_entry = first_entry[lead.applies(policy)[status.group[first_entry]]]
        part = _cycles(status, activity, policy, number, first_entry, owned, as_of)
        if policy.is_cadence:
            part = _cadence(rules, policy, part, activity, lead, as_of)
        # An assignment start (SPEC §9.1): a hand-off with no owner starts no clock.
        clock_parts.append(part.keep(owned[part.lead]) if policy.start_assigned else part)
        if policy.name == metric.mql_policy:
            # Every hand-off is an MQL (metrics docstring); one never assigned has no verdict.
            mql_part = part
            if policy.start_assigned:
                mql_part = replace(part, stopped=part.stopped & owned[part.lead])

    simple = ~exact
    assert mql_part is not None  # supported() asks for an MQL policy
    builder = _FactBuilder(cols, metric, lead, owners)
    for part in clock_parts:
        builder.add_clocks(part.keep(simple[part.lead]))
    builder.add_mqls(mql_part.keep(simple[mql_part.lead]), status, activity)
    return builder.facts(), exact[group]


_NEVER = np.iinfo(np.int64).max  # "no such instant" in per-lead columns


class _StatusRows:
    """The status after each instant (the last status row of the instant), up to ``as_of``:
    ``rows`` (table rows), ``group``, ``at`` and ``value`` per status instant."""

    def __init__(self, cols: _Columns) -> None:
        self.cols = cols
        rows = cols.rows_of("status")
        final = np.ones(rows.size, dtype=np.bool_)
        if rows.size:
            g, at = cols.group[rows], cols.at[rows]
            final[:-1] = (g[1:] != g[:-1]) | (at[1:] != at[:-1])
        self.rows = rows[final]
        self.group = cols.group[self.rows]
        self.at = cols.at[self.rows]
        self.value = cols.value[self.rows]
        self.size = self.rows.size
        self.same_lead_before = np.zeros(self.size, dtype=np.bool_)
        self.same_lead_before[1:] = self.group[1:] == self.group[:-1]

    def entries(self, flags: BoolArray) -> BoolArray:
        """The instants at which the status enters the set ``flags`` marks (by value code)
        from outside it, or is in it at the lead's first status."""
        inside = flags[self.value]
        before = np.zeros(self.size, dtype=np.bool_)
        before[1:] = inside[:-1]
        entered: BoolArray = inside & ~(self.same_lead_before & before)
        return entered

    def next_in(self, flags: BoolArray, after: IndexArray) -> IndexArray:
        """For each status instant ``after``: the first later one of the same lead whose
        status is in ``flags`` (``size``: none)."""
        position = np.where(flags[self.value], np.arange(self.size), self.size)
        following = np.append(np.minimum.accumulate(position[::-1])[::-1], self.size)
        found = following[after + 1]
        inside = found < self.size
        inside[inside] = self.group[found[inside]] == self.group[after[inside]]
        return np.where(inside, found, self.size)

    def last_by(self, since: IndexArray, until: Int64Array) -> IndexArray:
        """For each status instant ``since`` (at or before ``until``): the last status
        instant of the same lead at or before ``until``.

        One step per later status instant: the leads that go on shrink at each step, so
        the work is that of the rows walked.
        """
        result = since.copy()
        going = np.flatnonzero(since < self.size - 1)
        while going.size:
            step = result[going] + 1
            on = (self.group[step] == self.group[result[going]]) & (self.at[step] <= until[going])
            going = going[on]
            result[going] = step[on]
            going = going[result[going] < self.size - 1]
        return result


class _Activities:
    """The activity rows up to ``as_of`` (``group``, ``at``, ``value``) and which are attempts."""

    def __init__(self, cols: _Columns) -> None:
        rows = cols.rows_of("activity")
        rows = rows[cols.value[rows] >= 0]
        self.cols = cols
        self.group = cols.group[rows]
        self.at = cols.at[rows]
        self.value = cols.value[rows]
        texts = cols.values
        codes = np.unique(self.value).tolist()
        attempt = np.zeros(len(texts) + 1, dtype=np.bool_)
        connect = np.zeros(len(texts) + 1, dtype=np.bool_)
        for code in codes:
            attempt[code] = is_attempt(texts[code])
            connect[code] = texts[code].partition(":")[2] in CONNECT_OUTCOMES
        self.attempt = attempt[self.value]
        self.connect = connect[self.value] & self.attempt
        self._codes = codes

    def matching(self, entries: frozenset[str]) -> BoolArray:
        """The rows whose activity matches ``entries`` (SPEC §9.1)."""
        flags = np.zeros(len(self.cols.values) + 1, dtype=np.bool_)
        for code in self._codes:
            flags[code] = activity_matches(self.cols.values[code], entries)
        chosen: BoolArray = flags[self.value]
        return chosen

    def first_from(self, rows: BoolArray, leads: Int64Array, since: Int64Array) -> Int64Array:
        """Per lead of ``leads``: the instant of the first of ``rows`` at or after its
        ``since`` instant (``_NEVER``: none)."""
        start = np.full(self.cols.groups, _NEVER, dtype=np.int64)
        start[leads] = since
        chosen = _first_per_group(self.group, np.flatnonzero(rows & (self.at >= start[self.group])))
        first = np.full(self.cols.groups, _NEVER, dtype=np.int64)
        first[self.group[chosen]] = self.at[chosen]
        result: Int64Array = first[leads]
        return result


def _cycles(
    status: _StatusRows,
    activity: _Activities,
    policy: Policy,
    number: int,
    entry: IndexArray,
    owned: BoolArray,
    as_of: int,
) -> _ClockPart:
    """The one cycle of a policy that starts at each status instant ``entry``: stopped at
    the first later instant the status enters the stop set, or at the first activity
    matching ``stop.activity`` from the start on, or at the start when ``stop.assigned``
    holds (SPEC §4 rule 4, §9.1)."""
    leads = status.group[entry]
    started = status.at[entry]
    stop = status.next_in(status.cols.value_flags(policy.stop), entry)
    on_status = stop < status.size
    stop_at = np.where(on_status, status.at[np.minimum(stop, status.size - 1)], _NEVER)
    if policy.stop_activity:
        stop_at = np.minimum(
            stop_at, activity.first_from(activity.matching(policy.stop_activity), leads, started)
        )
    if policy.stop_assigned:
        stop_at = np.where(owned[leads], started, stop_at)
    stopped = stop_at != _NEVER
    # The status after the stop, where the stop is a status row; found later otherwise.
    stop_row = np.where(
        on_status & (stop_at == status.at[np.minimum(stop, status.size - 1)]), stop, -1
    )
    return _ClockPart(
        policy=number,
        lead=leads,
        entry=entry,
        started_at=started,
        stopped=stopped,
        stopped_at=np.where(stopped, stop_at, as_of),
        stop_row=np.where(stopped, stop_row, -1),
    )


def _by_calendar(
    rules: Rulebook, policy: Policy, lead: _LeadFields, leads: Int64Array
) -> Iterator[tuple[str, IndexArray]]:
    """The calendar each lead's clock runs on (rule 2: one per owner, fixed here), and
    the positions in ``leads`` of the leads on it."""
    calendar_of = [rules.calendar_name_for(policy, name) for name in lead.owner_names]
    calendar_of.append(rules.calendar_name_for(policy, None))
    names = sorted(set(calendar_of))
    codes = np.array([names.index(c) for c in calendar_of], dtype=np.int64)[lead.owner.codes[leads]]
    for index, name in enumerate(names):
        on = np.flatnonzero(codes == index)
        if on.size:
            yield name, on


def _cadence(
    rules: Rulebook,
    policy: Policy,
    part: _ClockPart,
    activity: _Activities,
    lead: _LeadFields,
    as_of: int,
) -> _ClockPart:
    """SPEC §9.3 on the one cycle of each lead (:mod:`leadsla.core.cadence`, without
    pauses): the instant the required attempts are reached, each gap's overrun and the
    window's, and so whether the cycle was met there, breached, stopped or runs on.

    With the cycle's attempts (rows from its start to its stop, or to ``as_of``) and
    gaps starting at the start and at each later instant with attempts, the first
    overrun ``X`` is the earliest instant a gap's time exceeds ``gap`` before the next
    gap starts (the last gap always may), or the instant the window's time exceeds
    ``within`` if fewer attempts than required came before it. The cycle is met and
    stops at the required attempt's instant ``R`` if ``X`` is after it (no overrun by
    then: ``cadence_reached``); otherwise it ends at its stop, breached if ``X`` is at or
    before its end.
    """
    groups = activity.cols.groups
    leads = part.lead
    ends = part.stopped_at  # the stop, else the evaluation instant
    start_of = np.full(groups, _NEVER, dtype=np.int64)
    start_of[leads] = part.started_at
    end_of = np.full(groups, -1, dtype=np.int64)
    end_of[leads] = ends
    group = activity.group
    inside = np.flatnonzero(
        activity.attempt & (activity.at >= start_of[group]) & (activity.at <= end_of[group])
    )
    a_group = group[inside]
    a_at = activity.at[inside]
    new_lead = np.ones(inside.size, dtype=np.bool_)
    np.not_equal(a_group[1:], a_group[:-1], out=new_lead[1:])
    # The required attempt's instant, per lead (rows in lead and instant order).
    lead_first = np.maximum.accumulate(np.where(new_lead, np.arange(inside.size), 0))
    rank = np.arange(inside.size) - lead_first
    reached_at = np.full(groups, _NEVER, dtype=np.int64)
    required = rank == policy.attempts - 1
    reached_at[a_group[required]] = a_at[required]
    # Gap starts: each cycle's start, then each later instant with attempts, merged in
    # lead order (a lead's start comes before its attempts).
    later = np.ones(inside.size, dtype=np.bool_)
    np.not_equal(a_at[1:], a_at[:-1], out=later[1:])
    later = (later | new_lead) & (a_at > start_of[a_group])
    g_lead, g_at = a_group[later], a_at[later]
    total = leads.size + g_lead.size
    at_start = np.arange(leads.size) + np.searchsorted(g_lead, leads, side="left")
    at_attempt = np.arange(g_lead.size) + np.searchsorted(leads, g_lead, side="right")
    gap_at = np.empty(total, dtype=np.int64)
    gap_at[at_start] = part.started_at
    gap_at[at_attempt] = g_at
    gap_lead = np.empty(total, dtype=np.int64)
    gap_lead[at_start] = leads
    gap_lead[at_attempt] = g_lead
    # The position in ``leads`` of each gap's lead.
    gap_cycle = np.empty(total, dtype=np.int64)
    gap_cycle[at_start] = np.arange(leads.size)
    gap_cycle[at_attempt] = np.searchsorted(leads, g_lead)
    following = np.full(total, _NEVER, dtype=np.int64)
    same = gap_lead[1:] == gap_lead[:-1]
    following[:-1] = np.where(same, gap_at[1:], _NEVER)

    overrun = np.full(total, _NEVER, dtype=np.int64)
    window = np.full(leads.size, _NEVER, dtype=np.int64)
    for name, on in _by_calendar(rules, policy, lead, leads):
        plan = plan_for(rules, policy, name)
        assert plan.gap is not None and plan.within is not None
        mine = np.zeros(leads.size, dtype=np.bool_)
        mine[on] = True
        gaps = np.flatnonzero(mine[gap_cycle])
        # The first microsecond past each amount: an attempt exactly when a gap runs out
        # is in time.
        measure, micros = plan.gap
        overrun[gaps] = measure.add_many(gap_at[gaps], np.full(gaps.size, micros + 1))
        measure, micros = plan.within
        window[on] = measure.add_many(part.started_at[on], np.full(on.size, micros + 1))
    # The first gap that overran before the next began (the last one always may).
    over = _first_per_group(gap_cycle, np.flatnonzero(overrun <= following))
    first_over = np.full(leads.size, _NEVER, dtype=np.int64)
    first_over[gap_cycle[over]] = overrun[over]
    # The window overruns if the attempts before it fall short.
    window_of = np.full(groups, _NEVER, dtype=np.int64)
    window_of[leads] = window
    before_window = np.bincount(a_group[a_at < window_of[a_group]], minlength=groups)
    short = before_window[leads] < policy.attempts
    overran_at = np.minimum(first_over, np.where(short, window, _NEVER))
    reached = reached_at[leads]
    met_there = (reached != _NEVER) & (overran_at > reached)
    stopped = part.stopped | met_there
    return replace(
        part,
        stopped=stopped,
        stopped_at=np.where(met_there, reached, ends),
        stop_row=np.where(met_there & (reached != ends), -1, part.stop_row),
        overran=~met_there & (overran_at <= ends),
    )


@dataclass(frozen=True, slots=True)
class _ClockPart:
    """The one cycle of one policy on each of some leads."""

    policy: int
    lead: Int64Array
    entry: IndexArray  # the status instant (see _StatusRows) at which it started
    started_at: Int64Array
    stopped: BoolArray
    stopped_at: Int64Array  # the evaluation instant where not stopped
    stop_row: IndexArray  # the status instant of the status after the stop (-1: not known)
    # Cadence policies (SPEC §9.3): whether a gap or the window overran (None: an SLA).
    overran: BoolArray | None = None

    def keep(self, mask: BoolArray) -> _ClockPart:
        if mask.all():  # usual on plain histories: no copy of millions of rows
            return self
        return _ClockPart(
            self.policy,
            self.lead[mask],
            self.entry[mask],
            self.started_at[mask],
            self.stopped[mask],
            self.stopped_at[mask],
            self.stop_row[mask],
            None if self.overran is None else self.overran[mask],
        )


class _LeadFields:
    """Each lead's grade, owner, team and segment values, fixed since its first instant."""

    def __init__(self, cols: _Columns, metric: MetricRules) -> None:
        rules = metric.rules
        values = cols.values
        self.cols = cols
        self.metric = metric
        owner = cols.last_value("owner")
        self.owner = _dense(owner, values.__getitem__)
        grade = cols.last_value("grade")
        score = cols.last_value("score")
        stride = len(values) + 1

        def grade_name(key: int) -> str | None:
            explicit, scored = divmod(key, stride)
            fields = {}
            if explicit > 0:
                fields["grade"] = values[explicit - 1]
            if scored > 0:
                fields["score"] = values[scored - 1]
            return grade_of(rules, fields)

        self.grade = _dense((grade + 1) * stride + (score + 1), grade_name)
        # The band code of each value code (the last slot: no score).
        band_of_value = np.full(len(values) + 1, -1, dtype=np.int32)
        for code in np.unique(score[score >= 0]).tolist():
            band_of_value[code] = metric.score_band(score_of({"score": values[code]}))
        self.score_band = band_of_value[score]
        team_of = metric.team_of
        owner_names = self.owner.names
        self.team = _dense(
            self.owner.codes.astype(np.int64),
            lambda code: team_of.get(owner_names[code]),
        )
        self.owner_names = owner_names

    def attribute(self, name: str) -> _Names:
        """A field as the metrics and ``applies_to`` read it (``grade``: the effective one)."""
        if name == "grade":
            return self.grade
        if name == "owner":
            return self.owner
        field = self.cols.last_value(name)
        values = self.cols.values
        return _dense(field, values.__getitem__)

    def segment(self, name: str) -> _Names:
        """A commitment's segment field at the MQL instant (``team``: the owner's team
        unless the lead has a ``team`` field)."""
        if name != "team":
            return self.attribute(name)
        field = self.cols.last_value("team")
        values = self.cols.values
        teams = self.team
        # Keys: a team field's value code v as v + 1; else the owner's team t as -(t + 1).
        keys = np.where(field >= 0, field + 1, -(teams.codes.astype(np.int64) + 1))
        offset = int(keys.min(initial=0))

        def spelled(key: int) -> str | None:
            key += offset
            if key > 0:
                return values[key - 1]
            return teams.names[-key - 1] if key < 0 else None

        return _dense(keys - offset, spelled)

    def applies(self, policy: Policy) -> BoolArray:
        """Whether ``applies_to`` lets each lead start the policy's clock."""
        result = np.ones(self.cols.groups, dtype=np.bool_)
        for name, allowed in policy.applies_to.items():
            column = self.attribute(name)
            ok = np.array([text in allowed for text in column.names] + [False], dtype=np.bool_)
            result &= ok[column.codes]
        return result


class _FactBuilder:
    """Fact columns of the plain leads, coded like :class:`FactCollector` codes them."""

    def __init__(
        self,
        cols: _Columns,
        metric: MetricRules,
        lead: _LeadFields,
        owners: frozenset[str] | None,
    ) -> None:
        self.cols = cols
        self.metric = metric
        self.lead = lead
        owner_ok = np.array(
            [owners is None or name in owners for name in lead.owner_names] + [owners is None],
            dtype=np.bool_,
        )
        self.allowed = owner_ok[lead.owner.codes]
        self.owners = owners
        self.clock_columns: dict[str, list[npt.NDArray[np.generic]]] = {}
        self.mql_columns: dict[str, npt.NDArray[np.generic]] = {}

    def _append(self, name: str, column: npt.NDArray[np.generic]) -> None:
        self.clock_columns.setdefault(name, []).append(column)

    def add_clocks(self, part: _ClockPart) -> None:
        rules = self.metric.rules
        policy = rules.policies[part.policy]
        lead = self.lead
        unowned = policy.name in self.metric.unowned_policies
        if unowned:
            # A queue's clock is charged to nobody: in a rep's view it is nobody's.
            part = part.keep(np.full(len(part.lead), self.owners is None, dtype=np.bool_))
        else:
            part = part.keep(self.allowed[part.lead])
        leads = part.lead
        grade_codes = lead.grade.codes[leads]
        business = np.zeros(len(leads), dtype=np.int64)
        states = np.full(len(leads), state_code(State.RUNNING), dtype=np.int8)
        states[part.stopped] = state_code(State.MET)
        if part.overran is not None:
            states[part.overran] = state_code(State.BREACHED)
        grade_names: list[str | None] = [*lead.grade.names, None]
        for name, on in _by_calendar(rules, policy, lead, leads):
            plan = plan_for(rules, policy, name)
            business[on] = plan.calendar.elapsed_many(part.started_at[on], part.stopped_at[on])
            if part.overran is not None:
                continue  # a cadence has no target (SPEC §9.3)
            # One target per grade (rule 5).
            for code in np.unique(grade_codes[on]).tolist():
                grade = grade_names[code]
                target = plan.target(grade)
                if target is None:
                    continue
                rows = on[grade_codes[on] == code]
                measure, amount = target
                if measure is WALL_CLOCK:
                    spent = part.stopped_at[rows] - part.started_at[rows]
                else:
                    spent = business[rows]
                over = rows[spent > amount]
                late = State.LAPSED if grade in policy.optional else State.BREACHED
                states[over] = state_code(late)
        none = np.full(len(leads), -1, dtype=np.int32)
        self._append("clock_policy", np.full(len(leads), part.policy, dtype=np.int32))
        self._append("clock_started_at", part.started_at)
        self._append("clock_state", states)
        self._append("clock_grade", grade_codes)
        self._append("clock_owner", none if unowned else lead.owner.codes[leads])
        self._append("clock_team", none if unowned else lead.team.codes[leads])
        self._append("clock_score_band", lead.score_band[leads])
        self._append("clock_stopped", part.stopped)
        self._append("clock_seconds", business // MICROS_PER_SECOND)

    def add_mqls(self, part: _ClockPart, status: _StatusRows, activity: _Activities) -> None:
        cols = self.cols
        rules = self.metric.rules
        lead = self.lead
        part = part.keep(self.allowed[part.lead])
        leads = part.lead
        groups = cols.groups
        mql_at = np.full(groups, _NEVER, dtype=np.int64)
        mql_at[leads] = part.started_at
        # Attempts and connects from the MQL instant on (one MQL: to the end).
        counted = activity.at >= mql_at[activity.group]
        attempts = np.bincount(activity.group[counted & activity.attempt], minlength=groups)
        connects = np.bincount(activity.group[counted & activity.connect], minlength=groups)
        # Qualified: the status after some instant from the MQL on is of stage qualified.
        stages = rules.statuses
        qualified_flags = cols.value_flags({s for s, st in stages.items() if st == QUALIFIED})
        reached = qualified_flags[status.value] & (status.at >= mql_at[status.group])
        qualified = np.zeros(groups, dtype=np.bool_)
        qualified[status.group[reached]] = True
        # SAL: the follow-up stopped on a working status (the status after its stop).
        stop_row = part.stop_row
        unknown = np.flatnonzero(part.stopped & (stop_row < 0))
        if unknown.size:
            stop_row = stop_row.copy()
            stop_row[unknown] = status.last_by(part.entry[unknown], part.stopped_at[unknown])
        working = cols.value_flags({s for s, st in stages.items() if st == WORKING})
        stop_status = np.where(stop_row >= 0, status.value[np.maximum(stop_row, 0)], -1)
        grade_codes = lead.grade.codes[leads]
        workable_names = np.array(
            [name in self.metric.workable for name in lead.grade.names] + [False], dtype=np.bool_
        )
        self.mql_columns = {
            "mql_at": part.started_at,
            "grade": grade_codes,
            "owner": lead.owner.codes[leads],
            "team": lead.team.codes[leads],
            "is_sal": part.stopped & working[stop_status],
            "workable": workable_names[grade_codes],
            "attempts": attempts[leads].astype(np.int64),
            "connects": connects[leads].astype(np.int64),
            "qualified": qualified[leads],
            "score_band": lead.score_band[leads],
        }
        self.segments = {name: lead.segment(name) for name in self.metric.segment_fields}
        self.mql_leads = leads

    def facts(self) -> Facts:
        clocks = {
            name: np.concatenate(parts) if parts else np.zeros(0)
            for name, parts in self.clock_columns.items()
        }
        lead = self.lead
        return facts_of(
            self.mql_columns | clocks,
            segment={name: names.codes[self.mql_leads] for name, names in self.segments.items()},
            grades=list(lead.grade.names),
            owners=list(lead.owner.names),
            teams=list(lead.team.names),
            segment_values={name: names.names for name, names in self.segments.items()},
            policies=list(self.metric.policies),
            score_bands=self.metric.score_band_names,
        )


def replayed_facts(
    table: EventTable,
    metric: MetricRules,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
) -> Facts:
    """The facts of every lead of a lead-grouped table by the exact engine: replay,
    judge and :func:`~leadsla.core.metrics.lead_facts`, lead by lead."""
    collector = FactCollector(metric, owners=owners)
    for result in lead_results(metric.rules, table, as_of, with_instants=True):
        collector.add_result(result, as_of)
    return collector.facts()


def report_facts(
    table: EventTable,
    metric: MetricRules,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
) -> Facts:
    """The facts of every lead of a lead-grouped table: columns where they can, the
    exact engine for the rest."""
    fast, exact_rows = columnar_facts(table, metric, as_of, owners=owners)
    rest = table.take(np.flatnonzero(exact_rows))
    return merge_facts([fast, replayed_facts(rest, metric, as_of, owners=owners)])


__all__: Sequence[str] = ("columnar_facts", "replayed_facts", "report_facts", "supported")
