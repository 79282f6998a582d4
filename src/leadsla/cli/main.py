"""The ``leadsla`` command line (SPEC §5).

This is the one place that reads the wall clock on a user's behalf (``--as-of``
defaults to now). Bad input never ends in a traceback: a bad file or option is
one line on stderr and exit status 1; bad rows are reported with their line
number, skipped, and counted, and the good rows still go through.
"""

from __future__ import annotations

import csv
import json
import os
import sys
import time
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, NoReturn, TextIO

import numpy as np
import numpy.typing as npt
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
from rich.table import Table

from leadsla.cli.demo import register as register_demo
from leadsla.cli.qualify import register as register_qualify
from leadsla.config import Config, ConfigError, build_rulebook, load_config
from leadsla.core.calendar import WALL_CLOCK, BusinessCalendar, CalendarError
from leadsla.core.durations import DurationError, parse_duration
from leadsla.core.events import (
    EventFileError,
    EventTable,
    InstantError,
    ReadReport,
    RowError,
    parse_instant,
    read_events,
    value_problem,
)
from leadsla.core.instants import format_instant, format_instants
from leadsla.core.policy import Rulebook
from leadsla.report.heap import reuse_freed_memory

# The service, storage and connectors load in the commands that use them: a command
# starts in about half the time without them (SQLAlchemy and Alembic alone take 0.5 s).
if TYPE_CHECKING:
    from sqlalchemy import Engine

    from leadsla.connectors import ConvertedRow, ImportMapping
    from leadsla.notify.delivery import RowSender

MICROS_PER_SECOND = 1_000_000
# Cycles and emails handled per round of a running worker (--once handles all).
FIRE_BATCH = 1000
DELIVER_BATCH = 100
# Bad rows printed one by one before only the count is given.
SHOWN_ROW_ERRORS = 20

