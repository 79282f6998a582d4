"""What a sync pulls from Salesforce for one window of time, as events.

A window is ``(since, until]`` in ``SystemModstamp`` (``since`` absent on the first sync,
the backfill). Its queries, and why they give the events a file import of the same
records gives (docs/crm.md, "First sync"):

- ``Lead`` records modified in the window. A Lead row is the lead's values *now*,
  placed at its creation; what a field held at creation is the ``OldValue`` of its
  first change in ``LeadHistory``. So each lead's history up to ``until`` is read with
  it (``LeadId IN (...)``), whichever window it was written in, and the pair is
  reconciled as the file import reconciles a Lead export with a LeadHistory export.
  A lead changed after ``until`` is left to the next window, with all of its history.
  History rows read again are recognised by their ids and stored once.
- ``LeadHistory`` (the backfill only: later windows read the history of the leads they
  bring, which covers every change, since a change moves the lead's ``SystemModstamp``).
- ``Task`` records modified in the window: a task closed since the last sync becomes the
  activity it is; an open one makes nothing yet, and comes back when it is closed.

The backfill reads each object with a Bulk API 2.0 query job (CSV pages, no 2,000-row
pages); later windows use the query endpoint. Rows go through the export connectors
(:mod:`leadsla.connectors.salesforce`), so the activity mapping and the keys are the
file import's.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

from leadsla.connectors.mapping import ImportMapping
from leadsla.connectors.records import Pulled, Window, convert_rows, utc_text
from leadsla.connectors.salesforce import LEAD, LEAD_HISTORY, TASK
from leadsla.connectors.sfdc_api import SalesforceApi, csv_page_rows, record_rows

# The Lead fields the default mapping reads; a config adds custom ones (Lead_Score__c).
LEAD_FIELDS: tuple[str, ...] = ("Status", "OwnerId", "Rating", "LeadSource", "Industry", "Country")
HISTORY_FIELDS: tuple[str, ...] = (
    "Id",
    "LeadId",
    "CreatedDate",
    "Field",
    "DataType",
    "OldValue",
    "NewValue",
)
TASK_FIELDS: tuple[str, ...] = (
    "Id",
    "WhoId",
    "CreatedDate",
    "CompletedDateTime",
    "ActivityDate",
    "Status",
    "IsClosed",
    "Type",
    "TaskSubtype",
    "CallType",
    "CallDisposition",
)
# LeadId IN (...) lists: 200 ids keep the query text far below SOQL's 100,000 characters.
IDS_PER_QUERY = 200

Progress = Callable[[int, int | None], None]


def _between(column: str, window: Window) -> str:
    upper = f"{column} <= {utc_text(window.until)}"
    if window.since is None:
        return upper
    return f"{column} > {utc_text(window.since)} AND {upper}"


def lead_soql(fields: Sequence[str], window: Window) -> str:
    columns = ", ".join(dict.fromkeys(("Id", "CreatedDate", *fields)))
    return f"SELECT {columns} FROM Lead WHERE {_between('SystemModstamp', window)}"


def history_soql(window: Window, lead_ids: Sequence[str] | None = None) -> str:
    where = f"CreatedDate <= {utc_text(window.until)}"
    if lead_ids is not None:
        where = "LeadId IN (" + ", ".join(f"'{i}'" for i in lead_ids) + f") AND {where}"
    elif window.since is not None:
        where = _between("CreatedDate", window)
    return f"SELECT {', '.join(HISTORY_FIELDS)} FROM LeadHistory WHERE {where}"


def task_soql(window: Window) -> str:
    return f"SELECT {', '.join(TASK_FIELDS)} FROM Task WHERE {_between('SystemModstamp', window)}"


def count_soql(soql: str) -> str:
    """The ``SELECT COUNT()`` of a query, for the backfill's progress bar."""
    _, _, rest = soql.partition(" FROM ")
    return f"SELECT COUNT() FROM {rest}"


def pull_window(
    api: SalesforceApi,
    mapping: ImportMapping,
    window: Window,
    *,
    lead_fields: Sequence[str] = LEAD_FIELDS,
    progress: Progress | None = None,
) -> Pulled:
    """The events of one window (see the module docstring)."""
    pulled = Pulled()
    queries = [
        ("Lead", LEAD, lead_soql(lead_fields, window)),
        ("Task", TASK, task_soql(window)),
    ]
    if window.backfill:
        queries.insert(1, ("LeadHistory", LEAD_HISTORY, history_soql(window)))
    total = _total(api, [soql for _, _, soql in queries]) if window.backfill else None
    done = 0

    def step(count: int) -> None:
        nonlocal done
        done += count
        if progress is not None:
            progress(done, total)

    brought: list[str] = []  # the window's leads, whose history is read with them
    for name, connector, soql in queries:
        source = f"salesforce:{name}"
        count = 0
        for header, rows in _pages(api, name, soql, window.backfill):
            count += len(rows)
            if name == "Lead" and not window.backfill:
                at_id = header.index("Id")
                brought.extend(row[at_id] for row in rows)
            pulled.converted.extend(convert_rows(connector, header, rows, mapping, source))
            step(len(rows))
        pulled.records[name] = count
    if brought:
        count = 0
        for chunk in _chunks(brought, IDS_PER_QUERY):
            for header, rows in _pages(api, "LeadHistory", history_soql(window, chunk), False):
                count += len(rows)
                pulled.converted.extend(
                    convert_rows(LEAD_HISTORY, header, rows, mapping, "salesforce:LeadHistory")
                )
        pulled.records["LeadHistory"] = count
    return pulled


def _pages(
    api: SalesforceApi, name: str, soql: str, bulk: bool
) -> Iterator[tuple[list[str], list[list[str]]]]:
    """``(header, rows)`` per page: Bulk API 2.0 CSV, or query records laid out as CSV."""
    if bulk:
        for page in api.bulk_pages(name, soql):
            header, rows = csv_page_rows(page)
            if header:
                yield header, rows
        return
    header = _select_list(soql)
    for records in api.query_pages(soql):
        yield header, list(record_rows(records, header))


def _select_list(soql: str) -> list[str]:
    selected = soql.removeprefix("SELECT ").partition(" FROM ")[0]
    return [name.strip() for name in selected.split(",")]


def _total(api: SalesforceApi, queries: Sequence[str]) -> int:
    return sum(api.count(count_soql(soql)) for soql in queries)


def _chunks(items: Sequence[str], size: int) -> Iterator[Sequence[str]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]
