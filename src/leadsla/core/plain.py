"""The clocks of plain leads in columns: what the scorecard's column path
(:mod:`leadsla.core.columnar`) and ``evaluate``'s (:func:`plain_verdicts`) share.

Most leads have a plain history: their grade, owner and the other fields the clocks
read are set at their first instant and never again, no status they reach pauses a
clock, each policy's start set is entered at most once, and no activity can start a
clock. For such a lead every clock of SPEC §4 has at most one cycle with one running
segment, from the instant the status enters the start set to its stop (or the
evaluation instant), and rules 3, 5, 7 and 9 have nothing to do. Its cycles then
follow from a few columns: the first instant, the last value of each field, the
status after each instant, the activity rows, and the vectorised calendar
(``elapsed_many``, ``add_many``) once per calendar and policy.

The keys of SPEC §9.1–9.3 keep such a lead plain:

* ``stop.activity``: the cycle stops at the earlier of its status stop and the first
  matching activity from its start on (one at the start instant stops it at once);
* ``assigned`` in ``start`` or ``stop``: the owner is fixed since the first instant, so
  an assignment start is the status entry of a lead with an owner (a lead without one
  starts no such clock), and an assignment stop holds at the start or never;
* ``on_reassign: restart`` never applies (no owner changes);
* ``kind: cadence``: the attempts of the one cycle, its gaps and its window are
  columns too (:class:`Cadence`).

:func:`plain_clocks` finds the plain leads of a lead-grouped table (each lead's rows
contiguous, ordered by instant and then by line) and their cycles; every other lead is
marked for the exact engine (:meth:`~leadsla.core.clock.LeadClocks.apply`). Property
tests check that what both users build from these cycles equals the replay of every
lead, on histories built to hit every rule.
"""

from __future__ import annotations

import collections
import dataclasses
import gc
import itertools
import types
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, replace
from functools import cached_property
from typing import Any

import numpy as np
import numpy.typing as npt

from leadsla.core.calendar import TimeMeasure
from leadsla.core.clock import State, Verdict, grade_of, plan_for
from leadsla.core.columns import BoolArray, IndexArray, Int32Array, Int64Array
from leadsla.core.events import EventTable
from leadsla.core.instants import unique_inverse
from leadsla.core.intake import CAPTURED_FIELD
from leadsla.core.policy import CONNECT_OUTCOMES, Policy, Rulebook, activity_matches, is_attempt

# Fields whose changes after the first instant the column path never has to follow.
FREE_FIELDS = frozenset({"status", "activity"})
NEVER = np.iinfo(np.int64).max  # "no such instant" in per-lead columns


def supported(rules: Rulebook) -> bool:
    """Whether the agreement is one the column path can follow at all: no status that
    both starts and stops a policy, and ``applies_to`` on fields other than ``status``."""
    return all(
        not (policy.start & policy.stop) and "status" not in policy.applies_to
        for policy in rules.policies
    )


@dataclass(frozen=True, slots=True)
class Names:
    """Dense codes for keys (value codes, -1: none) and the name of each code."""

    codes: Int32Array
    names: list[str]


def dense(keys: Int64Array, name_of: Callable[[int], str | None]) -> Names:
    """Codes 0… for the distinct non-negative keys (named by ``name_of``), -1 elsewhere.

    Keys whose names are equal share a code; a key named ``None`` gets -1.
    """
    distinct, inverse = unique_inverse(keys)
    by_name: dict[str, int] = {}
    mapped = np.empty(len(distinct), dtype=np.int32)
    for index, key in enumerate(distinct.tolist()):
        name = name_of(key) if key >= 0 else None
        mapped[index] = -1 if name is None else by_name.setdefault(name, len(by_name))
    return Names(mapped[inverse], list(by_name))


def _present(codes: Int32Array) -> list[int]:
    """The distinct codes (-1: none, small non-negative otherwise), without a sort."""
    counts = np.bincount(codes.astype(np.int64) + 1)
    return [int(code) - 1 for code in np.flatnonzero(counts).tolist()]


def first_per_group(group: npt.NDArray[np.integer[Any]], rows: IndexArray) -> IndexArray:
    """The first of ``rows`` (increasing) in each group."""
    if rows.size == 0:
        return rows
    chosen = group[rows]
    first = np.ones(rows.size, dtype=np.bool_)
    np.not_equal(chosen[1:], chosen[:-1], out=first[1:])
    return rows[first]


def last_per_group(group: npt.NDArray[np.integer[Any]], rows: IndexArray) -> IndexArray:
    """The last of ``rows`` (increasing) in each group."""
    if rows.size == 0:
        return rows
    chosen = group[rows]
    last = np.ones(rows.size, dtype=np.bool_)
    np.not_equal(chosen[1:], chosen[:-1], out=last[:-1])
    return rows[last]


class Columns:
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
        last = last_per_group(self.group, self.rows_of(name))
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


