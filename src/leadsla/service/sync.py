"""``leadsla sync``: a CRM's changes since the last sync, stored as events; and write-back,
the leads' SLA fields sent back to the CRM (docs/crm.md).

A sync reads one window ``(watermark, until]``, with ``until`` a little behind the clock
(:data:`SETTLE_SECONDS`: a record's modification stamp is set before its transaction
commits, so the newest seconds may not be readable yet). The window's records become
events through the export connectors, are reconciled as a file import's are, and are
stored in chunks of whole leads; the watermark moves to ``until`` in the transaction
of the last chunk. A sync killed mid-way has not moved it, so the next one reads the
same window again; the events already stored are recognised by their keys.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy import Connection, Engine

from leadsla.connectors.mapping import Converted, ConvertedRow, RejectedRow, SkippedRow
from leadsla.connectors.reconcile import reconcile
from leadsla.connectors.records import Pulled, Window
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.events import value_problem
from leadsla.core.policy import Rulebook
from leadsla.service.imports import ImportResult, import_incoming
from leadsla.service.ingest import IncomingEvent
from leadsla.service.queries import clocks_at
from leadsla.store import sync as sync_state

SETTLE_SECONDS = 60
# Write-back looks again at leads updated this long before its last round.
LATE_COMMIT_MARGIN = 10 * 60 * MICROS_PER_SECOND


def sync_source(crm: str) -> str:
    """The ``source`` of a CRM's synced events (and how write-back finds its leads)."""
    return f"sync:{crm}"


@dataclass
class SyncResult:
    crm: str
    window: Window | None  # None: nothing new to read yet
    records: dict[str, int] = field(default_factory=dict)
    stored: ImportResult = field(default_factory=ImportResult)
    rejected: list[RejectedRow] = field(default_factory=list)


def next_window(engine: Engine, crm: str, now: int, settle_seconds: int) -> Window | None:
    """The window the next sync of ``crm`` reads: from its watermark (the backfill when it
    has none) to whole seconds ``settle_seconds`` behind ``now``; None when empty."""
    with engine.connect() as connection:
        since = sync_state.watermark(connection, crm)
    until = (now - settle_seconds * MICROS_PER_SECOND) // MICROS_PER_SECOND * MICROS_PER_SECOND
    if since is not None and until <= since:
        return None
    return Window(since, until)


def run_sync(
    engine: Engine,
    rules: Rulebook,
    crm: str,
    pull: Callable[[Window], Pulled],
    *,
    now: int,
    settle_seconds: int = SETTLE_SECONDS,
    progress: Callable[[int], None] | None = None,
) -> SyncResult:
    """Read the next window of ``crm`` with ``pull`` and store its events with the watermark."""
    window = next_window(engine, crm, now, settle_seconds)
    if window is None:
        return SyncResult(crm, None)
    pulled = pull(window)
    good, rejected = checked_rows(rules, pulled.converted)
    incoming = [
        IncomingEvent(row.lead_id, row.at, row.field, row.value, row.key) for row in reconcile(good)
    ]

    def move_watermark(connection: Connection) -> None:
        sync_state.save_watermark(connection, crm, window.until, now)

    stored = import_incoming(
        engine,
        rules,
        incoming,
        source=sync_source(crm),
        recorded_at=now,
        progress=progress,
        finish=move_watermark,
    )
    return SyncResult(crm, window, pulled.records, stored, rejected)


def checked_rows(
    rules: Rulebook, converted: Sequence[Converted]
) -> tuple[list[ConvertedRow], list[RejectedRow]]:
    """The events whose values the config knows (statuses, grades, SPEC §3 meanings), and
    the records rejected, by the connector or for such a value. Records that are fine but
    make no event (an open task) are neither: an open task comes back once closed."""
    statuses = list(rules.statuses)
    grades = [grade.name for grade in rules.grades]
    good: list[ConvertedRow] = []
    rejected: list[RejectedRow] = []
    for item in converted:
        if isinstance(item, SkippedRow):
            continue
        if isinstance(item, RejectedRow):
            rejected.append(item)
            continue
        problem = value_problem(item.field, item.value or "", statuses, grades, rules.acceptance)
        if problem is None:
            good.append(item)
        else:
            rejected.append(RejectedRow(item.line, [item.lead_id], f"{item.field}: {problem}"))
    return good, rejected


# -- write-back ----------------------------------------------------------------------------

# (lead, what its record is to show) -> (lead, the CRM's error or None), per lead sent.
Writer = Callable[[Sequence[sync_state.Written]], list[tuple[str, str | None]]]


@dataclass
class WriteBackResult:
    changed: int = 0  # leads whose record should show something new
    written: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)


def sla_fields(
    connection: Connection, rules: Rulebook, lead_ids: Sequence[str], policy: str, as_of: int
) -> list[sync_state.Written]:
    """What each lead's record should show at ``as_of``: its latest cycle of ``policy``
    (due instant and state); leads without such a cycle show nothing (both empty)."""
    shown: list[sync_state.Written] = []
    for start in range(0, len(lead_ids), 500):
        chunk = lead_ids[start : start + 500]
        verdicts = clocks_at(connection, rules, chunk, as_of)
        for lead_id in chunk:
            cycles = [v for v in verdicts.get(lead_id, []) if v.policy == policy]
            latest = max(cycles, key=lambda v: v.cycle, default=None)
            if latest is None:
                shown.append(sync_state.Written(lead_id, None, None))
            else:
                shown.append(sync_state.Written(lead_id, latest.due_at, latest.state.value))
    return shown


