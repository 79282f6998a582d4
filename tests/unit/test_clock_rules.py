"""SPEC §4 rules 1–9, one test (or a few) named for each rule.

The calendar is New York, Monday–Friday 09:00–17:00; 2026-03-02 is a Monday and
US daylight saving time starts on Sunday 2026-03-08.
"""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from leadsla.core.calendar import BusinessCalendar
from leadsla.core.clock import (
    Change,
    LeadClocks,
    State,
    TimerKind,
    judge_lead,
    replay,
)
from leadsla.core.durations import parse_duration
from leadsla.core.policy import EscalationStep, Person, Policy, Rep, Rulebook, Team
from leadsla.core.scoring import Grade

NY = ZoneInfo("America/New_York")
HOUR = 3_600_000_000


def t(text: str) -> int:
    """A New York wall time ``YYYY-MM-DD HH:MM[:SS]`` as epoch microseconds."""
    moment = datetime.fromisoformat(text).replace(tzinfo=NY)
    return int(moment.timestamp()) * 1_000_000


def nine_to_five(name: str = "ny", zone: str = "America/New_York") -> BusinessCalendar:
    return BusinessCalendar(name, zone, {day: [(9 * 60, 17 * 60)] for day in range(5)})


def rules(**policy_overrides: object) -> Rulebook:
    options: dict[str, object] = {
        "name": "follow_up",
        "start": frozenset({"New"}),
        "stop": frozenset({"Attempting to Contact", "Contacted", "Invalid Information"}),
        "pause": frozenset({"On Hold"}),
        "targets": {
            "A": parse_duration("8 business hours"),
            "B": parse_duration("16 business hours"),
            "C": parse_duration("5 business days"),
        },
        "optional": frozenset({"C"}),
        "calendar": "owner",
        "warn_at": 0.75,
        "escalate": (
            EscalationStep(1, parse_duration("24 hours"), ("owner",)),
            EscalationStep(2, parse_duration("48 hours"), ("owner", "manager")),
            EscalationStep(3, parse_duration("72 hours"), ("executive",)),
        ),
    }
    options.update(policy_overrides)
    policy = Policy(**options)  # type: ignore[arg-type]
    london = BusinessCalendar(
        "uk", "Europe/London", {d: [(8 * 60 + 30, 17 * 60 + 30)] for d in range(5)}
    )
    tokyo = BusinessCalendar("jp", "Asia/Tokyo", {d: [(9 * 60, 18 * 60)] for d in range(5)})
    return Rulebook(
        calendars={"ny": nine_to_five(), "uk": london, "jp": tokyo},
        default_calendar="ny",
        policies=(policy,),
        grades=(Grade("A", 80), Grade("B", 50), Grade("C", 0)),
        teams={
            "east": Team("east", "ny", Person("Dana", "dana@example.com"), ("r1", "r2")),
            "emea": Team("emea", "uk", Person("Tom", "tom@example.com"), ("r3", "r4")),
        },
        reps={
            "r1": Rep("r1", "Sam", "sam@example.com", "east"),
            "r2": Rep("r2", "Priya", "priya@example.com", "east"),
            "r3": Rep("r3", "Ana", "ana@example.com", "emea"),
            "r4": Rep("r4", "Kenji", "kenji@example.com", "emea", calendar="jp"),
        },
    )


def run(book: Rulebook, *instants: tuple[str, list[Change]], as_of: str) -> list:  # type: ignore[type-arg]
    lead = replay(book, "L1", [(t(at), changes) for at, changes in instants])
    return judge_lead(book, lead, t(as_of))


NEW_A = [("status", "New"), ("grade", "A"), ("owner", "r1")]


# -- rule 1 ---------------------------------------------------------------------------


def test_rule1_clock_starts_when_status_enters_start_set() -> None:
    (v,) = run(rules(), ("2026-03-02 09:00", NEW_A), as_of="2026-03-02 10:00")
    assert v.started_at == t("2026-03-02 09:00")
    assert v.state is State.RUNNING
    assert v.business_seconds == 3600


