"""Checks across the keys of ``leadsla.yaml``: the names one section uses that another defines.

A team's calendar must be defined, a policy's statuses known, a rep id used once. These
read the raw document rather than the models: an entry that fails validation elsewhere
(a bad email in a team) must not hide a reference error in it (its calendar). Values of
the wrong type are skipped here, since the schema already reports them.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from leadsla.config.document import (
    KeyPath,
    Problem,
    format_path,
    mapping_of,
    text_of,
    texts_of,
    unknown_name,
)
from leadsla.config.qualify import INTAKE_POLICY, qualify_problems
from leadsla.config.schema import HoursWindow, hours_window
from leadsla.core.calendar import WEEKDAYS
from leadsla.core.policy import DEFAULT_STATUSES, DEFAULT_TARGET

__all__ = ["RESERVED_CALENDAR_NAMES", "cross_key_problems"]

# A policy's calendar "owner" or "team" means the owner's or the team's, not one by name.
RESERVED_CALENDAR_NAMES = frozenset({"owner", "team"})


def _declared_names(section: Any) -> set[str] | None:
    """Names a list section declares, read loosely so a broken entry still defines its name.

    ``None`` when the section is not a list at all: references to it are then not checked,
    since its own error already says what is wrong.
    """
    if not isinstance(section, list):
        return None
    names = (text_of(item.get("name")) for item in section if isinstance(item, dict))
    return {name for name in names if name}


def cross_key_problems(data: Mapping[str, Any]) -> Iterator[Problem]:
    """Every name the raw document ``data`` uses that it does not define, or defines twice."""
    raw_calendars = data.get("calendars")
    calendar_names = set(mapping_of(raw_calendars)) if isinstance(raw_calendars, dict) else None
    yield from _calendar_problems(mapping_of(raw_calendars))
    yield from _default_calendar_problems(data.get("default_calendar"), calendar_names)

    status_names = (
        set(DEFAULT_STATUSES) if "statuses" not in data else _declared_names(data["statuses"])
    )
    grade_names = _declared_names(data.get("grades", []))
    for section, kind in (
        ("grades", "grade"),
        ("statuses", "status"),
        ("commitments", "commitment"),
        ("objectives", "objective"),
    ):
        yield from _repeated_name_problems(section, data.get(section), kind)
    yield from _team_problems(mapping_of(data.get("teams")), calendar_names)
    yield from _team_target_problems(data.get("commitments"), set(mapping_of(data.get("teams"))))

    executives = data.get("executives", [])
    # A malformed executives section has its own error; do not add a second one.
    has_executives = bool(executives) or not isinstance(executives, list)
    notifications = mapping_of(data.get("notifications"))
    people_at: list[tuple[KeyPath, Any]] = [
        (("executives",), executives),
        (("notifications", "unassigned"), notifications.get("unassigned")),
    ]
    for where, people in people_at:
        for index, person in enumerate(people if isinstance(people, list) else []):
            yield from _calendar_reference_problems(
                (*where, index, "calendar"), mapping_of(person).get("calendar"), calendar_names
            )
    references = _References(calendar_names, grade_names, status_names, has_executives)
    for name, policy in mapping_of(data.get("policies")).items():
        yield from references.policy_problems(("policies", name), mapping_of(policy))
    workable = mapping_of(data.get("workable"))
    yield from references.grade_problems(texts_of(("workable", "grade"), workable.get("grade")))
    yield from references.grade_problems(_workable_segment_grades(workable.get("segments")))
    yield from _objective_problems(data, references)
    yield from qualify_problems(data, grade_names, status_names)


def _workable_segment_grades(segments: Any) -> Iterator[tuple[KeyPath, str]]:
    """The grades a workable segment's conditions on ``grade`` name (a typo there would
    quietly match no lead)."""
    if not isinstance(segments, list):
        return
    for index, segment in enumerate(segments):
        when = mapping_of(segment).get("when")
        for number, condition in enumerate(when if isinstance(when, list) else [when]):
            found = mapping_of(condition)
            if found.get("field") == "grade" and found.get("op", "eq") in (
                "eq",
                "ne",
                "in",
                "not_in",
            ):
                where = ("workable", "segments", index, "when")
                path = (*where, number, "value") if isinstance(when, list) else (*where, "value")
                yield from texts_of(path, found.get("value"))


def _objective_problems(data: Mapping[str, Any], references: _References) -> Iterator[Problem]:
    """An objective's policy and grades must be defined (the intake clock is a policy
    when the ``intake`` section is there)."""
    raw_policies = data.get("policies", {})
    if not isinstance(raw_policies, dict):
        return
    policies = set(mapping_of(raw_policies)) | ({INTAKE_POLICY} if data.get("intake") else set())
    objectives = data.get("objectives")
    for index, objective in enumerate(objectives if isinstance(objectives, list) else []):
        at: KeyPath = ("objectives", index)
        fields = mapping_of(objective)
        for path, policy in texts_of((*at, "policy"), fields.get("policy")):
            if policy not in policies:
                yield path, unknown_name("policy", policy, policies)
        yield from references.grade_problems(texts_of((*at, "grades"), fields.get("grades")))


def _calendar_problems(calendars: Mapping[str, Any]) -> Iterator[Problem]:
    for name, calendar in calendars.items():
        if name in RESERVED_CALENDAR_NAMES:
            yield (
                ("calendars", name),
                (
                    f'"{name}" cannot name a calendar: a policy\'s calendar "{name}" means the '
                    f"{name}'s calendar"
                ),
            )
        hours = mapping_of(mapping_of(calendar).get("hours"))
        for day in WEEKDAYS:
            earlier: list[HoursWindow] = []
            for path, text in texts_of(("calendars", name, "hours", day), hours.get(day)):
                try:
                    window = hours_window(text)
                except ValueError:
                    continue
                overlapped = next((w for w in earlier if w.overlaps(window)), None)
                if overlapped is not None:
                    yield (
                        path,
                        (
                            f'"{window.text}" overlaps "{overlapped.text}": the windows of a day '
                            "must not overlap"
                        ),
                    )
                earlier.append(window)


def _default_calendar_problems(default: Any, names: set[str] | None) -> Iterator[Problem]:
    if names is None:
        return
    if default is None:
        if len(names) > 1:
            yield (
                ("default_calendar",),
                (
                    "is required when there are several calendars; expected one of: "
                    + ", ".join(sorted(names))
                ),
            )
    elif isinstance(default, str) and default not in names:
        yield ("default_calendar",), unknown_name("calendar", default, names)


def _repeated_name_problems(section: str, raw: Any, kind: str) -> Iterator[Problem]:
    if not isinstance(raw, list):
        return
    seen: dict[str, int] = {}
    for index, item in enumerate(raw):
        name = text_of(item.get("name")) if isinstance(item, dict) else None
        if not name:
            continue
        if name in seen:
            yield (
                (section, index, "name"),
                (f'{kind} "{name}" is already defined at {format_path((section, seen[name]))}'),
            )
        else:
            seen[name] = index


def _team_target_problems(commitments: Any, team_names: set[str]) -> Iterator[Problem]:
    """A commitment's ``team_targets`` name teams the file defines."""
    for index, commitment in enumerate(commitments if isinstance(commitments, list) else []):
        shares = mapping_of(mapping_of(commitment).get("team_targets"))
        for team in shares:
            if team not in team_names:
                where: KeyPath = ("commitments", index, "team_targets", team)
                yield where, unknown_name("team", str(team), team_names)


