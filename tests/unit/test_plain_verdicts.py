"""The column path's verdicts (``leadsla.core.plain.plain_verdicts``) are the engine's.

``evaluate`` judges the plain leads of each block of rows in columns and replays the
others; for every lead it leaves to the columns, the verdicts must be exactly those of
replaying the lead and ``judge_lead``: state, due, stop, business time, breach,
escalations, warning and attempts. The histories and the two agreements (SPEC §4, and
the keys of §9.1-9.3) are those of ``test_columnar``, with an escalation ladder and
warnings added, so that every field of a verdict is tried.
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_columnar import BASE, MINUTE, RULES, RULES_V2, Row, histories, table_of

from leadsla.core.clock import by_instant, judge_lead, replay
from leadsla.core.durations import parse_duration
from leadsla.core.evaluate import lead_ranges
from leadsla.core.events import EventTable
from leadsla.core.plain import plain_verdicts
from leadsla.core.policy import EscalationStep, Rulebook


def laddered(rules: Rulebook) -> Rulebook:
    """Every policy with a warning and three steps: wall-clock, business and none at all."""
    steps = (
        EscalationStep(1, parse_duration("0 hours"), ("owner",)),
        EscalationStep(2, parse_duration("3 business hours"), ("owner", "manager")),
        EscalationStep(3, parse_duration("1 day"), ("executive",)),
    )
    policies = tuple(
        replace(p, escalate=steps, warn_at=None if p.is_cadence else 0.5) for p in rules.policies
    )
    return replace(rules, policies=policies)  # memo is fresh: init=False


BOOKS = {
    "v1": laddered(RULES),
    "v2": laddered(RULES_V2),
}


def replayed(rules: Rulebook, table: EventTable, lead: int, as_of: int) -> list[object]:
    rows = np.flatnonzero(table.lead == lead)
    instants = by_instant(
        (int(table.at[r]), table.fields[table.field[r]], _value(table, int(table.value[r])))
        for r in rows.tolist()
        if int(table.at[r]) <= as_of
    )
    return list(judge_lead(rules, replay(rules, table.lead_ids[lead], instants), as_of))


def _value(table: EventTable, code: int) -> str | None:
    return None if code < 0 else table.values[code]


@pytest.mark.parametrize("name", sorted(BOOKS))
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    rows=histories(),
    after=st.integers(-3 * 24 * 60, 10 * 24 * 60),
    parts=st.integers(1, 3),
)
def test_plain_verdicts_are_the_replays(name: str, rows: list[Row], after: int, parts: int) -> None:
    rules = BOOKS[name]
    table = table_of(rows)
    as_of = max(at for _, at, _, _ in rows) + after * MINUTE
    for start, stop in lead_ranges(table, parts):
        found = plain_verdicts(rules, table, as_of, start, stop)
        leads = np.unique(table.lead[start:stop]).tolist()
        assert len(found.offsets) - 1 == len(leads) == len(found.exact)
        for index, lead in enumerate(leads):
            if not found.exact[index]:
                assert found.of(index) == replayed(rules, table, lead, as_of)


def test_plain_leads_of_the_v2_agreement_are_judged_in_columns() -> None:
    hour = 60 * MINUTE
    rows: list[Row] = [
        ("P", BASE, "status", "New"),
        ("P", BASE, "grade", "A"),
        ("P", BASE, "owner", "r1"),
        ("P", BASE + hour, "activity", "call:no_answer"),
        ("P", BASE + 2 * hour, "activity", "email:sent"),
        ("Q", BASE, "status", "New"),
        # Stopped exactly when half its 4-hour target is spent: the stop wins, no warning.
        ("W", BASE, "status", "New"),
        ("W", BASE, "grade", "A"),
        ("W", BASE, "owner", "r1"),
        ("W", BASE + 2 * hour, "status", "Contacted"),
    ]
    table = table_of(rows)
    as_of = BASE + 48 * hour
    found = plain_verdicts(BOOKS["v2"], table, as_of)
    assert not found.exact.any()
    for lead in range(3):
        assert found.of(lead) == replayed(BOOKS["v2"], table, lead, as_of)
    # P: the queue met at once (owned from the start), the follow-up met by the call,
    # the 6-attempt cadence breached, the 2-attempt one met at the email; Q: never
    # assigned, its queue breached and no follow-up, both cadences breached.
    assert [(v.policy, v.state.value) for v in found.of(0)] == [
        ("attempts", "breached"),
        ("follow_up", "met"),
        ("routing", "met"),
        ("touches", "met"),
    ]
    assert [(v.policy, v.state.value) for v in found.of(1)] == [
        ("attempts", "breached"),
        ("routing", "breached"),
        ("touches", "breached"),
    ]
    assert [(v.policy, v.warned_at) for v in found.of(2)][1] == ("follow_up", None)


def test_a_cadence_window_that_runs_out_first_is_the_breach() -> None:
    # Saturday 10:00 New York: the 3-day wall-clock window ends Tuesday 11:00 (EDT by
    # then), while the 4-business-hour gap from Monday's 13:59 attempt runs until
    # Wednesday (Tuesday 2026-03-10 is closed): breached on the window, 1 attempt of 3.
    hour = 60 * MINUTE
    saturday = BASE + 3 * 24 * hour + hour
    rows: list[Row] = [
        ("S", saturday, "status", "New"),
        ("S", saturday, "grade", "B"),
        ("S", saturday, "owner", "r1"),
        ("S", saturday + 50 * hour + 59 * MINUTE, "activity", "email:sent"),
    ]
    table = table_of(rows)
    as_of = saturday + 74 * hour
    found = plain_verdicts(BOOKS["v2"], table, as_of)
    assert not found.exact.any()
    assert found.of(0) == replayed(BOOKS["v2"], table, 0, as_of)
    (attempts,) = [v for v in found.of(0) if v.policy == "attempts"]
    assert (attempts.state.value, attempts.due_at) == ("breached", saturday + 72 * hour + 1)
