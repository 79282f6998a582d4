"""The report of SPEC §8, from an events file or from the events stored in the database.

Both paths replay every lead with :meth:`LeadClocks.apply`, judge it with
:func:`judge_lead` at the same instant and feed the same
:func:`~leadsla.core.metrics.scorecard`, so a file and the database holding the
same events give the same figures.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from sqlalchemy import Connection, select

from leadsla.config import Config
from leadsla.core.clock import Change, LeadClocks, judge_lead
from leadsla.core.evaluate import LeadResult, lead_results
from leadsla.core.events import EventTable
from leadsla.core.metrics import Commitment, FactCollector, MetricRules, metric_rules, scorecard
from leadsla.core.policy import Rulebook
from leadsla.store.tables import events

# Rows fetched from the database at a time: the history is streamed, never loaded whole.
STREAM_ROWS = 10_000


def metric_rules_from_config(
    rules: Rulebook, config: Config, *, scope_owners: frozenset[str] | None = None
) -> MetricRules:
    """``workable`` and ``commitments`` of the config, which the rulebook does not carry.

    With ``scope_owners``, only those reps are listed in per-rep figures.
    """
    commitments = tuple(
        Commitment(
            name=c.name,
            metric=c.metric,
            period=c.period,
            target=c.target,
            segment={name: frozenset(values) for name, values in (c.segment or {}).items()},
        )
        for c in config.commitments
    )
    reps = [rep for rep in rules.reps if scope_owners is None or rep in scope_owners]
    return metric_rules(
        rules,
        workable=config.workable.grade if config.workable is not None else None,
        commitments=commitments,
        reps=reps,
    )


def report_from_events(
    rules: Rulebook,
    config: Config,
    table: EventTable,
    as_of: int,
    period: str = "month",
    *,
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The report of an event table (sorted here if it is not) judged at ``as_of``."""
    metric = metric_rules_from_config(rules, config, scope_owners=scope_owners)
    collector = FactCollector(metric, owners=scope_owners)
    ordered = table if table.ordered else table.sorted()
    for result in lead_results(rules, ordered, as_of, with_instants=True):
        collector.add_result(result, as_of)
    return scorecard(collector.facts(), metric, as_of, period)


def report_from_database(
    connection: Connection,
    rules: Rulebook,
    config: Config,
    as_of: int,
    period: str = "month",
    scope_owners: frozenset[str] | None = None,
) -> dict[str, Any]:
    """The report of the stored events judged at ``as_of``.

    ``scope_owners`` (a manager's or rep's view) keeps the MQLs whose owner at the MQL
    instant, and the clocks whose attributed owner, is one of them; leads that never
    had such an owner are not even read.
    """
    metric = metric_rules_from_config(rules, config, scope_owners=scope_owners)
    collector = FactCollector(metric, owners=scope_owners)
    for result in stored_lead_results(connection, rules, as_of, owners=scope_owners):
        collector.add_result(result, as_of)
    return scorecard(collector.facts(), metric, as_of, period)


def stored_lead_results(
    connection: Connection,
    rules: Rulebook,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
) -> Iterator[LeadResult]:
    """Every stored lead replayed up to ``as_of`` and judged then, one lead at a time.

    Rows come in (lead, instant, arrival) order, as :func:`replay_leads` reads them;
    ``owners`` limits the leads to those that ever had one of these owners.
    """
    query = (
        select(events.c.lead_id, events.c.at, events.c.field, events.c.value)
        .where(events.c.at <= as_of)
        .order_by(events.c.lead_id, events.c.at, events.c.seq)
    )
    if owners is not None:
        owned = select(events.c.lead_id).where(
            events.c.field == "owner", events.c.value.in_(sorted(owners))
        )
        query = query.where(events.c.lead_id.in_(owned))
    rows = connection.execute(query.execution_options(yield_per=STREAM_ROWS))
    lead_id: str | None = None
    instants: list[tuple[int, list[Change]]] = []
    for row_lead, at, name, value in rows:
        if row_lead != lead_id:
            if lead_id is not None:
                yield _judged(rules, lead_id, instants, as_of)
            lead_id, instants = row_lead, []
        if instants and instants[-1][0] == at:
            instants[-1][1].append((name, value))
        else:
            instants.append((at, [(name, value)]))
    if lead_id is not None:
        yield _judged(rules, lead_id, instants, as_of)


def _judged(
    rules: Rulebook, lead_id: str, instants: list[tuple[int, list[Change]]], as_of: int
) -> LeadResult:
    clocks = LeadClocks(lead_id)
    for at, changes in instants:
        clocks.apply(rules, at, changes)
    return LeadResult(lead_id, clocks, judge_lead(rules, clocks, as_of), instants)