def _team_problems(teams: Mapping[str, Any], calendar_names: set[str] | None) -> Iterator[Problem]:
    rep_ids: dict[str, KeyPath] = {}
    crm_ids: dict[tuple[str, str], KeyPath] = {}
    for team_name, team in teams.items():
        at: KeyPath = ("teams", team_name)
        team_map = mapping_of(team)
        yield from _calendar_reference_problems(
            (*at, "calendar"), team_map.get("calendar"), calendar_names
        )
        reps = team_map.get("reps")
        for index, rep in enumerate(reps if isinstance(reps, list) else []):
            where: KeyPath = (*at, "reps", index)
            rep_map = mapping_of(rep)
            yield from _calendar_reference_problems(
                (*where, "calendar"), rep_map.get("calendar"), calendar_names
            )
            yield from _crm_id_problems(where, mapping_of(rep_map.get("crm")), crm_ids)
            rep_id = text_of(rep_map.get("id"))
            if not rep_id:
                continue
            if rep_id in rep_ids:
                yield (
                    (*where, "id"),
                    (
                        f'rep id "{rep_id}" is already used at {format_path(rep_ids[rep_id])}; '
                        "a rep belongs to one team"
                    ),
                )
            else:
                rep_ids[rep_id] = where


def _crm_id_problems(
    where: KeyPath, crm: Mapping[str, Any], seen: dict[tuple[str, str], KeyPath]
) -> Iterator[Problem]:
    """A CRM user is one rep: two reps with one id would split a lead's owner."""
    for crm_name, raw in crm.items():
        user = text_of(raw)
        if not user:
            continue
        # Salesforce ids are one id in their 15- and 18-character forms.
        key = (str(crm_name), user[:15] if crm_name == "salesforce" else user)
        at: KeyPath = (*where, "crm", crm_name)
        if key in seen:
            yield at, f'{crm_name} id "{user}" is already given at {format_path(seen[key])}'
        else:
            seen[key] = at


