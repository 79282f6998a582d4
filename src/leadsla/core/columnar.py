"""Scorecard facts of a whole history at once, column by column, with an exact fallback.

Replaying millions of leads through :meth:`LeadClocks.apply` one instant at a time
costs tens of microseconds per lead. Most leads, though, have a plain history
(:mod:`leadsla.core.plain` says which, and finds the one cycle of each policy on
each): their facts (:mod:`leadsla.core.metrics`) then follow from a few columns.

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

from collections.abc import Mapping, Sequence
from dataclasses import replace

import numpy as np
import numpy.typing as npt

from leadsla.core.acceptance import (
    ACCEPTED,
    OUTCOMES,
    REASON_FIELD,
    REASON_OUTCOMES,
    REJECTED,
    SAL_FIELD,
    SAL_REASON_FIELD,
)
from leadsla.core.clock import judge_lead
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.evaluate import lead_results
from leadsla.core.events import EventTable
from leadsla.core.metrics import (
    CLOCK_COLUMN_TYPES,
    FactCollector,
    Facts,
    MetricRules,
    facts_of,
    merge_facts,
    score_of,
    state_code,
)
from leadsla.core.plain import (
    JUDGED_STATES,
    NEVER,
    Activities,
    ClockPart,
    Columns,
    Judged,
    LeadFields,
    Names,
    PlainClocks,
    StatusRows,
    columns_of,
    dense,
    judge_part,
    last_per_group,
    plain_clocks,
)
from leadsla.core.plain import supported as plain_supported
from leadsla.core.policy import Policy

WORKING, QUALIFIED = "working", "qualified"


def supported(metric: MetricRules) -> bool:
    """Whether the agreement is one the column path can evaluate at all: it needs an MQL
    policy, and :func:`leadsla.core.plain.supported` clocks."""
    return metric.mql_policy is not None and plain_supported(metric.rules)


def columnar_facts(
    table: EventTable,
    metric: MetricRules,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
) -> tuple[Facts, npt.NDArray[np.bool_]]:
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
    cols = columns_of(table, as_of)
    if not supported(metric):
        return empty, np.ones(size, dtype=np.bool_)
    lead = _MetricFields(cols, metric)
    # Fields the figures read must not change after the lead's first instant.
    plain = plain_clocks(cols, rules, lead, metric.watched_fields)
    owned = plain.owned
    clock_parts: list[ClockPart] = []
    mql_part: ClockPart | None = None
    for policy, part in zip(rules.policies, plain.parts, strict=True):
        # An assignment start (SPEC §9.1): a hand-off with no owner starts no clock.
        clock_parts.append(part.keep(owned[part.lead]) if policy.start_assigned else part)
        if policy.name == metric.mql_policy:
            # Every hand-off is an MQL (metrics docstring); one never assigned has no verdict.
            mql_part = part
            if policy.start_assigned:
                mql_part = replace(part, stopped=part.stopped & owned[part.lead])

    simple = ~plain.exact
    assert mql_part is not None  # supported() asks for an MQL policy
    builder = _FactBuilder(plain, metric, lead, owners)
    builder.add_clocks([part.keep(simple[part.lead]) for part in clock_parts])
    builder.add_mqls(mql_part.keep(simple[mql_part.lead]), plain.status, plain.activity)
    return builder.facts(), plain.exact[cols.group]


class _MetricFields(LeadFields):
    """Each lead's grade, owner, team, score band and segment values, fixed since its
    first instant."""

    def __init__(self, cols: Columns, metric: MetricRules) -> None:
        super().__init__(cols, metric.rules)
        values = cols.values
        score = self.score
        # The band code of each value code (the last slot: no score).
        band_of_value = np.full(len(values) + 1, -1, dtype=np.int32)
        for code in np.flatnonzero(np.bincount(score[score >= 0], minlength=1)).tolist():
            band_of_value[code] = metric.score_band(score_of({"score": values[code]}))
        self.score_band = band_of_value[score]
        team_of = metric.team_of
        owner_names = self.owner_names
        self.team = dense(
            self.owner.codes.astype(np.int64),
            lambda code: team_of.get(owner_names[code]),
        )

    def segment(self, name: str) -> Names:
        """A field a commitment's segment or the workable rule reads at the MQL instant
        (``team``: the owner's team unless the lead has a ``team`` field)."""
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

        return dense(keys - offset, spelled)


class _FactBuilder:
    """Fact columns of the plain leads, coded like :class:`FactCollector` codes them."""

    def __init__(
        self,
        plain: PlainClocks,
        metric: MetricRules,
        lead: _MetricFields,
        owners: frozenset[str] | None,
    ) -> None:
        self.plain = plain
        self.cols = plain.cols
        self.metric = metric
        self.lead = lead
        owner_ok = np.array(
            [owners is None or name in owners for name in lead.owner_names] + [owners is None],
            dtype=np.bool_,
        )
        self.allowed = owner_ok[lead.owner.codes]
        self.owners = owners
        self.clock_columns: dict[str, npt.NDArray[np.generic]] = {}
        self.mql_columns: dict[str, npt.NDArray[np.generic]] = {}

    def add_clocks(self, parts: Sequence[ClockPart]) -> None:
        """The clock columns of the parts' cycles, written once into columns of their
        total length (each fresh page of memory costs: no per-part copy to join)."""
        rules = self.metric.rules
        lead = self.lead
        kept: list[tuple[ClockPart, Judged, bool]] = []
        for part in parts:
            unowned = rules.policies[part.policy].name in self.metric.unowned_policies
            if unowned:
                # A queue's clock is charged to nobody: in a rep's view it is nobody's.
                part = part.keep(np.full(len(part.lead), self.owners is None, dtype=np.bool_))
            else:
                part = part.keep(self.allowed[part.lead])
            kept.append((part, judge_part(rules, self.plain, part), unowned))
        total = sum(len(part.lead) for part, _, _ in kept)
        columns = {name: np.empty(total, dtype=kind) for name, kind in CLOCK_COLUMN_TYPES.items()}
        codes = np.array([state_code(state) for state in JUDGED_STATES], dtype=np.int8)
        # The outcome code of each status value code (the last slot: no status).
        status = self.plain.status
        outcome_of = self.metric.outcome_of
        outcome_codes = np.array(
            [
                OUTCOMES.index(outcome_of[name]) if name in outcome_of else -1
                for name in self.cols.values
            ]
            + [-1],
            dtype=np.int8,
        )
        at = 0
        for part, judged, unowned in kept:
            leads = part.lead
            rows = slice(at, at + len(leads))
            at += len(leads)
            columns["clock_policy"][rows] = part.policy
            columns["clock_started_at"][rows] = part.started_at
            np.take(codes, judged.state, out=columns["clock_state"][rows])
            np.take(lead.grade.codes, leads, out=columns["clock_grade"][rows])
            if unowned:
                columns["clock_owner"][rows] = -1
                columns["clock_team"][rows] = -1
            else:
                np.take(lead.owner.codes, leads, out=columns["clock_owner"][rows])
                np.take(lead.team.codes, leads, out=columns["clock_team"][rows])
            np.take(lead.score_band, leads, out=columns["clock_score_band"][rows])
            columns["clock_stopped"][rows] = part.stopped
            stop_status = _stop_status(part, status)
            columns["clock_outcome"][rows] = np.where(part.stopped, outcome_codes[stop_status], -1)
            np.floor_divide(judged.business, MICROS_PER_SECOND, out=columns["clock_seconds"][rows])
        self.clock_columns = columns

    def add_mqls(self, part: ClockPart, status: StatusRows, activity: Activities) -> None:
        cols = self.cols
        rules = self.metric.rules
        lead = self.lead
        part = part.keep(self.allowed[part.lead])
        leads = part.lead
        groups = cols.groups
        mql_at = np.full(groups, NEVER, dtype=np.int64)
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
        working = cols.value_flags({s for s, st in stages.items() if st == WORKING})
        stop_status = _stop_status(part, status)
        # SPEC §9.5: a plain lead's one cycle runs from the MQL instant to the end, so its
        # last sal row from then on decides (an empty one withdraws, as no row).
        decision = self._last_since(SAL_FIELD, mql_at)[leads]
        accepted, rejected = (cols.value_code.get(name, -2) for name in (ACCEPTED, REJECTED))
        values = cols.values
        self.sal_reasons = dense(self._last_since(SAL_REASON_FIELD, mql_at), values.__getitem__)
        ending, reason = self._endings(status, mql_at)
        self.reasons = dense(reason, values.__getitem__)
        grade_codes = lead.grade.codes[leads]
        read = {name: lead.segment(name) for name in self.metric.workable.fields}
        workable = self.metric.workable.column(
            (lead.grade.codes, lead.grade.names),
            {name: (names.codes, names.names) for name, names in read.items()},
        )
        self.mql_columns = {
            "mql_at": part.started_at,
            "grade": grade_codes,
            "owner": lead.owner.codes[leads],
            "team": lead.team.codes[leads],
            "is_sal": np.where(
                decision == accepted,
                True,
                (decision != rejected) & part.stopped & working[stop_status],
            ),
            "workable": workable[leads],
            "attempts": attempts[leads].astype(np.int64),
            "connects": connects[leads].astype(np.int64),
            "qualified": qualified[leads],
            "score_band": lead.score_band[leads],
            "sal_rejected": decision == rejected,
            "sal_reason": self.sal_reasons.codes[leads],
            "reason_outcome": ending[leads],
            "reason": self.reasons.codes[leads],
        }
        self.segments = {name: lead.segment(name) for name in self.metric.fact_fields}
        self.mql_leads = leads

    def _last_since(self, name: str, since: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """Each lead's value code of the last row of ``name`` at or after ``since`` (per
        lead; -1: none, or empty)."""
        cols = self.cols
        rows = cols.rows_of(name)
        rows = rows[cols.at[rows] >= since[cols.group[rows]]]
        result = np.full(cols.groups, -1, dtype=np.int64)
        last = last_per_group(cols.group, rows)
        result[cols.group[last]] = cols.value[last]
        return result

    def _endings(
        self, status: StatusRows, since: npt.NDArray[np.int64]
    ) -> tuple[npt.NDArray[np.int8], npt.NDArray[np.int64]]:
        """Per lead, the last status change at or after ``since`` into a recycled, deferred
        or disqualified status that has a non-empty ``reason`` row at its instant: its
        outcome (index into REASON_OUTCOMES, -1: none) and that reason's value code."""
        cols = self.cols
        groups = cols.groups
        outcome_of = self.metric.outcome_of
        codes = np.full(len(cols.values) + 1, -1, dtype=np.int8)
        for name, ended in outcome_of.items():
            if ended in REASON_OUTCOMES and name in cols.value_code:
                codes[cols.value_code[name]] = REASON_OUTCOMES.index(ended)
        # The reason of each instant: its last reason row.
        rows = cols.rows_of(REASON_FIELD)
        final = np.ones(rows.size, dtype=np.bool_)
        if rows.size:
            g, at = cols.group[rows], cols.at[rows]
            final[:-1] = (g[1:] != g[:-1]) | (at[1:] != at[:-1])
        rows = rows[final]
        rows = rows[cols.value[rows] >= 0]
        # The status instant of the same instant: its row is next to the reason's.
        spot = np.searchsorted(status.rows, rows)
        matched = np.full(rows.size, -1, dtype=np.int64)
        for candidate in (spot - 1, spot):
            inside = (candidate >= 0) & (candidate < status.size)
            safe = np.where(inside, candidate, 0)
            same = (
                inside
                & (status.group[safe] == cols.group[rows])
                & (status.at[safe] == cols.at[rows])
            )
            matched = np.where(same, safe, matched)
        keep = matched >= 0
        rows, instant = rows[keep], matched[keep]
        value = status.value[instant]
        previous = np.where(
            (instant > 0) & (status.group[np.maximum(instant - 1, 0)] == status.group[instant]),
            status.value[np.maximum(instant - 1, 0)],
            -1,
        )
        changed = (value != previous) & (value >= 0)
        outcome = codes[value]
        chosen = changed & (outcome >= 0) & (status.at[instant] >= since[status.group[instant]])
        rows, instant, outcome = rows[chosen], instant[chosen], outcome[chosen]
        ending = np.full(groups, -1, dtype=np.int8)
        reason = np.full(groups, -1, dtype=np.int64)
        last = last_per_group(cols.group, rows)
        picked = np.isin(rows, last)
        ending[cols.group[rows[picked]]] = outcome[picked]
        reason[cols.group[rows[picked]]] = cols.value[rows[picked]]
        return ending, reason

    def facts(self) -> Facts:
        lead = self.lead
        return facts_of(
            self.mql_columns | self.clock_columns,
            segment={name: names.codes[self.mql_leads] for name, names in self.segments.items()},
            grades=list(lead.grade.names),
            owners=list(lead.owner.names),
            teams=list(lead.team.names),
            segment_values={name: names.names for name, names in self.segments.items()},
            policies=list(self.metric.policies),
            score_bands=self.metric.score_band_names,
            sal_reasons=self.sal_reasons.names,
            reasons=self.reasons.names,
        )


def _stop_status(part: ClockPart, status: StatusRows) -> npt.NDArray[np.int64]:
    """The value code of the status after each cycle's stop (-1: not stopped, or no
    status)."""
    stop_row = part.stop_row
    unknown = part.stopped & (stop_row < 0)
    if unknown.any():
        # A cycle stopped at its start (an assignment stop, on every owned lead) stops
        # on its own status instant, the lead's last at that instant: no walk to it.
        at_start = unknown & (part.stopped_at == part.started_at)
        stop_row = np.where(at_start, part.entry, stop_row)
        later = np.flatnonzero(unknown & ~at_start)
        stop_row[later] = status.last_by(part.entry[later], part.stopped_at[later])
    found: npt.NDArray[np.int64] = np.where(
        stop_row >= 0, status.value[np.maximum(stop_row, 0)], -1
    ).astype(np.int64)
    return found


def replayed_facts(
    table: EventTable,
    metric: MetricRules,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
    recorded: Mapping[str, Mapping[tuple[str, int], Policy]] | None = None,
) -> Facts:
    """The facts of every lead of a lead-grouped table by the exact engine: replay,
    judge and :func:`~leadsla.core.metrics.lead_facts`, lead by lead.

    ``recorded`` gives, by lead, the policy some of its cycles are judged by instead of
    the rulebook's (by policy name and cycle number: a version's, SPEC §9.6)."""
    collector = FactCollector(metric, owners=owners)
    for result in lead_results(metric.rules, table, as_of, with_instants=True):
        own = recorded.get(result.lead_id) if recorded else None
        if own:
            result.verdicts = judge_lead(metric.rules, result.clocks, as_of, own)
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
