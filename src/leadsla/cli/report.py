"""``leadsla report``: the SLA scorecard, from an events file or from the database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from leadsla.cli.analytics import extend_from_database, extend_from_events, finish_report
from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    fail,
    instant_option,
    load_setup,
    open_engine,
    open_output,
    read_event_file,
    report_row_errors,
    skip_teardown,
)
from leadsla.report.heap import reuse_freed_memory


def register(app: typer.Typer) -> None:
    app.command()(report)


def report(
    config_path: ConfigOption,
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
    setup, rules = load_setup(config_path)
    instant = instant_option(as_of, "--as-of")
    drawn = charts is not None or format_ == "html"
    if events is not None:
        # A one-shot bulk job: keep freed NumPy temporaries' pages for the next ones, and
        # leave them to the system at the end.
        reuse_freed_memory()
        skip_teardown()
        # Plain files are read and grouped on Polars; any other goes to the careful reader,
        # as do reports with charts (their follow-up times replay leads by name).
        from leadsla.report.fast_reader import report_from_csv  # Polars: loaded when used

        fast = None if drawn else report_from_csv(events, rules, setup, instant, period)
        if fast is not None:
            figures, follow_up = fast, None
        else:
            from leadsla.report.scorecard import report_from_events

            table, read = read_event_file(rules, events)
            report_row_errors(read.errors, read.skipped)
            ordered = table.sorted()
            figures = report_from_events(rules, setup, ordered, instant, period)
            follow_up = extend_from_events(figures, rules, setup, ordered, instant, drawn)
    else:
        from leadsla.report.scorecard import report_from_database

        engine = open_engine(database, create=False)
        with engine.connect() as connection:
            figures = report_from_database(connection, rules, setup, instant, period)
            follow_up = extend_from_database(figures, connection, rules, setup, instant, drawn)
    text = finish_report(figures, format_, follow_up, charts=charts, csv_dir=csv_dir)
    if output is None:
        sys.stdout.write(text)
    else:
        with open_output(output) as handle:
            handle.write(text)
