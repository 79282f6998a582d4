"""``leadsla calendar add`` and ``leadsla calendar elapsed``: business-time arithmetic on
whole CSV files, each output row beside its input row."""

from __future__ import annotations

import csv
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, TextIO

import numpy as np
import numpy.typing as npt
import typer

from leadsla.cli.common import (
    ConfigOption,
    fail,
    load_rules,
    open_input,
    open_output,
    report_row_errors,
)
from leadsla.core.calendar import WALL_CLOCK, BusinessCalendar, CalendarError
from leadsla.core.columns import MICROS_PER_SECOND
from leadsla.core.durations import DurationError, parse_duration
from leadsla.core.events import InstantError, parse_instant
from leadsla.core.instants import format_instants
from leadsla.core.policy import Rulebook

calendar_app = typer.Typer(
    help="Business-time arithmetic on a calendar of the config, for whole CSV files.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(calendar_app, name="calendar")


def calendar_of(rules: Rulebook, name: str) -> BusinessCalendar:
    calendar = rules.calendars.get(name)
    if calendar is None:
        known = ", ".join(sorted(rules.calendars))
        fail(f"--calendar: no calendar named {name!r} in the config (it has: {known})")
    return calendar


@dataclass
class CsvRows:
    """A small CSV input (calendar commands) read whole, with its header checked."""

    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells)
    source: Path


def read_small_csv(handle: TextIO, path: Path, required: tuple[str, ...]) -> CsvRows:
    reader = csv.reader(handle)
    try:
        header = next(reader)
    except StopIteration:
        fail(f"{path}: the file is empty; expected a header row with {', '.join(required)}")
    except csv.Error as exc:
        fail(f"{path}:1: {exc}")
    names = [name.strip().lower() for name in header]
    missing = [name for name in required if name not in names]
    if missing:
        fail(f"{path}:1: missing column(s) {', '.join(missing)}; the header is {', '.join(header)}")
    rows: list[tuple[int, list[str]]] = []
    try:
        for row in reader:
            if row and any(cell.strip() for cell in row):
                rows.append((reader.line_num, row))
    except csv.Error as exc:
        fail(f"{path}:{reader.line_num}: {exc}")
    return CsvRows(names, rows, path)


@calendar_app.command("add")
def calendar_add(
    config_path: ConfigOption,
    calendar: Annotated[str, typer.Option(help="Calendar name from the config.")],
    input: Annotated[Path, typer.Option("--input", help="CSV with columns start,duration.")],
    output: Annotated[Path, typer.Option("--output", help="CSV to write, with a deadline column.")],
) -> None:
    """Deadlines: START plus DURATION on a calendar ("8 business hours", "24 hours").

    The input CSV has a header with the columns start,duration (others are kept).
    A start is an ISO 8601 instant with its UTC offset (2026-03-02T09:15:00-05:00 or
    2026-03-02T14:15:00Z). A duration is a number and a unit: minutes, hours or days
    of wall-clock time, or business minutes, business hours or business days on the
    calendar ("8 business hours", "1.5 days").

    The output repeats each row with a deadline column. A deadline that lands on a
    closing time is written as that closing instant (Monday 17:00), not as the next
    opening. A bad row keeps its place, with the reason in an error column; when
    every row is bad the command exits 1.
    """
    rules = load_rules(config_path)
    cal = calendar_of(rules, calendar)
    with open_input(input) as handle:
        table = read_small_csv(handle, input, ("start", "duration"))
    start_col = table.header.index("start")
    duration_col = table.header.index("duration")
    starts = np.zeros(len(table.rows), dtype=np.int64)
    amounts = np.zeros(len(table.rows), dtype=np.int64)
    business = np.zeros(len(table.rows), dtype=bool)
    errors: list[str | None] = [None] * len(table.rows)
    durations: dict[str, tuple[int, bool] | str] = {}
    for i, (line, row) in enumerate(table.rows):
        try:
            starts[i] = parse_instant(_cell(row, start_col))
        except InstantError as exc:
            errors[i] = f"{input}:{line}: start: {exc}"
            continue
        text = _cell(row, duration_col)
        parsed = durations.get(text)
        if parsed is None:
            try:
                duration = parse_duration(text)
                parsed = (duration.micros(cal.day_hours), duration.business)
            except DurationError as exc:
                parsed = str(exc)
            durations[text] = parsed
        if isinstance(parsed, str):
            errors[i] = f"{input}:{line}: duration: {parsed}"
            continue
        amounts[i], business[i] = parsed
    good = np.array([e is None for e in errors], dtype=bool)
    deadlines = np.zeros(len(table.rows), dtype=np.int64)
    try:
        on_calendar = good & business
        deadlines[on_calendar] = cal.add_many(starts[on_calendar], amounts[on_calendar])
        on_wall = good & ~business
        deadlines[on_wall] = WALL_CLOCK.add_many(starts[on_wall], amounts[on_wall])
    except CalendarError as exc:
        fail(f"{input}: {exc}")
    texts = format_instants(deadlines[good], cal.zone)
    _write_with_result(output, table, "deadline", good, texts, errors)


