"""Scoring and grading (core/scoring.py) and the ``scoring`` section of the config."""

from __future__ import annotations

from pathlib import Path

import pytest

from leadsla.config import ConfigError, build_rulebook, load_config, load_config_text
from leadsla.core.events import parse_instant
from leadsla.core.scoring import (
    BehaviourRule,
    Condition,
    Grade,
    LeadFacts,
    ProfileRule,
    Row,
    Scoring,
    Trigger,
    decayed,
    score_lead,
    score_rows,
)

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "qualify" / "leadsla.yaml"
DAY = 86_400_000_000
T0 = parse_instant("2026-03-02T09:00:00Z")
GRADES = (Grade("A", 80), Grade("B", 50), Grade("C", 0))


def facts(**fields: str) -> LeadFacts:
    return LeadFacts(fields, ())


# -- conditions: every operator ---------------------------------------------------------


@pytest.mark.parametrize(
    ("condition", "fields", "expected"),
    [
        (Condition("industry", "eq", "healthcare"), {"industry": " Healthcare "}, True),
        (Condition("industry", "eq", "Retail"), {"industry": "Healthcare"}, False),
        (Condition("employees", "eq", "200"), {"employees": "200.0"}, True),
        (Condition("country", "ne", "US"), {"country": "GB"}, True),
        (Condition("country", "ne", "US"), {"country": "us"}, False),
        (Condition("country", "ne", "US"), {}, False),  # missing matches nothing
        (Condition("country", "in", ("US", "CA")), {"country": "ca"}, True),
        (Condition("country", "in", ("US", "CA")), {"country": "MX"}, False),
        (Condition("country", "not_in", ("US", "CA")), {"country": "MX"}, True),
        (Condition("country", "not_in", ("US", "CA")), {"country": "US"}, False),
        (Condition("employees", "gt", 200.0), {"employees": "201"}, True),
        (Condition("employees", "gt", 200.0), {"employees": "200"}, False),
        (Condition("employees", "gte", 200.0), {"employees": "200"}, True),
        (Condition("employees", "lt", 50.0), {"employees": "49.5"}, True),
        (Condition("employees", "lt", 50.0), {"employees": "50"}, False),
        (Condition("employees", "lte", 50.0), {"employees": "50"}, True),
        (Condition("employees", "gte", 1.0), {"employees": "many"}, False),  # not a number
        (Condition("title", "contains", "Director"), {"title": "IT director, EMEA"}, True),
        (Condition("title", "contains", "VP"), {"title": "Director"}, False),
        (Condition("pain", "exists", True), {"pain": "no support"}, True),
        (Condition("pain", "exists", True), {}, False),
        (Condition("pain", "exists", False), {}, True),
    ],
)
def test_every_operator(condition: Condition, fields: dict[str, str], expected: bool) -> None:
    assert condition.holds(fields) is expected


# -- profile, behaviour, decay, caps ----------------------------------------------------


def test_profile_points_and_their_explanation() -> None:
    scoring = Scoring(
        profile=(
            ProfileRule("big", Condition("employees", "gte", 200.0), 15),
            ProfileRule("student", Condition("title", "contains", "student"), -30),
        ),
        grades=GRADES,
    )
    score = score_lead(scoring, facts(employees="450", title="PhD student"), T0)
    assert score.score == -15
    assert [(line.rule, line.awarded) for line in score.lines] == [("big", 15), ("student", -30)]
    explanation = score.explanation()
    assert 'big: 15 (employees gte 200: yes (employees = "450"))' in explanation
    assert any(line.startswith("student: -30") for line in explanation)
    assert score.grade is None  # below every grade's min_score


def test_decay_halves_points_every_half_life() -> None:
    assert decayed(16, 0, DAY) == 16
    assert decayed(16, DAY, DAY) == pytest.approx(8)
    assert decayed(16, 3 * DAY, DAY) == pytest.approx(2)
    assert decayed(16, 100 * DAY, None) == 16  # no half-life: no decay
    rule = BehaviourRule("pricing", "web", frozenset({"pricing_page"}), 10, half_life=7 * DAY)
    scoring = Scoring(behaviour=(rule,), grades=GRADES)
    rows: list[Row] = [(T0, "web", "pricing_page"), (T0 + 7 * DAY, "web", "Pricing_Page")]
    score = score_rows(scoring, rows, T0 + 14 * DAY)
    # 14 days old: 2.5; 7 days old: 5.
    assert score.score == pytest.approx(7.5)
    assert score.lines[0].count == 2
    assert "2 × web pricing_page at 10, half-life 7 days" in score.lines[0].detail
    # Rows after the instant asked are not counted.
    assert score_rows(scoring, rows, T0 + DAY).lines[0].count == 1


