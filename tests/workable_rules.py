"""Hypothesis strategies of ``workable`` rules with segments, for the property tests that
compare the engine, the column path and the report's frames on them."""

from __future__ import annotations

from hypothesis import strategies as st

from leadsla.core.scoring import OPERATORS, Condition
from leadsla.core.workable import Workable, WorkableSegment

# Conditions of workable segments on every kind of field the figures read at the MQL
# instant: the effective grade, the owner, the team (field or the owner's), plain and
# numeric attributes, and a field no lead has.
CONDITION_VALUES = {
    "grade": ["A", "C"],
    "owner": ["r1", "ghost"],
    "team": ["east", "emea"],
    "industry": ["Healthcare", "health"],
    "score": ["60", "95"],
    "amount": ["100", "2500"],
    "country": ["UK"],
}


@st.composite
def conditions(draw: st.DrawFn) -> Condition:
    name = draw(st.sampled_from(sorted(CONDITION_VALUES)))
    op = draw(st.sampled_from(OPERATORS))
    texts = st.sampled_from(CONDITION_VALUES[name])
    if op in ("gt", "gte", "lt", "lte"):
        return Condition(name, op, draw(st.sampled_from([50.0, 100.0, 2500.0])))
    if op in ("in", "not_in"):
        return Condition(name, op, tuple(draw(st.lists(texts, min_size=1, max_size=2))))
    if op == "exists":
        return Condition(name, op, draw(st.booleans()))
    return Condition(name, op, draw(texts))


@st.composite
def workables(draw: st.DrawFn) -> Workable:
    grades = draw(st.sets(st.sampled_from(["A", "B", "C"]), max_size=2))
    count = draw(st.integers(0, 2))
    segments = [
        WorkableSegment(f"s{k}", tuple(draw(st.lists(conditions(), min_size=1, max_size=2))))
        for k in range(count)
    ]
    return Workable.of(grades, segments)
