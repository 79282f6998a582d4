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

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import numpy.typing as npt

from leadsla.core.calendar import WALL_CLOCK
from leadsla.core.clock import State, grade_of, plan_for
from leadsla.core.columns import MICROS_PER_SECOND, BoolArray, IndexArray, Int32Array, Int64Array
from leadsla.core.evaluate import lead_results
from leadsla.core.events import EventTable
from leadsla.core.instants import unique_inverse
from leadsla.core.metrics import (
    FactCollector,
    Facts,
    MetricRules,
    facts_of,
    merge_facts,
    score_of,
    state_code,
)
from leadsla.core.policy import CONNECT_OUTCOMES, Policy

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
        not (policy.start & policy.stop)
        and "status" not in policy.applies_to
        and not policy.has_v2_conditions
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

    # The status after each instant: the last status row of the instant.
    status_rows = cols.rows_of("status")
    final = np.ones(status_rows.size, dtype=np.bool_)
    if status_rows.size:
        g, at = cols.group[status_rows], cols.at[status_rows]
        final[:-1] = (g[1:] != g[:-1]) | (at[1:] != at[:-1])
    status_rows = status_rows[final]
    s_group = cols.group[status_rows]
    s_at = cols.at[status_rows]
    s_value = cols.value[status_rows]
    paused = cols.value_flags({s for p in rules.policies for s in p.pause})
    exact[s_group[paused[s_value]]] = True
    same_lead_before = np.zeros(status_rows.size, dtype=np.bool_)
    same_lead_before[1:] = s_group[1:] == s_group[:-1]

    lead = _LeadFields(cols, metric)
    clock_parts: list[_ClockPart] = []
    mql_part: _ClockPart | None = None
    for number, policy in enumerate(rules.policies):
        in_start = cols.value_flags(policy.start)[s_value]
        before_in_start = np.zeros(status_rows.size, dtype=np.bool_)
        before_in_start[1:] = in_start[:-1]
        entry = in_start & ~(same_lead_before & before_in_start)
        entries = np.bincount(s_group[entry], minlength=groups)
        exact |= entries > 1
        first_entry = np.flatnonzero(entry)
        first_entry = first_entry[lead.applies(policy)[s_group[first_entry]]]
        # The first stop row after the entry, if it belongs to the same lead.
        in_stop = cols.value_flags(policy.stop)[s_value]
        position = np.where(in_stop, np.arange(status_rows.size), status_rows.size)
        next_stop = np.append(np.minimum.accumulate(position[::-1])[::-1], status_rows.size)
        stop = next_stop[first_entry + 1]
        found = stop < status_rows.size
        found[found] = s_group[stop[found]] == s_group[first_entry[found]]
        part = _ClockPart(
            policy=number,
            lead=s_group[first_entry],
            started_at=s_at[first_entry],
            stopped=found,
            stopped_at=np.where(found, s_at[np.minimum(stop, status_rows.size - 1)], as_of),
            stop_status=np.where(found, s_value[np.minimum(stop, status_rows.size - 1)], -1),
        )
        clock_parts.append(part)
        if policy.name == metric.mql_policy:
            mql_part = part

    simple = ~exact
    assert mql_part is not None  # supported() asks for an MQL policy
    builder = _FactBuilder(cols, metric, lead, owners)
    for part in clock_parts:
        builder.add_clocks(part.keep(simple[part.lead]), as_of)
    builder.add_mqls(mql_part.keep(simple[mql_part.lead]), status_rows)
    return builder.facts(), exact[group]