def columns_of(table: EventTable, as_of: int, start: int = 0, stop: int | None = None) -> Columns:
    """The :class:`Columns` of the rows ``[start, stop)`` of a lead-grouped table (views,
    no copy), their leads numbered 0… in order."""
    stop = len(table) if stop is None else stop
    lead = table.lead[start:stop]
    first = np.ones(lead.size, dtype=np.bool_)
    np.not_equal(lead[1:], lead[:-1], out=first[1:])
    group: Int64Array = np.cumsum(first, dtype=np.int64) - 1
    groups = int(group[-1]) + 1 if group.size else 0
    part = EventTable(
        lead=lead,
        at=table.at[start:stop],
        field=table.field[start:stop],
        value=table.value[start:stop],
        line=table.line[start:stop],
        lead_ids=table.lead_ids,
        fields=table.fields,
        values=table.values,
        ordered=table.ordered,
    )
    return Columns(part, as_of, groups, group)


class StatusRows:
    """The status after each instant (the last status row of the instant), up to ``as_of``:
    ``rows`` (table rows), ``group``, ``at`` and ``value`` per status instant."""

    def __init__(self, cols: Columns) -> None:
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
        marked = flags[self.value]
        flagged = np.flatnonzero(marked)
        # How many flagged instants lie at or before each: a running count in one pass,
        # where a binary search of millions of instants costs several.
        through = np.cumsum(marked, dtype=np.int64)
        found = np.append(flagged, self.size)[through[after]]
        # Whole arrays compared rather than masked ones picked: ``size`` (none) reads the
        # last instant's lead, and is told apart by itself.
        inside = self.group[np.minimum(found, self.size - 1)] == self.group[after]
        inside &= found < self.size
        result: IndexArray = np.where(inside, found, self.size)
        return result

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


class Activities:
    """The activity rows up to ``as_of`` (``group``, ``at``, ``value``) and which are attempts."""

    def __init__(self, cols: Columns) -> None:
        rows = cols.rows_of("activity")
        rows = rows[cols.value[rows] >= 0]
        self.cols = cols
        self.group = cols.group[rows]
        self.at = cols.at[rows]
        self.value = cols.value[rows]
        texts = cols.values
        codes = np.flatnonzero(np.bincount(self.value, minlength=len(texts))).tolist()
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
        ``since`` instant (``NEVER``: none)."""
        start = np.full(self.cols.groups, NEVER, dtype=np.int64)
        start[leads] = since
        chosen = first_per_group(self.group, np.flatnonzero(rows & (self.at >= start[self.group])))
        first = np.full(self.cols.groups, NEVER, dtype=np.int64)
        first[self.group[chosen]] = self.at[chosen]
        result: Int64Array = first[leads]
        return result


def cycles_of(
    status: StatusRows,
    activity: Activities,
    policy: Policy,
    number: int,
    entry: IndexArray,
    owned: BoolArray,
    as_of: int,
) -> ClockPart:
    """The one cycle of a policy that starts at each status instant ``entry``: stopped at
    the first later instant the status enters the stop set, or at the first activity
    matching ``stop.activity`` from the start on, or at the start when ``stop.assigned``
    holds (SPEC §4 rule 4, §9.1)."""
    leads = status.group[entry]
    started = status.at[entry]
    if policy.stop:
        stop = status.next_in(status.cols.value_flags(policy.stop), entry)
        on_status = stop < status.size
        stop_at = np.where(on_status, status.at[np.minimum(stop, status.size - 1)], NEVER)
        # The status after the stop, where the stop is a status row; found later otherwise.
        stop_row = np.where(on_status, stop, -1)
    else:
        stop_at = np.full(entry.size, NEVER, dtype=np.int64)
        stop_row = np.full(entry.size, -1, dtype=np.int64)
    if policy.stop_activity:
        touched = activity.first_from(activity.matching(policy.stop_activity), leads, started)
        earlier = touched < stop_at
        stop_at[earlier] = touched[earlier]
        stop_row[earlier] = -1
    if policy.stop_assigned:
        # An owner since the first instant: the stop holds at the start.
        assigned = owned[leads]
        stop_at[assigned] = started[assigned]
        stop_row[assigned] = -1
    stopped = stop_at != NEVER
    stop_at[~stopped] = as_of
    return ClockPart(
        policy=number,
        lead=leads,
        entry=entry,
        started_at=started,
        stopped=stopped,
        stopped_at=stop_at,
        stop_row=stop_row,
    )


class LeadFields:
    """Each lead's effective grade and owner, fixed since its first instant (codes into
    their names), and the other fields ``applies_to`` reads."""

    def __init__(self, cols: Columns, rules: Rulebook) -> None:
        values = cols.values
        self.cols = cols
        self.rules = rules
        score = cols.last_value("score")
        self.score = score  # value codes (-1: none)
        self.owner = dense(cols.last_value("owner"), values.__getitem__)
        self.owner_names = self.owner.names
        grade = cols.last_value("grade")
        stride = len(values) + 1

        def grade_name(key: int) -> str | None:
            explicit, scored = divmod(key, stride)
            fields = {}
            if explicit > 0:
                fields["grade"] = values[explicit - 1]
            if scored > 0:
                fields["score"] = values[scored - 1]
            return grade_of(rules, fields)

        self.grade = dense((grade + 1) * stride + (score + 1), grade_name)

    def attribute(self, name: str) -> Names:
        """A field as the clocks' ``applies_to`` reads it (``grade``: the effective one)."""
        if name == "grade":
            return self.grade
        if name == "owner":
            return self.owner
        return dense(self.cols.last_value(name), self.cols.values.__getitem__)

    def applies(self, policy: Policy) -> BoolArray:
        """Whether ``applies_to`` lets each lead start the policy's clock."""
        result = np.ones(self.cols.groups, dtype=np.bool_)
        for name, allowed in policy.applies_to.items():
            column = self.attribute(name)
            ok = np.array([text in allowed for text in column.names] + [False], dtype=np.bool_)
            result &= ok[column.codes]
        return result


