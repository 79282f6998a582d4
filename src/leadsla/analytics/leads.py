"""One row per lead (and one per MQL entry), from the events frame: NumPy reductions over
each lead's run of rows (the frame is in lead order), Polars for the text columns.

Every definition is written out in ``docs/analytics.md``; in short:

* A lead's **funnel stage** is the furthest it reached by the evaluation instant:
  inquiry (any event), MQL (a status of stage ``open``), SAL (stage ``working``),
  opportunity (stage ``qualified``, or any ``outcome`` event), won (its last
  ``outcome`` is ``won``). Reaching a stage counts in every stage before it.
* Its **MQL instant** is the first instant it reached MQL or beyond; its grade,
  owner and team are the ones at that instant (for a lead that never got there:
  its last ones). Other attributes (``source``, ``industry``, …) are the lead's last
  values.
* Its **first touch** is the first instant at or after the MQL instant with an
  activity or a status of stage ``working`` or ``qualified``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import tzinfo
from typing import Any

import numpy as np
import polars as pl

from leadsla.core.metrics import month_numbers
from leadsla.core.policy import Rulebook

OPEN, WORKING, QUALIFIED = "open", "working", "qualified"
STAGE_RANK = {OPEN: 1, WORKING: 2, QUALIFIED: 3}
BASE_FIELDS = ("status", "activity", "grade", "score", "owner", "outcome", "amount")
# Lead fields that are not attributes a segment could be cut by.
COMPUTED = frozenset({"grade", "owner", "team"})


@dataclass(frozen=True)
class Setting:
    """What the frames need from the config."""

    stages: Mapping[str, str | None]
    grades: tuple[tuple[str, float], ...]  # (name, min_score) in config order
    team_of: Mapping[str, str]
    zone: tzinfo

    @classmethod
    def of(cls, rules: Rulebook) -> Setting:
        return cls(
            stages=dict(rules.statuses),
            grades=tuple((g.name, g.min_score) for g in rules.grades),
            team_of={rep.id: rep.team for rep in rules.reps.values() if rep.team in rules.teams},
            zone=rules.calendars[rules.default_calendar].zone,
        )


def needed_fields(attributes: Sequence[str] = ()) -> tuple[str, ...]:
    return tuple(dict.fromkeys([*BASE_FIELDS, *(a for a in attributes if a not in COMPUTED)]))


def month_labels(instants: pl.Series, zone: tzinfo) -> pl.Series:
    """``YYYY-MM`` of each instant in ``zone`` (the scorecard's months); null stays null."""
    values = instants.fill_null(0).to_numpy().astype(np.int64)
    months = pl.Series(instants.name, month_numbers(values, zone))
    labels = {m: f"{1970 + m // 12:04d}-{m % 12 + 1:02d}" for m in months.unique().to_list()}
    named = months.replace_strict(labels, return_dtype=pl.Utf8)
    return named.set(instants.is_null(), None)


def settle(frame: pl.DataFrame) -> pl.DataFrame:
    """The last row of each (lead, instant, field): the value after the instant.

    The frame is in (lead, instant, arrival) order, so an instant is a run of rows; a
    row is kept when no later row of its run sets the same field.
    """
    if frame.is_empty():
        return frame
    lead = frame["lead"].to_numpy()
    at = frame["at"].to_numpy()
    starts = np.ones(len(lead), dtype=np.bool_)
    starts[1:] = (lead[1:] != lead[:-1]) | (at[1:] != at[:-1])
    codes = frame["field"].to_numpy().astype(np.int64)
    key = np.cumsum(starts, dtype=np.int64) * (int(codes.max()) + 1) + codes
    # Keys grow with the instant, so a stable sort only reorders rows within an instant.
    order = np.argsort(key, kind="stable")
    ordered = key[order]
    last = np.ones(len(order), dtype=np.bool_)
    last[:-1] = ordered[:-1] != ordered[1:]
    return frame[order[last]]


NONE = np.iinfo(np.int64).max  # "no instant" in the per-lead reductions


class Rows:
    """The events frame settled (:func:`settle`) as NumPy columns, with per-lead reductions
    (rows are in lead order, so each lead is one run of rows and a reduction is one
    ``reduceat``)."""

    def __init__(self, frame: pl.DataFrame, setting: Setting, fields: Sequence[str]) -> None:
        settled = settle(frame)
        self.field_index = {name: k for k, name in enumerate(fields)}
        self.frame = settled
        self.size = settled.height
        self.lead = settled["lead"].to_numpy()
        self.at = settled["at"].to_numpy().astype(np.int64)
        new_lead = np.ones(self.size, dtype=np.bool_)
        new_lead[1:] = self.lead[1:] != self.lead[:-1]
        self.starts = np.flatnonzero(new_lead)
        self.counts = np.diff(np.append(self.starts, self.size))
        # The last row of each row's instant: values "at an instant" include all its rows.
        new_instant = new_lead.copy()
        new_instant[1:] |= self.at[1:] != self.at[:-1]
        instant_starts = np.flatnonzero(new_instant)
        ends = np.append(instant_starts[1:], self.size)[: len(instant_starts)] - 1
        self.instant_end = np.repeat(ends, np.diff(np.append(instant_starts, self.size)))
        self.field = settled["field"].to_numpy()
        self.fields = {name: self.is_field(name) for name in BASE_FIELDS}
        self.lead_start = self.per_row(self.starts)
        ranks = {
            status: STAGE_RANK[stage]
            for status, stage in setting.stages.items()
            if stage in STAGE_RANK
        }
        status_rows = np.flatnonzero(self.fields["status"])
        status_rank = (
            settled["value"]
            .gather(status_rows)
            .replace_strict(ranks, default=0, return_dtype=pl.Int8)
            .fill_null(0)
        )
        self.rank = np.zeros(self.size, dtype=np.int8)
        self.rank[status_rows] = status_rank.to_numpy()
        self.has_value = settled["value"].is_not_null().to_numpy()

    def is_field(self, name: str) -> Any:
        code = self.field_index.get(name)
        if code is None:
            return np.zeros(self.size, dtype=np.bool_)
        return self.field == code

    def per_row(self, per_lead: np.ndarray[tuple[int], np.dtype[np.int64]]) -> Any:
        return np.repeat(per_lead, self.counts)

    def first_at(self, mask: Any) -> Any:
        """Per lead: the first instant of the rows in ``mask`` (NONE if none)."""
        return np.minimum.reduceat(np.where(mask, self.at, NONE), self.starts)

    def last_row(self, mask: Any) -> Any:
        """Per lead: the last row index in ``mask`` (-1 if none)."""
        return np.maximum.reduceat(np.where(mask, np.arange(self.size), -1), self.starts)

    def values(self, rows: Any) -> pl.Series:
        """The values of rows (null where the row is -1)."""
        index = pl.Series(rows, dtype=pl.Int64)
        return self.frame["value"].gather(index.set(index < 0, None))

    def last_before(self, name: str, wanted: Any) -> Any:
        """For each of the ``wanted`` rows: the last row of field ``name`` of the same lead
        up to the end of the row's instant (-1 if none)."""
        marked = np.where(self.is_field(name), np.arange(self.size), -1)
        latest = np.maximum.accumulate(marked)[self.instant_end[wanted]]
        return np.where(latest >= self.lead_start[wanted], latest, -1)


def _instants(values: Any) -> pl.Series:
    series = pl.Series(values, dtype=pl.Int64)
    return series.set(series == NONE, None)


def _grade_expr(setting: Setting) -> pl.Expr:
    """The effective grade: a ``grade`` field wins; else the first grade the score reaches."""
    score = pl.col("_score").cast(pl.Float64, strict=False)
    by_score: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for name, minimum in reversed(setting.grades):
        by_score = pl.when(score >= minimum).then(pl.lit(name)).otherwise(by_score)
    return pl.coalesce(pl.col("_grade"), by_score)


def _team_expr(setting: Setting) -> pl.Expr:
    return (
        pl.col("owner")
        .replace_strict(dict(setting.team_of), default=None, return_dtype=pl.Utf8)
        .alias("team")
    )


def _with_grade_team(frame: pl.DataFrame, setting: Setting) -> pl.DataFrame:
    return frame.with_columns(_grade_expr(setting).alias("grade"), _team_expr(setting)).drop(
        "_grade", "_score"
    )


LEAD_COLUMNS = {
    "lead": pl.Int64,
    "first_at": pl.Int64,
    "mql_at": pl.Int64,
    "touch_at": pl.Int64,
    "opportunity_at": pl.Int64,
    "level": pl.Int8,
    "won": pl.Boolean,
    "lost": pl.Boolean,
    "amount": pl.Float64,
    "_grade": pl.Utf8,
    "_score": pl.Utf8,
    "owner": pl.Utf8,
}


def lead_frame(rows: Rows, setting: Setting, attributes: Sequence[str] = ()) -> pl.DataFrame:
    """One row per lead: stage reached, instants, grade/owner/team at MQL, attributes.

    Columns: ``lead, first_at, month, mql_at, touch_at, opportunity_at, level``
    (0 inquiry … 4 won), ``mql, sal, opportunity, won, lost, amount, grade, owner,
    team`` and one per attribute.
    """
    names = [name for name in dict.fromkeys(attributes) if name not in COMPUTED]
    if rows.size == 0:
        empty = pl.DataFrame(schema={**LEAD_COLUMNS, **dict.fromkeys(names, pl.Utf8)})
        return _finish_leads(empty, setting)
    outcome_set = rows.fields["outcome"] & rows.has_value
    # The funnel starts at the first open/working/qualified status or outcome event.
    mql_at = rows.first_at((rows.rank >= 1) | outcome_set)
    touched = rows.fields["activity"] | (rows.rank >= STAGE_RANK[WORKING])
    opportunity_at = np.minimum(
        rows.first_at(rows.rank == STAGE_RANK[QUALIFIED]), rows.first_at(outcome_set)
    )
    outcome = rows.values(rows.last_row(rows.fields["outcome"])).str.to_lowercase()
    won = (outcome == "won").fill_null(False).to_numpy()
    level = np.maximum.reduceat(rows.rank, rows.starts)
    level = np.maximum(level, np.where(opportunity_at != NONE, 3, 0))
    level = np.maximum(level, np.where(won, 4, 0)).astype(np.int8)
    # Grade, owner and team at the MQL instant; for a lead never an MQL, its last ones.
    at_mql = rows.at == rows.per_row(mql_at)
    first_mql_row = np.minimum.reduceat(np.where(at_mql, np.arange(rows.size), NONE), rows.starts)
    last_row = rows.starts + rows.counts - 1
    ref_row = np.where(mql_at != NONE, np.minimum(first_mql_row, last_row), last_row)

    def at_ref(name: str) -> pl.Series:
        return rows.values(rows.last_before(name, ref_row))

    columns = {
        "lead": rows.lead[rows.starts].astype(np.int64),
        "first_at": rows.at[rows.starts],
        "mql_at": _instants(mql_at),
        "touch_at": _instants(rows.first_at(touched & (rows.at >= rows.per_row(mql_at)))),
        "opportunity_at": _instants(opportunity_at),
        "level": level,
        "won": won,
        "lost": (outcome == "lost").fill_null(False).to_numpy(),
        "amount": rows.values(rows.last_row(rows.fields["amount"])).cast(pl.Float64, strict=False),
        "_grade": at_ref("grade"),
        "_score": at_ref("score"),
        "owner": at_ref("owner"),
    }
    for name in names:
        columns[name] = rows.values(rows.last_row(rows.is_field(name)))
    return _finish_leads(pl.DataFrame(columns, schema_overrides=LEAD_COLUMNS), setting)


def _finish_leads(leads: pl.DataFrame, setting: Setting) -> pl.DataFrame:
    leads = _with_grade_team(
        leads.with_columns(
            (pl.col("level") >= 1).alias("mql"),
            (pl.col("level") >= 2).alias("sal"),
            (pl.col("level") >= 3).alias("opportunity"),
        ),
        setting,
    )
    return leads.with_columns(month_labels(leads["first_at"], setting.zone).alias("month"))


def mql_entries(rows: Rows, setting: Setting, attributes: Sequence[str] = ()) -> pl.DataFrame:
    """One row per MQL entry: an instant at which the status enters stage ``open`` from
    outside it (or at the lead's first status). Columns ``lead, at, grade, owner, team``
    and the attributes asked for, all as they stood at that instant."""
    names = [name for name in dict.fromkeys(attributes) if name not in COMPUTED]
    schema = {"lead": pl.Int64, "at": pl.Int64, "_grade": pl.Utf8, "_score": pl.Utf8}
    if rows.size == 0:
        empty = pl.DataFrame(schema={**schema, "owner": pl.Utf8, **dict.fromkeys(names, pl.Utf8)})
        return _with_grade_team(empty, setting)
    status_rows = np.flatnonzero(rows.fields["status"])
    is_open = rows.rank[status_rows] == STAGE_RANK[OPEN]
    same_lead = np.zeros(len(status_rows), dtype=np.bool_)
    same_lead[1:] = rows.lead[status_rows[1:]] == rows.lead[status_rows[:-1]]
    was_open = np.zeros(len(status_rows), dtype=np.bool_)
    was_open[1:] = is_open[:-1]
    entries = status_rows[is_open & ~(was_open & same_lead)]
    columns: dict[str, Any] = {
        "lead": rows.lead[entries].astype(np.int64),
        "at": rows.at[entries],
    }
    for name, column in (("grade", "_grade"), ("score", "_score"), ("owner", "owner")):
        columns[column] = rows.values(rows.last_before(name, entries))
    for name in names:
        columns[name] = rows.values(rows.last_before(name, entries))
    frame = pl.DataFrame(columns, schema_overrides=schema)
    return _with_grade_team(frame, setting).sort("at", "lead")
