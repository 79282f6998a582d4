"""Where the report's events come from: an events file or the database, each given as
the same :class:`LeadEvents`, so the report, the segments and the follow-up times are
computed by one piece of code whatever the source.

A plain file is read on Polars (:mod:`.fast_reader`), any other by the careful reader
the caller passes; the stored events are streamed from the database. SQLAlchemy
loads only for the database: a report from a file never imports it.
"""

from __future__ import annotations

from array import array
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, replace
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from leadsla.core.events import EventTable
from leadsla.core.policy import Policy, Rulebook
from leadsla.report.fast_reader import read_grouped_events
from leadsla.report.settings import ReportSettings
from leadsla.report.sidecar import AnalyticsHelper

if TYPE_CHECKING:
    from sqlalchemy import Connection

# From this size of file (about 1.5 M events) the analytics keys are computed by a
# second process; below it, starting one costs more than it saves.
HELPER_FROM_BYTES = 64 << 20
# Rows fetched from the database at a time: the history is streamed, never loaded whole.
STREAM_ROWS = 10_000


@dataclass(frozen=True)
class RecordedVersions:
    """The stored cycles recorded under an earlier version of their policy, with the
    policy each is judged by (SPEC §9.6; what the scorecard reads)."""

    # One row per (lead, policy) whose cycles are all of one earlier version.
    lead_ids: list[str]
    policies: list[str]
    versions: list[int]
    judged_by: Mapping[int, Policy]  # version id → the policy its cycles are judged by
    # The leads with cycles of several versions of one policy: the policy of each of
    # their cycles of an earlier version, by (policy name, cycle number).
    mixed: Mapping[str, Mapping[tuple[str, int], Policy]]


@dataclass(frozen=True)
class LeadEvents:
    """A lead-grouped event table (each lead's rows together, by instant and arrival;
    the leads in any order), whichever source it came from.

    ``named`` gives some of its rows (whole leads) with their lead ids: the Polars
    reader leaves ``table.lead_ids`` empty, as naming millions of leads costs more than
    the column path spends on them, and names only the leads the exact engine replays.
    ``helper``, when there is one, has the table and is computing the analytics keys.
    """

    table: EventTable
    named: Callable[[npt.NDArray[np.intp]], EventTable]
    helper: AnalyticsHelper | None = None
    # The database's cycles recorded under an earlier policy version (:func:`stored_events`).
    recorded: RecordedVersions | None = None

    @classmethod
    def of(cls, table: EventTable) -> LeadEvents:
        """The events of a table with its lead ids (sorted here if it is not)."""
        ordered = table if table.ordered else table.sorted()
        return cls(ordered, ordered.take)


@contextmanager
def file_events(
    path: Path,
    settings: ReportSettings,
    as_of: int,
    *,
    careful: Callable[[], EventTable],
    fast: bool = True,
    helper_from_bytes: int = HELPER_FROM_BYTES,
) -> Iterator[LeadEvents]:
    """The events of a file: read on Polars if ``fast`` and the file is plain, else by
    ``careful`` (which reports the file's problems as the caller sees fit).

    For a file of ``helper_from_bytes`` or more read on Polars, a second process
    (:mod:`.sidecar`) gets the table for the analytics keys; it is started before the
    reading so that its imports overlap it, and stopped when the block ends.
    """
    helper = None
    if fast and _size(path) >= helper_from_bytes:
        helper = AnalyticsHelper.start(settings, as_of)
    try:
        rules = settings.rules
        grouped = (
            read_grouped_events(
                path,
                statuses=list(rules.statuses),
                grades=[g.name for g in rules.grades],
                acceptance=rules.acceptance,
            )
            if fast
            else None
        )
        if grouped is None:
            if helper is not None:
                helper.close()  # at once: it would hold its imports' memory to the end
                helper = None
            yield LeadEvents.of(careful())
            return
        if helper is not None:
            grouped = replace(grouped, table=helper.share(grouped.table))
        # Lead-grouped is all the report needs (see .fast_reader): no sort by lead id.
        yield LeadEvents(replace(grouped.table, ordered=True), grouped.named, helper)
    finally:
        if helper is not None:
            helper.close()


def _size(path: Path) -> int:
    try:
        return path.stat().st_size
    except OSError:
        return 0


def stored_events(
    connection: Connection,
    as_of: int,
    *,
    owners: frozenset[str] | None = None,
    rules: Rulebook | None = None,
) -> LeadEvents:
    """The stored events up to ``as_of``.

    ``owners`` (a manager's or rep's view) leaves out the leads that never had one of
    these owners: they count in no figure of that view, so they are not even read.
    With ``rules`` (the config's), the cycles recorded under an earlier version of
    their policy come with the policy they are judged by (SPEC §9.6; the scorecard
    reads them): the report of the service then says what its clock views say.
    """
    table = stored_event_table(connection, as_of, owners=owners)
    # In the database's lead order, which may not be Python's: lead-grouped is enough.
    ordered = replace(table, ordered=True)
    recorded = _recorded(connection, rules, as_of) if rules is not None else None
    return LeadEvents(ordered, ordered.take, recorded=recorded)


def _recorded(connection: Connection, rules: Rulebook, as_of: int) -> RecordedVersions | None:
    from leadsla.store.versions import earlier_versions, versioned_leads

    earlier = earlier_versions(connection, rules)
    found = versioned_leads(connection, earlier, until=as_of)
    if not found.lead_ids and not found.mixed:
        return None
    mixed = {
        lead_id: {key: earlier[v] for key, v in cycles.items() if v is not None and v in earlier}
        for lead_id, cycles in found.mixed.items()
    }
    return RecordedVersions(found.lead_ids, found.policies, found.versions, earlier, mixed)


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
