"""What the commands of the ``leadsla`` command line share: the options they spell the same
way, one-line errors, files opened with a clear message, progress bars and event files.

Every command module imports this one and none imports :mod:`leadsla.cli.main`, so the
modules of the command line import each other in one direction only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TextIO

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)

from leadsla.bootstrap import Wiring, now_micros
from leadsla.config import Config, ConfigError, build_rulebook, load_config
from leadsla.core.events import (
    EventFileError,
    EventTable,
    InstantError,
    ReadReport,
    RowError,
    parse_event_instant,
    read_events,
)
from leadsla.core.policy import Rulebook

# The service, storage and connectors load in the commands that use them: a command
# starts in about half the time without them (SQLAlchemy and Alembic alone take 0.5 s).
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadsla.report.partition import PartitionPlan
    from leadsla.worker import Senders

# Bad rows printed one by one before only the count is given.
SHOWN_ROW_ERRORS = 20

err = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The leadsla.yaml with calendars, teams and policies."),
]

# The history a report-like command reads: a file, else the database.
EventsOption = Annotated[
    Path | None,
    typer.Option("--events", "-e", help="Events CSV; without it, the database is read."),
]
PeriodOption = Annotated[
    str, typer.Option("--period", help="month or quarter: the period of 'overall'.")
]
OutputOption = Annotated[
    Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")
]

MemoryLimitOption = Annotated[
    str | None,
    typer.Option(
        "--memory-limit",
        help="Stay within this memory (e.g. 4GiB): the events file is split by lead into "
        "partitions computed in worker processes and merged exactly (docs/scale.md).",
    ),
]
PartitionsOption = Annotated[
    int | None,
    typer.Option(
        "--partitions",
        min=1,
        help="Split the events file into this many lead-hash partitions (docs/scale.md).",
    ),
]
DatabaseOption = Annotated[
    str | None,
    typer.Option(
        "--database",
        help="SQLAlchemy URL, e.g. postgresql://user@host/db; default $LEADSLA_DATABASE_URL, "
        "else the SQLite file leadsla.db here.",
    ),
]


class UserError(Exception):
    """Bad input from the user: reported as one line, exit status 1."""


def fail(message: str) -> NoReturn:
    raise UserError(message)


# Set by a one-shot job on a large file (``report --events``): the interpreter's teardown
# would free its gigabytes of arrays one by one, a third of a second, for nothing.
_skip_teardown = False


def skip_teardown() -> None:
    """Have :func:`leadsla.cli.main.main` end a successful run without the teardown."""
    global _skip_teardown
    _skip_teardown = True


def teardown_skipped() -> bool:
    return _skip_teardown


def load_rules(config_path: Path) -> Rulebook:
    return load_setup(config_path)[1]


def load_setup(config_path: Path) -> tuple[Config, Rulebook]:
    """The config as written and the rulebook built from it, or one clear error."""
    try:
        config = load_config(config_path)
        return config, build_rulebook(config)
    except ConfigError as exc:
        # Several problems: the first on the error line, all of them listed before it.
        lines = str(exc).splitlines()
        for line in lines[1:]:
            err.print(line, markup=False, soft_wrap=True)
        fail(lines[0] if len(lines) == 1 else f"{lines[0]} (and {len(lines) - 1} more above)")


def instant_option(text: str | None, name: str) -> int:
    if text is None:
        return now_micros()
    try:
        return parse_event_instant(text)
    except InstantError as exc:
        fail(f"{name}: {exc}")


# What main() wired from the process's environment. Held here rather than in Typer's
# context, which a command sees only as a parameter of its own: every command that opens
# the database would have to take one.
_wiring: Wiring | None = None


def use_wiring(wired: Wiring) -> None:
    global _wiring
    _wiring = wired


def wiring() -> Wiring:
    if _wiring is None:
        raise RuntimeError("leadsla's commands run under leadsla.cli.main.main(), which wires them")
    return _wiring


def open_engine(database: str | None, *, create: bool = True, bulk: bool = False) -> Engine:
    from leadsla.store.database import DatabaseError, open_database

    try:
        return open_database(wiring().database_url(database), create=create, bulk=bulk)
    except DatabaseError as exc:
        fail(str(exc))


def worker_senders(setup: Config, rules: Rulebook) -> Senders:
    """The worker's senders as the environment allows; a line on stderr for each channel
    the config names that is left off."""
    senders, notes = wiring().senders(setup, rules)
    for note in notes:
        err.print(f"leadsla: {note}", markup=False)
    return senders


class _Bar(Progress):
    """A progress bar that knows whether another one is on screen."""

    def __enter__(self) -> _Bar:
        global _bars_shown
        _bars_shown += 1
        super().__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        global _bars_shown
        _bars_shown -= 1
        super().__exit__(*exc)  # type: ignore[arg-type]


# Bars on screen. Rich draws one live display at a time: a bar opened inside another
# (the careful reader's, inside a report's stages) stays silent.
_bars_shown = 0


def progress_bar(total: int | None, description: str) -> Progress:
    """A bar on stderr when it is a terminal (and no other bar is drawn), else silent."""
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
    if total is not None:
        columns.append(MofNCompleteColumn())
    columns.append(TimeElapsedColumn())
    shown = err.is_terminal and _bars_shown == 0
    return _Bar(*columns, console=err, transient=True, disable=not shown, refresh_per_second=4)


@contextmanager
def stage_bar(stages: Sequence[str]) -> Iterator[Callable[[str], None]]:
    """A bar of whole stages, for work that tells no finer progress (a report's reading,
    scorecard and charts). The stages are named up front; each call of the function it
    yields marks the named stage begun, the stages before it done."""
    with progress_bar(len(stages), stages[0]) as bar:
        task = bar.add_task(stages[0], total=len(stages))

        def begin(stage: str) -> None:
            bar.update(task, completed=stages.index(stage), description=stage)

        yield begin
        bar.update(task, completed=len(stages))


def stepped_progress(bar: Progress) -> Callable[[str, int, int | None], None]:
    """A progress callback ``(stage, done, total)`` drawn on one task of ``bar``: the task
    is renamed, and restarted, when the stage changes (the demo's generate, import, …)."""
    task = bar.add_task("", total=None)
    current: list[str] = []

    def update(stage: str, done: int, total: int | None) -> None:
        if current != [stage]:
            current[:] = [stage]
            bar.reset(task, total=total, description=stage)
        bar.update(task, completed=done, total=total)

    return update


@contextmanager
def open_input(path: Path) -> Iterator[TextIO]:
    try:
        handle = path.open(encoding="utf-8-sig", newline="")
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}")
    with handle:
        try:
            yield handle
        except UnicodeDecodeError as exc:  # wherever in the file the reader met it
            fail(f"{path}: cannot read: not UTF-8 text ({exc.reason})")