def write_back(
    engine: Engine,
    rules: Rulebook,
    crm: str,
    writer: Writer,
    *,
    policy: str,
    now: int,
    batch_size: int = 200,
) -> WriteBackResult:
    """Send the SLA fields of the CRM's leads whose state or due changed since last written.

    After the first round, only the leads whose record can show something new are judged:
    those with events recorded since the last round (less :data:`LATE_COMMIT_MARGIN`),
    those last written with a clock still going (``running``, ``paused``: time alone can
    end them), and those with a write pending.

    The ledger (:mod:`leadsla.store.sync`) holds what each record was last sent; a lead
    is sent when what it should show differs, in batches of ``batch_size``. Each change
    is noted as pending before it is sent and as written once the CRM accepts it; a
    refused or unsent one stays pending and goes again on the next round. A process that
    dies between the CRM's answer and the ledger's update sends the same values again,
    which leaves the record as it was: each change shows once.
    """
    result = WriteBackResult()
    with engine.connect() as connection:
        lead_ids = sync_state.synced_lead_ids(connection, sync_source(crm))
        previous_round = sync_state.last_writeback(connection, crm)
        if previous_round is not None:
            # Only leads whose record can show something new: new events since the last
            # round (with a margin for a transaction that committed late), a clock still
            # going, or a write still pending. Others were judged and written already.
            could_change = sync_state.leads_updated_since(
                connection, previous_round - LATE_COMMIT_MARGIN
            ) | sync_state.open_writebacks(connection, crm)
            lead_ids = [lead_id for lead_id in lead_ids if lead_id in could_change]
        wanted = sla_fields(connection, rules, lead_ids, policy, now)
        last = sync_state.written(connection, crm, lead_ids)
    # A lead never written that has nothing to show needs no write either.
    changes = [
        w
        for w in wanted
        if (last[w.lead_id] != w if w.lead_id in last else (w.due_at, w.state) != (None, None))
    ]
    result.changed = len(changes)
    for start in range(0, len(changes), batch_size):
        batch = changes[start : start + batch_size]
        with engine.begin() as connection:
            sync_state.mark_pending(connection, crm, batch)
        try:
            outcome = dict(writer(batch))
        except Exception as exc:  # the CRM is unreachable: all stay pending
            outcome = {w.lead_id: f"{type(exc).__name__}: {exc}" for w in batch}
        done = [w for w in batch if w.lead_id in outcome and outcome[w.lead_id] is None]
        failed = [
            (w.lead_id, outcome.get(w.lead_id) or "no answer for this record")
            for w in batch
            if outcome.get(w.lead_id, "missing") is not None
        ]
        with engine.begin() as connection:
            sync_state.mark_written(connection, crm, done, now)
            sync_state.mark_failed(connection, crm, failed)
        result.written += len(done)
        result.failed.extend(failed)
    with engine.begin() as connection:
        sync_state.save_writeback_round(connection, crm, now)
    return result


# -- a CRM's sync and write-back, as the CLI and the worker run them -------------------------

# (done, total or None) as records are read.
PullProgress = Callable[[int, int | None], None]


@dataclass
class CrmJob:
    """One CRM as the config and the environment set it up (built by the bootstrap)."""

    crm: str
    every: int  # epoch microseconds between the worker's syncs
    settle_seconds: int
    pull: Callable[[Window, PullProgress | None], Pulled]
    writer: Writer | None = None
    policy: str | None = None  # write-back: whose clock the CRM fields show


def run_job(
    engine: Engine,
    rules: Rulebook,
    job: CrmJob,
    *,
    now: int,
    progress: PullProgress | None = None,
    write: bool = True,
) -> tuple[SyncResult, WriteBackResult | None]:
    """Sync ``job``'s CRM, then write its leads' SLA fields back when it is set up to."""
    synced = run_sync(
        engine,
        rules,
        job.crm,
        lambda window: job.pull(window, progress),
        now=now,
        settle_seconds=job.settle_seconds,
    )
    written = None
    if write and job.writer is not None and job.policy is not None:
        written = write_back(engine, rules, job.crm, job.writer, policy=job.policy, now=now)
    return synced, written


def job_summary(synced: SyncResult, written: WriteBackResult | None) -> dict[str, object]:
    """What a job did, for the CLI's line and the worker's log."""
    summary: dict[str, object] = {"crm": synced.crm}
    if synced.window is None:
        summary["sync"] = "nothing new yet"
    else:
        summary.update(
            backfill=synced.window.backfill,
            records=synced.records,
            stored=synced.stored.accepted,
            already_there=synced.stored.duplicates + synced.stored.repeated,
            leads=synced.stored.leads,
            rejected=len(synced.rejected),
        )
    if written is not None:
        summary["writeback"] = {
            "changed": written.changed,
            "written": written.written,
            "failed": len(written.failed),
        }
    return summary
