"""The report of SPEC §8, from an events file or from the events stored in the database.

Both paths put the events in one lead-grouped :class:`EventTable` and hand it to
:func:`~leadsla.core.columnar.report_facts` (plain leads in columns, the others
replayed by :meth:`LeadClocks.apply` and judged by :func:`judge_lead`), then to the
same :func:`~leadsla.core.metrics.scorecard`, so a file and the database holding the
same events give the same figures.
"""

from __future__ import annotations

from array import array
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import numpy as np

from leadsla.config.schema import Config
from leadsla.core.columnar import report_facts
from leadsla.core.evaluate import LeadResult, lead_results
from leadsla.core.events import EventTable
from leadsla.core.metrics import MetricRules, scorecard
from leadsla.core.policy import Rulebook
from leadsla.report.settings import ReportSettings

if TYPE_CHECKING:
    from sqlalchemy import Connection

# Rows fetched from the database at a time: the history is streamed, never loaded whole.
STREAM_ROWS = 10_000


def metric_rules_from_config(
    rules: Rulebook, config: Config, *, scope_owners: frozenset[str] | None = None
) -> MetricRules:
    """``workable`` and ``commitments`` of the config, which the rulebook does not carry.

    With ``scope_owners``, only those reps are listed in per-rep figures.
    """
    return ReportSettings.of(rules, config).metric_for(scope_owners)


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
    ordered = table if table.ordered else table.sorted()
    facts = report_facts(ordered, metric, as_of, owners=scope_owners)
    return scorecard(facts, metric, as_of, period)


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
    table = stored_event_table(connection, as_of, owners=scope_owners)
    facts = report_facts(table, metric, as_of, owners=scope_owners)
    return scorecard(facts, metric, as_of, period)


def _stored_rows(connection: Connection, as_of: int, owners: frozenset[str] | None) -> Any:
    """The stored rows up to ``as_of`` in (lead, instant, arrival) order, streamed."""
    # SQLAlchemy loads here, not with the module: a report from a file never needs it.
    from sqlalchemy import select

    from leadsla.store.tables import events

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
    return connection.execute(query.execution_options(yield_per=STREAM_ROWS))


def stored_event_table(
    connection: Connection, as_of: int, *, owners: frozenset[str] | None = None
) -> EventTable:
    """The stored events up to ``as_of`` as a lead-grouped table (rows in the order
    the exact engine replays them; ``line`` numbers that order).

    Values are kept as stored; an empty or null value is code -1 (it clears the field).
    ``owners`` limits the leads to those that ever had one of these owners.
    """
    lead_codes: dict[str, int] = {}
    field_codes: dict[str, int] = {}
    value_codes: dict[str, int] = {}
    leads = array("i")
    ats = array("q")
    fields = array("h")
    values = array("i")
    for row_lead, at, name, value in _stored_rows(connection, as_of, owners):
        leads.append(lead_codes.setdefault(row_lead, len(lead_codes)))
        ats.append(at)
        fields.append(field_codes.setdefault(name, len(field_codes)))
        values.append(value_codes.setdefault(value, len(value_codes)) if value else -1)
    return EventTable(
        lead=np.frombuffer(leads, dtype=np.int32),
        at=np.frombuffer(ats, dtype=np.int64),
        field=np.frombuffer(fields, dtype=np.int16),
        value=np.frombuffer(values, dtype=np.int32),
        line=np.arange(len(leads), dtype=np.int64),
        lead_ids=list(lead_codes),
        fields=list(field_codes),
        values=list(value_codes),
    )


def stored_lead_results(
    connection: Connection,
    rules: Rulebook,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
) -> Iterator[LeadResult]:
    """Every stored lead replayed up to ``as_of`` and judged then, one lead at a time,
    with its instants (for figures the columns do not carry)."""
    table = stored_event_table(connection, as_of, owners=owners)
    return lead_results(rules, table, as_of, with_instants=True)
