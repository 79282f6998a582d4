"""Loading ``leadsla.yaml``: the example is valid, and every bad file names key, line and cause."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import get_args

import pytest

from leadsla.config import ConfigError, build_rulebook, load_config, load_config_text
from leadsla.config.document import ConfigProblem
from leadsla.config.schema import METRICS, Stage
from leadsla.core.durations import parse_duration
from leadsla.core.policy import DEFAULT_STATUSES, STAGES

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "leadsla.yaml"
EXAMPLE_TEXT = EXAMPLE.read_text(encoding="utf-8")

MINIMAL = """\
calendars:
  office:
    timezone: UTC
    hours:
      mon: ["09:00-17:00"]
"""


def edit(text: str, old: str, new: str) -> str:
    """``text`` with the one occurrence of ``old`` replaced (a test typo fails loudly)."""
    assert text.count(old) == 1, f"{old!r} occurs {text.count(old)} times"
    return text.replace(old, new)


def line_of(text: str, needle: str) -> int:
    """1-based line of the one line containing ``needle``."""
    hits = [number for number, line in enumerate(text.splitlines(), 1) if needle in line]
    assert len(hits) == 1, f"{needle!r} is on lines {hits}"
    return hits[0]


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "leadsla.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def problems_of(tmp_path: Path, text: str) -> tuple[list[ConfigProblem], str]:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    return caught.value.problems, str(caught.value)


# -- the valid example ------------------------------------------------------------------


def test_example_loads_with_its_source() -> None:
    config = load_config(EXAMPLE)
    assert config.source == str(EXAMPLE)
    assert config.default_calendar_name == "us-east"
    assert list(config.calendars) == ["us-east", "uk"]
    assert config.notifications.max_delay == parse_duration("24 hours")
    assert config.notifications.email is not None
    assert config.notifications.email.sender == "leadsla@example.com"
    assert [c.metric for c in config.commitments] == ["mqls", "mqls", "workable_leads_per_rep"]
    assert config.commitments[1].segment == {"industry": ["Healthcare"]}


def test_example_builds_the_rulebook() -> None:
    rulebook = build_rulebook(load_config(EXAMPLE))

    assert rulebook.default_calendar == "us-east"
    us_east = rulebook.calendars["us-east"]
    assert us_east.hours[0] == ((9 * 60, 12 * 60), (13 * 60, 17 * 60))
    assert set(us_east.hours) == {0, 1, 2, 3, 4}
    assert us_east.day_hours == 7
    assert rulebook.calendars["uk"].hours[4] == ((8 * 60 + 30, 16 * 60),)
    assert rulebook.calendars["uk"].day_hours == 8

    follow_up, qualification = rulebook.policies
    assert follow_up.name == "follow_up"
    assert follow_up.start == frozenset({"New"})
    assert follow_up.stop == frozenset(
        {"Attempting to Contact", "Contacted", "Invalid Information"}
    )
    assert follow_up.pause == frozenset()
    assert follow_up.targets["A"] == parse_duration("8 business hours")
    assert follow_up.targets["C"] == parse_duration("5 business days")
    assert follow_up.optional == frozenset({"C"})
    assert follow_up.calendar == "owner"
    assert follow_up.warn_at == pytest.approx(0.75)
    assert [step.number for step in follow_up.escalate] == [1, 2, 3]
    assert [step.notify for step in follow_up.escalate] == [
        ("owner",),
        ("owner", "manager"),
        ("executive",),
    ]
    assert follow_up.escalate[0].message == "This lead is getting stale."
    assert follow_up.escalate[2].after == parse_duration("72 hours")
    assert qualification.target_for("A") == parse_duration("7 days")
    assert qualification.warn_at is None

    assert [(g.name, g.min_score) for g in rulebook.grades] == [("A", 80), ("B", 50), ("C", 0)]
    assert rulebook.grade_for_score(65) == "B"
    assert rulebook.statuses == DEFAULT_STATUSES
    assert rulebook.reps["r3"].team == "emea"
    assert rulebook.reps["r3"].capacity == 30
    assert rulebook.teams["east"].reps == ("r1", "r2")
    manager = rulebook.teams["east"].manager
    assert manager is not None and manager.email == "dana@example.com"
    assert [person.email for person in rulebook.executives] == ["ceo@example.com"]
    assert rulebook.calendar_name_for(follow_up, "r3") == "uk"


def test_holidays_combine_the_country_and_the_extra_dates_of_that_year() -> None:
    rulebook = build_rulebook(load_config(EXAMPLE))
    us_east = rulebook.calendars["us-east"].closed_dates(2026)
    assert date(2026, 12, 24) in us_east  # extra date
    assert date(2026, 12, 25) in us_east  # Christmas
    assert date(2026, 2, 12) in us_east  # Lincoln's Birthday: New York only
    assert date(2028, 12, 24) not in rulebook.calendars["us-east"].closed_dates(2028)
    assert date(2026, 12, 24) not in rulebook.calendars["us-east"].closed_dates(2027)
    uk = rulebook.calendars["uk"].closed_dates(2026)
    assert date(2026, 12, 25) in uk
    assert date(2026, 12, 24) not in uk
    assert date(2026, 7, 3) not in uk


def test_a_minimal_config_takes_the_defaults() -> None:
    config = load_config_text(MINIMAL)
    assert config.default_calendar_name == "office"  # the only calendar
    rulebook = build_rulebook(config)
    assert rulebook.statuses == DEFAULT_STATUSES
    assert rulebook.policies == ()
    assert rulebook.calendars["office"].closed_dates(2026) == frozenset()


def test_lenient_spellings_are_accepted() -> None:
    text = edit(MINIMAL, 'mon: ["09:00-17:00"]', 'mon: "9:00-17:00"\n      sat:')
    text += "    holidays: {country: us, subdivision: ny}\n"
    config = load_config_text(text)
    office = config.calendars["office"]
    assert [(w.start, w.end) for w in office.hours.mon] == [(540, 1020)]
    assert office.hours.sat == []
    assert office.holidays is not None
    assert (office.holidays.country, office.holidays.subdivision) == ("US", "NY")


def test_24_00_ends_a_window() -> None:
    text = edit(MINIMAL, '"09:00-17:00"', '"18:00-24:00"')
    assert build_rulebook(load_config_text(text)).calendars["office"].hours[0] == ((1080, 1440),)


def test_the_documented_enumerations_match_the_core() -> None:
    assert METRICS == ("mqls", "sals", "workable_leads", "workable_leads_per_rep", "opportunities")
    assert get_args(Stage) == STAGES


# -- one mistake, one message ---------------------------------------------------------------

# (id, old text, new text, text on the reported line, key path, part of the message)
ONE_MISTAKE = [
    (
        "misspelled weekday",
        'mon: ["09:00-12:00", "13:00-17:00"]',
        'mun: ["09:00-12:00", "13:00-17:00"]',
        "mun:",
        "calendars.us-east.hours.mun",
        'unknown key "mun" (did you mean "mon" or "sun"?)',
    ),
    (
        "overlapping windows",
        'tue: ["09:00-12:00", "13:00-17:00"]',
        'tue: ["08:00-10:00", "9:00-17:00"]',
        '"08:00-10:00"',
        "calendars.us-east.hours.tue[1]",
        '"9:00-17:00" overlaps "08:00-10:00"',
    ),
    (
        "window ending before it starts",
        '      fri: ["08:30-16:00"]',
        '      fri: ["16:00-08:30"]',
        '"16:00-08:30"',
        "calendars.uk.hours.fri[0]",
        '"16:00-08:30" does not end after it starts',
    ),
    (
        "window without minutes",
        'wed: ["09:00-12:00", "13:00-17:00"]',
        'wed: ["09:00-12:00", "1pm-5pm"]',
        '"1pm-5pm"',
        "calendars.us-east.hours.wed[1]",
        'expected "HH:MM-HH:MM"',
    ),
    (
        "unknown calendar in a team",
        "    calendar: us-east\n    manager",
        "    calendar: us-wset\n    manager",
        "calendar: us-wset",
        "teams.east.calendar",
        'unknown calendar "us-wset" (did you mean "us-east"?); expected one of: uk, us-east',
    ),
    (
        "unknown calendar of a rep",
        "email: ana@example.com,",
        "email: ana@example.com, calendar: paris,",
        "calendar: paris",
        "teams.emea.reps[0].calendar",
        'unknown calendar "paris"',
    ),
    (
        "unknown duration unit",
        "{A: 8 business hours",
        "{A: 8 biz hours",
        "{A: 8 biz hours",
        "policies.follow_up.target.A",
        "unknown unit",
    ),
    (
        "unknown time zone",
        "timezone: America/New_York",
        "timezone: America/New_Yrok",
        "America/New_Yrok",
        "calendars.us-east.timezone",
        '"America/New_Yrok" is not an IANA time zone (did you mean "America/New_York"?)',
    ),
    (
        "target for an undefined grade",
        "C: 5 business days}",
        "C: 5 business days, D: 2 business days}",
        "D: 2 business days",
        "policies.follow_up.target.D",
        'unknown grade "D"; expected one of: default, A, B, C',
    ),
    (
        "unknown key",
        "    warn_at: 75%\n",
        "    warn_at: 75%\n    warn_when: 50%\n",
        "warn_when",
        "policies.follow_up.warn_when",
        'unknown key "warn_when" (did you mean "warn_at"?)',
    ),
    (
        "unknown top-level key",
        "workable: {grade: [A, B]}",
        "workables: {grade: [A, B]}",
        "workables:",
        "workables",
        'unknown key "workables" (did you mean "workable"?)',
    ),
    (
        "unknown subdivision",
        "subdivision: NY",
        "subdivision: XY",
        "subdivision: XY",
        "calendars.us-east.holidays.subdivision",
        '"XY" is not a subdivision of US',
    ),
    (
        "unknown country",
        "country: GB",
        "country: XX",
        "country: XX",
        "calendars.uk.holidays.country",
        '"XX" is not a country the holidays package knows',
    ),
    (
        "calendar never open",
        '      fri: ["08:30-16:00"]\n',
        '      fri: ["08:30-16:00"]\n  closed:\n    timezone: UTC\n    hours: {}\n',
        "hours: {}",
        "calendars.closed.hours",
        "the calendar is never open",
    ),
    (
        "unknown default calendar",
        "default_calendar: us-east",
        "default_calendar: useast",
        "default_calendar:",
        "default_calendar",
        'unknown calendar "useast" (did you mean "us-east"?)',
    ),
    (
        "unknown status in stop",
        "Contacted, Invalid Information]}\n    target: {A",
        "Contacted, Invalid Info]}\n    target: {A",
        "Invalid Info]",
        "policies.follow_up.stop.status[2]",
        'unknown status "Invalid Info" (did you mean "Invalid Information"?)',
    ),
    (
        "status both starts and stops",
        "stop: {status: [Attempting to Contact, Contacted, Invalid Information]}",
        "stop: {status: [Attempting to Contact, New, Invalid Information]}",
        "stop: {status: [Attempting to Contact, New",
        "policies.follow_up.stop.status[1]",
        'status "New" is in both start and stop',
    ),
    (
        "status both pauses and stops",
        "    calendar: owner\n    warn_at",
        "    calendar: owner\n    pause: {status: [Demo Request, Contacted]}\n    warn_at",
        "pause:",
        "policies.follow_up.pause.status[1]",
        'status "Contacted" is in both stop and pause',
    ),
    (
        "optional grade undefined",
        "optional: [C]",
        "optional: [c]",
        "optional: [c]",
        "policies.follow_up.optional[0]",
        'unknown grade "c" (did you mean "C"?)',
    ),
    (
        "workable grade undefined",
        "workable: {grade: [A, B]}",
        "workable: {grade: [A, E]}",
        "workable:",
        "workable.grade[1]",
        'unknown grade "E"',
    ),
    (
        "policy calendar undefined",
        "    calendar: owner\n    warn_at",
        "    calendar: owners\n    warn_at",
        "calendar: owners",
        "policies.follow_up.calendar",
        'unknown calendar "owners" (did you mean "owner"?)',
    ),
    (
        "rep id used twice",
        "{id: r3,",
        "{id: r1,",
        "Ana Lopes",
        "teams.emea.reps[0].id",
        'rep id "r1" is already used at teams.east.reps[0]',
    ),
    (
        "warn_at out of range",
        "warn_at: 75%",
        "warn_at: 100%",
        "warn_at:",
        "policies.follow_up.warn_at",
        '"100%" must be between 0% and 100%',
    ),
    (
        "warn_at as a bare number",
        "warn_at: 75%",
        "warn_at: 75",
        "warn_at:",
        "policies.follow_up.warn_at",
        'expected a percentage of the target like "75%", got 75',
    ),
    (
        "unknown recipient",
        "notify: [owner, manager]",
        "notify: [owner, boss]",
        "notify: [owner, boss]",
        "policies.follow_up.escalate[1].notify[1]",
        "expected 'owner', 'manager' or 'executive', got \"boss\"",
    ),
    (
        "unknown metric",
        "metric: mqls, period: quarter",
        "metric: leads, period: quarter",
        "metric: leads",
        "commitments[0].metric",
        "expected 'mqls', 'sals', 'workable_leads', 'workable_leads_per_rep' or 'opportunities'",
    ),
    (
        "missing required key",
        "{id: r2, name: Priya Nair, email: priya@example.com,",
        "{id: r2, name: Priya Nair,",
        "Priya Nair",
        "teams.east.reps[1].email",
        "is required but missing",
    ),
    (
        "bad email",
        "email: tom@example.com",
        "email: tom.example.com",
        "tom.example.com",
        "teams.emea.manager.email",
        '"tom.example.com" is not an email address',
    ),
    (
        "wrong type",
        "day_hours: 7",
        "day_hours: seven",
        "day_hours:",
        "calendars.us-east.day_hours",
        'got "seven"',
    ),
    (
        "business units in max_delay",
        "starttls: false}",
        "starttls: false}\n  max_delay: 3 business hours",
        "max_delay:",
        "notifications.max_delay",
        "measured in wall-clock time",
    ),
    (
        "a base URL that is not http(s)",
        "starttls: false}",
        "starttls: false}\n  base_url: javascript:alert(1)",
        "base_url:",
        "notifications.base_url",
        '"javascript:alert(1)" is not an http(s) URL',
    ),
    (
        "score bands out of order",
        "workable: {grade: [A, B]}",
        "workable: {grade: [A, B]}\nscore_bands: [0, 60, 40]",
        "score_bands:",
        "score_bands",
        "ascending order",
    ),
    (
        "unknown speed-to-lead clock",
        "workable: {grade: [A, B]}",
        "workable: {grade: [A, B]}\nspeed_to_lead: {clock: calendar}",
        "speed_to_lead:",
        "speed_to_lead.clock",
        "calendar",
    ),
    (
        "duplicate grade",
        "{name: C, min_score: 0}",
        "{name: C, min_score: 0}\n  - {name: B, min_score: 10}",
        "{name: B, min_score: 10}",
        "grades[3].name",
        'grade "B" is already defined at grades[1]',
    ),
]


@pytest.mark.parametrize(
    ("old", "new", "on_line", "key_path", "message"),
    [case[1:] for case in ONE_MISTAKE],
    ids=[case[0] for case in ONE_MISTAKE],
)
def test_one_mistake_gives_one_located_problem(
    tmp_path: Path, old: str, new: str, on_line: str, key_path: str, message: str
) -> None:
    text = edit(EXAMPLE_TEXT, old, new)
    problems, rendered = problems_of(tmp_path, text)

    line = line_of(text, on_line)
    assert [(p.path, p.line) for p in problems] == [(key_path, line)], rendered
    assert message in problems[0].message
    assert rendered == f"{tmp_path / 'leadsla.yaml'}:{line}: {key_path}: {problems[0].message}"


def test_block_style_errors_point_at_the_key(tmp_path: Path) -> None:
    text = """\