def test_rule1_no_start_when_status_never_enters_start_set() -> None:
    book = rules()
    result = run(
        book,
        ("2026-03-02 09:00", [("status", "Contacted"), ("owner", "r1")]),
        as_of="2026-03-03 10:00",
    )
    assert result == []


def test_rule1_applies_to_is_judged_on_fields_after_the_start_instant() -> None:
    book = rules(applies_to={"grade": frozenset({"A"}), "country": frozenset({"US"})})
    matching = run(
        book,
        ("2026-03-02 09:00", [*NEW_A, ("country", "US")]),
        as_of="2026-03-02 10:00",
    )
    assert len(matching) == 1
    other = run(book, ("2026-03-02 09:00", [*NEW_A, ("country", "FR")]), as_of="2026-03-02 10:00")
    assert other == []
    # The score gives grade B, so the grade filter refuses it.
    scored = run(
        book,
        ("2026-03-02 09:00", [("status", "New"), ("score", "55"), ("country", "US")]),
        as_of="2026-03-02 10:00",
    )
    assert scored == []


def test_rule1_status_set_and_overwritten_within_one_instant_is_never_seen() -> None:
    result = run(
        rules(),
        ("2026-03-02 09:00", [("status", "New"), ("grade", "A"), ("status", "Contacted")]),
        as_of="2026-03-02 10:00",
    )
    assert result == []


def test_rule1_staying_in_start_set_does_not_restart() -> None:
    result = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 11:00", [("status", "New"), ("industry", "Retail")]),
        as_of="2026-03-02 12:00",
    )
    assert [v.cycle for v in result] == [1]
    assert result[0].business_seconds == 3 * 3600


# -- rule 2 ---------------------------------------------------------------------------


def test_rule2_owner_calendar_is_the_reps_own_then_team_then_default() -> None:
    book = rules()
    own = run(
        book, ("2026-03-02 09:00", [("status", "New"), ("owner", "r4")]), as_of="2026-03-02 10:00"
    )
    assert own[0].calendar == "jp"
    team = run(
        book, ("2026-03-02 09:00", [("status", "New"), ("owner", "r3")]), as_of="2026-03-02 10:00"
    )
    assert team[0].calendar == "uk"
    unknown = run(
        book,
        ("2026-03-02 09:00", [("status", "New"), ("owner", "nobody")]),
        as_of="2026-03-02 10:00",
    )
    assert unknown[0].calendar == "ny"


def test_rule2_team_calendar_ignores_the_reps_own() -> None:
    book = rules(calendar="team")
    (v,) = run(
        book, ("2026-03-02 09:00", [("status", "New"), ("owner", "r4")]), as_of="2026-03-02 10:00"
    )
    assert v.calendar == "uk"


def test_rule2_named_calendar() -> None:
    (v,) = run(rules(calendar="jp"), ("2026-03-02 09:00", NEW_A), as_of="2026-03-02 10:00")
    assert v.calendar == "jp"


def test_rule2_later_owner_change_keeps_clock_and_calendar() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("owner", "r3")]),
        as_of="2026-03-02 12:00",
    )
    assert v.calendar == "ny"
    assert v.cycle == 1
    assert v.business_seconds == 3 * 3600
    assert v.owner == "r3"  # running: the current owner


# -- rule 3 ---------------------------------------------------------------------------


def test_rule3_pause_stops_accrual_and_resume_continues() -> None:
    book = rules()
    paused = run(
        book,
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("status", "On Hold")]),
        as_of="2026-03-02 15:00",
    )
    assert paused[0].state is State.PAUSED
    assert paused[0].business_seconds == 3600
    assert paused[0].due_at is None  # empty while paused
    resumed = run(
        book,
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("status", "On Hold")]),
        ("2026-03-02 15:00", [("status", "New")]),
        as_of="2026-03-02 16:00",
    )
    assert resumed[0].state is State.RUNNING
    assert resumed[0].business_seconds == 2 * 3600
    # 7 business hours left from 15:00: Monday 2h, Tuesday 5h → Tuesday 14:00.
    assert resumed[0].due_at == t("2026-03-03 14:00")


