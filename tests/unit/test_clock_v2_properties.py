"""The v2 clock (SPEC §9.1–9.3) on random histories, checked against the plain reference.

The rulebook holds one policy per new key: a follow-up stopped by activities (with an
``email`` entry that an automated email must not match), a routing clock stopped by the
assignment, a follow-up that starts when a New lead has an owner, one that restarts on
reassignment (with an ``applies_to`` the restart ignores), one started by a meeting, and
a cadence with steps and a pause status.
Histories mix status, owner (set, changed, cleared, an unknown id), grade, score and
activity rows (``call:attempted`` and ``email:automated`` included), several rows to
an instant. Every field of every verdict, ``attempts`` included, must agree with
``tests/reference_clock.py``, whose readings of the SPEC are pinned by
test_clock_v2_reference.py.
"""

from __future__ import annotations

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
)
from leadsla.core.durations import parse_duration
from leadsla.core.policy import Policy

TARGETS = {
    "A": parse_duration("8 business hours"),
    "B": parse_duration("12 hours"),
    "C": parse_duration("2 business days"),
}

ACTIVITY_STOP = Policy(
    name="activity_stop",
    start=frozenset({"New"}),
    stop=frozenset({"Contacted"}),
    stop_activity=frozenset({"call:connected", "email", "meeting"}),
    pause=frozenset({"On Hold"}),
    targets=TARGETS,
    optional=frozenset({"C"}),
    calendar="owner",
    warn_at=0.75,
    escalate=steps("24 hours", "2 business days"),
)
ROUTING = Policy(
    name="routing",
    start=frozenset({"New"}),
    stop=frozenset(),
    stop_assigned=True,
    targets={"default": parse_duration("2 business hours")},
    calendar="ny",
    warn_at=0.5,
    escalate=steps("1 business hour"),
)
ASSIGNED = Policy(
    name="assigned",
    start=frozenset({"New"}),
    start_assigned=True,
    stop=frozenset({"Contacted", "Attempting to Contact"}),
    stop_activity=frozenset({"call"}),
    pause=frozenset({"On Hold"}),
    targets={"A": parse_duration("4 business hours"), "default": parse_duration("1 business day")},
    calendar="team",
    escalate=steps("90 business minutes"),
)
# A filter at the start that a restart does not look at (SPEC §9.2 names no condition).
RESTART = Policy(
    name="restart",
    applies_to={"grade": frozenset({"A", "B", "C"})},
    start=frozenset({"New"}),
    stop=frozenset({"Contacted"}),
    stop_activity=frozenset({"call:connected"}),
    pause=frozenset({"On Hold"}),
    targets=TARGETS,
    optional=frozenset({"C"}),
    calendar="owner",
    warn_at=0.75,
    escalate=steps("4 business hours", "1 day"),
    on_reassign="restart",
)
MEETING = Policy(
    name="meeting",
    start=frozenset({"Demo Request"}),
    start_activity=frozenset({"meeting:held"}),
    stop=frozenset({"Qualified", "Contacted"}),
    stop_activity=frozenset({"email:replied"}),
    targets={"default": parse_duration("1 business day")},
    calendar="owner",
)
CADENCE = Policy(
    name="cadence",
    kind="cadence",
    start=frozenset({"New"}),
    stop=frozenset({"Qualified", "Recycled"}),
    pause=frozenset({"On Hold"}),
    attempts=4,
    within=parse_duration("5 business days"),
    gap=parse_duration("1 business day"),
    calendar="owner",
    escalate=steps("4 business hours", "20 hours"),
)

RULES, CALENDARS = book(
    FORTNIGHT_CALENDARS,
    (ACTIVITY_STOP, ROUTING, ASSIGNED, RESTART, MEETING, CADENCE),
    REPS,
    TEAMS,
)

ACTIVITIES = [
    "call:connected",
    "call:no_answer",
    "call:attempted",
    "call:voicemail",
    "email:sent",
    "email:replied",
    "email:automated",
    "email:automated",
    "meeting:held",
    "sms:sent",
]
LEAD = Lead(
    values={
        "status": st.sampled_from(
            ["New", "On Hold", "Contacted", "Recycled", "Demo Request", "Qualified", ""]
        ),
        "grade": st.sampled_from(["A", "B", "C", ""]),
        "score": st.sampled_from(["95", "60", "10", ""]),
        "owner": st.sampled_from(["r1", "r3", "r4", "ghost", "", ""]),
        "activity": st.sampled_from(ACTIVITIES),
    },
    # Activities and statuses move the clocks, owners restart them: drawn most often.
    fields=[*["status"] * 2, *["activity"] * 3, *["owner"] * 2, "grade", "score"],
    opening=["grade", "owner"],
    rules=RULES,
    calendars=CALENDARS,
    max_instants=10,
)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
@given(histories(LEAD), st.data())
def test_engine_agrees_with_the_reference_on_v2_rules(
    instants: Instants, data: st.DataObject
) -> None:
    candidates = candidate_instants(RULES, CALENDARS, instants)
    for as_of in evaluation_instants(data, candidates):
        check(RULES, CALENDARS, instants, as_of)