def _calendar_reference_problems(
    path: KeyPath, value: Any, names: set[str] | None, *, also: Sequence[str] = ()
) -> Iterator[Problem]:
    name = text_of(value)
    if names is not None and name and name not in names and name not in also:
        yield path, unknown_name("calendar", name, names, also=also)


@dataclass(frozen=True, slots=True)
class _References:
    """What the file defines, for checking the names a policy uses; ``None``: not checkable."""

    calendars: set[str] | None
    grade_names: set[str] | None
    status_names: set[str] | None
    has_executives: bool

    def grade_problems(
        self, used: Iterable[tuple[KeyPath, str]], *, also: Sequence[str] = ()
    ) -> Iterator[Problem]:
        if self.grade_names is None:
            return
        for path, grade in used:
            if grade not in self.grade_names and grade not in also:
                yield path, unknown_name("grade", grade, self.grade_names, also=also)

    def status_problems(self, used: Iterable[tuple[KeyPath, str]]) -> Iterator[Problem]:
        if self.status_names is None:
            return
        for path, status in used:
            if status not in self.status_names:
                yield path, unknown_name("status", status, self.status_names)

    def policy_problems(self, at: KeyPath, policy: Mapping[str, Any]) -> Iterator[Problem]:
        sets = {
            name: list(texts_of((*at, name, "status"), mapping_of(policy.get(name)).get("status")))
            for name in ("start", "stop", "pause")
        }
        for used in sets.values():
            yield from self.status_problems(used)
        # A status in both sets would stop (or pause) a clock at the instant it acts.
        for name, other in (("stop", "start"), ("pause", "stop")):
            others = {status for _, status in sets[other]}
            for path, status in sets[name]:
                if status in others:
                    yield path, f'status "{status}" is in both {other} and {name}'

        targets = mapping_of(policy.get("target"))
        yield from self.grade_problems(
            (((*at, "target", grade), grade) for grade in targets), also=[DEFAULT_TARGET]
        )
        yield from self.grade_problems(texts_of((*at, "optional"), policy.get("optional")))
        applies_to = mapping_of(policy.get("applies_to"))
        yield from self.grade_problems(
            texts_of((*at, "applies_to", "grade"), applies_to.get("grade"))
        )
        yield from self.status_problems(
            texts_of((*at, "applies_to", "status"), applies_to.get("status"))
        )
        yield from _calendar_reference_problems(
            (*at, "calendar"),
            policy.get("calendar"),
            self.calendars,
            also=sorted(RESERVED_CALENDAR_NAMES),
        )
        if self.has_executives:
            return
        steps = policy.get("escalate")
        for step, escalation in enumerate(steps if isinstance(steps, list) else []):
            notify = mapping_of(escalation).get("notify")
            for path, target in texts_of((*at, "escalate", step, "notify"), notify):
                if target == "executive":
                    yield path, "notifies executive, but no executives are defined"