def by_calendar(
    rules: Rulebook, policy: Policy, lead: LeadFields, leads: Int64Array
) -> Iterator[tuple[str, IndexArray]]:
    """The calendar each lead's clock runs on (rule 2: one per owner, fixed here), and
    the positions in ``leads`` of the leads on it."""
    calendar_of = [rules.calendar_name_for(policy, name) for name in lead.owner_names]
    calendar_of.append(rules.calendar_name_for(policy, None))
    names = sorted(set(calendar_of))
    if len(names) == 1:
        if leads.size:
            yield names[0], np.arange(leads.size)
        return
    codes = np.array([names.index(c) for c in calendar_of], dtype=np.int64)[lead.owner.codes[leads]]
    for index, name in enumerate(names):
        on = np.flatnonzero(codes == index)
        if on.size:
            yield name, on


@dataclass(frozen=True, slots=True)
class ClockPart:
    """The one cycle of one policy on each of some leads."""

    policy: int
    lead: Int64Array
    entry: IndexArray  # the status instant (see StatusRows) at which it started
    started_at: Int64Array
    stopped: BoolArray
    stopped_at: Int64Array  # the evaluation instant where not stopped
    stop_row: IndexArray  # the status instant of the status after the stop (-1: not known)
    # Cadence policies (SPEC §9.3): the first overrun of a gap or the window (NEVER: none
    # by the end), and the row range of the cycle's attempts; None for an SLA.
    overran_at: Int64Array | None = None

    @property
    def overran(self) -> BoolArray | None:
        """Cadence policies: whether a gap or the window overran by the cycle's end."""
        if self.overran_at is None:
            return None
        over: BoolArray = self.overran_at <= self.stopped_at
        return over

    def keep(self, mask: BoolArray) -> ClockPart:
        if mask.all():  # usual on plain histories: no copy of millions of rows
            return self
        return ClockPart(
            self.policy,
            self.lead[mask],
            self.entry[mask],
            self.started_at[mask],
            self.stopped[mask],
            self.stopped_at[mask],
            self.stop_row[mask],
            None if self.overran_at is None else self.overran_at[mask],
        )


