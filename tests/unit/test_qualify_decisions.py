"""Qualification decisions (core/qualify.py): nurture, MQL, recycle, defer, replay."""

from __future__ import annotations

from collections.abc import Callable

from leadsla.core.events import parse_instant
from leadsla.core.policy import DEFAULT_STATUSES
from leadsla.core.qualify import decide, unowned_mqls
from leadsla.core.scoring import BehaviourRule, Condition, Grade, ProfileRule, Row, Scoring, Trigger

DAY = 86_400_000_000
T0 = parse_instant("2026-03-02T09:00:00Z")
SCORING = Scoring(
    profile=(ProfileRule("big", Condition("employees", "gte", 200.0), 30),),
    behaviour=(BehaviourRule("webinar", "web", frozenset({"webinar"}), 25, half_life=10 * DAY),),
    triggers=(Trigger("pain", (Condition("pain", "exists", True),), "A"),),
    mql_threshold=50,
    grades=(Grade("A", 80), Grade("B", 50), Grade("C", 0)),
)


def no_revisit(_text: str) -> int | None:
    return None


def revisit(text: str) -> int | None:
    return parse_instant(text)


def outcomes(
    rows: list[Row], since: int = 0, revisit_of: Callable[[str], int | None] = no_revisit
) -> list[tuple[int, str]]:
    return [(d.at, d.outcome) for d in decide(SCORING, DEFAULT_STATUSES, rows, since, revisit_of)]


def test_below_threshold_is_nurture_once_then_mql_when_crossing() -> None:
    rows: list[Row] = [(T0, "employees", "500"), (T0 + DAY, "web", "webinar")]
    assert outcomes(rows) == [(T0, "nurture"), (T0 + DAY, "mql")]
    [_, mql] = decide(SCORING, DEFAULT_STATUSES, rows, 0, no_revisit)
    assert mql.changes == (("qualification", "mql"), ("score", "55"), ("status", "New"))
    assert mql.fields["status"] == "New"


def test_trigger_adds_its_grade() -> None:
    [decision] = decide(SCORING, DEFAULT_STATUSES, [(T0, "pain", "bad service")], 0, no_revisit)
    assert decision.changes == (
        ("qualification", "mql"),
        ("score", "0"),
        ("grade", "A"),
        ("status", "New"),
    )


def test_stored_mql_is_not_made_again() -> None:
    rows: list[Row] = [(T0, "pain", "x"), (T0, "status", "New"), (T0 + DAY, "web", "webinar")]
    assert outcomes(rows) == []


def test_only_instants_from_since_are_decided() -> None:
    rows: list[Row] = [(T0, "employees", "500"), (T0 + DAY, "web", "webinar")]
    assert outcomes(rows, since=T0 + DAY) == [(T0 + DAY, "mql")]


def test_working_lead_is_not_qualified_but_recycled_one_is() -> None:
    rows: list[Row] = [
        (T0, "status", "Contacted"),
        (T0, "employees", "500"),
        (T0 + DAY, "web", "webinar"),  # 55 but being worked
        (T0 + 2 * DAY, "status", "Recycled"),  # back in nurture, still 52.8: MQL at once
    ]
    assert outcomes(rows) == [(T0 + 2 * DAY, "mql")]


def test_recycled_score_decays_until_new_behaviour() -> None:
    rows: list[Row] = [
        (T0, "status", "Contacted"),
        (T0, "employees", "300"),
        (T0, "web", "webinar"),
        (T0 + 20 * DAY, "status", "Recycled"),  # webinar now 6.25: 36.25 → nurture
        (T0 + 21 * DAY, "web", "webinar"),  # +25 → MQL
    ]
    assert outcomes(rows) == [(T0 + 21 * DAY, "mql")]


def test_deferred_waits_for_revisit_date() -> None:
    rows: list[Row] = [
        (T0, "status", "Deferred"),
        (T0, "revisit_at", "2026-03-10T00:00:00Z"),
        (T0 + DAY, "pain", "no support"),  # a trigger, but not yet
        (parse_instant("2026-03-10T08:00:00Z"), "web", "download"),
    ]
    assert outcomes(rows, revisit_of=revisit) == [(parse_instant("2026-03-10T08:00:00Z"), "mql")]
    # Without a readable revisit date it is in nurture at once.
    assert outcomes(rows) == [(T0, "nurture"), (T0 + DAY, "mql")]


def test_unowned_mqls_are_the_entries_into_an_open_status_without_owner() -> None:
    rows: list[Row] = [
        (T0, "status", "New"),  # no owner: routed
        (T0 + DAY, "status", "New"),  # not an entry (already open)
        (T0 + 2 * DAY, "status", "Recycled"),
        (T0 + 3 * DAY, "status", "New"),
        (T0 + 3 * DAY, "owner", "r1"),  # has an owner: not routed
        (T0 + 4 * DAY, "status", "Recycled"),
        (T0 + 4 * DAY, "owner", ""),
        (T0 + 5 * DAY, "status", "New"),  # re-entry without an owner
    ]
    found = unowned_mqls(DEFAULT_STATUSES, rows, 0)
    assert [at for at, _ in found] == [T0, T0 + 5 * DAY]
    assert found[0][1] == {"status": "New"}
    assert [at for at, _ in unowned_mqls(DEFAULT_STATUSES, rows, T0 + DAY)] == [T0 + 5 * DAY]