def test_behaviour_counts_only_matching_rows_of_its_field() -> None:
    rule = BehaviourRule("replied", "activity", frozenset({"email:replied"}), 5)
    scoring = Scoring(behaviour=(rule,))
    rows: list[Row] = [
        (T0, "activity", "email:replied"),
        (T0, "activity", "call:no_answer"),
        (T0, "web", "email:replied"),
    ]
    assert score_rows(scoring, rows, T0).score == 5


def test_caps_per_group_and_total() -> None:
    webinar = BehaviourRule("webinar", "web", frozenset({"webinar"}), 15)
    click = BehaviourRule("click", "web", frozenset({"email_click"}), 4, group="email")
    big = ProfileRule("big", Condition("employees", "gte", 200.0), 60)
    scoring = Scoring(
        profile=(big,),
        behaviour=(webinar, click),
        caps={"behaviour": 40, "email": 10, "total": 90},
    )
    rows: list[Row] = [(T0, "employees", "500")]
    rows += [(T0 + i, "web", "webinar") for i in range(4)]  # 60 → capped 40
    rows += [(T0 + i, "web", "email_click") for i in range(5)]  # 20 → capped 10
    score = score_rows(scoring, rows, T0 + DAY)
    # 60 + 40 + 10 = 110 → total cap 90.
    assert score.score == 90
    assert {(c.group, c.cap, c.before) for c in score.capped} == {
        ("behaviour", 40, 60),
        ("email", 10, 20),
        ("total", 90, 110),
    }
    assert "cap behaviour: 60 capped at 40" in score.explanation()


def test_threshold_makes_mql_and_grade_follows_score() -> None:
    rule = ProfileRule("big", Condition("employees", "gte", 200.0), 55)
    scoring = Scoring(profile=(rule,), mql_threshold=50, grades=GRADES)
    yes = score_lead(scoring, facts(employees="500"), T0)
    no = score_lead(scoring, facts(employees="50"), T0)
    assert (yes.score, yes.grade, yes.mql) == (55, "B", True)
    assert (no.score, no.grade, no.mql) == (0, "C", False)


def test_trigger_qualifies_at_once_with_its_grade() -> None:
    buying = Trigger(
        "buying soon", (Condition("buying_timeframe", "in", ("1-3 months", "3-6 months")),), "A"
    )
    pain = Trigger(
        "pain",
        (Condition("pain", "exists", True), Condition("country", "eq", "US")),
        "B",
    )
    scoring = Scoring(triggers=(buying, pain), mql_threshold=90, grades=GRADES)
    first = score_lead(scoring, facts(buying_timeframe="3-6 months"), T0)
    assert (first.mql, first.grade, first.trigger) == (True, "A", "buying soon")
    assert "trigger buying soon: MQL at once, grade A" in first.explanation()
    # Every condition of a trigger must hold.
    assert not score_lead(scoring, facts(pain="bad service"), T0).mql
    both = score_lead(scoring, facts(pain="bad service", country="US"), T0)
    assert (both.mql, both.grade, both.trigger) == (True, "B", "pain")
    # The first trigger in config order wins.
    first_wins = score_lead(
        scoring, facts(pain="x", country="US", buying_timeframe="1-3 months"), T0
    )
    assert first_wins.trigger == "buying soon"
    assert not score_lead(scoring, facts(buying_timeframe="12 months"), T0).mql


def test_fields_are_read_as_of_the_instant() -> None:
    rule = ProfileRule("healthcare", Condition("industry", "eq", "Healthcare"), 20)
    scoring = Scoring(profile=(rule,))
    rows: list[Row] = [
        (T0, "industry", "Healthcare"),
        (T0 + DAY, "industry", "Retail"),
        (T0 + 2 * DAY, "industry", ""),  # cleared
    ]
    assert score_rows(scoring, rows, T0).score == 20
    assert score_rows(scoring, rows, T0 + DAY).score == 0
    assert "industry not set" in score_rows(scoring, rows, T0 + 2 * DAY).lines[0].detail


# -- the config section -----------------------------------------------------------------


def test_example_config_builds_scoring() -> None:
    rules = build_rulebook(load_config(EXAMPLE))
    scoring = rules.scoring
    assert scoring is not None
    assert scoring.mql_threshold == 50
    assert [t.grade for t in scoring.triggers] == ["A", "A"]
    pricing = next(r for r in scoring.behaviour if r.name == "pricing page")
    assert pricing.half_life == 7 * DAY
    assert scoring.caps["email"] == 10
    assert rules.grades == scoring.grades


