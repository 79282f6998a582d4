"""The scorecard of SPEC §8, from the events of any source (:mod:`.sources`).

The plain leads are evaluated in columns (:func:`~leadsla.core.columnar.columnar_facts`),
the others replayed by :meth:`LeadClocks.apply` and judged by :func:`judge_lead`, and
both sets of facts go to the one :func:`~leadsla.core.metrics.scorecard`: a file and the
database holding the same events give the same figures.

A database's cycles recorded under an earlier version of their policy are judged by
that version (SPEC §9.6, ``LeadEvents.recorded``). The leads whose cycles of each
policy share one version are evaluated like the others, in groups, on a rulebook that
holds those versions; a lead with cycles of two versions of one policy (a cycle
started before a change and one after) is replayed and each cycle judged by its own.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from leadsla.core import metrics
from leadsla.core.columnar import columnar_facts, replayed_facts
from leadsla.core.metrics import Facts, MetricRules
from leadsla.core.policy import Policy
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents

# The versions a group of leads is judged by: (policy name, id of its judging policy).
_Signature = tuple[tuple[str, int], ...]


def scorecard(
    events: LeadEvents,
    settings: ReportSettings,
    as_of: int,
    period: str = "month",
    *,
    scope: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The SPEC §8 figures of the events, judged at ``as_of``.

    ``scope`` (a manager's or rep's view) keeps the MQLs whose owner at the MQL
    instant, and the clocks whose attributed owner, is one of these reps.
    """
    metric = settings.metric_for(scope)
    facts = versioned_facts(events, metric, as_of, scope)
    return metrics.scorecard(facts, metric, as_of, period)


def versioned_facts(
    events: LeadEvents, metric: MetricRules, as_of: int, scope: frozenset[str] | None
) -> Facts:
    """The facts of every lead, each cycle judged by the policy version it started under."""
    table = events.table
    if not events.recorded:
        return _facts(events, np.arange(len(table.lead)), metric, as_of, scope)
    code_of = {lead_id: code for code, lead_id in enumerate(table.lead_ids)}
    groups: dict[_Signature, tuple[dict[str, Policy], list[int]]] = {}
    mixed: dict[str, dict[tuple[str, int], Policy]] = {}
    mixed_codes: list[int] = []
    for lead_id, cycles in events.recorded.items():
        code = code_of.get(lead_id)
        if code is None:  # a lead out of the view (scope), or no event by ``as_of``
            continue
        # Policies hold mappings, so they are told apart by identity (one object per
        # version: store.versions.earlier_versions).
        by_policy: dict[str, dict[int, Policy | None]] = {}
        for (name, _number), policy in cycles.items():
            by_policy.setdefault(name, {})[id(policy)] = policy
        if any(len(found) > 1 for found in by_policy.values()):
            mixed[lead_id] = {k: p for k, p in cycles.items() if p is not None}
            mixed_codes.append(code)
            continue
        swapped = {
            name: policy
            for name, found in by_policy.items()
            for policy in found.values()
            if policy is not None
        }
        if swapped:
            signature = tuple(sorted((name, id(p)) for name, p in swapped.items()))
            groups.setdefault(signature, (swapped, []))[1].append(code)
    # Each lead's group: 0 the config's, 1 mixed, 2… the version groups.
    group_of = np.zeros(len(table.lead_ids), dtype=np.int32)
    group_of[mixed_codes] = 1
    for number, (_swapped, codes) in enumerate(groups.values(), start=2):
        group_of[codes] = number
    row_group = group_of[table.lead]
    parts = [_facts(events, np.flatnonzero(row_group == 0), metric, as_of, scope)]
    for number, (swapped, _codes) in enumerate(groups.values(), start=2):
        rows = np.flatnonzero(row_group == number)
        parts.append(_facts(events, rows, _judged_by(metric, swapped), as_of, scope))
    if mixed:
        rows = np.flatnonzero(row_group == 1)
        rest = events.named(rows)
        parts.append(replayed_facts(rest, metric, as_of, owners=scope, recorded=mixed))
    return metrics.merge_facts(parts)


def _facts(
    events: LeadEvents,
    rows: npt.NDArray[np.intp],
    metric: MetricRules,
    as_of: int,
    scope: frozenset[str] | None,
) -> Facts:
    """The facts of these rows' leads: columns where they can, the exact engine for the rest."""
    whole = len(rows) == len(events.table.lead)
    table = events.table if whole else events.table.take(rows)
    fast, exact_rows = columnar_facts(table, metric, as_of, owners=scope)
    # Only the leads the columns leave to the exact engine are named and replayed.
    rest = events.named(rows[np.flatnonzero(exact_rows)])
    return metrics.merge_facts([fast, replayed_facts(rest, metric, as_of, owners=scope)])


def _judged_by(metric: MetricRules, swapped: Mapping[str, Policy]) -> MetricRules:
    """The metric rules with these policies in place of the config's of the same names."""
    rules = metric.rules
    intake = rules.intake
    return replace(
        metric,
        rules=replace(
            rules,
            policies=tuple(swapped.get(p.name, p) for p in rules.policies),
            intake=swapped.get(intake.name, intake) if intake is not None else None,
        ),
    )