app = typer.Typer(
    name="leadsla",
    help="Run the marketing-to-sales SLA: business-hour clocks, escalations and scorecards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
calendar_app = typer.Typer(
    help="Business-time arithmetic on a calendar of the config, for whole CSV files.",
    no_args_is_help=True,
)
app.add_typer(calendar_app, name="calendar")
db_app = typer.Typer(help="The database: bring its schema up to date.", no_args_is_help=True)
app.add_typer(db_app, name="db")
token_app = typer.Typer(help="API tokens for the REST API.", no_args_is_help=True)
app.add_typer(token_app, name="token")
notifications_app = typer.Typer(
    help="The reminders and escalations the worker queued, sent, skipped or gave up on.",
    no_args_is_help=True,
)
app.add_typer(notifications_app, name="notifications")

err = Console(stderr=True, highlight=False)

ConfigOption = Annotated[
    Path,
    typer.Option("--config", "-c", help="The leadsla.yaml with calendars, teams and policies."),
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


def main() -> None:
    try:
        app()
    except UserError as exc:
        err.print(f"leadsla: error: {exc}", markup=False, soft_wrap=True)
        sys.exit(1)
    except SystemExit as exc:
        if _skip_teardown and exc.code in (0, None):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        raise


# -- shared pieces ---------------------------------------------------------------------


def load_rules(path: Path) -> Rulebook:
    return load_setup(path)[1]


def load_setup(path: Path) -> tuple[Config, Rulebook]:
    """The config as written and the rulebook built from it, or one clear error."""
    try:
        config = load_config(path)
        return config, build_rulebook(config)
    except ConfigError as exc:
        # Several problems: the first on the error line, all of them listed before it.
        lines = str(exc).splitlines()
        for line in lines[1:]:
            err.print(line, markup=False, soft_wrap=True)
        fail(lines[0] if len(lines) == 1 else f"{lines[0]} (and {len(lines) - 1} more above)")


def instant_option(text: str | None, name: str) -> int:
    if text is None:
        return time.time_ns() // 1000
    try:
        return parse_instant(text)
    except InstantError as exc:
        fail(f"{name}: {exc}")


def calendar_of(rules: Rulebook, name: str) -> BusinessCalendar:
    calendar = rules.calendars.get(name)
    if calendar is None:
        known = ", ".join(sorted(rules.calendars))
        fail(f"--calendar: no calendar named {name!r} in the config (it has: {known})")
    return calendar


def progress_bar(total: int | None, description: str) -> Progress:
    columns = [TextColumn("{task.description}"), BarColumn(), TaskProgressColumn()]
    if total is not None:
        columns.append(MofNCompleteColumn())
    columns.append(TimeElapsedColumn())
    return Progress(
        *columns, console=err, transient=True, disable=not err.is_terminal, refresh_per_second=4
    )


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


@dataclass
class CsvRows:
    """A small CSV input (calendar commands) read whole, with its header checked."""

    header: list[str]
    rows: list[tuple[int, list[str]]]  # (line number, cells)


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
    return CsvRows(names, rows)


# -- leadsla calendar add / elapsed ------------------------------------------------------


@calendar_app.command("add")
def calendar_add(
    config: ConfigOption,
    calendar: Annotated[str, typer.Option(help="Calendar name from the config.")],
    input: Annotated[Path, typer.Option("--input", help="CSV with columns start,duration.")],
    output: Annotated[Path, typer.Option("--output", help="CSV to write, with a deadline column.")],
) -> None:
    """Deadlines: START plus DURATION on a calendar ("8 business hours", "24 hours").

    A deadline that lands on a closing time is written as that closing instant
    (Monday 17:00), not as the next opening.
    """
    rules = load_rules(config)
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
    config: ConfigOption,
    calendar: Annotated[str, typer.Option(help="Calendar name from the config.")],
    input: Annotated[Path, typer.Option("--input", help="CSV with columns start,end.")],
    output: Annotated[
        Path, typer.Option("--output", help="CSV to write, with a business_seconds column.")
    ],
) -> None:
    """Business seconds between START and END on a calendar (negative if END is earlier)."""
    rules = load_rules(config)
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


# -- leadsla evaluate ---------------------------------------------------------------------


@app.command()
def evaluate(
    config: ConfigOption,
    events: Annotated[
        Path, typer.Option("--events", "-e", help="Events CSV: lead_id,at,field,value.")
    ],
    output: Annotated[Path, typer.Option("--output", "-o", help="Clocks CSV to write.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of",
            help="Judge the clocks at this instant (ISO 8601 with offset); default: now. "
            "Events after it are ignored.",
        ),
    ] = None,
    jobs: Annotated[
        int | None,
        typer.Option(
            "--jobs", "-j", min=1, help="Processes for the replay; default: one per core."
        ),
    ] = None,
) -> None:
    """Replay a history of lead events and write one row per SLA clock cycle.

    Each row says whether the clock is running, paused, met, breached or lapsed at
    --as-of, when it was due, the business seconds it accrued and how many
    escalation steps fired. Bad rows are reported with their line and skipped.
    """
    from leadsla.report.clocks_csv import write_clocks

    rules = load_rules(config)
    instant = instant_option(as_of, "--as-of")
    table, report = _read_event_file(rules, events)
    report_row_errors(report.errors, report.skipped)
    table = table.sorted()
    leads = len(table.lead_ids)
    with open_output(output) as handle, progress_bar(len(table), "replaying") as bar:
        task = bar.add_task("replaying", total=len(table))
        try:
            rows = write_clocks(
                rules,
                table,
                instant,
                handle,
                jobs=jobs,
                progress=lambda done: bar.update(task, completed=done),
            )
        except CalendarError as exc:
            fail(f"{events}: {exc}")
    err.print(
        f"leadsla: {report.rows_accepted} events of {leads} leads → {rows} clock cycles "
        f"in {output}",
        markup=False,
    )


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


# -- leadsla report ---------------------------------------------------------------------------


@app.command()
def report(
    config: ConfigOption,
    events: Annotated[
        Path | None,
        typer.Option("--events", "-e", help="Events CSV; without it, the database is read."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The instant of the report; default now.")
    ] = None,
    period: Annotated[str, typer.Option(help="month or quarter: the period of 'overall'.")] = (
        "month"
    ),
    format_: Annotated[str, typer.Option("--format", help="json, csv or html.")] = "json",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")
    ] = None,
    database: DatabaseOption = None,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Directory for PNG and SVG charts.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv-dir", help="Directory for one CSV per report table.")
    ] = None,
) -> None:
    """The SLA scorecard: MQLs, SALs, compliance, time to follow-up and more (SPEC §8).

    Every figure overall (the month or quarter of --as-of) and by grade, owner, team
    and month: attempts and connect rate per workable lead, conversion to pipeline,
    and each commitment against its target with pro-rata pace and forecast.
    """
    if period not in ("month", "quarter"):
        fail(f"--period: {period!r} is not month or quarter")
    if format_ not in ("json", "csv", "html"):
        fail(f"--format: {format_!r} is not json, csv or html")
    setup, rules = load_setup(config)
    instant = instant_option(as_of, "--as-of")
    drawn = charts is not None or format_ == "html"
    if events is not None:
        # A one-shot bulk job: keep freed NumPy temporaries' pages for the next ones, and
        # leave them to the system at the end.
        reuse_freed_memory()
        global _skip_teardown
        _skip_teardown = True
        figures, follow_up = file_report(events, rules, setup, instant, period, drawn)
    else:
        engine = open_engine(database, create=False)
        with engine.connect() as connection:
            figures, follow_up = stored_report(connection, rules, setup, instant, period, drawn)
    text = finish_report(figures, format_, follow_up, charts=charts, csv_dir=csv_dir)
    if output is None:
        sys.stdout.write(text)
    else:
        with open_output(output) as handle:
            handle.write(text)