def test_rule3_leaving_pause_into_stop_status_stops() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("status", "On Hold")]),
        ("2026-03-02 15:00", [("status", "Contacted")]),
        as_of="2026-03-03 16:00",
    )
    assert v.state is State.MET
    assert v.stopped_at == t("2026-03-02 15:00")
    assert v.business_seconds == 3600


def test_rule3_leaving_pause_to_a_neutral_status_resumes() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("status", "On Hold")]),
        ("2026-03-02 11:00", [("status", "Demo Request")]),
        as_of="2026-03-02 12:00",
    )
    assert v.state is State.RUNNING
    assert v.business_seconds == 2 * 3600


# -- rule 4 ---------------------------------------------------------------------------


def test_rule4_first_stop_status_stops_the_clock() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 11:30", [("status", "Attempting to Contact")]),
        ("2026-03-02 12:00", [("status", "Contacted")]),
        as_of="2026-03-05 12:00",
    )
    assert v.stopped_at == t("2026-03-02 11:30")
    assert v.business_seconds == int(2.5 * 3600)
    assert v.state is State.MET


# -- rule 5 ---------------------------------------------------------------------------


def test_rule5_grade_change_retargets_from_the_same_start() -> None:
    book = rules()
    upgraded = run(
        book,
        ("2026-03-02 09:00", [("status", "New"), ("grade", "B"), ("owner", "r1")]),
        ("2026-03-02 15:00", [("grade", "A")]),
        as_of="2026-03-02 16:00",
    )
    assert upgraded[0].grade == "A"
    assert upgraded[0].due_at == t("2026-03-02 17:00")  # 8 h from 09:00, not from 15:00
    downgraded = run(
        book,
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-03 10:00", [("grade", "B")]),
        as_of="2026-03-03 10:30",
    )
    assert downgraded[0].due_at == t("2026-03-03 17:00")
    assert downgraded[0].state is State.RUNNING


def test_rule5_score_drives_grade_unless_a_grade_is_set() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", [("status", "New"), ("score", "60"), ("owner", "r1")]),
        ("2026-03-02 10:00", [("score", "90")]),
        as_of="2026-03-02 11:00",
    )
    assert v.grade == "A"
    (w,) = run(
        rules(),
        ("2026-03-02 09:00", [("status", "New"), ("score", "95"), ("grade", "B"), ("owner", "r1")]),
        as_of="2026-03-02 11:00",
    )
    assert w.grade == "B"


def test_rule5_grade_without_target_uses_default() -> None:
    book = rules(
        targets={
            "A": parse_duration("8 business hours"),
            "default": parse_duration("2 business hours"),
        }
    )
    (v,) = run(
        book, ("2026-03-02 09:00", [("status", "New"), ("grade", "B")]), as_of="2026-03-02 10:00"
    )
    assert v.due_at == t("2026-03-02 11:00")


# -- rule 6 ---------------------------------------------------------------------------


def test_rule6_closing_instant_call_after_hours_is_met() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 18:30", [("status", "Attempting to Contact")]),
        as_of="2026-03-04 12:00",
    )
    assert v.due_at == t("2026-03-02 17:00")
    assert v.state is State.MET
    assert v.business_seconds == 8 * 3600


def test_rule6_running_clock_breaches_just_after_next_opening() -> None:
    book = rules()
    at_open = run(book, ("2026-03-02 09:00", NEW_A), as_of="2026-03-03 09:00")
    assert at_open[0].state is State.RUNNING
    after = run(book, ("2026-03-02 09:00", NEW_A), as_of="2026-03-03 09:00:01")
    assert after[0].state is State.BREACHED
    assert after[0].due_at == t("2026-03-02 17:00")


def test_rule6_stopped_late_is_breached() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-03 10:00", [("status", "Contacted")]),
        as_of="2026-03-04 12:00",
    )
    assert v.state is State.BREACHED
    assert v.business_seconds == 9 * 3600


def test_rule6_optional_grade_lapses_instead_of_breaching() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", [("status", "New"), ("grade", "C"), ("owner", "r1")]),
        as_of="2026-03-10 09:00",
    )
    assert v.state is State.LAPSED
    # 5 business days of 8 h from Monday 09:00 is Friday 17:00.
    assert v.due_at == t("2026-03-06 17:00")


