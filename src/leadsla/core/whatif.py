"""What-if (SPEC §9.6): what one history's replay under a config adds to its report, and
the difference between two reports.

The report object of SPEC §8 is computed by the report code for each config; this
module only tallies what the report does not hold (the escalations that would have
fired, by step and recipient, and the breaches) and subtracts one report from the
other. Pure Python: the caller replays the leads and passes their verdicts.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from leadsla.core.cycle import Verdict
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
    policies = {policy.name: policy for policy in rules.policies}
    overall = Outcome()
    groups: dict[str, dict[str, Outcome]] = {name: {} for name in OUTCOME_GROUPS}
    for verdict in verdicts:
        if not start <= verdict.started_at < end:
            continue
        keys = {
            "by_grade": verdict.grade,
            "by_team": team_of.get(verdict.owner) if verdict.owner is not None else None,
            "by_owner": verdict.owner,
        }
        tallies = [overall]
        tallies.extend(
            groups[name].setdefault(key, Outcome()) for name, key in keys.items() if key is not None
        )
        breached = verdict.breached_at is not None and verdict.breached_at <= as_of
        steps = policies[verdict.policy].escalate[: verdict.escalations]
        for tally in tallies:
            tally.cycles += 1
            tally.breaches += breached
            for step in steps:
                tally.by_step[step_label(verdict.policy, step.number, str(step.after))] += 1
                tally.by_recipient.update(step.notify)
    result: dict[str, Any] = {"overall": overall.record()}
    for name, tallied in groups.items():
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