# -- database, tokens, server, import ------------------------------------------------


def now_micros() -> int:
    return time.time_ns() // 1000


def open_engine(database: str | None, *, create: bool = True, bulk: bool = False) -> Engine:
    from leadsla.store.database import DatabaseError, database_url, open_database

    try:
        return open_database(database_url(database), create=create, bulk=bulk)
    except DatabaseError as exc:
        fail(str(exc))


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Create the database or apply the migrations it lacks."""
    from leadsla.store.database import DatabaseError, connect, database_url, upgrade

    try:
        engine = connect(database_url(database))
        revision = upgrade(engine)
    except DatabaseError as exc:
        fail(str(exc))
    except Exception as exc:  # the driver's errors: say which database and why
        fail(f"cannot upgrade the database: {str(exc).splitlines()[0]}")
    err.print(f"leadsla: database at revision {revision}", markup=False)


@token_app.command("create")
def token_create(
    config: ConfigOption,
    role: Annotated[str, typer.Option(help="admin, marketing, manager or rep.")],
    name: Annotated[str, typer.Option(help="Who or what uses the token.")],
    rep: Annotated[str | None, typer.Option(help="The rep's id (role rep).")] = None,
    team: Annotated[str | None, typer.Option(help="The team a manager manages.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create an API token and print it once; only its digest is stored."""
    from leadsla.service.tokens import TokenError, create_token

    rules = load_rules(config)
    engine = open_engine(database)
    try:
        with engine.begin() as connection:
            token = create_token(
                connection, rules, role=role, name=name, rep=rep, team=team, now=now_micros()
            )
    except TokenError as exc:
        fail(str(exc))
    typer.echo(token)


