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

from collections.abc import Mapping, Sequence
from dataclasses import replace
from typing import Any

import numpy as np
import numpy.typing as npt

from leadsla.core import metrics
from leadsla.core.columnar import columnar_facts, replayed_facts
from leadsla.core.metrics import Facts, MetricRules
from leadsla.core.policy import Policy
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents, RecordedVersions


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
    recorded = events.recorded
    if recorded is None:
        return _facts(events, np.arange(len(table.lead)), metric, as_of, scope)
    group_of, groups = version_groups(table.lead_ids, recorded, metric)
    row_group = group_of[table.lead]
    parts = [_facts(events, np.flatnonzero(row_group == 0), metric, as_of, scope)]
    for signature, swapped in groups.items():
        rows = np.flatnonzero(row_group == signature)
        parts.append(_facts(events, rows, _judged_by(metric, swapped), as_of, scope))
    mixed = np.flatnonzero(row_group == MIXED)
    if len(mixed):
        rest = events.named(mixed)
        parts.append(replayed_facts(rest, metric, as_of, owners=scope, recorded=recorded.mixed))
    return metrics.merge_facts(parts)


MIXED = -1  # the group of the leads with cycles of several versions of one policy


def version_groups(
    lead_ids: Sequence[str],
    recorded: RecordedVersions,
    metric: MetricRules,
    *,
    widest: int = 2**62,
) -> tuple[npt.NDArray[np.int64], dict[int, dict[str, Policy]]]:
    """Each lead's group (0: judged by the config; :data:`MIXED`; else a signature) and
    the policies each signature's leads are judged by.

    A signature numbers the versions a lead's policies are of: digit ``p`` (base: the
    number of versions + 1) is the rank of the version of the ``p``-th policy, 0 for
    the config's. Worked out in arrays: a history can hold millions of such leads.
    Signatures that could reach ``widest`` are numbered in Python instead.
    """
    code_of = {lead_id: code for code, lead_id in enumerate(lead_ids)}
    names = [policy.name for policy in metric.rules.policies]
    position = {name: number for number, name in enumerate(names)}
    codes = np.fromiter((code_of.get(i, -1) for i in recorded.lead_ids), np.int64)
    places = np.fromiter((position.get(n, -1) for n in recorded.policies), np.int64)
    distinct, ranks = np.unique(np.asarray(recorded.versions, dtype=np.int64), return_inverse=True)
    base = len(distinct) + 1
    known = (codes >= 0) & (places >= 0)  # a lead out of the table, a policy out of the config
    codes, places, ranks = codes[known], places[known], ranks[known] + 1
    group_of = np.zeros(len(lead_ids), dtype=np.int64)
    if base ** len(names) < widest:
        np.add.at(group_of, codes, ranks * base**places)
        digits = {
            int(s): [s // base**p % base for p in range(len(names))]
            for s in np.unique(group_of[group_of > 0]).tolist()
        }
    else:  # too many policies and versions for one integer: signatures numbered in Python
        digits = _numbered_signatures(group_of, codes, places, ranks, len(names))
    group_of[[code_of[i] for i in recorded.mixed if i in code_of]] = MIXED
    groups: dict[int, dict[str, Policy]] = {}
    for signature, ranked in digits.items():
        if not (group_of == signature).any():
            continue  # every lead of it mixes versions
        groups[signature] = {
            name: recorded.judged_by[int(distinct[rank - 1])]
            for name, rank in zip(names, ranked, strict=True)
            if rank
        }
    return group_of, groups


def _numbered_signatures(
    group_of: npt.NDArray[np.int64],
    codes: npt.NDArray[np.int64],
    places: npt.NDArray[np.int64],
    ranks: npt.NDArray[np.int64],
    size: int,
) -> dict[int, list[int]]:
    """Number the leads' signatures 1… in ``group_of``; each number's version ranks."""
    found: dict[int, list[int]] = {}
    for code, place, rank in zip(codes.tolist(), places.tolist(), ranks.tolist(), strict=True):
        found.setdefault(code, [0] * size)[place] = rank
    numbers: dict[tuple[int, ...], int] = {}
    for code, ranked in found.items():
        group_of[code] = numbers.setdefault(tuple(ranked), len(numbers) + 1)
    return {number: list(ranked) for ranked, number in numbers.items()}


def _facts(
    events: LeadEvents,
    rows: npt.NDArray[np.intp],
    metric: MetricRules,
    as_of: int,
    scope: frozenset[str] | None,
) -> Facts:
    """The facts of these rows' leads: columns where they can, the exact engine for the rest."""
    return metrics.merge_facts(list(_fact_parts(events, rows, metric, as_of, scope)))


def _fact_parts(
    events: LeadEvents,
    rows: npt.NDArray[np.intp],
    metric: MetricRules,
    as_of: int,
    scope: frozenset[str] | None,
) -> tuple[Facts, Facts]:
    """The facts of these rows' plain leads (the column path) and of the leads the exact
    engine replays, in that order."""
    whole = len(rows) == len(events.table.lead)
    table = events.table if whole else events.table.take(rows)
    fast, exact_rows = columnar_facts(table, metric, as_of, owners=scope)
    # Only the leads the columns leave to the exact engine are named and replayed.
    rest = events.named(rows[np.flatnonzero(exact_rows)])
    return fast, replayed_facts(rest, metric, as_of, owners=scope)


def scorecard_facts(
    events: LeadEvents, settings: ReportSettings, as_of: int
) -> tuple[Facts, Facts]:
    """The facts the scorecard of a file's events (no recorded policy versions: those
    are the database's) is computed from: those of the plain leads and those of the
    replayed ones, which :func:`versioned_facts` merges in that order
    (:mod:`.partials` merges many parts' the same way)."""
    if events.recorded is not None:
        raise ValueError("the facts of recorded policy versions are merged in one piece")
    rows = np.arange(len(events.table.lead))
    return _fact_parts(events, rows, settings.metric, as_of, None)


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