@contextmanager
def open_output(path: Path) -> Iterator[TextIO]:
    try:
        handle = path.open("w", encoding="utf-8", newline="")
    except OSError as exc:
        fail(f"{path}: cannot write: {exc.strerror or exc}")
    with handle:
        yield handle


def report_row_errors(errors: Iterable[RowError | str], skipped: int) -> None:
    shown = 0
    for error in errors:
        if shown == SHOWN_ROW_ERRORS:
            break
        err.print(f"leadsla: skipped: {error}", markup=False, soft_wrap=True)
        shown += 1
    if skipped:
        more = f" ({skipped - shown} not shown)" if skipped > shown else ""
        err.print(f"leadsla: skipped {skipped} bad row(s){more}", markup=False)


def read_event_file(
    rules: Rulebook, events: Path, *, keep_errors: bool = False
) -> tuple[EventTable, ReadReport]:
    size = _file_size(events)
    with open_input(events) as handle, progress_bar(size, "reading events") as bar:
        task = bar.add_task("reading events", total=size)
        try:
            return read_events(
                handle,
                statuses=list(rules.statuses),
                grades=[g.name for g in rules.grades],
                acceptance=rules.acceptance,
                source=str(events),
                max_errors_kept=10**9 if keep_errors else 1000,
                progress=lambda _rows: bar.update(task, completed=_bytes_read(handle)),
            )
        except EventFileError as exc:
            fail(str(exc))


def read_sorted_events(rules: Rulebook, events: Path) -> tuple[EventTable, ReadReport]:
    """The file's events in lead order: read on Polars when the file is plain, else by
    the careful reader, which reports each bad row with its line. Both refuse the same
    rows, closed reason lists included, and give the same table."""
    # Polars loads only for the commands that read this way (see file_report).
    from leadsla.report.fast_reader import read_grouped_events

    grouped = read_grouped_events(
        events,
        statuses=list(rules.statuses),
        grades=[g.name for g in rules.grades],
        acceptance=rules.acceptance,
    )
    if grouped is not None:
        return grouped.sorted(), grouped.report
    table, report = read_event_file(rules, events)
    report_row_errors(report.errors, report.skipped)
    return table.sorted(), report


def _bytes_read(handle: TextIO) -> int:
    """How far into the file the reading has gone, for the progress bar.

    The position of the file underneath the text layer: counting each line's
    characters instead cost 0.4 µs a line, a tenth of an import's reading.
    """
    try:
        return int(handle.buffer.raw.tell())  # type: ignore[attr-defined]
    except (AttributeError, OSError, ValueError):
        return 0


def _file_size(path: Path) -> int | None:
    try:
        return path.stat().st_size
    except OSError:
        return None


def partition_plan_of(
    events: Path, memory_limit: str | None, partitions: int | None, *, merged_rows: bool = True
) -> PartitionPlan | None:
    """The partitions ``--memory-limit`` and ``--partitions`` ask for (``None``: neither,
    or a limit that holds the history in one partition: the file is computed in
    memory). ``--partitions`` sets the count; the limit, if given, the worker
    processes that fit it, else one per core. ``merged_rows``: the parent holds every
    partition's reduced rows (the report), not a stream (evaluate)."""
    from leadsla.report.partition import (
        MERGE_BYTES_PER_FILE_BYTE,
        MemoryLimitError,
        PartitionPlan,
        parse_memory,
        partition_plan,
    )

    if memory_limit is None and partitions is None:
        return None
    cores = os.cpu_count() or 1
    if memory_limit is None:
        assert partitions is not None
        return PartitionPlan(partitions, min(cores, partitions))
    try:
        limit = parse_memory(memory_limit)
        plan = partition_plan(
            _file_size(events) or 0,
            limit,
            cores,
            merge_bytes_per_file_byte=MERGE_BYTES_PER_FILE_BYTE if merged_rows else 0.0,
        )
    except MemoryLimitError as exc:
        fail(f"--memory-limit: {events}: {exc}")
    except ValueError as exc:
        fail(f"--memory-limit: {exc}")
    if partitions is None:
        # A history the limit holds whole is computed in memory: the same output, sooner.
        return None if plan.partitions == 1 else plan
    return PartitionPlan(partitions, min(plan.workers, partitions))