def test_rule6_wall_clock_target_excludes_pauses() -> None:
    book = rules(targets={"default": parse_duration("2 days")}, optional=frozenset(), escalate=())
    (v,) = run(
        book,
        ("2026-03-02 09:00", [("status", "New")]),
        ("2026-03-02 10:00", [("status", "On Hold")]),
        ("2026-03-02 22:00", [("status", "New")]),
        as_of="2026-03-03 09:00",
    )
    assert v.due_at == t("2026-03-04 21:00")  # 48 h of running time; 12 h were paused
    assert v.state is State.RUNNING


# -- rule 7 ---------------------------------------------------------------------------


def test_rule7_reentering_start_after_stop_begins_a_new_cycle() -> None:
    result = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("status", "Contacted")]),
        ("2026-03-04 09:00", [("status", "Recycled")]),
        ("2026-03-05 09:00", [("status", "New"), ("grade", "B")]),
        as_of="2026-03-05 10:00",
    )
    assert [(v.cycle, v.state, v.grade) for v in result] == [
        (1, State.MET, "A"),
        (2, State.RUNNING, "B"),
    ]
    assert result[1].started_at == t("2026-03-05 09:00")
    assert result[1].due_at == t("2026-03-06 17:00")


# -- rule 8 ---------------------------------------------------------------------------


def test_rule8_wall_clock_steps_fire_at_their_instants() -> None:
    book = rules()
    start = ("2026-03-02 09:00", NEW_A)
    assert run(book, start, as_of="2026-03-03 08:59:59")[0].escalations == 0
    assert run(book, start, as_of="2026-03-03 09:00")[0].escalations == 1
    assert run(book, start, as_of="2026-03-04 09:00")[0].escalations == 2
    assert run(book, start, as_of="2026-03-05 09:00")[0].escalations == 3


def test_rule8_stop_at_the_step_instant_wins() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-03 09:00", [("status", "Contacted")]),
        as_of="2026-03-06 09:00",
    )
    assert v.escalations == 0


def test_rule8_paused_time_is_excluded_from_wall_clock_steps() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("status", "On Hold")]),
        ("2026-03-02 14:00", [("status", "New")]),
        as_of="2026-03-03 12:59:59",
    )
    assert v.escalations == 0
    lead = replay(
        rules(),
        "L1",
        [
            (t("2026-03-02 09:00"), NEW_A),
            (t("2026-03-02 10:00"), [("status", "On Hold")]),
            (t("2026-03-02 14:00"), [("status", "New")]),
        ],
    )
    steps = [x for x in lead.timers(rules()) if x.kind is TimerKind.ESCALATION]
    assert [x.at for x in steps] == [
        t("2026-03-03 13:00"),
        t("2026-03-04 13:00"),
        t("2026-03-05 13:00"),
    ]


def test_rule8_business_unit_steps_count_on_the_calendar() -> None:
    book = rules(
        escalate=(EscalationStep(1, parse_duration("2 business days"), ("owner",)),),
    )
    lead = replay(book, "L1", [(t("2026-03-06 16:00"), NEW_A)])  # a Friday
    steps = [x for x in lead.timers(book) if x.kind is TimerKind.ESCALATION]
    # 16 business hours from Friday 16:00: Fri 1 h, Mon 8 h, Tue 7 h → Tuesday 16:00 (after DST).
    assert [x.at for x in steps] == [t("2026-03-10 16:00")]


def test_rule8_never_for_an_optional_grade() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", [("status", "New"), ("grade", "C"), ("owner", "r1")]),
        as_of="2026-03-09 09:00",
    )
    assert v.escalations == 0
    lead = replay(rules(), "L1", [(t("2026-03-02 09:00"), [("status", "New"), ("grade", "C")])])
    assert [x.kind for x in lead.timers(rules())] == []