@calendar_app.command("elapsed")
def calendar_elapsed(
    config_path: ConfigOption,
    calendar: Annotated[str, typer.Option(help="Calendar name from the config.")],
    input: Annotated[Path, typer.Option("--input", help="CSV with columns start,end.")],
    output: Annotated[
        Path, typer.Option("--output", help="CSV to write, with a business_seconds column.")
    ],
) -> None:
    """Business seconds between START and END on a calendar (negative if END is earlier).

    The input CSV has a header with the columns start,end (others are kept), each an
    ISO 8601 instant with its UTC offset (2026-03-02T09:15:00-05:00 or
    2026-03-02T14:15:00Z).

    The output repeats each row with a business_seconds column: whole seconds of open
    time, truncated toward zero. A bad row keeps its place, with the reason in an
    error column; when every row is bad the command exits 1.
    """
    rules = load_rules(config_path)
    cal = calendar_of(rules, calendar)
    with open_input(input) as handle:
        table = read_small_csv(handle, input, ("start", "end"))
    start_col = table.header.index("start")
    end_col = table.header.index("end")
    starts = np.zeros(len(table.rows), dtype=np.int64)
    ends = np.zeros(len(table.rows), dtype=np.int64)
    errors: list[str | None] = [None] * len(table.rows)
    for i, (line, row) in enumerate(table.rows):
        for column, index, target in (("start", start_col, starts), ("end", end_col, ends)):
            try:
                target[i] = parse_instant(_cell(row, index))
            except InstantError as exc:
                errors[i] = f"{input}:{line}: {column}: {exc}"
                break
    good = np.array([e is None for e in errors], dtype=bool)
    try:
        micros = cal.elapsed_many(starts[good], ends[good])
    except CalendarError as exc:
        fail(f"{input}: {exc}")
    # Whole seconds, truncated toward zero so that elapsed(b, a) == -elapsed(a, b).
    seconds = np.sign(micros) * (np.abs(micros) // MICROS_PER_SECOND)
    _write_with_result(
        output, table, "business_seconds", good, [str(s) for s in seconds.tolist()], errors
    )


def _cell(row: list[str], index: int) -> str:
    return row[index].strip() if index < len(row) else ""


def _write_with_result(
    output: Path,
    table: CsvRows,
    column: str,
    good: npt.NDArray[np.bool_],
    results: list[str],
    errors: list[str | None],
) -> None:
    """Repeat the input rows with the result column; a bad row keeps its place, with an
    empty result and the reason in an ``error`` column, so outputs line up with inputs."""
    bad = [e for e in errors if e is not None]
    with open_output(output) as handle:
        writer = csv.writer(handle, lineterminator="\n")
        writer.writerow([*table.header, column, *(["error"] if bad else [])])
        next_result = iter(results)
        width = len(table.header)
        for (_, row), ok, error in zip(table.rows, good.tolist(), errors, strict=True):
            cells = (row + [""] * width)[:width]
            value = next(next_result) if ok else ""
            writer.writerow([*cells, value, *([error or ""] if bad else [])])
    report_row_errors(bad, len(bad))
    if table.rows and len(bad) == len(table.rows):
        # Nothing was computed: a script reading the exit status must not carry on.
        fail(f"{table.source}: every row is bad ({len(bad)} of {len(bad)}); no {column} computed")