calendars:
  office:
    timezone: UTC
    hours:
      mon:
        - "09:00-12:00"
        - "11:00-13:00"
teams:
  sales:
    reps:
      - id: r1
        name: Sam
"""
    problems, _ = problems_of(tmp_path, text)
    assert [(p.path, p.line) for p in problems] == [
        ("calendars.office.hours.mon[1]", 7),
        # A missing key is reported at the entry that lacks it.
        ("teams.sales.reps[0].email", 11),
    ]


# -- many mistakes, all reported --------------------------------------------------------------


def test_every_problem_is_reported_in_line_order(tmp_path: Path) -> None:
    text = EXAMPLE_TEXT
    for old, new in [
        ("timezone: America/New_York", "timezone: Mars/Olympus"),
        ('mon: ["09:00-12:00", "13:00-17:00"]', 'mun: ["09:00-12:00", "13:00-17:00"]'),
        ('tue: ["09:00-12:00", "13:00-17:00"]', 'tue: ["09:00-12:00", "11:00-17:00"]'),
        # A broken manager email must not hide the team's unknown calendar.
        ("    calendar: uk\n", "    calendar: london\n"),
        ("email: tom@example.com", "email: tom"),
        ("{A: 8 business hours", "{A: 8 biz hours"),
        ("C: 5 business days}", "C: 5 business days, X: 1 hour}"),
        ("    warn_at: 75%\n", "    warn_at: 75%\n    colour: red\n"),
        ("period: month, target: 40", "period: week, target: 40"),
    ]:
        text = edit(text, old, new)

    problems, rendered = problems_of(tmp_path, text)

    expected = [
        ("calendars.us-east.timezone", line_of(text, "Mars/Olympus")),
        ("calendars.us-east.hours.mun", line_of(text, "mun:")),
        ("calendars.us-east.hours.tue[1]", line_of(text, '"11:00-17:00"')),
        ("teams.emea.calendar", line_of(text, "calendar: london")),
        ("teams.emea.manager.email", line_of(text, "email: tom}")),
        ("policies.follow_up.target.A", line_of(text, "8 biz hours")),
        ("policies.follow_up.target.X", line_of(text, "8 biz hours")),
        ("policies.follow_up.colour", line_of(text, "colour:")),
        ("commitments[2].period", line_of(text, "period: week")),
    ]
    assert sorted((p.path, p.line) for p in problems) == sorted(expected)
    assert [p.line for p in problems] == sorted(line for _, line in expected)
    assert len(rendered.splitlines()) == len(expected)


# -- the file itself ----------------------------------------------------------------------------


def test_yaml_syntax_error_names_the_line(tmp_path: Path) -> None:
    text = edit(EXAMPLE_TEXT, "{name: Tom Hale, email: tom@example.com}", "{name: Tom Hale")
    problems, rendered = problems_of(tmp_path, text)
    assert len(problems) == 1
    assert problems[0].message.startswith("invalid YAML: ")
    # The flow mapping that was never closed is named with the line it opened on.
    assert f"started at line {line_of(text, '{name: Tom Hale')}" in problems[0].message
    assert rendered.startswith(f"{tmp_path / 'leadsla.yaml'}:{problems[0].line}: invalid YAML")


def test_tab_indentation_is_a_yaml_error_on_its_line(tmp_path: Path) -> None:
    text = edit(MINIMAL, "    timezone: UTC", "\ttimezone: UTC")
    problems, _ = problems_of(tmp_path, text)
    assert [(p.path, p.line) for p in problems] == [("", 3)]


def test_a_duplicate_key_is_refused_with_the_other_problems(tmp_path: Path) -> None:
    text = MINIMAL + '      mon: ["10:00-11:00"]\n    day_hours: 0\n'
    problems, _ = problems_of(tmp_path, text)
    assert [(p.path, p.line) for p in problems] == [
        ("calendars.office.hours.mon", 6),
        ("calendars.office.day_hours", 7),
    ]
    assert "first given at line 5" in problems[0].message


def test_anchors_aliases_and_merge_keys_are_read(tmp_path: Path) -> None:
    text = (
        "calendars:\n"
        "  east: &office\n"
        "    timezone: America/New_York\n"
        "    hours: {mon: ['09:00-17:00'], tue: ['09:00-17:00']}\n"
        "  west:\n"
        "    <<: *office\n"
        "    timezone: America/Los_Angeles\n"
        "default_calendar: east\n"
    )
    config = load_config(write(tmp_path, text))
    assert config.calendars["west"].timezone == "America/Los_Angeles"
    assert config.calendars["west"].hours == config.calendars["east"].hours
    # A key given beside a merge is no duplicate: it overrides the merged one.
    problems, _ = problems_of(tmp_path, text.replace("  west:", "    day_hours: 0\n  west:"))
    assert [(p.path, p.line) for p in problems] == [
        ("calendars.east.day_hours", 5),
        ("calendars.west.day_hours", 6),
    ]


def test_an_alias_cycle_is_located_not_a_crash(tmp_path: Path) -> None:
    problems, _ = problems_of(tmp_path, "calendars: &calendars\n  office: *calendars\n")
    assert {(p.path, p.line) for p in problems} >= {
        ("calendars.office.timezone", 2),
        ("calendars.office.hours", 2),
    }


def test_a_missing_file_is_a_config_error(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    with pytest.raises(ConfigError) as caught:
        load_config(missing)
    assert str(caught.value) == f"{missing}: no such file"
    assert caught.value.problems == [ConfigProblem("", None, "no such file")]


@pytest.mark.parametrize(
    ("text", "line", "message"),
    [
        ("", None, "is empty"),
        ("# nothing yet\n", None, "is empty"),
        ("- calendars\n", 1, "holds a list"),
    ],
)
def test_a_document_that_is_not_a_mapping(
    tmp_path: Path, text: str, line: int | None, message: str
) -> None:
    problems, _ = problems_of(tmp_path, text)
    assert [(p.path, p.line) for p in problems] == [("", line)]
    assert problems[0].message.startswith(message)


def test_calendars_are_required(tmp_path: Path) -> None:
    problems, rendered = problems_of(tmp_path, "teams: {}\n")
    assert [(p.path, p.line) for p in problems] == [("calendars", None)]
    assert rendered == f"{tmp_path / 'leadsla.yaml'}: calendars: is required but missing"


def test_default_calendar_is_required_with_several_calendars(tmp_path: Path) -> None:
    text = edit(EXAMPLE_TEXT, "default_calendar: us-east\n", "")
    problems, _ = problems_of(tmp_path, text)
    assert [(p.path, p.line) for p in problems] == [("default_calendar", None)]
    assert "expected one of: uk, us-east" in problems[0].message


def test_reserved_calendar_names_are_refused(tmp_path: Path) -> None:
    text = edit(MINIMAL, "  office:", "  team:")
    problems, _ = problems_of(tmp_path, text)
    assert [(p.path, p.line) for p in problems] == [("calendars.team", 2)]


def test_executive_escalation_needs_executives(tmp_path: Path) -> None:
    text = edit(EXAMPLE_TEXT, "executives:\n  - {name: Chris Young, email: ceo@example.com}\n", "")
    problems, _ = problems_of(tmp_path, text)
    assert [(p.path, p.line) for p in problems] == [
        ("policies.follow_up.escalate[2].notify[0]", line_of(text, "notify: [executive]"))
    ]


def alias_bomb(levels: int) -> str:
    """A tiny YAML file whose aliases stand for 10**levels values (the "billion laughs")."""
    lines = ['l0: &l0 ["ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha", "ha"]']
    for level in range(1, levels):
        items = ", ".join([f"*l{level - 1}"] * 10)
        lines.append(f"l{level}: &l{level} [{items}]")
    return "\n".join(lines) + "\n"


def test_an_alias_bomb_is_refused_with_one_message(tmp_path: Path) -> None:
    # 10**6 values from 7 lines; a billion would take the old reader gigabytes and minutes.
    with pytest.raises(ConfigError) as caught:
        load_config_text(alias_bomb(6), "bomb.yaml")
    assert caught.value.problems == [
        ConfigProblem(
            "",
            None,
            "the document expands to more than 100,000 values through its aliases (*name); "
            "a leadsla file needs far fewer, so it is refused",
        )
    ]


def test_aliases_that_expand_modestly_are_still_read(tmp_path: Path) -> None:
    # 10**4 values: a big but plausible document is read on, to the schema's own checks.
    with pytest.raises(ConfigError) as caught:
        load_config_text(alias_bomb(4), "big.yaml")
    assert all("aliases" not in problem.message for problem in caught.value.problems)


# -- SPEC §9: the keys of the clock of real sales work ---------------------------------------

V2_POLICIES = """\
  routing:
    start: {status: [New]}
    stop: {assigned: true}
    target: {default: 2 business hours}
    calendar: us-east
  touch:
    start: {status: [New], assigned: true}
    stop: {status: [Contacted], activity: [call, "email:replied", meeting]}
    target: {default: 8 business hours}
    on_reassign: restart
    escalate:
      - {after: 4 hours, notify: [owner, manager], urgent: true}
  attempts:
    kind: cadence
    start: {status: [New]}
    stop: {status: [Qualified, Not a Lead]}
    attempts: 6
    within: 10 business days
    gap: 1 business day