def test_no_scoring_section_means_no_scoring() -> None:
    rules = build_rulebook(load_config(ROOT / "examples" / "leadsla.yaml"))
    assert rules.scoring is None


EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")


def problems_of(text: str) -> list[str]:
    with pytest.raises(ConfigError) as caught:
        load_config_text(text, "q.yaml")
    return str(caught.value).splitlines()


def line_of(text: str, fragment: str) -> int:
    return next(n for n, line in enumerate(text.splitlines(), 1) if fragment in line)


@pytest.mark.parametrize(
    ("old", "new", "key", "message"),
    [
        (
            "op: gte, value: 200",
            "op: gte, value: lots",
            "scoring.profile[1]",
            "op gte compares numbers: value must be a number",
        ),
        (
            "op: in, value: [US, GB, CA]",
            "op: within, value: [US, GB, CA]",
            "scoring.profile[3].op",
            "expected 'eq', 'ne'",
        ),
        (
            "half_life: 7 days",
            "half_life: 7 business days",
            "scoring.behaviour[1].half_life",
            "wall-clock",
        ),
        (
            "half_life: 14 days",
            "half_life: soon",
            "scoring.behaviour[3].half_life",
            "not a duration",
        ),
        (
            "email: 10, total: 100",
            "emails: 10, total: 100",
            "scoring.caps.emails",
            'unknown rule group "emails" (did you mean "email"?)',
        ),
        (
            "      grade: A\n    - name: pain",
            "      grade: AA\n    - name: pain",
            "scoring.triggers[0].grade",
            'unknown grade "AA"',
        ),
        (
            "mql_status: New",
            "mql_status: Nwe",
            "scoring.mql_status",
            'unknown status "Nwe" (did you mean "New"?)',
        ),
        (
            "  profile:\n",
            "  profiles:\n",
            "scoring.profiles",
            'unknown key "profiles" (did you mean "profile"?)',
        ),
        (
            "- {name: student, field: title, op: contains, value: student, points: -30}",
            "- {name: student, field: title, op: contains, points: -30}",
            "scoring.profile[4]",
            "op contains needs one value",
        ),
        # The assignment section.
        ("team: emea}", "team: emae}", "assignment.rules[0].team", 'unknown team "emae" (did you'),
        (
            "weights: {r1: 2, r2: 1}",
            "weights: {r1: 2, r3: 1}",
            "assignment.rules[1].weights.r3",
            'unknown rep of this rule "r3"',
        ),
        (
            "{rep: r2, from:",
            "{rep: r9, from:",
            "assignment.out_of_office[0].rep",
            'unknown rep "r9"',
        ),
        (
            "until: 2026-03-20}",
            "until: 2026-03-01}",
            "assignment.out_of_office[0]",
            "until 2026-03-01 is before from 2026-03-16",
        ),
        ("after_step: 2}", "after_step: 4}", "assignment.reroute.after_step", "there is no step 4"),
        (
            "policy: follow_up, after",
            "policy: folow_up, after",
            "assignment.reroute.policy",
            'unknown policy "folow_up" (did you mean "follow_up"?)',
        ),
        (
            "team: east, method: weighted_round_robin",
            "team: east, method: random",
            "assignment.rules[1].method",
            "expected 'round_robin', 'weighted_round_robin' or 'least_loaded'",
        ),
        (
            "- {name: EMEA, when: {field: country, op: in, value: [GB, IE, DE, FR]}, team: emea}",
            "- {name: EMEA, when: {field: country, op: in, value: [GB, IE, DE, FR]}}",
            "assignment.rules[0]",
            "names either a team or reps",
        ),
    ],
)
def test_bad_qualification_config_names_file_line_and_key(
    old: str, new: str, key: str, message: str
) -> None:
    assert EXAMPLE_TEXT.count(old) == 1, old
    text = EXAMPLE_TEXT.replace(old, new)
    line = line_of(text, new.splitlines()[0].strip())
    problems = problems_of(text)
    found = [p for p in problems if f": {key}" in p]
    assert found, problems
    assert found[0].startswith(f"q.yaml:{line}: {key}")
    assert message in found[0]


def test_scoring_that_can_never_qualify_is_refused() -> None:
    text = EXAMPLE_TEXT.replace("  mql_threshold: 50\n", "")
    start = text.index("  triggers:")
    problems = problems_of(text[:start])
    assert any("no lead would ever become an MQL" in p and ": scoring:" in p for p in problems)