class Cadence:
    """SPEC §9.3 on the one cycle of each lead of a part (:mod:`leadsla.core.cadence`,
    without pauses): its attempts, its gaps, and so whether it was met, breached,
    stopped or runs on.

    With the cycle's attempts (rows from its start to its stop, or to ``as_of``) and
    gaps starting at the start and at each later instant with attempts, the first
    overrun ``X`` is the earliest instant a gap's time exceeds ``gap`` before the next
    gap starts (the last gap always may), or the instant the window's time exceeds
    ``within`` if fewer attempts than required came before it. The cycle is met and
    stops at the required attempt's instant ``R`` if ``X`` is after it (no overrun by
    then: ``cadence_reached``); otherwise it ends at its stop, breached if ``X`` is at or
    before its end. (Attempts after ``R`` belong to no cycle; ``X`` read on the
    attempts to the natural end equals ``X`` read on those to ``R`` wherever either is
    at or before ``R``.)
    """

    def __init__(
        self,
        rules: Rulebook,
        policy: Policy,
        part: ClockPart,
        activity: Activities,
        lead: LeadFields,
    ) -> None:
        size = part.lead.size
        ends = part.stopped_at  # the stop, else the evaluation instant
        # Each activity row's cycle (``size``: none). A lead with several entries (left to
        # the engine) keeps its last cycle's attempts only: its figures are not used.
        cycle_of = np.full(activity.cols.groups, size, dtype=np.int64)
        cycle_of[part.lead] = np.arange(size)
        cycle = cycle_of[activity.group]
        # Rows of no cycle read the instants of a cycle past the last one: never inside.
        started = np.append(part.started_at, NEVER)
        ended = np.append(ends, -1)
        inside = np.flatnonzero(
            activity.attempt & (activity.at >= started[cycle]) & (activity.at <= ended[cycle])
        )
        a_cycle = cycle[inside]
        a_at = activity.at[inside]
        new_cycle = np.ones(inside.size, dtype=np.bool_)
        np.not_equal(a_cycle[1:], a_cycle[:-1], out=new_cycle[1:])
        # The required attempt's instant, per cycle (rows in lead and instant order).
        firsts = np.flatnonzero(new_cycle)
        nth = firsts + policy.attempts - 1
        reached = np.full(size, NEVER, dtype=np.int64)
        if policy.attempts > 0:
            # The cycle's first attempt row and its required one: the same cycle's if its
            # cycle has that many rows.
            enough = nth < inside.size
            firsts, nth = firsts[enough], nth[enough]
            same = a_cycle[nth] == a_cycle[firsts]
            reached[a_cycle[firsts[same]]] = a_at[nth[same]]
        # Gaps: one from each cycle's start, then one from each later instant with
        # attempts (``later``), each to the next gap's start.
        moved = np.ones(inside.size, dtype=np.bool_)
        np.not_equal(a_at[1:], a_at[:-1], out=moved[1:])
        later = np.flatnonzero((moved | new_cycle) & (a_at > part.started_at[a_cycle]))
        l_cycle, l_at = a_cycle[later], a_at[later]
        same_next = l_cycle[1:] == l_cycle[:-1]
        l_next = np.full(later.size, NEVER, dtype=np.int64)
        l_next[:-1] = np.where(same_next, l_at[1:], NEVER)
        # A cycle's first later instant is the one whose cycle differs from the one before.
        opens_cycle = np.ones(later.size, dtype=np.bool_)
        np.logical_not(same_next, out=opens_cycle[1:])
        first = np.flatnonzero(opens_cycle)
        first_later = np.full(size, NEVER, dtype=np.int64)
        first_later[l_cycle[first]] = l_at[first]

        start_over = np.empty(size, dtype=np.int64)
        later_over = np.empty(later.size, dtype=np.int64)
        window = np.full(size, NEVER, dtype=np.int64)
        self.calendars = list(by_calendar(rules, policy, lead, part.lead))
        calendar = np.empty(size, dtype=np.int64)
        for index, (_, on) in enumerate(self.calendars):
            calendar[on] = index
        l_calendar = calendar[l_cycle] if len(self.calendars) > 1 else None
        for index, (name, on) in enumerate(self.calendars):
            plan = plan_for(rules, policy, name)
            assert plan.gap is not None and plan.within is not None
            mine = slice(None) if l_calendar is None else np.flatnonzero(l_calendar == index)
            # The first microsecond past each amount: an attempt exactly when a gap runs
            # out is in time.
            measure, micros = plan.gap
            start_over[on] = measure.add_many(part.started_at[on], micros + 1)
            at = l_at[mine]
            later_over[mine] = measure.add_many(at, micros + 1)
            within, span = plan.within
            # Fewer attempts than required, none a gap apart, overrun a gap by the
            # required number of gaps from the start: a window at least that long never
            # overruns first (the common 6 attempts in 10 days, a day apart).
            if within is not measure or span < policy.attempts * micros:
                window[on] = within.add_many(part.started_at[on], span + 1)
        # The first gap that overran before the next began (the last one always may).
        overran_at = np.where(start_over <= first_later, start_over, NEVER)
        over = first_per_group(l_cycle, np.flatnonzero(later_over <= l_next))
        pending = overran_at[l_cycle[over]] == NEVER
        overran_at[l_cycle[over[pending]]] = later_over[over[pending]]
        # The window overruns if the attempts before it fall short.
        if (window != NEVER).any():
            before_window = np.bincount(a_cycle[a_at < window[a_cycle]], minlength=size)
            short = before_window < policy.attempts
            np.minimum(overran_at, np.where(short, window, NEVER), out=overran_at)
        met_there = (reached != NEVER) & (overran_at > reached)
        self.part = replace(
            part,
            stopped=part.stopped | met_there,
            stopped_at=np.where(met_there, reached, ends),
            stop_row=np.where(met_there & (reached != ends), -1, part.stop_row),
            overran_at=overran_at,
        )
        self._later = (l_cycle, l_at)

    @cached_property
    def gaps(self) -> tuple[Int64Array, Int64Array]:
        """Each gap's cycle and start, in cycle order (a cycle's start, then its later
        instants with attempts, to its natural end)."""
        l_cycle, l_at = self._later
        size = self.part.lead.size
        gaps_of = np.bincount(l_cycle, minlength=size) + 1
        gap_cycle = np.repeat(np.arange(size), gaps_of)
        starts = np.zeros(gap_cycle.size, dtype=np.bool_)
        starts[np.cumsum(gaps_of) - gaps_of] = True
        gap_at = np.empty(gap_cycle.size, dtype=np.int64)
        gap_at[starts] = self.part.started_at
        gap_at[~starts] = l_at
        return gap_cycle, gap_at


@dataclass(frozen=True)
class PlainClocks:
    """The plain leads of some columns (``exact``: the others) and the one cycle of each
    policy on each of them (``parts``, in policy order; a lead with several entries is
    in a part until ``exact`` drops it)."""

    cols: Columns
    lead: LeadFields
    status: StatusRows
    activity: Activities
    exact: BoolArray  # per lead
    owned: BoolArray  # per lead: an owner since the first instant
    parts: list[ClockPart]
    cadences: dict[int, Cadence]


