"""One row per lead (and one per MQL entry), computed from the events frame with Polars.

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
    present = instants.is_not_null().to_numpy()
    values = instants.fill_null(0).to_numpy().astype(np.int64)
    months = month_numbers(values, zone)
    labels = [
        f"{1970 + m // 12:04d}-{m % 12 + 1:02d}" if ok else None
        for m, ok in zip(months.tolist(), present.tolist(), strict=True)
    ]
    return pl.Series(instants.name, labels, dtype=pl.Utf8)


def _settled(frame: pl.DataFrame) -> pl.DataFrame:
    """The last row of each (lead, instant, field): the value after the instant."""
    return frame.unique(subset=["lead", "at", "field"], keep="last", maintain_order=True)


def _field(settled: pl.DataFrame, name: str) -> pl.DataFrame:
    return settled.filter(pl.col("field") == name).select("lead", "at", "value").sort("lead", "at")


def _value_at(
    points: pl.DataFrame, settled: pl.DataFrame, name: str, on: str, alias: str
) -> pl.DataFrame:
    """``points`` with the value of field ``name`` at instant ``on`` (null if none or cleared)."""
    rows = _field(settled, name).rename({"at": "_at", "value": alias}).sort("_at")
    joined = points.sort(on).join_asof(
        rows,
        left_on=on,
        right_on="_at",
        by="lead",
        strategy="backward",
        check_sortedness=False,
    )
    return joined.drop("_at")


def _grade_expr(setting: Setting) -> pl.Expr:
    """The effective grade: a ``grade`` field wins; else the first grade the score reaches."""
    score = pl.col("_score").cast(pl.Float64, strict=False)
    by_score: pl.Expr = pl.lit(None, dtype=pl.Utf8)
    for name, minimum in reversed(setting.grades):
        by_score = pl.when(score >= minimum).then(pl.lit(name)).otherwise(by_score)
    return pl.coalesce(pl.col("_grade"), by_score)


def _with_grade_owner(
    points: pl.DataFrame, settled: pl.DataFrame, on: str, setting: Setting
) -> pl.DataFrame:
    points = _value_at(points, settled, "grade", on, "_grade")
    points = _value_at(points, settled, "score", on, "_score")
    points = _value_at(points, settled, "owner", on, "owner")
    return points.with_columns(
        _grade_expr(setting).alias("grade"),
        pl.col("owner")
        .replace_strict(dict(setting.team_of), default=None, return_dtype=pl.Utf8)
        .alias("team"),
    ).drop("_grade", "_score")


def _status_ranks(settled: pl.DataFrame, setting: Setting) -> pl.DataFrame:
    ranks = {
        status: STAGE_RANK[stage] for status, stage in setting.stages.items() if stage in STAGE_RANK
    }
    return _field(settled, "status").with_columns(
        pl.col("value").replace_strict(ranks, default=0, return_dtype=pl.Int8).alias("rank")
    )


def lead_frame(
    frame: pl.DataFrame, setting: Setting, attributes: Sequence[str] = ()
) -> pl.DataFrame:
    """One row per lead: stage reached, instants, grade/owner/team at MQL, attributes.

    Columns: ``lead, first_at, month, mql_at, touch_at, opportunity_at, level``
    (0 inquiry … 4 won), ``mql, sal, opportunity, won, lost, amount, grade, owner,
    team`` and one per attribute.
    """
    settled = _settled(frame)
    leads = frame.group_by("lead").agg(pl.col("at").min().alias("first_at"))
    ranks = _status_ranks(settled, setting)
    per_rank = ranks.group_by("lead").agg(
        pl.col("rank").max().alias("_rank"),
        pl.col("at").filter(pl.col("rank") >= 1).min().alias("_funnel_at"),
    )
    outcome = (
        _field(settled, "outcome")
        .group_by("lead", maintain_order=True)
        .agg(
            pl.col("value").last().str.to_lowercase().alias("_outcome"),
            pl.col("at").filter(pl.col("value").is_not_null()).min().alias("_outcome_at"),
        )
    )
    amount = (
        _field(settled, "amount")
        .group_by("lead", maintain_order=True)
        .agg(pl.col("value").last().cast(pl.Float64, strict=False).alias("amount"))
    )
    qualified = (
        ranks.filter(pl.col("rank") == STAGE_RANK[QUALIFIED])
        .group_by("lead")
        .agg(pl.col("at").min().alias("_qualified_at"))
    )
    leads = (
        leads.join(per_rank, on="lead", how="left")
        .join(outcome, on="lead", how="left")
        .join(amount, on="lead", how="left")
        .join(qualified, on="lead", how="left")
        .with_columns(
            pl.min_horizontal("_qualified_at", "_outcome_at").alias("opportunity_at"),
            (pl.col("_outcome") == "won").fill_null(False).alias("won"),
            (pl.col("_outcome") == "lost").fill_null(False).alias("lost"),
        )
        .with_columns(
            pl.min_horizontal("_funnel_at", "opportunity_at").alias("mql_at"),
            pl.max_horizontal(
                pl.col("_rank").fill_null(0),
                pl.when(pl.col("opportunity_at").is_not_null()).then(3).otherwise(0),
                pl.when(pl.col("won")).then(4).otherwise(0),
            )
            .cast(pl.Int8)
            .alias("level"),
        )
        .with_columns(
            (pl.col("level") >= 1).alias("mql"),
            (pl.col("level") >= 2).alias("sal"),
            (pl.col("level") >= 3).alias("opportunity"),
        )
    )

    # First touch: an activity, or a working/qualified status, at or after the MQL instant.
    touches = pl.concat(
        [
            settled.filter(pl.col("field") == "activity").select("lead", "at"),
            ranks.filter(pl.col("rank") >= STAGE_RANK[WORKING]).select("lead", "at"),
        ]
    )
    first_touch = (
        touches.join(leads.select("lead", "mql_at"), on="lead")
        .filter(pl.col("at") >= pl.col("mql_at"))
        .group_by("lead")
        .agg(pl.col("at").min().alias("touch_at"))
    )
    leads = leads.join(first_touch, on="lead", how="left")

    # Grade, owner and team at the MQL instant; for a lead never an MQL, its last ones.
    last_at = frame.group_by("lead").agg(pl.col("at").max().alias("_last_at"))
    leads = leads.join(last_at, on="lead").with_columns(
        pl.coalesce("mql_at", "_last_at").alias("_ref_at")
    )
    leads = _with_grade_owner(leads, settled, "_ref_at", setting)
    for name in attributes:
        if name in COMPUTED:
            continue
        last = (
            _field(settled, name)
            .group_by("lead", maintain_order=True)
            .agg(pl.col("value").last().alias(name))
        )
        leads = leads.join(last, on="lead", how="left")
    leads = leads.sort("lead")
    return leads.with_columns(month_labels(leads["first_at"], setting.zone).alias("month")).drop(
        "_rank", "_funnel_at", "_outcome", "_outcome_at", "_qualified_at", "_last_at", "_ref_at"
    )


def mql_entries(
    frame: pl.DataFrame, setting: Setting, attributes: Sequence[str] = ()
) -> pl.DataFrame:
    """One row per MQL entry: an instant at which the status enters stage ``open`` from
    outside it (or at the lead's first status). Columns ``lead, at, grade, owner, team``
    and the attributes asked for, all as they stood at that instant."""
    settled = _settled(frame)
    ranks = _status_ranks(settled, setting)
    entries = (
        ranks.with_columns(
            (pl.col("rank") == STAGE_RANK[OPEN]).alias("_open"),
        )
        .with_columns(
            pl.col("_open").shift(1).over("lead").fill_null(False).alias("_was_open"),
        )
        .filter(pl.col("_open") & ~pl.col("_was_open"))
        .select("lead", "at")
    )
    entries = _with_grade_owner(entries, settled, "at", setting)
    for name in attributes:
        if name not in COMPUTED:
            entries = _value_at(entries, settled, name, "at", name)
    return entries.sort("at", "lead")
