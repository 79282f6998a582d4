"""One row per lead (and one per MQL entry), from the event columns: NumPy reductions over
each lead's run of rows (the rows are in lead order) on value codes; values are named,
and their grade, team, outcome or amount worked out, once per distinct value or pair.

Every definition is written out in ``docs/analytics.md``; in short:

* A lead's **funnel stage** is the furthest it reached by the evaluation instant:
  inquiry (any event), MQL (a status of stage ``open``), SAL (one of its MQL entries
  was accepted by sales, SPEC §9.5: its last ``sal`` row says ``accepted``, or it has
  none and a status of stage ``working`` followed), opportunity (stage ``qualified``,
  or any ``outcome`` event), won (its last ``outcome`` is ``won``). Reaching a stage
  counts in every stage before it.
* Its **MQL instant** is the first instant it reached MQL or beyond; its grade,
  owner and team are the ones at that instant (for a lead that never got there:
  its last ones). Other attributes (``source``, ``industry``, …) are the lead's last
  values.
* Its **first touch** is what stops the MQL policy's clock (SPEC §4 rule 4, §9.1), so
  that speed to lead and time to follow-up agree: the first instant at or after the
  MQL instant at which the status enters that policy's ``stop`` set or an activity
  matching its ``stop.activity`` is logged (``email:automated`` only when named
  exactly). Without an MQL policy: the first instant at or after the MQL instant with
  an activity or a status of stage ``working`` or ``qualified``.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import tzinfo
from typing import Any

import numpy as np
import polars as pl

from leadsla.core.acceptance import ACCEPTED, REJECTED, SAL_FIELD
from leadsla.core.columns import Int64Array
from leadsla.core.instants import unique_inverse
from leadsla.core.metrics import month_numbers
from leadsla.core.plain import first_per_group, last_per_group
from leadsla.core.policy import Policy, activity_matches
from leadsla.report.columns import EventColumns
from leadsla.report.settings import ReportSettings

OPEN, WORKING, QUALIFIED = "open", "working", "qualified"
STAGE_RANK = {OPEN: 1, WORKING: 2, QUALIFIED: 3}
BASE_FIELDS = ("status", "activity", "grade", "score", "owner", "outcome", "amount", SAL_FIELD)
# Lead fields that are not attributes a segment could be cut by.
COMPUTED = frozenset({"grade", "owner", "team"})


def needed_fields(attributes: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*BASE_FIELDS, *(a for a in attributes if a not in COMPUTED)]))


def month_labels(instants: pl.Series, zone: tzinfo) -> pl.Series:
    """``YYYY-MM`` of each instant in ``zone`` (the scorecard's months), categorical like
    the frames' other text columns; null stays null."""
    values = instants.fill_null(0).to_numpy().astype(np.int64)
    months = month_numbers(values, zone)
    if months.size == 0:
        return pl.Series(instants.name, [], dtype=pl.Categorical)
    # Each month's label made once, and looked up by the month's offset from the first.
    low, high = int(months.min()), int(months.max())
    labels = pl.Series(
        [f"{1970 + m // 12:04d}-{m % 12 + 1:02d}" for m in range(low, high + 1)],
        dtype=pl.Categorical,
    )
    named = labels.gather(months - low).alias(instants.name)
    return named.set(instants.is_null(), None) if instants.null_count() else named


def settle(columns: EventColumns, events: int | None = None) -> EventColumns:
    """The last row of each (lead, instant, field): the value after the instant.

    The rows are in (lead, instant, arrival) order, so an instant is a run of rows; a
    row is kept when no later row of its run sets the same field. The rows kept stay
    in their order (nothing here reads the order of the rows within an instant).
    Rows of the field ``events`` (an index into the fields, ``activity``) are all
    kept: each is an event of its own, not a value that a later row overwrites.
    """
    if len(columns) == 0:
        return columns
    lead, at = columns.lead, columns.at
    starts = np.ones(len(lead), dtype=np.bool_)
    np.not_equal(lead[1:], lead[:-1], out=starts[1:])
    starts[1:] |= at[1:] != at[:-1]
    run_starts = np.flatnonzero(starts)
    longest = int(np.diff(np.append(run_starts, len(lead))).max())
    if longest <= _SHORT_INSTANTS:
        overwritten = _overwritten_in_short_runs(starts, columns.field, longest)
    else:
        overwritten = _overwritten_by_sort(starts, columns.field)
    if events is not None:
        overwritten &= columns.field != events
    if not overwritten.any():
        return columns
    return columns.take(np.flatnonzero(~overwritten))


# An instant holds a few rows (a lead's creation: status, owner, score, grade), so
# comparing each row with the next one, two, … of its instant is a few passes over the
# rows, where a sort of them all costs more. Longer instants take the sort.
_SHORT_INSTANTS = 8


def _overwritten_in_short_runs(starts: Any, field: Any, longest: int) -> Any:
    """Rows that a later row of the same instant (run of ``starts``) sets again."""
    # Whether each row and the ``shift`` rows after it are one run, narrowed shift by
    # shift: flags, a tenth of the bytes of comparing run numbers.
    continued = ~starts[1:]
    same_run = continued
    overwritten = np.zeros(len(field), dtype=np.bool_)
    for shift in range(1, longest):
        if shift > 1:
            same_run = same_run[:-1] & continued[shift - 1 :]
        same = same_run & (field[shift:] == field[:-shift])
        overwritten[:-shift] |= same
    return overwritten


def _overwritten_by_sort(starts: Any, field: Any) -> Any:
    codes = field.astype(np.int64)
    key = np.cumsum(starts, dtype=np.int64)
    key *= int(codes.max()) + 1
    key += codes
    # Keys grow with the instant, so a stable sort only reorders rows within an instant.
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    overwritten = np.zeros(len(field), dtype=np.bool_)
    overwritten[order[:-1][ordered[:-1] == ordered[1:]]] = True
    return overwritten


NONE = np.iinfo(np.int64).max  # "no instant" in the per-lead reductions


class Rows:
    """The event columns settled (:func:`settle`), with per-lead reductions (rows are in
    lead order, so each lead is one run of rows and a reduction is one ``reduceat``).

    Values stay codes (-1: none); :meth:`text` names them, and what the frames need to
    know of a value is looked up once per distinct value (``names``, the values with a
    null for code -1 at the end).

    The frames' text columns are categorical: a lead's owner, grade or segment is one
    of a few dozen values, which a gather, group or cut of millions of leads reads as
    integers rather than strings."""

    def __init__(
        self, columns: EventColumns, settings: ReportSettings, fields: Sequence[str]
    ) -> None:
        self.field_index = {name: k for k, name in enumerate(fields)}
        # Each activity row counts: one can touch a lead (first_touches) and another,
        # logged at the same instant, connect (the speed legs' first connect).
        settled = settle(columns, self.field_index.get("activity"))
        self.size = len(settled)
        self.lead = settled.lead
        self.at = settled.at
        self.value = settled.value
        # Row positions in 32 bits where they fit: three columns of every row, 120 MB
        # fewer on ten million rows.
        position: type[np.signedinteger[Any]] = np.int32 if self.size < 2**31 else np.int64
        self.index = np.arange(self.size, dtype=position)
        self.names = pl.Series("value", [*settled.values, None], dtype=pl.Utf8)
        self.categories = self.names.cast(pl.Categorical)
        new_lead = np.ones(self.size, dtype=np.bool_)
        np.not_equal(self.lead[1:], self.lead[:-1], out=new_lead[1:])
        self.starts = np.flatnonzero(new_lead)
        self.counts = np.diff(np.append(self.starts, self.size))
        # The last row of each row's instant: values "at an instant" include all its rows.
        new_instant = new_lead.copy()
        new_instant[1:] |= self.at[1:] != self.at[:-1]
        instant_starts = np.flatnonzero(new_instant)
        ends = np.append(instant_starts[1:], self.size)[: len(instant_starts)] - 1
        self.instant_end = np.repeat(
            ends.astype(position), np.diff(np.append(instant_starts, self.size))
        )
        self.field = settled.field
        self.fields = {name: self.is_field(name) for name in BASE_FIELDS}
        # Each row's lead as its ordinal: the per-lead reductions below gather the rows
        # they pick instead of reducing a row-sized array.
        self.lead_no = np.repeat(np.arange(len(self.starts), dtype=position), self.counts)
        ranks = {
            status: STAGE_RANK[stage]
            for status, stage in settings.stages.items()
            if stage in STAGE_RANK
        }
        # By value code; code -1 (no status) reads the last slot.
        rank_of = np.array([ranks.get(v, 0) for v in settled.values] + [0], dtype=np.int8)
        # Only the status rows are looked up, not every row.
        status = np.flatnonzero(self.fields["status"])
        self.rank = np.zeros(self.size, dtype=np.int8)
        self.rank[status] = rank_of[self.value[status]]
        self.has_value = self.value >= 0
        # Per field, its codes read at one row per lead (the lead frame's MQL instants) and
        # the end of each of those rows' instants: the MQL entries read the same values
        # at most leads' entries (:meth:`codes_at`).
        self._read_per_lead: dict[str, tuple[Any, Any]] = {}

    def is_field(self, name: str) -> Any:
        code = self.field_index.get(name)
        if code is None:
            return np.zeros(self.size, dtype=np.bool_)
        return self.field == code

    def first_row(self, mask: Any, since: Int64Array | None = None) -> Int64Array:
        """Per lead: its first row in ``mask`` (-1 if none), of those at or after the
        lead's ``since`` instant if given (a lead whose ``since`` is NONE has none)."""
        picked = np.flatnonzero(mask)
        if since is not None:
            picked = picked[self.at[picked] >= since[self.lead_no[picked]]]
        return self._per_lead(first_per_group(self.lead_no, picked))

    def first_at(self, mask: Any, since: Int64Array | None = None) -> Int64Array:
        """Per lead: the first instant of the rows in ``mask`` (NONE if none), of those
        at or after the lead's ``since`` instant if given. A lead's rows are in instant
        order (:func:`settle`), so its first row is its earliest."""
        return self.instants(self.first_row(mask, since))

    def instants(self, rows: Int64Array) -> Int64Array:
        """The instants of rows (NONE where the row is -1)."""
        return np.where(rows >= 0, self.at[rows], NONE)

    def last_row(self, mask: Any) -> Int64Array:
        """Per lead: the last row index in ``mask`` (-1 if none)."""
        return self._per_lead(last_per_group(self.lead_no, np.flatnonzero(mask)))

    def _per_lead(self, chosen: Any) -> Int64Array:
        """Rows, at most one per lead, as a per-lead column (-1 for the other leads)."""
        per_lead = np.full(len(self.starts), -1, dtype=np.int64)
        per_lead[self.lead_no[chosen]] = chosen
        return per_lead

    def codes(self, rows: Any) -> Int64Array:
        """The value codes of rows (-1 where the row is -1 or clears the field)."""
        rows = np.asarray(rows, dtype=np.int64)
        return np.where(rows >= 0, self.value[rows], -1).astype(np.int64)

    def text(self, codes: Int64Array) -> pl.Series:
        """The values of codes (null for -1), categorical."""
        return self.categories.gather(np.where(codes < 0, len(self.names) - 1, codes))

    def lookup(self, per_value: pl.Series, codes: Int64Array) -> pl.Series:
        """``per_value`` (one entry per name of ``names``) for each code."""
        return per_value.gather(np.where(codes < 0, len(self.names) - 1, codes))

    def last_before(self, name: str, wanted: Any) -> Int64Array:
        """For each of the ``wanted`` rows: the last row of field ``name`` of the same lead
        up to the end of the row's instant (-1 if none)."""
        marked = np.flatnonzero(self.is_field(name))
        wanted = np.asarray(wanted, dtype=np.int64)
        if marked.size == 0:
            return np.full(len(wanted), -1, dtype=np.int64)
        position = np.searchsorted(marked, self.instant_end[wanted], side="right") - 1
        latest = np.where(position >= 0, marked[np.maximum(position, 0)], -1)
        return np.where(latest >= self.starts[self.lead_no[wanted]], latest, -1)

    def codes_at(self, name: str, wanted: Any, *, per_lead: bool = False) -> Int64Array:
        """The value codes of field ``name`` as they stand at the end of each ``wanted``
        row's instant (-1: none). ``per_lead``: the rows are one per lead, in lead order,
        and are kept for later reads at rows of the same instants."""
        ends = self.instant_end[wanted]
        if per_lead:
            codes = self.codes(self.last_before(name, wanted))
            self._read_per_lead[name] = (ends, codes.astype(np.int32))
            return codes
        kept = self._read_per_lead.get(name)
        if kept is None:
            return self.codes(self.last_before(name, wanted))
        lead = self.lead_no[wanted]
        same = kept[0][lead] == ends
        codes = np.empty(len(wanted), dtype=np.int64)
        codes[same] = kept[1][lead[same]]
        other = np.flatnonzero(~same)
        codes[other] = self.codes(self.last_before(name, np.asarray(wanted)[other]))
        return codes

    def grades(self, settings: ReportSettings, grade: Int64Array, score: Int64Array) -> pl.Series:
        """The effective grade (:func:`_grade_expr`) of each pair of ``grade`` and
        ``score`` value codes, worked out once per distinct pair."""
        stride = len(self.names)
        distinct, inverse = unique_inverse((grade + 1) * stride + (score + 1))
        pairs = pl.DataFrame(
            {
                "_grade": self.lookup(self.names, distinct // stride - 1),
                "_score": self.lookup(self.names, distinct % stride - 1),
            }
        )
        per_pair = pairs.select(_grade_expr(settings)).to_series().cast(pl.Categorical)
        return per_pair.gather(inverse).alias("grade")

    def teams(self, settings: ReportSettings, owner: Int64Array) -> pl.Series:
        """The team of each owner value code (:func:`_team_expr` once per value)."""
        per_value = self.names.replace_strict(
            dict(settings.team_of), default=None, return_dtype=pl.Categorical
        )
        return self.lookup(per_value, owner).alias("team")


def first_touches(rows: Rows, policy: Policy | None) -> Any:
    """The rows that touch a lead (see the module docstring): those that would stop the
    MQL policy's clock (its ``stop`` status entered, an activity matching its
    ``stop.activity``), or without a policy any activity and any status of stage
    ``working`` or ``qualified``."""
    if policy is None:
        return rows.fields["activity"] | (rows.rank >= STAGE_RANK[WORKING])
    texts = rows.names.to_list()
    stop = np.array([text in policy.stop for text in texts], dtype=np.bool_)
    matched = np.array(
        [activity_matches(text, policy.stop_activity) for text in texts], dtype=np.bool_
    )
    # A status row enters the stop set when the lead's status before it differs.
    status = np.flatnonzero(rows.fields["status"])
    entered = np.ones(status.size, dtype=np.bool_)
    if status.size:
        same_lead = rows.lead[status[1:]] == rows.lead[status[:-1]]
        entered[1:] = ~same_lead | (rows.value[status[1:]] != rows.value[status[:-1]])
    touched = np.zeros(rows.size, dtype=np.bool_)
    touched[status[entered]] = True
    touched &= stop[rows.value]
    if policy.stop_activity:
        touched |= rows.fields["activity"] & matched[rows.value]
    return touched


def _instants(values: Any) -> pl.Series:
    series = pl.Series(values, dtype=pl.Int64)
    return series.set(series == NONE, None)


def _grade_expr(settings: ReportSettings) -> pl.Expr:
    """The effective grade: a ``grade`` field wins; else the first grade the score reaches."""
    score = pl.col("_score").cast(pl.Float64, strict=False)
    by_score: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for name, minimum in reversed(settings.grades):
        by_score = pl.when(score >= minimum).then(pl.lit(name)).otherwise(by_score)
    return pl.coalesce(pl.col("_grade"), by_score).alias("grade")


LEAD_COLUMNS = {
    "lead": pl.Int64,
    "first_at": pl.Int64,
    "mql_at": pl.Int64,
    "touch_at": pl.Int64,
    "opportunity_at": pl.Int64,
    "level": pl.Int8,
    "sal": pl.Boolean,
    "won": pl.Boolean,
    "lost": pl.Boolean,
    "amount": pl.Float64,
    "grade": pl.Categorical,
    "owner": pl.Categorical,
    "team": pl.Categorical,
}


def lead_frame(
    rows: Rows, settings: ReportSettings, attributes: Sequence[str] = ()
) -> pl.DataFrame:
    """One row per lead: stage reached, instants, grade/owner/team at MQL, attributes.

    Columns: ``lead, first_at, month, mql_at, touch_at, opportunity_at, level``
    (0 inquiry … 4 won), ``mql, sal, opportunity, won, lost, amount, grade, owner,
    team`` and one per attribute.
    """
    names = [name for name in dict.fromkeys(attributes) if name not in COMPUTED]
    if rows.size == 0:
        empty = pl.DataFrame(schema={**LEAD_COLUMNS, **dict.fromkeys(names, pl.Categorical)})
        return _finish_leads(empty, settings)
    outcome_set = rows.fields["outcome"] & rows.has_value
    # The funnel starts at the first open/working/qualified status or outcome event.
    mql_row = rows.first_row((rows.rank >= 1) | outcome_set)
    mql_at = rows.instants(mql_row)
    touched = first_touches(rows, settings.metric.mql)
    opportunity_at = np.minimum(
        rows.first_at(rows.rank == STAGE_RANK[QUALIFIED]), rows.first_at(outcome_set)
    )
    outcome = rows.codes(rows.last_row(rows.fields["outcome"]))
    lowered = rows.names.str.to_lowercase()
    won = rows.lookup((lowered == "won").fill_null(False), outcome).to_numpy()
    level = np.maximum.reduceat(rows.rank, rows.starts)
    level = np.maximum(level, np.where(opportunity_at != NONE, 3, 0))
    level = np.maximum(level, np.where(won, 4, 0)).astype(np.int8)
    # Grade, owner and team at the MQL instant; for a lead never an MQL, its last ones.
    # Any row of the instant will do: last_before reads up to the end of the row's instant.
    ref_row = np.where(mql_row >= 0, mql_row, rows.starts + rows.counts - 1)

    def at_ref(name: str) -> Int64Array:
        return rows.codes_at(name, ref_row, per_lead=True)

    owner = at_ref("owner")
    amount = rows.codes(rows.last_row(rows.fields["amount"]))
    columns = {
        "lead": rows.lead[rows.starts].astype(np.int64),
        "first_at": rows.at[rows.starts],
        "mql_at": _instants(mql_at),
        "touch_at": _instants(rows.first_at(touched, since=mql_at)),
        "opportunity_at": _instants(opportunity_at),
        "level": level,
        "sal": accepted_leads(rows, level),
        "won": won,
        "lost": rows.lookup((lowered == "lost").fill_null(False), outcome).to_numpy(),
        "amount": rows.lookup(rows.names.cast(pl.Float64, strict=False), amount),
        "grade": rows.grades(settings, at_ref("grade"), at_ref("score")),
        "owner": rows.text(owner),
        "team": rows.teams(settings, owner),
    }
    for name in names:
        columns[name] = rows.text(rows.codes(rows.last_row(rows.is_field(name))))
    return _finish_leads(pl.DataFrame(columns, schema_overrides=LEAD_COLUMNS), settings)


def _finish_leads(leads: pl.DataFrame, settings: ReportSettings) -> pl.DataFrame:
    leads = leads.with_columns(
        (pl.col("level") >= 1).alias("mql"),
        (pl.col("level") >= 3).alias("opportunity"),
    )
    return leads.with_columns(month_labels(leads["first_at"], settings.zone).alias("month"))


def entry_rows(rows: Rows) -> Int64Array:
    """The rows of the MQL entries: a status of stage ``open`` entered from outside it
    (or the lead's first status)."""
    status_rows = np.flatnonzero(rows.fields["status"])
    is_open = rows.rank[status_rows] == STAGE_RANK[OPEN]
    same_lead = np.zeros(len(status_rows), dtype=np.bool_)
    same_lead[1:] = rows.lead[status_rows[1:]] == rows.lead[status_rows[:-1]]
    was_open = np.zeros(len(status_rows), dtype=np.bool_)
    was_open[1:] = is_open[:-1]
    entries: Int64Array = status_rows[is_open & ~(was_open & same_lead)].astype(np.int64)
    return entries


def accepted_leads(rows: Rows, level: Any) -> Any:
    """Per lead: whether it reached the SAL stage. SPEC §9.5 judged per MQL entry (the
    lead's rows from an entry's instant to the next entry's; those before its first
    entry go with none): the entry's last ``sal`` row decides (``accepted``: a SAL,
    ``rejected``: not, an empty one withdraws), and without one a status of stage
    ``working`` in it makes a SAL. An opportunity is a SAL whatever was said (the
    stages are monotone), and only an MQL can be one."""
    worked = level >= STAGE_RANK[WORKING]
    decisions = rows.fields[SAL_FIELD]
    if not decisions.any():
        return worked  # the common history: no decision rows, the stage decides
    entries = entry_rows(rows)
    # Each entry's part starts at the first row of its instant (rows of one instant
    # are applied together, SPEC §3); instant_end does not decrease along the rows.
    boundary = np.zeros(rows.size, dtype=np.bool_)
    boundary[rows.starts] = True
    boundary[np.searchsorted(rows.instant_end, rows.instant_end[entries], side="left")] = True
    parts = np.flatnonzero(boundary)
    said = rows.codes(np.maximum.reduceat(np.where(decisions, rows.index, -1), parts))
    accepted = rows.lookup((rows.names == ACCEPTED).fill_null(False), said).to_numpy()
    rejected = rows.lookup((rows.names == REJECTED).fill_null(False), said).to_numpy()
    working = np.maximum.reduceat(rows.rank, parts) == STAGE_RANK[WORKING]
    part_sal = (accepted | (~rejected & working)).astype(np.int8)
    lead_sal = np.maximum.reduceat(part_sal, np.searchsorted(parts, rows.starts)) > 0
    return (lead_sal & (level >= 1)) | (level >= STAGE_RANK[QUALIFIED])


def mql_entries(
    rows: Rows, settings: ReportSettings, attributes: Sequence[str] = ()
) -> pl.DataFrame:
    """One row per MQL entry, in lead order: an instant at which the status enters stage
    ``open`` from outside it (or at the lead's first status). Columns ``lead, at, grade,
    owner, team`` and the attributes asked for, all as they stood at that instant."""
    names = [name for name in dict.fromkeys(attributes) if name not in COMPUTED]
    schema = {"lead": pl.Int64, "at": pl.Int64, "grade": pl.Categorical, "owner": pl.Categorical}
    if rows.size == 0:
        text = dict.fromkeys(["team", *names], pl.Categorical)
        return pl.DataFrame(schema={**schema, **text})
    entries = entry_rows(rows)

    def at_entry(name: str) -> Int64Array:
        return rows.codes_at(name, entries)

    owner = at_entry("owner")
    columns: dict[str, Any] = {
        "lead": rows.lead[entries].astype(np.int64),
        "at": rows.at[entries],
        "grade": rows.grades(settings, at_entry("grade"), at_entry("score")),
        "owner": rows.text(owner),
        "team": rows.teams(settings, owner),
    }
    for name in names:
        columns[name] = rows.text(at_entry(name))
    # In lead order: the burn-up only counts them per day (a sort of millions: 0.5 s).
    return pl.DataFrame(columns, schema_overrides=schema)
