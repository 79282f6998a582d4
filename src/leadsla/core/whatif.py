"""What-if (SPEC §9.6): what one history's replay under a config adds to its report, and
the difference between two reports.

The report object of SPEC §8 is computed by the report code for each config; this
module only tallies what the report does not hold (the escalations that would have
fired, by step and recipient, and the breaches) and subtracts one report from the
other. Pure Python and NumPy: the caller passes the verdicts of the leads it replayed,
and the plain leads' cycles in columns.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from leadsla.core.columns import IndexArray
from leadsla.core.cycle import Verdict
from leadsla.core.plain import NEVER, PlainRows
from leadsla.core.policy import Rulebook

# The groups the outcomes are cut by, as the report's ``by_*`` keys name them.
OUTCOME_GROUPS = ("by_grade", "by_team", "by_owner")


@dataclass
class Outcome:
    """The escalations fired and the breaches of a set of clock cycles."""

    cycles: int = 0
    breaches: int = 0
    by_step: Counter[str] = field(default_factory=Counter)
    by_recipient: Counter[str] = field(default_factory=Counter)

    def record(self) -> dict[str, Any]:
        return {
            "cycles": self.cycles,
            "breaches": self.breaches,
            "escalations": sum(self.by_step.values()),
            "escalations_by_step": dict(sorted(self.by_step.items())),
            "escalations_by_recipient": dict(sorted(self.by_recipient.items())),
        }


def step_label(policy: str, number: int, after: str) -> str:
    """``follow_up step 2 (48 hours)``: a step named so that two configs' steps line up."""
    return f"{policy} step {number} ({after})"


def outcomes(
    verdicts: Iterable[Verdict],
    rules: Rulebook,
    team_of: Mapping[str, str],
    as_of: int,
    start: int,
    end: int,
) -> dict[str, Any]:
    """The outcomes of the cycles started in ``[start, end)`` (the report's period),
    judged at ``as_of``: overall and by grade, team and owner.

    A breach is a cycle past its target by ``as_of`` (breached, or lapsed: its
    ``breached_at`` is set). A cycle whose first ``k`` steps fired counts once in each
    of those steps, and once per recipient role each step notifies.
    """
    tallies = Tallies(rules, team_of, as_of, start, end)
    tallies.add(verdicts)
    return tallies.result()