"""


def v2_text(policies: str = V2_POLICIES) -> str:
    text = edit(EXAMPLE_TEXT, "  qualification:\n", policies + "  qualification:\n")
    return edit(
        text,
        "  - {name: Chris Young, email: ceo@example.com}\n",
        "  - {name: Chris Young, email: ceo@example.com, calendar: uk}\n",
    )


def test_the_v2_keys_build_the_rulebook(tmp_path: Path) -> None:
    text = edit(
        v2_text(),
        "notifications:\n",
        "notifications:\n  deliver: recipient_hours\n"
        "  unassigned: [{name: Lead desk, email: leads@example.com, calendar: uk}]\n",
    )
    config = load_config(write(tmp_path, text))
    rules = build_rulebook(config)
    policies = {p.name: p for p in rules.policies}
    assert policies["routing"].stop_assigned and not policies["routing"].stop
    touch = policies["touch"]
    assert touch.start_assigned and touch.start == frozenset({"New"})
    assert touch.stop_activity == frozenset({"call", "email:replied", "meeting"})
    assert touch.on_reassign == "restart" and touch.escalate[0].urgent
    cadence = policies["attempts"]
    assert (cadence.kind, cadence.attempts) == ("cadence", 6)
    assert cadence.gap == parse_duration("1 business day")
    assert cadence.within == parse_duration("10 business days")
    assert rules.executives[0].calendar == "uk"
    assert not policies["follow_up"].has_v2_conditions
    assert config.notifications.deliver == "recipient_hours"
    assert [p.calendar for p in config.notifications.unassigned] == ["uk"]


@pytest.mark.parametrize(
    ("old", "new", "key_path", "message"),
    [
        (
            "stop: {assigned: true}",
            "stop: {assigned: false}",
            "policies.routing.stop",
            "lists no status, activity or assigned",
        ),
        (
            'activity: [call, "email:replied", meeting]',
            'activity: [call, "email:opened", meeting]',
            "policies.touch.stop.activity[1]",
            '"email:opened" has no such outcome',
        ),
        (
            'activity: [call, "email:replied", meeting]',
            "activity: [fax]",
            "policies.touch.stop.activity[0]",
            '"fax" is not an activity',
        ),
        (
            "start: {status: [New], assigned: true}",
            "start: {assigned: true}",
            "policies.touch.start",
            "assigned adds a condition to the status",
        ),
        (
            "on_reassign: restart",
            "on_reassign: reset",
            "policies.touch.on_reassign",
            "restart",
        ),
        ("    gap: 1 business day\n", "", "policies.attempts", "kind: cadence needs gap"),
        (
            "    attempts: 6\n",
            "    attempts: 6\n    target: {A: 8 hours}\n",
            "policies.attempts",
            "kind: cadence has no target",
        ),
        (
            "    target: {default: 8 business hours}\n",
            "    target: {default: 8 business hours}\n    attempts: 3\n",
            "policies.touch",
            "attempts belong to kind: cadence",
        ),
    ],
    ids=[
        "stop without condition",
        "unknown outcome",
        "unknown kind",
        "assigned without status",
        "unknown on_reassign",
        "cadence without gap",
        "cadence with a target",
        "attempts without cadence",
    ],
)
def test_a_bad_v2_key_is_located(
    tmp_path: Path, old: str, new: str, key_path: str, message: str
) -> None:
    problems, rendered = problems_of(tmp_path, edit(v2_text(), old, new))
    assert [p.path for p in problems] == [key_path], rendered
    assert message in problems[0].message, rendered


def test_an_executive_calendar_must_exist(tmp_path: Path) -> None:
    text = edit(v2_text(), "calendar: uk}", "calendar: mars}")
    problems, rendered = problems_of(tmp_path, text)
    assert [p.path for p in problems] == ["executives[0].calendar"], rendered
    assert 'calendar "mars"' in problems[0].message


def test_a_commitments_team_targets_name_configured_teams(tmp_path: Path) -> None:
    text = edit(
        EXAMPLE.read_text(encoding="utf-8"),
        "target: 1200}",
        "target: 1200, team_targets: {east: 800, emae: 400}}",
    )
    problems, rendered = problems_of(tmp_path, text)
    assert [p.path for p in problems] == ["commitments[0].team_targets.emae"], rendered
    assert 'unknown team "emae" (did you mean "emea"?)' in problems[0].message
    good = edit(text, "emae: 400", "emea: 400")
    config = load_config(write(tmp_path, good))
    assert config.commitments[0].team_targets == {"east": 800, "emea": 400}