def plain_clocks(
    cols: Columns, rules: Rulebook, lead: LeadFields, watched: Iterable[str] = ()
) -> PlainClocks:
    """The cycles of the plain leads; ``watched`` names more fields than the clocks read
    (grade, score, owner, ``applies_to``) that must not change after the first instant."""
    groups = cols.groups
    exact = np.zeros(groups, dtype=np.bool_)
    names = {"grade", "score", "owner", *watched}
    for policy in rules.policies:
        names.update(policy.applies_to)
    for name in sorted(names - FREE_FIELDS):
        rows = cols.rows_of(name)
        late = rows[cols.at[rows] != cols.first_at[cols.group[rows]]]
        exact[cols.group[late]] = True
    if rules.intake is not None:
        # Marketing's intake clock starts at a capture, not a status: left to the engine.
        exact[cols.group[cols.rows_of(CAPTURED_FIELD)]] = True
    status = StatusRows(cols)
    paused = cols.value_flags({s for p in rules.policies for s in p.pause})
    exact[status.group[paused[status.value]]] = True
    activity = Activities(cols)
    # The owner is fixed since the first instant (above): SPEC §9.1's assignment
    # conditions hold from the first instant or never, and §9.2 never restarts a cycle.
    owned = cols.last_value("owner") >= 0
    parts: list[ClockPart] = []
    cadences: dict[int, Cadence] = {}
    for number, policy in enumerate(rules.policies):
        first_entry = np.flatnonzero(status.entries(cols.value_flags(policy.start)))
        # A lead that enters the start set twice has several cycles: the engine's. (The
        # entries are in lead order: a second one follows the first.)
        entered = status.group[first_entry]
        exact[entered[1:][entered[1:] == entered[:-1]]] = True
        if policy.start_activity:
            # A cycle an activity can start (again) is left to the engine.
            exact[activity.group[activity.matching(policy.start_activity)]] = True
        if policy.applies_to:
            first_entry = first_entry[lead.applies(policy)[entered]]
        part = cycles_of(status, activity, policy, number, first_entry, owned, cols.as_of)
        if policy.is_cadence:
            cadences[number] = Cadence(rules, policy, part, activity, lead)
            part = cadences[number].part
        parts.append(part)
    return PlainClocks(cols, lead, status, activity, exact, owned, parts, cadences)


# -- judging the cycles -------------------------------------------------------------------

# The states a plain cycle can be in (no pause, no reassignment), as small codes.
JUDGED_STATES: tuple[State, ...] = (State.RUNNING, State.MET, State.BREACHED, State.LAPSED)
_RUNNING, _MET, _BREACHED, _LAPSED = range(4)


@dataclass(frozen=True)
class Judged:
    """The cycles of a part judged at ``as_of`` (:func:`~leadsla.core.clock.judge`, for one
    running segment): per cycle, the calendar (an index into ``calendars``), the state
    (an index into :data:`JUDGED_STATES`) and the business microseconds accrued; with
    ``full``, the rest of a :class:`~leadsla.core.clock.Verdict` too (instants: ``NEVER``
    for none)."""

    part: ClockPart
    calendars: list[str]
    calendar: Int32Array
    state: npt.NDArray[np.int8]
    business: Int64Array
    due_at: Int64Array | None = None
    breached_at: Int64Array | None = None
    warned_at: Int64Array | None = None
    escalations: Int64Array | None = None
    attempts: Int64Array | None = None


