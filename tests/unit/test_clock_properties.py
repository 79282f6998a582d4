"""The SLA clock on random histories, checked against a plain minute-by-minute reference.

The engine (``leadsla.core.clock``) keeps running segments and answers with
calendar ``add``/``elapsed``; the reference in ``tests/reference_clock.py``
simulates each cycle minute by minute on ``tests/reference_calendar.py``'s
calendars, written from SPEC §4 and docs/sla-rules.md. Every field of every
verdict must agree, at evaluation instants chosen to fall exactly on deadlines,
breaches, escalation steps and events as well as at random.

The first tests pin the reference itself to the worked examples of
docs/sla-rules.md, so that agreement means agreement with the documented rules.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from clock_setup import (
    FORTNIGHT_CALENDARS,
    REPS,
    TEAMS,
    Instants,
    Lead,
    book,
    candidate_instants,
    check,
    evaluation_instants,
    histories,
    steps,
    t,
    weekdays,
)
from leadsla.core.durations import parse_duration
from leadsla.core.policy import Policy, Rep, Rulebook
from reference_clock import Change, reference_verdicts

FOLLOW_UP = Policy(
    name="follow_up",
    start=frozenset({"New"}),
    stop=frozenset({"Attempting to Contact", "Contacted"}),
    pause=frozenset({"On Hold"}),
    targets={
        "A": parse_duration("8 business hours"),
        "B": parse_duration("16 business hours"),
        "C": parse_duration("5 business days"),
    },
    optional=frozenset({"C"}),
    calendar="owner",
    warn_at=0.75,
    escalate=steps("24 hours", "48 hours", "2 business days"),
)

# A wall-clock target; a start status that is also a pause status; a team calendar.
FIRST_TOUCH = Policy(
    name="first_touch",
    start=frozenset({"New", "On Hold"}),
    stop=frozenset({"Contacted", "Demo Request"}),
    pause=frozenset({"On Hold"}),
    applies_to={"grade": frozenset({"A", "B", "C"})},
    targets={"A": parse_duration("20 hours"), "default": parse_duration("2 days")},
    optional=frozenset({"C"}),
    calendar="team",
    warn_at=0.5,
    escalate=steps("90 business minutes", "1 day"),
)

PROPERTY_RULES, PROPERTY_CALENDARS = book(
    FORTNIGHT_CALENDARS,
    (FOLLOW_UP, FIRST_TOUCH),
    REPS,
    TEAMS,
)

# The setup of docs/sla-rules.md: New York 9-17, the follow_up policy of the examples.
DOC_FOLLOW_UP = Policy(
    name="follow_up",
    start=frozenset({"New"}),
    stop=frozenset({"Attempting to Contact", "Contacted", "Invalid Information"}),
    pause=frozenset({"On Hold"}),
    targets=FOLLOW_UP.targets,
    optional=frozenset({"C"}),
    calendar="owner",
    warn_at=0.75,
    escalate=steps("24 hours", "48 hours", "72 hours"),
)
DOC_CALENDARS = {
    "ny": ("America/New_York", weekdays((9 * 60, 17 * 60)), None, 8.0),
    "uk": ("Europe/London", weekdays((8 * 60 + 30, 17 * 60 + 30)), None, 8.0),
}


def doc_book(policy: Policy = DOC_FOLLOW_UP) -> tuple[Rulebook, dict[str, Any]]:
    reps = {
        "r1": Rep("r1", "Sam", "sam@example.com", "east"),
        "r2": Rep("r2", "Priya", "priya@example.com", "east"),
        "r3": Rep("r3", "Ana", "ana@example.com", "emea"),
    }
    return book(DOC_CALENDARS, (policy,), reps, TEAMS)


# -- the reference agrees with the worked examples of docs/sla-rules.md -------------

NEW_A = [("status", "New"), ("grade", "A"), ("owner", "r1")]


def ref(
    instants: Sequence[tuple[str, Sequence[Change]]], as_of: str, policy: Policy = DOC_FOLLOW_UP
) -> Any:
    rules, calendars = doc_book(policy)
    result = reference_verdicts(rules, calendars, [(t(at), ch) for at, ch in instants], t(as_of))
    return result


def test_reference_example1_due_monday_17_breaches_just_after_tuesday_09() -> None:
    start = [("2026-03-02 09:00", NEW_A)]
    (v,) = ref(start, "2026-03-02 17:30")
    assert (v.state, v.business_seconds, v.escalations) == ("running", 28_800, 0)
    assert v.due_at == t("2026-03-02 17:00")
    assert v.step_instants == (t("2026-03-03 09:00"), t("2026-03-04 09:00"), t("2026-03-05 09:00"))
    (v,) = ref(start, "2026-03-03 09:00")
    assert (v.state, v.business_seconds, v.escalations) == ("running", 28_800, 1)
    (v,) = ref(start, "2026-03-03 09:00:01")
    assert (v.state, v.business_seconds, v.escalations) == ("breached", 28_801, 1)
    assert v.breached_at == t("2026-03-03 09:00") + 1
    assert v.warned_at == t("2026-03-02 15:00")
    (v,) = ref([*start, ("2026-03-02 18:30", [("status", "Attempting to Contact")])], "2026-03-04")
    assert (v.state, v.business_seconds, v.stopped_at) == ("met", 28_800, t("2026-03-02 18:30"))
    overnight = [
        *start,
        ("2026-03-02 17:30", [("owner", "r2")]),
        ("2026-03-03 11:00", [("owner", "r3"), ("status", "Contacted")]),
    ]
    (v,) = ref(overnight, "2026-03-03 12:00")
    assert (v.state, v.owner, v.business_seconds) == ("breached", "r2", 36_000)


def test_reference_example2_wall_clock_steps_cross_the_dst_change() -> None:
    (v,) = ref([("2026-03-06 13:00", NEW_A)], "2026-03-09 12:00")
    assert (v.state, v.business_seconds, v.escalations) == ("running", 25_200, 2)
    assert v.due_at == t("2026-03-09 13:00")
    assert v.warned_at == t("2026-03-09 11:00")
    assert v.step_instants[:2] == (t("2026-03-07 13:00"), t("2026-03-08 14:00"))


def test_reference_example3_pause() -> None:
    paused = [("2026-03-02 09:00", NEW_A), ("2026-03-02 10:00", [("status", "On Hold")])]
    (v,) = ref(paused, "2026-03-02 15:00")
    assert (v.state, v.business_seconds, v.due_at) == ("paused", 3_600, None)
    resumed = [*paused, ("2026-03-02 15:00", [("status", "New")])]
    (v,) = ref(resumed, "2026-03-02 16:00")
    assert (v.state, v.business_seconds, v.due_at) == ("running", 7_200, t("2026-03-03 14:00"))
    (v,) = ref(resumed, "2026-03-03 09:00:01")
    assert (v.state, v.business_seconds, v.escalations) == ("running", 10_801, 0)
    assert v.warned_at is None
    (v,) = ref(resumed, "2026-03-05 10:00")
    assert (v.state, v.business_seconds, v.escalations) == ("breached", 72_000, 2)
    assert v.warned_at == t("2026-03-03 12:00")
    assert v.breached_at == t("2026-03-03 14:00") + 1
    assert v.step_instants[0] == t("2026-03-03 14:00")


def test_reference_example4_upgrade_retargets_and_warns_at_the_upgrade() -> None:
    history = [
        ("2026-03-02 09:00", [("status", "New"), ("grade", "B"), ("owner", "r1")]),
        ("2026-03-02 15:00", [("grade", "A")]),
    ]
    (v,) = ref(history[:1], "2026-03-02 14:00")
    assert (v.grade, v.state, v.due_at, v.business_seconds) == (
        "B",
        "running",
        t("2026-03-03 17:00"),
        18_000,
    )
    (v,) = ref(history, "2026-03-02 16:00")
    assert (v.grade, v.due_at, v.warned_at) == ("A", t("2026-03-02 17:00"), t("2026-03-02 15:00"))
    later = [history[0], ("2026-03-02 16:00", [("grade", "A")])]
    (v,) = ref(later, "2026-03-02 16:30")
    assert v.warned_at == t("2026-03-02 16:00")
    (v,) = ref(history, "2026-03-03 09:30")
    assert (v.state, v.business_seconds) == ("breached", 30_600)


def test_reference_example5_recycled_lead_starts_a_new_cycle_on_its_owners_calendar() -> None:
    history = [
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("status", "Contacted")]),
        ("2026-03-04 09:00", [("status", "Recycled")]),
        ("2026-03-05 09:00", [("status", "New"), ("grade", "B")]),
    ]
    one, two = ref(history, "2026-03-05 10:00")
    assert (one.cycle, one.state, one.grade, one.business_seconds) == (1, "met", "A", 3_600)
    assert (two.cycle, two.state, two.grade, two.due_at) == (
        2,
        "running",
        "B",
        t("2026-03-06 17:00"),
    )
    _, two = ref(history, "2026-03-09 12:00")
    assert (two.state, two.business_seconds, two.escalations) == ("breached", 68_400, 3)
    moved = [
        *history[:3],
        ("2026-03-05 09:00", [("status", "New"), ("grade", "B"), ("owner", "r3")]),
    ]
    _, two = ref(moved, "2026-03-05 10:00")
    assert (two.calendar, two.due_at) == ("uk", t("2026-03-09 08:00"))


def test_reference_silent_cases_of_the_docs() -> None:
    # Grade C until Tuesday 10:00, then A: the 24 h step is skipped, the 48 h one fires.
    (v,) = ref(
        [
            ("2026-03-02 09:00", [("status", "New"), ("grade", "C"), ("owner", "r1")]),
            ("2026-03-03 10:00", [("grade", "A")]),
        ],
        "2026-03-04 09:00",
    )
    assert (v.escalations, v.warned_at) == (1, t("2026-03-03 10:00"))
    # A wall-clock target counts running time only.
    wall = Policy(
        name="wall",
        start=frozenset({"New"}),
        stop=frozenset({"Contacted"}),
        pause=frozenset({"On Hold"}),
        targets={"default": parse_duration("2 days")},
    )
    (v,) = ref(
        [
            ("2026-03-02 09:00", [("status", "New")]),
            ("2026-03-02 10:00", [("status", "On Hold")]),
            ("2026-03-02 22:00", [("status", "New")]),
        ],
        "2026-03-03 09:00",
        wall,
    )
    assert (v.state, v.due_at) == ("running", t("2026-03-04 21:00"))
    # A status in both the start and the pause set starts a clock that waits.
    waiting = Policy(
        name="waiting",
        start=frozenset({"New", "On Hold"}),
        stop=frozenset({"Contacted"}),
        pause=frozenset({"On Hold"}),
        targets=FOLLOW_UP.targets,
    )
    history = [
        ("2026-03-02 09:00", [("status", "On Hold"), ("grade", "A")]),
        ("2026-03-02 12:00", [("status", "New")]),
    ]
    (v,) = ref(history[:1], "2026-03-02 11:00", waiting)
    assert (v.state, v.business_seconds, v.due_at) == ("paused", 0, None)
    (v,) = ref(history, "2026-03-02 13:00", waiting)
    assert (v.business_seconds, v.due_at) == (3_600, t("2026-03-03 12:00"))
    # Contacted at 15:00 exactly: never warned; at 15:01: warned at 15:00.
    for stop, warned in (("15:00", None), ("15:01", t("2026-03-02 15:00"))):
        (v,) = ref(
            [("2026-03-02 09:00", NEW_A), (f"2026-03-02 {stop}", [("status", "Contacted")])],
            "2026-03-03 12:00",
        )
        assert v.warned_at == warned
    # Stopped straight out of a pause before reaching the target: no due_at.
    (v,) = ref(
        [
            ("2026-03-02 09:00", NEW_A),
            ("2026-03-02 10:00", [("status", "On Hold")]),
            ("2026-03-02 15:00", [("status", "Contacted")]),
        ],
        "2026-03-03 16:00",
    )
    assert (v.state, v.business_seconds, v.due_at) == ("met", 3_600, None)


def test_doc_examples_agree_with_the_engine() -> None:
    rules, calendars = doc_book()
    history = [
        (t("2026-03-02 09:00"), NEW_A),
        (t("2026-03-02 10:00"), [("status", "On Hold")]),
        (t("2026-03-02 15:00"), [("status", "New"), ("owner", "r2")]),
        (t("2026-03-03 11:00"), [("grade", "C")]),
        (t("2026-03-04 09:00"), [("grade", "A")]),
        (t("2026-03-05 09:00"), [("status", "Contacted")]),
    ]
    for as_of in ("2026-03-02 15:00", "2026-03-03 14:00:00", "2026-03-04 12:00", "2026-03-06"):
        check(rules, calendars, history, t(as_of))


# -- random histories ---------------------------------------------------------------

STATUSES = [
    "New",
    "On Hold",
    "Attempting to Contact",
    "Contacted",
    "Recycled",
    "Demo Request",
    "",
]
LEAD = Lead(
    values={
        "status": st.sampled_from(STATUSES),
        "grade": st.sampled_from(["A", "B", "C", ""]),
        "score": st.sampled_from(["95", "60", "10", ""]),
        "owner": st.sampled_from(["r1", "r3", "r4", "ghost", ""]),
    },
    # Status changes are what move a clock: draw them most often.
    fields=["status", "status", "status", "grade", "score", "owner"],
    opening=["grade", "owner"],
    rules=PROPERTY_RULES,
    calendars=PROPERTY_CALENDARS,
)

PROPERTY_SETTINGS = settings(
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)


@PROPERTY_SETTINGS
@given(histories(LEAD), st.data())
def test_engine_agrees_with_the_reference(instants: Instants, data: st.DataObject) -> None:
    candidates = candidate_instants(PROPERTY_RULES, PROPERTY_CALENDARS, instants)
    for as_of in evaluation_instants(data, candidates):
        check(PROPERTY_RULES, PROPERTY_CALENDARS, instants, as_of)