def test_rule8_step_follows_grade_at_its_instant() -> None:
    # C (optional) until Tuesday 10:00, then A: the 24 h step at Tuesday 09:00 never fires,
    # the 48 h step on Wednesday does.
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", [("status", "New"), ("grade", "C"), ("owner", "r1")]),
        ("2026-03-03 10:00", [("grade", "A")]),
        as_of="2026-03-04 09:00",
    )
    assert v.escalations == 1


def test_rule8_warning_fires_once_at_its_share_of_the_target() -> None:
    lead = replay(rules(), "L1", [(t("2026-03-02 09:00"), NEW_A)])
    warnings = [x for x in lead.timers(rules()) if x.kind is TimerKind.WARNING]
    assert [x.at for x in warnings] == [t("2026-03-02 15:00")]  # 75 % of 8 h
    breaches = [x for x in lead.timers(rules()) if x.kind is TimerKind.BREACH]
    assert [x.at for x in breaches] == [t("2026-03-03 09:00") + 1]


def test_rule8_warning_after_upgrade_past_threshold_fires_at_retarget() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", [("status", "New"), ("grade", "B"), ("owner", "r1")]),
        ("2026-03-02 16:00", [("grade", "A")]),
        as_of="2026-03-02 16:30",
    )
    assert v.warned_at == t("2026-03-02 16:00")


# -- rule 9 ---------------------------------------------------------------------------


def test_rule9_breach_belongs_to_owner_at_breach_instant() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-03 08:00", [("owner", "r2")]),
        ("2026-03-03 11:00", [("owner", "r3")]),
        as_of="2026-03-03 12:00",
    )
    # due_at is Monday 17:00 (r1 owned it then), but no business time passes until
    # Tuesday 09:00: the breach happens just after it, when r2 owns the lead.
    assert v.state is State.BREACHED
    assert v.due_at == t("2026-03-02 17:00")
    assert v.breached_at == t("2026-03-03 09:00") + 1
    assert v.owner == "r2"


def test_rule9_stop_belongs_to_owner_at_stop_instant() -> None:
    (v,) = run(
        rules(),
        ("2026-03-02 09:00", NEW_A),
        ("2026-03-02 10:00", [("owner", "r2")]),
        ("2026-03-02 11:00", [("status", "Contacted"), ("owner", "r3")]),
        ("2026-03-02 12:00", [("owner", "r1")]),
        as_of="2026-03-02 13:00",
    )
    assert v.state is State.MET
    assert v.owner == "r3"


# -- the DST example of docs/sla-rules.md ---------------------------------------------


def test_dst_week_counts_real_business_hours() -> None:
    (v,) = run(
        rules(),
        ("2026-03-06 13:00", NEW_A),  # Friday before the spring-forward Sunday
        as_of="2026-03-09 12:00",
    )
    assert v.business_seconds == (4 + 3) * 3600
    assert v.due_at == t("2026-03-09 13:00")


def test_instants_must_come_in_order() -> None:
    lead = LeadClocks("L1")
    book = rules()
    lead.apply(book, t("2026-03-02 10:00"), NEW_A)
    with pytest.raises(ValueError, match="before the last one"):
        lead.apply(book, t("2026-03-02 09:00"), [("status", "Contacted")])


def test_rule8_timers_follow_grade_at_step_instant_like_judge() -> None:
    book = rules()
    upgraded = replay(
        book,
        "L1",
        [
            (t("2026-03-02 09:00"), [("status", "New"), ("grade", "C"), ("owner", "r1")]),
            (t("2026-03-03 10:00"), [("grade", "A")]),
        ],
    )
    steps = [x.step for x in upgraded.timers(book) if x.kind is TimerKind.ESCALATION]
    assert steps == [2, 3]  # step 1 fell on Tuesday 09:00 while the lead was C
    downgraded = replay(
        book,
        "L1",
        [
            (t("2026-03-02 09:00"), NEW_A),
            (t("2026-03-03 10:00"), [("grade", "C")]),
        ],
    )
    steps = [x.step for x in downgraded.timers(book) if x.kind is TimerKind.ESCALATION]
    assert steps == [1]  # fired on Tuesday 09:00 while the lead was A; none after