@dataclass(frozen=True, slots=True)
class _ClockPart:
    """The one cycle of one policy on each of some leads."""

    policy: int
    lead: Int64Array
    started_at: Int64Array
    stopped: BoolArray
    stopped_at: Int64Array  # the evaluation instant where not stopped
    stop_status: Int64Array  # value code of the status after the stop (-1: none)

    def keep(self, mask: BoolArray) -> _ClockPart:
        if mask.all():  # usual on plain histories: no copy of millions of rows
            return self
        return _ClockPart(
            self.policy,
            self.lead[mask],
            self.started_at[mask],
            self.stopped[mask],
            self.stopped_at[mask],
            self.stop_status[mask],
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
        self.clock_columns: dict[str, list[npt.NDArray[np.generic]]] = {}
        self.mql_columns: dict[str, npt.NDArray[np.generic]] = {}

    def _append(self, name: str, column: npt.NDArray[np.generic]) -> None:
        self.clock_columns.setdefault(name, []).append(column)

    def add_clocks(self, part: _ClockPart, as_of: int) -> None:
        rules = self.metric.rules
        policy = rules.policies[part.policy]
        lead = self.lead
        chosen = self.allowed[part.lead]
        part = part.keep(chosen)
        leads = part.lead
        grade_codes = lead.grade.codes[leads]
        owner_codes = lead.owner.codes[leads]
        business = np.zeros(len(leads), dtype=np.int64)
        states = np.full(len(leads), state_code(State.RUNNING), dtype=np.int8)
        states[part.stopped] = state_code(State.MET)
        # One calendar per owner (rule 2), one target per grade (rule 5).
        calendar_of = [rules.calendar_name_for(policy, name) for name in lead.owner_names]
        calendar_of.append(rules.calendar_name_for(policy, None))
        calendar_codes = np.array(
            [sorted(set(calendar_of)).index(c) for c in calendar_of], dtype=np.int64
        )[owner_codes]
        calendars = sorted(set(calendar_of))
        grade_names: list[str | None] = [*lead.grade.names, None]
        for index, name in enumerate(calendars):
            on = np.flatnonzero(calendar_codes == index)
            if not on.size:
                continue
            plan = plan_for(rules, policy, name)
            business[on] = plan.calendar.elapsed_many(part.started_at[on], part.stopped_at[on])
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
        self._append("clock_policy", np.full(len(leads), part.policy, dtype=np.int32))
        self._append("clock_started_at", part.started_at)
        self._append("clock_state", states)
        self._append("clock_grade", grade_codes)
        self._append("clock_owner", owner_codes)
        self._append("clock_team", lead.team.codes[leads])
        self._append("clock_score_band", lead.score_band[leads])
        self._append("clock_stopped", part.stopped)
        self._append("clock_seconds", business // MICROS_PER_SECOND)

    def add_mqls(self, part: _ClockPart, status_rows: IndexArray) -> None:
        cols = self.cols
        rules = self.metric.rules
        lead = self.lead
        part = part.keep(self.allowed[part.lead])
        leads = part.lead
        groups = cols.groups
        mql_at = np.full(groups, np.iinfo(np.int64).max, dtype=np.int64)
        mql_at[leads] = part.started_at
        # Attempts and connects from the MQL instant on (one MQL: to the end).
        activity = cols.rows_of("activity")
        activity = activity[cols.value[activity] >= 0]
        activity = activity[cols.at[activity] >= mql_at[cols.group[activity]]]
        connect_codes = {
            code
            for code in np.unique(cols.value[activity]).tolist()
            if cols.values[code].partition(":")[2] in CONNECT_OUTCOMES
        }
        connected = np.zeros(len(cols.values) + 1, dtype=np.bool_)
        connected[list(connect_codes)] = True
        attempts = np.bincount(cols.group[activity], minlength=groups)
        connects = np.bincount(
            cols.group[activity], weights=connected[cols.value[activity]], minlength=groups
        ).astype(np.int64)
        # Qualified: the status after some instant from the MQL on is of stage qualified.
        stages = rules.statuses
        qualified_flags = cols.value_flags({s for s, st in stages.items() if st == QUALIFIED})
        s_group = cols.group[status_rows]
        reached = qualified_flags[cols.value[status_rows]] & (
            cols.at[status_rows] >= mql_at[s_group]
        )
        qualified = np.zeros(groups, dtype=np.bool_)
        qualified[s_group[reached]] = True
        working = cols.value_flags({s for s, st in stages.items() if st == WORKING})
        grade_codes = lead.grade.codes[leads]
        workable_names = np.array(
            [name in self.metric.workable for name in lead.grade.names] + [False], dtype=np.bool_
        )
        self.mql_columns = {
            "mql_at": part.started_at,
            "grade": grade_codes,
            "owner": lead.owner.codes[leads],
            "team": lead.team.codes[leads],
            "is_sal": part.stopped & working[part.stop_status],
            "workable": workable_names[grade_codes],
            "attempts": attempts[leads].astype(np.int64),
            "connects": connects[leads],
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