def judge_part(
    rules: Rulebook, plain: PlainClocks, part: ClockPart, *, full: bool = False
) -> Judged:
    """The cycles of ``part`` (a part of ``plain``, or some of its cycles) judged at the
    columns' evaluation instant."""
    policy = rules.policies[part.policy]
    lead = plain.lead
    as_of = plain.cols.as_of
    size = part.lead.size
    started, ended, stopped = part.started_at, part.stopped_at, part.stopped
    calendars: list[str] = []
    calendar = np.zeros(size, dtype=np.int32)
    business = np.zeros(size, dtype=np.int64)
    state = np.where(stopped, np.int8(_MET), np.int8(_RUNNING))
    # Only a full judgement writes these: a scorecard's leaves them empty, not millions long.
    filled = size if full else 0
    due_at = np.full(filled, NEVER, dtype=np.int64)
    breached_at = np.full(filled, NEVER, dtype=np.int64)
    warned_at = np.full(filled, NEVER, dtype=np.int64)
    escalations = np.zeros(filled, dtype=np.int64)
    cadence = plain.cadences.get(part.policy) if policy.is_cadence else None
    grade_codes = lead.grade.codes[part.lead]
    grade_names: list[str | None] = [*lead.grade.names, None]
    # The cadence split its own part's leads by calendar already.
    split = (
        cadence.calendars
        if cadence is not None and part is cadence.part
        else by_calendar(rules, policy, lead, part.lead)
    )
    for name, on in split:
        calendar[on] = len(calendars)
        calendars.append(name)
        plan = plan_for(rules, policy, name)
        # A cycle stopped at its start accrued nothing (every routing cycle of an owned
        # lead): only the others are measured.
        moved = on[started[on] != ended[on]]
        business[moved] = plan.calendar.elapsed_many(started[moved], ended[moved])
        if cadence is not None:
            continue
        # One target per grade (rule 5).
        codes_on = grade_codes[on]
        present = _present(codes_on)
        for code in present:
            grade = grade_names[code]
            rows = on if len(present) == 1 else on[codes_on == code]

            def spent(
                measure: TimeMeasure, rows: IndexArray = rows, own: TimeMeasure = plan.calendar
            ) -> Int64Array:
                """Time accrued on ``measure`` by each cycle's end (rule 6)."""
                if measure is own:
                    return business[rows]
                return measure.elapsed_many(started[rows], ended[rows])

            target = plan.target(grade)
            optional = grade in policy.optional
            if target is not None:
                measure, amount = target
                over = rows[spent(measure) > amount]
                state[over] = _LAPSED if optional else _BREACHED
                if full:
                    due_at[rows] = measure.add_many(started[rows], amount)
                    breached_at[over] = measure.add_many(started[over], amount + 1)
            if not full or optional:
                continue
            # Rule 8: a step fires at its instant if the clock had not stopped by then.
            for measure, amount in plan.steps:
                due = rows[spent(measure) >= amount]
                instant = measure.add_many(started[due], amount)
                fired = (instant <= as_of) & ~(stopped[due] & (ended[due] <= instant))
                escalations[due[fired]] += 1
            if policy.warn_at is not None and target is not None:
                measure, amount = target
                share = round(amount * policy.warn_at)
                due = rows[spent(measure) >= share]
                instant = measure.add_many(started[due], share)
                kept = ~(stopped[due] & (ended[due] <= instant)) & (instant <= as_of)
                warned_at[due[kept]] = instant[kept]
    if cadence is not None:
        assert part.overran_at is not None
        # The gaps are numbered by the cycles of the cadence's own part.
        assert not full or part is cadence.part
        breached = part.overran_at <= ended
        state[breached] = _BREACHED
        if full:
            _judge_cadence(
                rules,
                policy,
                part,
                cadence,
                calendars,
                calendar,
                as_of,
                due_at,
                escalations,
                _attempts(plain.activity, part),
                _attempts(plain.activity, part, before_end=True),
            )
            due_at = np.where(breached, part.overran_at, due_at)
            breached_at = np.where(breached, part.overran_at, NEVER)
    if not full:
        return Judged(part, calendars, calendar, state, business)
    return Judged(
        part,
        calendars,
        calendar,
        state,
        business,
        due_at=due_at,
        breached_at=breached_at,
        warned_at=warned_at,
        escalations=escalations,
        attempts=_attempts(plain.activity, part),
    )


def _attempts(activity: Activities, part: ClockPart, *, before_end: bool = False) -> Int64Array:
    """The attempts made in each cycle: the attempt rows from its start to its stop (or
    the evaluation instant), both included (``before_end``: the end's own excluded)."""
    groups = activity.cols.groups
    start_of = np.full(groups, NEVER, dtype=np.int64)
    start_of[part.lead] = part.started_at
    end_of = np.full(groups, -1, dtype=np.int64)
    end_of[part.lead] = part.stopped_at - 1 if before_end else part.stopped_at
    group = activity.group
    inside = activity.attempt & (activity.at >= start_of[group]) & (activity.at <= end_of[group])
    counts: Int64Array = np.bincount(group[inside], minlength=groups).astype(np.int64)
    return counts[part.lead]


def _judge_cadence(
    rules: Rulebook,
    policy: Policy,
    part: ClockPart,
    cadence: Cadence,
    calendars: list[str],
    calendar: Int32Array,
    as_of: int,
    due_at: Int64Array,
    escalations: Int64Array,
    attempts: Int64Array,
    attempts_before_end: Int64Array,
) -> None:
    """A cadence's deadline (the current gap's end or the window's, whichever is first)
    and its escalations (each step in the first gap that lasts until it, counted from
    the gap's start), as :mod:`leadsla.core.cadence` reads them, into ``due_at`` and
    ``escalations``."""
    started, ended, stopped = part.started_at, part.stopped_at, part.stopped
    # The cycle's gaps: those that start by its end (a cycle met at its required attempt
    # has none after it).
    gap_cycle, gap_at = cadence.gaps
    valid = np.flatnonzero(gap_at <= ended[gap_cycle])
    g_cycle, g_at = gap_cycle[valid], gap_at[valid]
    last = np.ones(valid.size, dtype=np.bool_)
    np.not_equal(g_cycle[1:], g_cycle[:-1], out=last[:-1])
    # Each gap ends at the next one's start, the last at the stop (or never, while open).
    following = np.where(stopped[g_cycle], ended[g_cycle], NEVER)
    following[:-1] = np.where(last[:-1], following[:-1], g_at[1:])
    since = np.empty(part.lead.size, dtype=np.int64)
    since[g_cycle[last]] = g_at[last]
    # A cycle met by its attempts keeps the gap its last required attempt closed: from
    # the attempt before it, which is at the stop instant itself only when fewer than
    # that many attempts came before (else it began the gap before the last).
    required = policy.attempts
    met = np.flatnonzero(stopped & (attempts >= required) & (attempts_before_end >= required - 1))
    if met.size:
        previous = np.array(started, dtype=np.int64)
        second = np.flatnonzero(~last[:-1] & last[1:])  # each cycle's next-to-last gap
        previous[g_cycle[second]] = g_at[second]
        since[met] = previous[met]
    for index, name in enumerate(calendars):
        plan = plan_for(rules, policy, name)
        assert plan.gap is not None and plan.within is not None
        on = np.flatnonzero(calendar == index)
        mine = np.zeros(part.lead.size, dtype=np.bool_)
        mine[on] = True
        gaps = np.flatnonzero(mine[g_cycle])

        def reach(
            measure: TimeMeasure, rows: IndexArray, at: Int64Array, amount: int
        ) -> Int64Array:
            # The instant the time since ``at`` reaches ``amount``, counted as the engine
            # does: from the cycle's start, the time to ``at`` plus the amount.
            base = measure.elapsed_many(started[rows], at)
            reached: Int64Array = measure.add_many(started[rows], base + amount)
            return reached

        measure, micros = plan.gap
        gap_end = reach(measure, on, since[on], micros)
        measure, micros = plan.within
        window_end = measure.add_many(started[on], micros)
        due_at[on] = np.minimum(gap_end, window_end)
        for measure, amount in plan.steps:
            instant = reach(measure, g_cycle[gaps], g_at[gaps], amount)
            fires = gaps[instant < following[gaps]]
            first = first_per_group(g_cycle, fires)
            fired_at = instant[np.searchsorted(gaps, first)]
            escalations[g_cycle[first[fired_at <= as_of]]] += 1


