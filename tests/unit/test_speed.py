"""Speed to lead decomposed (``speed_legs``) and the touch decay fit (``touch_decay``).

The history below is checked by hand. Config ``examples/leadsla.yaml``: r1 and r2 in team
east (calendar us-east: 09:00-12:00 and 13:00-17:00 New York), r3 in team emea; the
follow_up clock stops on Attempting to Contact or Contacted (status only). All instants
are New York winter time (-05:00), Monday 2 to Friday 6 March 2026.

S1  Mar 2 08:00 score 20 (captured). 09:30 New, owner r1, segment SMB (MQL, assigned).
    11:30 Attempting to Contact (first attempt). 14:00 call connected (first connect).
    Qualified Mar 5 (an opportunity).
    Legs, wall: 1.5 h, 0, 2 h, 2.5 h. Business: 0.5 h (09:00-09:30), 0, 2 h, 1.5 h
    (11:30-12:00 and 13:00-14:00: the lunch hour is closed).
S2  Mar 2 10:00 New, segment SMB, no owner (captured = MQL). 16:00 owner r2 (assigned).
    Mar 3 10:00 Contacted and call connected at one instant (attempt = connect).
    Legs, wall: 0, 6 h, 18 h, 0. Business (no owner at the MQL: the default calendar,
    us-east): 0, 5 h (10-12, 13-16), 2 h (16-17, 09-10), 0.
S3  Mar 3 09:00 New, owner r3, segment Enterprise. Never touched: legs marketing 0 and
    routing 0; no rep leg, no reachability leg.
S4  Mar 4 09:00 New, owner r1, segment Enterprise, a call:attempted (not a stop).
    10:00 call connected: before the first attempt, so not the first connect. 11:00
    Attempting to Contact. Legs: 0, 0, 2 h (both clocks); no reachability leg.
S5  Mar 2 score 40, no status: never an MQL, no leg at all.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest

from analytics_history import _rows
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import EventTable, parse_instant, read_events
from leadsla.core.speed import (
    Cut,
    clock_leg_figures,
    isotonic_decreasing,
    leg_figures,
    leg_spans,
    touch_decay,
)
from leadsla.report.analytics import analytics
from leadsla.report.columns import event_columns
from leadsla.report.figures import business_waits
from leadsla.report.leads import Rows, lead_frame, needed_fields
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.report.speed import Milestones, business_marks, with_milestones
from leadsla.service.imports import import_table
from leadsla.store.database import open_database

ROOT = Path(__file__).resolve().parents[2]
CONFIG = load_config(ROOT / "examples" / "leadsla.yaml")
RULES = build_rulebook(CONFIG)
SETTINGS = ReportSettings.of(RULES, CONFIG)
AS_OF = parse_instant("2026-03-06T12:00:00-05:00")


EVENTS = "\n".join(
    [
        "lead_id,at,field,value",
        *_rows("S1", "03-02", "08:00", score="20"),
        *_rows("S1", "03-02", "09:30", status="New", owner="r1", segment="SMB"),
        *_rows("S1", "03-02", "11:30", status="Attempting to Contact"),
        *_rows("S1", "03-02", "14:00", activity="call:connected"),
        *_rows("S1", "03-05", "09:00", status="Qualified"),
        *_rows("S2", "03-02", "10:00", status="New", segment="SMB"),
        *_rows("S2", "03-02", "16:00", owner="r2"),
        *_rows("S2", "03-03", "10:00", status="Contacted", activity="call:connected"),
        *_rows("S3", "03-03", "09:00", status="New", owner="r3", segment="Enterprise"),
        *_rows("S4", "03-04", "09:00", status="New", owner="r1", segment="Enterprise",
               activity="call:attempted"),
        *_rows("S4", "03-04", "10:00", activity="call:connected"),
        *_rows("S4", "03-04", "11:00", status="Attempting to Contact"),
        *_rows("S5", "03-02", "09:00", score="40"),
    ]
)  # fmt: skip


def read_table(text: str = EVENTS) -> EventTable:
    table, report = read_events(
        io.StringIO(text), statuses=list(RULES.statuses), grades=[g.name for g in RULES.grades]
    )
    assert report.errors == []
    return table


@pytest.fixture(scope="module")
def figures() -> dict[str, Any]:
    return analytics(read_table(), SETTINGS, AS_OF)


def leg(leads: int, business: tuple[float, float], wall: tuple[float, float]) -> dict[str, Any]:
    return {
        "leads": leads,
        "business_p50_hours": business[0],
        "business_p90_hours": business[1],
        "wall_p50_hours": wall[0],
        "wall_p90_hours": wall[1],
    }


NO_LEG = leg(0, (None, None), (None, None))  # type: ignore[arg-type]


# -- pure definitions ----------------------------------------------------------------------


def test_a_leg_counts_only_when_both_ends_happened_in_order() -> None:
    seconds = np.array([[0, 10, 10, 30, 25], [5, 5, 0, 0, 0]], dtype=np.int64)
    present = np.array([[1, 1, 1, 1, 1], [1, 1, 0, 0, 0]], dtype=np.bool_)
    spans, valid = leg_spans(seconds * 1_000_000, present)
    assert valid.tolist() == [[True, True, True, False], [True, False, False, False]]
    assert spans.tolist() == [[10, 0, 20, 0], [0, 0, 0, 0]]
    # The same legs on another clock's marks (seconds from the capture).
    marks = np.array([[0, 4, 4, 9, 9], [0, 0, 0, 0, 0]], dtype=np.int32)
    assert leg_spans(seconds * 1_000_000, present, marks)[0].tolist() == [
        [4, 0, 5, 0],
        [0, 0, 0, 0],
    ]


def test_leg_percentiles_are_numpys_linear_ones_per_group() -> None:
    spans = np.array([[0], [0], [0], [90]], dtype=np.int64).repeat(4, axis=1)
    valid = np.ones((4, 4), dtype=np.bool_)
    valid[3, 3] = False
    (result,) = leg_figures([Cut(np.array([0, 0, 0, 0]), 1)], spans, valid)
    # 0, 0, 0, 90: the 90th percentile sits 0.7 of the way from the 3rd to the 4th value.
    assert result.leads[0].tolist() == [4, 4, 4, 3]
    assert result.p50[0].tolist() == [0, 0, 0, 0]
    assert result.p90[0, 0] == pytest.approx(63.0)
    assert result.p90[0, 3] == 0
    # A lead in no group (-1) counts nowhere.
    (missing,) = leg_figures([Cut(np.array([-1, 0, 0, 0]), 1)], spans, valid)
    assert missing.leads[0, 0] == 3


def test_leg_percentiles_equal_numpys_on_every_group_and_clock() -> None:
    # Lengths with a share of zeros on both sides of the point where every position
    # numpy.quantile reads is a zero (the percentiles are then taken without a
    # selection), leads in and out of groups, several clocks at once.
    rng = np.random.default_rng(15)
    for size in (1, 2, 3, 9, 10, 11, 19, 20, 21, 57, 300):
        for zero_share in (0.0, 0.5, 0.85, 0.9, 0.95, 1.0):
            clocks = [
                np.where(
                    rng.random((size, 4)) < zero_share, 0, rng.integers(1, 10**6, (size, 4))
                ).astype(np.int32)
                for _ in range(2)
            ]
            valid = rng.random((size, 4)) < 0.9
            cuts = [Cut(np.zeros(size, dtype=np.int64), 1), Cut(rng.integers(-1, 3, size), 3)]
            for spans, by_cut in zip(clocks, clock_leg_figures(cuts, clocks, valid), strict=True):
                for cut, found in zip(cuts, by_cut, strict=True):
                    for g in range(cut.size):
                        for k in range(4):
                            lengths = spans[valid[:, k] & (cut.codes == g), k].astype(float)
                            assert found.leads[g, k] == lengths.size
                            if lengths.size == 0:
                                assert np.isnan(found.p50[g, k]) and np.isnan(found.p90[g, k])
                                continue
                            expected = np.quantile(lengths, (0.5, 0.9)).tolist()
                            assert [found.p50[g, k], found.p90[g, k]] == expected


def test_pool_adjacent_violators_by_hand() -> None:
    # 0.6 after 0.5 violates the decrease: pooled to 0.55; 0.3 after 0.2 pooled to 0.25;
    # the weight-0 point takes its neighbour's fit.
    fitted = isotonic_decreasing(np.array([0.5, 0.6, 0.2, 0.3, 0.9]), np.array([1, 1, 1, 1, 0.0]))
    assert fitted.tolist() == pytest.approx([0.55, 0.55, 0.25, 0.25, 0.25])
    # Weights pull the pooled mean: (0.2·3 + 0.6·1) / 4.
    assert isotonic_decreasing(np.array([0.2, 0.6]), np.array([3.0, 1.0])).tolist() == (
        pytest.approx([0.3, 0.3])
    )
    already = np.array([0.9, 0.4, 0.4, 0.1])
    assert isotonic_decreasing(already, np.ones(4)).tolist() == pytest.approx(already.tolist())


def test_the_fit_recovers_a_known_decay_curve() -> None:
    # 50 000 touched leads, uniform over 0-24 business hours, converting with
    # p(t) = 0.05 + 0.35·exp(-t/6).
    rng = np.random.default_rng(2026)
    hours = rng.uniform(0, 24, 50_000)
    curve = 0.05 + 0.35 * np.exp(-hours / 6)
    fit = touch_decay(hours, rng.random(hours.size) < curve)
    true = 0.05 + 0.35 * np.exp(-fit.hours / 6)
    assert np.abs(fit.fit - true).max() < 0.05
    assert np.all(np.diff(fit.fit) <= 0)
    # The pointwise 95 % bands hold the true curve at most bins.
    assert np.mean((fit.fit_low <= true) & (true <= fit.fit_high)) > 0.85
    # The loss of one more hour, on these leads: 1 - E[p(t + 1)] / E[p(t)] (the curve
    # is flat past the last bin, as the fit is).
    later = 0.05 + 0.35 * np.exp(-np.minimum(hours + 1, fit.hours.max()) / 6)
    expected = 1 - later.mean() / curve.mean()
    assert fit.loss_per_hour == pytest.approx(expected, abs=0.01)
    assert fit.loss_per_hour_low is not None and fit.loss_per_hour_high is not None
    assert fit.loss_per_hour_low < fit.loss_per_hour < fit.loss_per_hour_high


def test_the_bands_are_the_same_on_every_run() -> None:
    rng = np.random.default_rng(7)
    hours = rng.uniform(0, 10, 2_000)
    converted = rng.random(hours.size) < 0.3
    first, second = touch_decay(hours, converted), touch_decay(hours, converted)
    assert first.fit_low.tolist() == second.fit_low.tolist()
    assert first.loss_per_hour_high == second.loss_per_hour_high


# -- the legs of a history -----------------------------------------------------------------


def test_legs_overall(figures: dict[str, Any]) -> None:
    legs = figures["speed_legs"]
    assert [x["leg"] for x in legs["legs"]] == ["marketing", "routing", "rep", "reachability"]
    overall = legs["overall"]
    # Marketing: S1 1.5 h (0.5 business), S2, S3, S4 0 → p90 0.7 of the way to the top.
    assert overall["marketing"] == leg(4, (0.0, 0.35), (0.0, 1.05))
    # Routing: S2 waited 6 h (5 business) for an owner; the others were owned at MQL.
    assert overall["routing"] == leg(4, (0.0, 3.5), (0.0, 4.2))
    # Rep: S1 2 h, S2 18 h (2 business: overnight is closed), S4 2 h; S3 never touched.
    assert overall["rep"] == leg(3, (2.0, 2.0), (2.0, 14.8))
    # Reachability: S1 2.5 h (1.5 business), S2 0; S4's connect came before its attempt.
    assert overall["reachability"] == leg(2, (0.75, 1.35), (1.25, 2.25))


def test_legs_by_segment_owner_and_team(figures: dict[str, Any]) -> None:
    legs = figures["speed_legs"]
    assert set(legs["by_segment"]) == {"SMB", "Enterprise"}
    assert legs["by_segment"]["Enterprise"]["rep"] == leg(1, (2.0, 2.0), (2.0, 2.0))
    assert legs["by_segment"]["Enterprise"]["reachability"] == NO_LEG
    # S2 is r2's: the rep it was assigned to after the MQL.
    assert set(legs["by_owner"]) == {"r1", "r2", "r3"}
    assert legs["by_owner"]["r2"]["rep"] == leg(1, (2.0, 2.0), (18.0, 18.0))
    assert legs["by_owner"]["r3"]["rep"] == NO_LEG
    assert legs["by_team"]["east"]["routing"]["leads"] == 3
    assert set(legs["by_team"]) == {"east", "emea"}


def test_touch_decay_of_the_history(figures: dict[str, Any]) -> None:
    decay = figures["touch_decay"]
    # S1 and S4 touched after 2 business hours (one of two an opportunity), S2 after 7.
    assert [(p["hours"], p["leads"], p["opportunities"]) for p in decay["points"]] == [
        (2.0, 2, 1),
        (7.0, 1, 0),
    ]
    assert [p["fit"] for p in decay["points"]] == [0.5, 0.0]
    # One hour later: 2 leads at 3 h (0.5·(1 - 1/5) = 0.4) and one at 8 h (0):
    # 0.8 expected opportunities instead of 1.
    assert decay["loss_per_hour"] == pytest.approx(0.2)
    assert decay["leads"] == 3 and decay["resamples"] == 200


def test_the_database_gives_the_same_legs_and_fit(tmp_path: Path, figures: dict[str, Any]) -> None:
    engine = open_database(f"sqlite:///{tmp_path / 'leadsla.db'}")
    try:
        import_table(engine, RULES, read_table().sorted(), source="test", recorded_at=AS_OF)
        with engine.connect() as connection:
            stored = analytics(stored_events(connection, AS_OF).table, SETTINGS, AS_OF)
    finally:
        engine.dispose()
    assert stored["speed_legs"] == figures["speed_legs"]
    assert stored["touch_decay"] == figures["touch_decay"]


def test_no_events_no_legs() -> None:
    empty = analytics(EventTable.empty(), SETTINGS, AS_OF)
    assert empty["speed_legs"]["overall"]["rep"] == NO_LEG
    assert empty["touch_decay"]["points"] == []
    assert empty["touch_decay"]["loss_per_hour"] is None


def test_routing_and_rep_legs_add_up_to_speed_to_leads_business_wait() -> None:
    # The legs and speed to lead read one first touch and one calendar: for every lead
    # assigned before its first touch, routing + rep is its business time to first touch.
    text = "\n".join(
        [EVENTS, *_rows("S6", "03-05", "16:30", status="New", segment="SMB"),
         *_rows("S6", "03-06", "09:15", owner="r3"),
         *_rows("S6", "03-06", "11:00", status="Contacted")]
    )  # fmt: skip
    fields = needed_fields(["segment"])
    rows = Rows(event_columns(read_table(text), fields, AS_OF), SETTINGS, fields)
    leads = with_milestones(rows, lead_frame(rows, SETTINGS, ["segment"]), SETTINGS)
    mqls = leads.filter(pl.col("mql") & pl.col("touch_at").is_not_null())
    instants = np.column_stack(
        [mqls[c].fill_null(0).to_numpy() for c in ("first_at", "mql_at", "assigned_at",
                                                   "touch_at", "connect_at")]
    )  # fmt: skip
    marks = business_marks(mqls, instants, RULES)
    waits = business_waits(mqls, RULES)
    assigned_first = (mqls["assigned_at"] <= mqls["touch_at"]).to_numpy()
    assert assigned_first.sum() == 4  # S1, S2, S4 and S6
    legs = marks[:, 3] - marks[:, 1]
    assert legs[assigned_first].tolist() == waits[assigned_first].tolist()
    # S6, on us-east (no owner at its MQL, so not r3's London calendar): 16:30-17:00 on
    # Thursday and 09:00-11:00 on Friday, 15 minutes of it before r3 had the lead.
    assert int(legs[-1]) == int(2.5 * 3600)
    assert int(marks[-1, 2] - marks[-1, 1]) == int(0.75 * 3600)
    # The report takes both from one conversion of the milestones to business time:
    # the same marks, and speed to lead's waits (0 for the untouched S3).
    shared = Milestones.of(leads, RULES)
    every_mql = leads.filter(pl.col("mql"))
    assert shared.waits.tolist() == business_waits(every_mql, RULES).tolist()
    assert shared.waits.tolist() == [7200, 7 * 3600, 0, 7200, int(2.5 * 3600)]
    assert shared.business[shared.present[:, 3]].tolist() == marks.tolist()