@app.command()
def serve(
    config: ConfigOption,
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json) and the dashboard at /."""
    import uvicorn

    from leadsla.api.app import create_app

    setup, rules = load_setup(config)
    engine = open_engine(database)
    err.print(f"leadsla: serving http://{host}:{port}/api/v1 (docs at /api/v1/docs)", markup=False)
    secrets = hook_secrets(os.environ)
    app_ = create_app(rules, engine, now_micros, hook_secrets=secrets, config=setup)
    uvicorn.run(app_, host=host, port=port, log_level="info")


def hook_secrets(environ: Mapping[str, str]) -> dict[str, str]:
    """Webhook secrets: LEADSLA_HOOK_SECRET_<SOURCE>, else LEADSLA_HOOK_SECRET for all."""
    shared = environ.get("LEADSLA_HOOK_SECRET")
    secrets: dict[str, str] = {}
    for source in ("generic", "hubspot"):
        secret = environ.get(f"LEADSLA_HOOK_SECRET_{source.upper()}") or shared
        if secret:
            secrets[source] = secret
    return secrets


@app.command()
def worker(
    config: ConfigOption,
    database: DatabaseOption = None,
    once: Annotated[
        bool, typer.Option("--once", help="Handle everything due now, then exit (for cron).")
    ] = False,
    at: Annotated[
        str | None,
        typer.Option("--now", help="Act as if it were this instant (replays, tests).", hidden=True),
    ] = None,
) -> None:
    """Fire warnings and escalation steps when their instant comes, and email them.

    Each fires once per clock cycle and recipient however many workers run; a step
    older than notifications.max_delay when first found is recorded as skipped.
    """
    from leadsla.notify.delivery import (
        MailSettings,
        Templates,
        deliver,
        slack_row_sender,
        smtp_sender,
        webhook_row_sender,
    )
    from leadsla.notify.digest import queue_digests
    from leadsla.service.timers import FireResult, fire_due_timers, next_wake

    setup, rules = load_setup(config)
    engine = open_engine(database)
    email = setup.notifications.email
    settings = None
    if email is not None:
        password = os.environ.get(email.password_env) if email.password_env else None
        settings = MailSettings(
            email.host, email.port, email.sender, email.starttls, email.username, password
        )
    else:
        err.print("leadsla: no notifications.email in the config: no emails", markup=False)
    max_delay = setup.notifications.max_delay.micros()
    templates = Templates(setup.notifications.templates)
    digest_times = {name: team.digest for name, team in setup.teams.items() if team.digest}
    channels: list[tuple[str, str]] = []
    others: dict[str, RowSender] = {}
    slack = setup.notifications.slack
    if slack is not None:
        slack_url = os.environ.get(slack.webhook_url_env)
        if slack_url:
            channels.append(("slack", "slack"))
            others["slack"] = slack_row_sender(rules, slack_url)
        else:
            err.print(f"leadsla: ${slack.webhook_url_env} is not set: no Slack", markup=False)
    if setup.notifications.webhooks:
        secrets = {
            hook.url: os.environ.get(hook.secret_env) if hook.secret_env else None
            for hook in setup.notifications.webhooks
        }
        channels.extend(("webhook", hook.url) for hook in setup.notifications.webhooks)
        others["webhook"] = webhook_row_sender(rules, secrets)
    routed_at = 0
    while True:
        instant = instant_option(at, "--now")
        if digest_times:
            with engine.begin() as connection:
                queue_digests(connection, rules, digest_times, instant)
        fired = FireResult()
        while True:  # --once means everything due, not one batch of it
            with engine.begin() as connection:
                batch = fire_due_timers(
                    connection,
                    rules,
                    instant,
                    max_delay=max_delay,
                    limit=FIRE_BATCH,
                    channels=channels,
                    email=settings is not None,
                )
            fired.cycles += batch.cycles
            fired.queued += batch.queued
            fired.skipped += batch.skipped
            if batch.cycles < FIRE_BATCH or not once:
                break
        moved: dict[str, int] = {}
        if once or instant - routed_at >= ROUTE_EVERY:
            moved, routed_at = _route_again(engine, rules, instant), instant
        delivered = deliver(
            engine,
            rules,
            instant,
            smtp_sender(settings) if settings is not None else None,
            settings.sender if settings is not None else "",
            limit=None if once else DELIVER_BATCH,
            others=others,
            templates=templates,
            base_url=setup.notifications.base_url,
        )
        if fired.cycles or moved or delivered.sent or delivered.retried or delivered.failed:
            # One JSON object per line: what log shippers and `jq` read.
            sys.stderr.write(
                json.dumps(
                    {
                        "event": "worker.round",
                        "at": format_instant(instant, rules.calendars[rules.default_calendar].zone),
                        "cycles": fired.cycles,
                        "queued": fired.queued,
                        "skipped_stale": fired.skipped,
                        "rerouted": moved.get("rerouted", 0),
                        "resurfaced": moved.get("resurfaced", 0),
                        "sent": delivered.sent,
                        "retry": delivered.retried,
                        "failed": delivered.failed,
                    }
                )
                + "\n"
            )
        if once:
            return
        with engine.connect() as connection:
            wake = next_wake(connection)
        # Sleep until the next timer, but look again within 30 s for new events and retries.
        pause = 30.0 if wake is None else min(30.0, max(0.5, (wake - now_micros()) / 1e6))
        time.sleep(pause)


# Re-routing and revisits scan the open and the nurtured leads: every few minutes is
# soon enough for both (out-of-office lists and revisit dates are not to the second).
ROUTE_EVERY = 5 * 60 * 1_000_000


def _route_again(engine: Engine, rules: Rulebook, instant: int) -> dict[str, int]:
    """The worker's share of routing: leads of reps out of office and past the
    ``assignment.reroute`` step go to someone else, and deferred leads whose
    revisit date has come return to sales (what ``leadsla reroute`` and
    ``leadsla revisit`` do on demand)."""
    from leadsla.service.reroute import reroute
    from leadsla.service.revisit import resurface

    counts: dict[str, int] = {}
    with engine.begin() as connection:
        if rules.assignment is not None:
            result = reroute(connection, rules, instant, recorded_at=now_micros())
            counts["rerouted"] = sum(1 for _, new, _ in result.rerouted.values() if new)
        counts["resurfaced"] = len(resurface(connection, rules, instant, recorded_at=now_micros()))
    return {name: count for name, count in counts.items() if count}


@notifications_app.command("list")
def notifications_list(
    config: ConfigOption,
    database: DatabaseOption = None,
    state: Annotated[
        str | None, typer.Option(help="queued, sent, skipped or failed; default all.")
    ] = None,
    lead: Annotated[str | None, typer.Option("--lead", help="Only this lead.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """The notification outbox: recipient, step, state, attempts and the last error."""
    from leadsla.service.timers import notification_records

    _setup, rules = load_setup(config)
    if state is not None and state not in ("queued", "sent", "skipped", "failed"):
        fail(f"--state: {state!r} is not queued, sent, skipped or failed")
    engine = open_engine(database, create=False)
    with engine.connect() as connection:
        rows = notification_records(connection, state=state, lead_id=lead, limit=limit)
    zone = rules.calendars[rules.default_calendar].zone
    header = ("lead", "policy", "what", "recipient", "state", "due", "tries", "last error")
    cells = [
        (
            str(row["lead_id"]),
            f"{row['policy']} #{row['cycle']}",
            "warning" if row["kind"] == "warning" else f"step {row['step']}",
            str(row["recipient"]),
            str(row["state"]),
            format_instant(int(row["fire_at"]), zone),
            str(row["attempts"]),
            str(row["last_error"] or ""),
        )
        for row in rows
    ]
    out = Console()
    if not out.is_terminal:  # a pipe or a file: one tab-separated line per notification
        for line in (header, *cells):
            typer.echo("\t".join(line))
        return
    table = Table(*header)
    for line in cells:
        table.add_row(*line)
    out.print(table)


@app.command("import")
def import_events(
    config: ConfigOption,
    files: Annotated[
        list[Path],
        typer.Argument(
            help="Native events CSVs, or CRM exports: Salesforce Lead, LeadHistory and Task; "
            "HubSpot contacts and property history (the format is read from the header)."
        ),
    ],
    database: DatabaseOption = None,
    mapping_file: Annotated[
        Path | None,
        typer.Option(
            "--map",
            help="YAML mapping of the CRM's statuses, ratings, owners and activities onto ours.",
        ),
    ] = None,
) -> None:
    """Load event files into the database; events already stored are skipped.

    Rejected rows go to FILE.rejected.csv beside each file, with their line and reason.
    """
    from leadsla.connectors.reconcile import reconcile
    from leadsla.service.imports import import_incoming
    from leadsla.service.ingest import IncomingEvent
    from leadsla.store.database import settle_after_import

    rules = load_rules(config)
    mapping = _load_mapping(mapping_file)
    engine = open_engine(database, bulk=True)
    crm_rows: list[ConvertedRow] = []
    crm_files: list[Path] = []
    for path in files:
        kind = _format_of(path)
        if kind == "native":
            _import_native(engine, rules, path)
        else:
            crm_rows.extend(_convert_export(rules, path, kind, mapping))
            crm_files.append(path)
    if crm_files:
        incoming = [
            IncomingEvent(r.lead_id, r.at, r.field, r.value, r.key) for r in reconcile(crm_rows)
        ]
        with progress_bar(len(incoming), "importing") as bar:
            task = bar.add_task("importing", total=len(incoming))
            result = import_incoming(
                engine,
                rules,
                incoming,
                source="import:" + ",".join(p.name for p in crm_files),
                recorded_at=now_micros(),
                progress=lambda done: bar.update(task, completed=done),
            )
        err.print(
            f"leadsla: {result.accepted} events stored, {result.duplicates} already there, "
            f"{result.leads} leads updated (from {', '.join(p.name for p in crm_files)})",
            markup=False,
        )
    settle_after_import(engine)


def _load_mapping(path: Path | None) -> ImportMapping:
    from leadsla.connectors import ImportMapping, MappingError, load_mapping

    if path is None:
        return ImportMapping()
    with open_input(path) as handle:
        text = handle.read()
    try:
        return load_mapping(text, str(path))
    except MappingError as exc:
        lines = str(exc).splitlines()
        for line in lines[1:]:
            err.print(line, markup=False, soft_wrap=True)
        fail(lines[0])


def _format_of(path: Path) -> str:
    from leadsla.connectors import ConnectorError, detect_format

    with open_input(path) as handle:
        header = next(csv.reader(handle), None)
    if header is None:
        fail(f"{path}: the file is empty")
    try:
        return detect_format(header)
    except ConnectorError as exc:
        # The formats it could have been go above; the error line stays one line.
        first, *rest = str(exc).splitlines()
        for line in rest:
            err.print(line, markup=False, soft_wrap=True)
        fail(f"{path}: {first}")


def _convert_export(
    rules: Rulebook, path: Path, kind: str, mapping: ImportMapping
) -> list[ConvertedRow]:
    """The events of one CRM export; bad rows (and values the config does not know) rejected."""
    from leadsla.connectors import ConnectorError, RejectedRow, convert

    statuses = list(rules.statuses)
    grades = [g.name for g in rules.grades]
    good: list[ConvertedRow] = []
    rejected: list[RejectedRow] = []
    raw_by_line: dict[int, list[str]] = {}
    with open_input(path) as handle:
        try:
            for item in convert(handle, mapping, source=str(path), format=kind):
                if isinstance(item, RejectedRow):
                    rejected.append(item)
                    continue
                problem = value_problem(item.field, item.value or "", statuses, grades)
                if problem is not None:
                    rejected.append(RejectedRow(item.line, [], f"{item.field}: {problem}"))
                else:
                    good.append(item)
        except ConnectorError as exc:
            fail(f"{path}: {exc}")
    if rejected:
        with open_input(path) as handle:
            reader = csv.reader(handle)
            wanted = {r.line for r in rejected}
            start = 1
            for row in reader:
                if start in wanted:
                    raw_by_line[start] = row
                start = reader.line_num + 1
        target = path.with_name(path.stem + ".rejected.csv")
        with open_output(target) as out:
            writer = csv.writer(out, lineterminator="\n")
            writer.writerow(["line", "error", "row"])
            for r in rejected:
                writer.writerow([r.line, r.reason, ",".join(r.raw or raw_by_line.get(r.line, []))])
        report_row_errors((f"{path}:{r.line}: {r.reason}" for r in rejected), len(rejected))
        err.print(f"leadsla: rejected rows of {path.name} → {target}", markup=False)
    return good


def _import_native(engine: Engine, rules: Rulebook, events: Path) -> None:
    from leadsla.service.imports import import_table

    table, report = _read_event_file(rules, events, keep_errors=True)
    rejected_path = events.with_name(events.stem + ".rejected.csv")
    if report.errors:
        _write_rejects(events, rejected_path, report.errors)
    report_row_errors(report.errors, report.skipped)
    table = table.sorted()
    with progress_bar(len(table), "importing") as bar:
        task = bar.add_task("importing", total=len(table))
        result = import_table(
            engine,
            rules,
            table,
            source=f"import:{events.name}",
            recorded_at=now_micros(),
            progress=lambda done: bar.update(task, completed=done),
        )
    rejects = f"; {report.skipped} rejected → {rejected_path}" if report.skipped else ""
    err.print(
        f"leadsla: {result.accepted} events stored, {result.duplicates} already there, "
        f"{result.leads} leads updated{rejects}",
        markup=False,
    )


def _read_event_file(
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
                source=str(events),
                max_errors_kept=10**9 if keep_errors else 1000,
                progress=lambda _rows: bar.update(task, completed=_bytes_read(handle)),
            )
        except EventFileError as exc:
            fail(str(exc))


def _write_rejects(source: Path, target: Path, errors: Sequence[RowError]) -> None:
    """The rejected rows as they were, with their line and the reason."""
    by_line = {e.line: e for e in errors}
    with open_input(source) as handle, open_output(target) as out:
        reader = csv.reader(handle)
        writer = csv.writer(out, lineterminator="\n")
        header = next(reader, [])
        writer.writerow(["line", "error", *header])
        start = reader.line_num + 1
        for row in reader:
            error = by_line.get(start)
            if error is not None:
                column = f"{error.column}: " if error.column else ""
                writer.writerow([start, f"{column}{error.message}", *row])
            start = reader.line_num + 1


register_demo(app)
register_qualify(app)
# Analytics (``leadsla segments``, the report's extra keys, charts and CSV tables) live in
# their own module, which uses the helpers above.
from leadsla.cli.analytics import (  # noqa: E402
    file_report,
    finish_report,
    register,
    stored_report,
)

register(app)

if __name__ == "__main__":  # pragma: no cover
    main()