class Tallies:
    """:func:`outcomes` gathered from verdicts and from plain cycles in columns (the
    column path of :func:`leadsla.core.evaluate.lead_blocks`): the same counts, without
    a verdict object per plain cycle."""

    def __init__(
        self, rules: Rulebook, team_of: Mapping[str, str], as_of: int, start: int, end: int
    ) -> None:
        self.policies = {policy.name: policy for policy in rules.policies}
        self.team_of, self.as_of, self.start, self.end = team_of, as_of, start, end
        self.overall = Outcome()
        self.groups: dict[str, dict[str, Outcome]] = {name: {} for name in OUTCOME_GROUPS}

    def _tallies(self, grade: str | None, owner: str | None) -> list[Outcome]:
        keys = {
            "by_grade": grade,
            "by_team": self.team_of.get(owner) if owner is not None else None,
            "by_owner": owner,
        }
        found = [self.overall]
        found.extend(
            self.groups[name].setdefault(key, Outcome())
            for name, key in keys.items()
            if key is not None
        )
        return found

    def add(self, verdicts: Iterable[Verdict]) -> None:
        for verdict in verdicts:
            if not self.start <= verdict.started_at < self.end:
                continue
            breached = verdict.breached_at is not None and verdict.breached_at <= self.as_of
            steps = self.policies[verdict.policy].escalate[: verdict.escalations]
            for tally in self._tallies(verdict.grade, verdict.owner):
                tally.cycles += 1
                tally.breaches += breached
                for step in steps:
                    tally.by_step[step_label(verdict.policy, step.number, str(step.after))] += 1
                    tally.by_recipient.update(step.notify)

    def add_plain(self, plain: PlainRows) -> None:
        """The plain cycles of a block, counted per (grade, owner) pair at once."""
        kept = np.flatnonzero((plain.started_at >= self.start) & (plain.started_at < self.end))
        if kept.size == 0:
            return
        grade, owner = plain.grade[kept], plain.owner[kept]
        policy, fired = plain.policy[kept], plain.escalations[kept]
        breached = (plain.breached_at[kept] != NEVER) & (plain.breached_at[kept] <= self.as_of)
        width = len(plain.owners) + 1
        pair = (grade.astype(np.int64) + 1) * width + (owner.astype(np.int64) + 1)
        pairs, which = np.unique(pair, return_inverse=True)
        cycles = np.bincount(which, minlength=pairs.size)
        breaches = np.bincount(which, weights=breached, minlength=pairs.size)
        # Per policy and step: how many cycles of each pair fired it (its first k steps).
        steps: list[tuple[str, tuple[str, ...], IndexArray]] = []
        for code, name in enumerate(plain.policies):
            mine = policy == code
            for step in self.policies[name].escalate:
                count = np.bincount(
                    which, weights=mine & (fired >= step.number), minlength=pairs.size
                )
                label = step_label(name, step.number, str(step.after))
                steps.append((label, step.notify, count.astype(np.int64)))
        for k, key in enumerate(pairs.tolist()):
            g, o = divmod(key, width)
            tallies = self._tallies(
                plain.grades[g - 1] if g > 0 else None, plain.owners[o - 1] if o > 0 else None
            )
            for tally in tallies:
                tally.cycles += int(cycles[k])
                tally.breaches += int(breaches[k])
                for label, notify, count in steps:
                    times = int(count[k])
                    if times:
                        tally.by_step[label] += times
                        for role in notify:
                            tally.by_recipient[role] += times

    def result(self) -> dict[str, Any]:
        result: dict[str, Any] = {"overall": self.overall.record()}
        for name, tallied in self.groups.items():
            result[name] = {key: tallied[key].record() for key in sorted(tallied)}
        return result


COUNTED = ("escalations_by_step", "escalations_by_recipient")


def aligned(left: dict[str, Any], right: dict[str, Any]) -> None:
    """Give both sides' escalation counts the same keys, in order: a step or recipient
    one side never reached fired 0 times there (not "no figure")."""
    for name in COUNTED:
        if name in left or name in right:
            keys = sorted({*left.get(name, {}), *right.get(name, {})})
            left[name] = {key: left.get(name, {}).get(key, 0) for key in keys}
            right[name] = {key: right.get(name, {}).get(key, 0) for key in keys}


def difference(current: Any, proposed: Any) -> Any:
    """``proposed`` minus ``current``, figure by figure.

    Numbers give their difference; dicts recurse over the keys of either (a key one
    side lacks counts as ``None``); a figure that is ``None`` on either side (a ratio
    with no denominator, a policy one config lacks) gives ``None``, as there is
    nothing to subtract. Texts and lists are not figures: they are left out.
    """
    if isinstance(current, Mapping) or isinstance(proposed, Mapping):
        left = current if isinstance(current, Mapping) else {}
        right = proposed if isinstance(proposed, Mapping) else {}
        result: dict[str, Any] = {}
        for key in [*left, *(k for k in right if k not in left)]:
            if (key in left and _figure(left[key])) or (key in right and _figure(right[key])):
                result[key] = difference(left.get(key), right.get(key))
        return result
    if _number(current) and _number(proposed):
        return proposed - current
    return None


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _figure(value: Any) -> bool:
    """Whether ``value`` is a figure or holds one: a number, ``None`` (a figure with
    no value, such as a ratio of nothing), or a dict of any."""
    if isinstance(value, Mapping):
        return any(_figure(v) for v in value.values())
    return value is None or _number(value)