@dataclass(frozen=True)
class PlainRows:
    """The cycles of the plain leads of some rows, one row each, in columns (``exact``
    marks the other leads, by lead in the order of the rows): lead ``k``'s rows are
    ``offsets[k]:offsets[k + 1]``, in :func:`~leadsla.core.clock.judge_lead`'s order (by
    policy name; one cycle each). Names are small codes into their lists (-1: none),
    instants epoch microseconds (``NEVER``: none), as in a :class:`Verdict`."""

    exact: BoolArray
    offsets: Int64Array
    lead: Int64Array  # the lead of each row, 0… in the order of the rows
    policies: list[str]
    policy: Int32Array
    calendars: list[str]
    calendar: Int32Array
    grades: list[str]
    grade: Int32Array
    owners: list[str]
    owner: Int32Array
    state: npt.NDArray[np.int8]  # an index into JUDGED_STATES
    started_at: Int64Array
    due_at: Int64Array
    stopped_at: Int64Array
    business_micros: Int64Array
    breached_at: Int64Array
    escalations: Int64Array
    warned_at: Int64Array
    attempts: Int64Array

    @property
    def size(self) -> int:
        return int(self.lead.size)


def _no_rows(exact: BoolArray, policies: list[str]) -> PlainRows:
    groups = exact.size
    none32 = np.zeros(0, dtype=np.int32)
    none64 = np.zeros(0, dtype=np.int64)
    return PlainRows(
        exact,
        np.zeros(groups + 1, dtype=np.int64),
        none64,
        policies,
        none32,
        [],
        none32,
        [],
        none32,
        [],
        none32,
        np.zeros(0, dtype=np.int8),
        *([none64] * 8),
    )


def plain_rows(
    rules: Rulebook, table: EventTable, as_of: int, start: int = 0, stop: int | None = None
) -> PlainRows:
    """The cycles at ``as_of`` of the plain leads among the rows ``[start, stop)`` of a
    lead-grouped table (a range that starts and ends between leads): what replaying
    each and :func:`~leadsla.core.clock.judge_lead` give, in columns."""
    cols = columns_of(table, as_of, start, stop)
    groups = cols.groups
    policies = [policy.name for policy in rules.policies]
    if not supported(rules):
        return _no_rows(np.ones(groups, dtype=np.bool_), policies)
    lead = LeadFields(cols, rules)
    plain = plain_clocks(cols, rules, lead)
    simple = ~plain.exact
    calendars: dict[str, int] = {}
    # Each column of every cycle, policy by policy in name order; then ordered by lead.
    parts: list[list[npt.NDArray[Any]]] = [[] for _ in range(14)]
    for number in sorted(range(len(rules.policies)), key=lambda n: rules.policies[n].name):
        policy = rules.policies[number]
        part = plain.parts[number]
        chosen = simple[part.lead]
        if policy.start_assigned:
            chosen &= plain.owned[part.lead]  # a hand-off with no owner starts no clock
        if not chosen.any():
            continue
        judged = judge_part(rules, plain, part, full=True)
        keep = np.flatnonzero(chosen)
        assert judged.due_at is not None and judged.breached_at is not None
        assert judged.warned_at is not None and judged.escalations is not None
        assert judged.attempts is not None
        leads = part.lead[keep]
        global_calendar = np.array(
            [calendars.setdefault(name, len(calendars)) for name in judged.calendars],
            dtype=np.int32,
        )
        columns: tuple[npt.NDArray[Any], ...] = (
            leads,
            np.full(keep.size, number, dtype=np.int32),
            global_calendar[judged.calendar[keep]],
            lead.grade.codes[leads],
            lead.owner.codes[leads],
            judged.state[keep],
            part.started_at[keep],
            judged.due_at[keep],
            np.where(part.stopped[keep], part.stopped_at[keep], NEVER),
            judged.business[keep],
            judged.breached_at[keep],
            judged.escalations[keep],
            judged.warned_at[keep],
            judged.attempts[keep],
        )
        for column, values in zip(parts, columns, strict=True):
            column.append(values)
    if not parts[0]:
        return _no_rows(plain.exact, policies)
    lead_of = np.concatenate(parts[0])
    # A stable sort by lead keeps each lead's cycles in policy name order.
    order = np.argsort(lead_of, kind="stable")
    joined = [np.concatenate(part_columns)[order] for part_columns in parts]
    offsets = np.zeros(groups + 1, dtype=np.int64)
    np.cumsum(np.bincount(lead_of, minlength=groups), out=offsets[1:])
    return PlainRows(
        plain.exact,
        offsets,
        joined[0],
        policies,
        joined[1],
        list(calendars),
        joined[2],
        lead.grade.names,
        joined[3],
        lead.owner_names,
        joined[4],
        *joined[5:],
    )


@dataclass(frozen=True)
class PlainVerdicts:
    """The verdicts of the plain leads of some rows (``exact`` marks the others, by lead
    in the order of the rows): lead ``k``'s are ``verdicts[offsets[k]:offsets[k + 1]]``,
    in :func:`~leadsla.core.clock.judge_lead`'s order (by policy name; one cycle each)."""

    exact: BoolArray
    verdicts: list[Verdict]
    offsets: list[int]

    def of(self, index: int) -> list[Verdict]:
        return self.verdicts[self.offsets[index] : self.offsets[index + 1]]


def plain_verdicts(
    rules: Rulebook, table: EventTable, as_of: int, start: int = 0, stop: int | None = None
) -> PlainVerdicts:
    """:func:`plain_rows` as :class:`Verdict` objects (built from those columns, so the
    two cannot disagree)."""
    rows = plain_rows(rules, table, as_of, start, stop)
    return PlainVerdicts(rows.exact, verdicts_of(rows), rows.offsets.tolist())


def names_of(codes: Int32Array, names: list[str]) -> list[str | None]:
    """The name of each code (-1: ``None``)."""
    table = np.array([*names, None], dtype=object)
    result: list[str | None] = table[codes].tolist()
    return result


def verdicts_of(rows: PlainRows) -> list[Verdict]:
    """The rows as :class:`Verdict` objects, in order."""
    if not rows.size:
        return []
    states = np.array(JUDGED_STATES, dtype=object)
    return _verdicts(
        rows.size,
        [
            names_of(rows.policy, rows.policies),
            itertools.repeat(1, rows.size),
            names_of(rows.calendar, rows.calendars),
            names_of(rows.grade, rows.grades),
            names_of(rows.owner, rows.owners),
            states[rows.state].tolist(),
            rows.started_at.tolist(),
            _instants(rows.due_at),
            _instants(rows.stopped_at),
            rows.business_micros.tolist(),
            _instants(rows.breached_at),
            rows.escalations.tolist(),
            _instants(rows.warned_at),
            rows.attempts.tolist(),
        ],
    )


def _instants(values: Int64Array) -> list[int | None]:
    """Integers as Python values, ``None`` for ``NEVER`` (an instant that is none)."""
    never = values == NEVER
    if not never.any():
        result: list[int | None] = values.tolist()
        return result
    boxed = values.astype(object)
    boxed[never] = None
    result = boxed.tolist()
    return result


# Verdict's fields in order, as the slot descriptors that store them.
_VERDICT_SLOTS = [getattr(Verdict, field.name) for field in dataclasses.fields(Verdict)]
_SLOTTED = not hasattr(Verdict, "__post_init__") and all(
    isinstance(slot, types.MemberDescriptorType) for slot in _VERDICT_SLOTS
)


def _verdicts(count: int, columns: list[Iterable[object]]) -> list[Verdict]:
    """``count`` verdicts from their fields' columns, in Verdict's field order.

    A frozen dataclass's ``__init__`` sets each field through ``object.__setattr__``, a
    Python call per field: 3 µs a verdict, seconds on millions. The slots are filled
    column by column instead, each by its descriptor mapped in C: the same objects
    (equal to what the constructor makes, which the property test checks), about a
    third of the time. Should Verdict lose its slots or gain a ``__post_init__``, the
    constructor is used.
    """
    # None of these objects is garbage: collecting while they are made only walks them
    # again and again (a third of the time); they are collected later as any other.
    enabled = gc.isenabled()
    gc.disable()
    try:
        if not _SLOTTED:
            return list(map(Verdict, *columns))
        made = list(map(object.__new__, itertools.repeat(Verdict, count)))
        for slot, column in zip(_VERDICT_SLOTS, columns, strict=True):
            collections.deque(map(slot.__set__, made, column), maxlen=0)
        return made
    finally:
        if enabled:
            gc.enable()
