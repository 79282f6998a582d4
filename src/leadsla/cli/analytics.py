"""The report on the command line: ``leadsla report``'s figures from a file or the
database, its ``--charts DIR`` and ``--csv-dir DIR``, and ``leadsla segments``.

The report's part is called by :mod:`leadsla.cli.report`; :func:`register` adds ``segments``.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TextIO

import numpy as np
import numpy.typing as npt
import typer
from rich.console import Console
from rich.table import Table

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
)
from leadsla.config.schema import Config
from leadsla.core.events import EventTable
from leadsla.core.policy import Rulebook
from leadsla.report.formats import (
    GROUPS,
    analytics_tables,
    grouped_table,
    render_report,
    wide_table,
)

if TYPE_CHECKING:
    from sqlalchemy import Connection

    from leadsla.report.partition import PartitionPlan
    from leadsla.report.settings import ReportSettings
    from leadsla.report.sources import LeadEvents

FollowUp = npt.NDArray[np.int64] | None
# The stages of `leadsla report`'s progress bar.
READING, COMPUTING, DRAWING = "reading events", "computing the report", "drawing the charts"


# -- leadsla report: its figures, charts and CSV tables ----------------------------------


def file_report(
    events: Path,
    rules: Rulebook,
    setup: Config,
    instant: int,
    period: str,
    drawn: bool,
    stage: Callable[[str], None] = lambda _stage: None,
) -> tuple[dict[str, Any], FollowUp]:
    """The report of an events file; the follow-up times too if ``drawn``. ``stage`` is
    told when the reading is done and the computing begins (a progress bar's stages)."""
    # Polars loads only for the commands that use it: every other command starts
    # faster (it and matplotlib are most of the CLI's import time).
    from leadsla.report.settings import ReportSettings
    from leadsla.report.sources import file_events

    def careful() -> EventTable:
        table, read = read_event_file(rules, events)
        report_row_errors(read.errors, read.skipped)
        return table

    settings = ReportSettings.of(rules, setup)
    # A report with charts reads the file carefully: its follow-up times replay leads
    # by name, which the Polars reader does not give.
    with file_events(events, settings, instant, careful=careful, fast=not drawn) as source:
        stage(COMPUTING)
        return _report(source, settings, instant, period, drawn)


def partitioned_file_report(
    events: Path,
    rules: Rulebook,
    setup: Config,
    instant: int,
    period: str,
    plan: PartitionPlan,
) -> dict[str, Any] | None:
    """The report of an events file by lead-hash partitions; ``None``: the file is not
    plain, the in-memory path reads it (and reports its bad rows)."""
    from leadsla.report.partition import partitioned_report
    from leadsla.report.settings import ReportSettings

    return partitioned_report(events, ReportSettings.of(rules, setup), instant, period, plan)


def stored_report(
    connection: Connection, rules: Rulebook, setup: Config, instant: int, period: str, drawn: bool
) -> tuple[dict[str, Any], FollowUp]:
    """The report of the stored events; the follow-up times too if ``drawn``."""
    from leadsla.report.settings import ReportSettings
    from leadsla.report.sources import stored_events

    source = stored_events(connection, instant)
    return _report(source, ReportSettings.of(rules, setup), instant, period, drawn)


def _report(
    source: LeadEvents, settings: ReportSettings, instant: int, period: str, drawn: bool
) -> tuple[dict[str, Any], FollowUp]:
    from leadsla.report.analytics import follow_up_seconds
    from leadsla.report.full import report

    figures = report(source, settings, instant, period)
    return figures, follow_up_seconds(source.table, settings, instant) if drawn else None


def finish_report(
    figures: dict[str, Any],
    fmt: str,
    follow_up: FollowUp,
    *,
    charts: Path | None,
    csv_dir: Path | None,
) -> str:
    """Write the charts and CSV tables asked for; the report's text in ``fmt``."""
    embedded = None
    if follow_up is not None or charts is not None or fmt == "html":
        # matplotlib takes a second to import: only for reports that draw.
        from leadsla.report.charts import report_charts, save_charts, svg_text

        drawn = list(report_charts(figures, follow_up)) if follow_up is not None else []
        if charts is not None:
            try:
                save_charts(drawn, charts)
            except OSError as exc:
                fail(f"--charts: {charts}: cannot write: {exc.strerror or exc}")
        if fmt == "html":
            embedded = {stem: svg_text(figure) for stem, figure in drawn}
    if csv_dir is not None:
        write_tables(figures, csv_dir)
    return render_report(figures, fmt, embedded)


def report_tables(report: dict[str, Any]) -> dict[str, tuple[list[str], list[list[object]]]]:
    """Every table of the report, by file stem."""
    scorecard = {k: report[k] for k in GROUPS if k in report}
    commitments = [((c["name"],), c) for c in report.get("commitments", [])]
    per_rep = report.get("workable_leads_per_rep_month_to_date", {})
    tables = {
        "scorecard": grouped_table(scorecard),
        "commitments": wide_table(["commitment"], commitments),
        "workable_leads_per_rep": (
            ["rep", "workable_leads_month_to_date"],
            [[rep, count] for rep, count in per_rep.items()],
        ),
    }
    tables.update(analytics_tables(report))
    return tables


def write_tables(report: dict[str, Any], directory: Path) -> None:
    try:
        directory.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        fail(f"--csv-dir: {directory}: cannot create: {exc.strerror or exc}")
    for stem, (header, rows) in report_tables(report).items():
        with open_output(directory / f"{stem}.csv") as handle:
            write_csv(handle, header, rows)


# -- leadsla segments ---------------------------------------------------------------------


def segments(
    config: ConfigOption,
    by: Annotated[
        list[str] | None,
        typer.Option(
            "--by",
            help="A field to cut by: any field of the events (campaign, country, source, "
            "industry, …) or grade, owner, team; repeat it or give a comma list. "
            "Default: source.",
        ),
    ] = None,
    events: Annotated[
        Path | None,
        typer.Option("--events", "-e", help="Events CSV; without it, the database is read."),
    ] = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The instant of the analysis; default now.")
    ] = None,
    min_leads: Annotated[
        int, typer.Option("--min-leads", help="Fewest leads for a segment to be workable.")
    ] = 30,
    sort: Annotated[
        str, typer.Option("--sort", help="profit, revenue, conversion, win or leads.")
    ] = "profit",
    format_: Annotated[str, typer.Option("--format", help="table, json or csv.")] = "table",
    output: Annotated[
        Path | None, typer.Option("--output", "-o", help="File to write; default stdout.")
    ] = None,
    database: DatabaseOption = None,
    propose: Annotated[
        bool,
        typer.Option(
            "--propose",
            help="Write the workable rule the result supports (YAML to paste into the "
            "config, each segment's evidence as comments) instead of the table.",
        ),
    ] = False,
) -> None:
    """Closed loop: rank lead segments by conversion, revenue and profit per lead.

    Each segment (a combination of the --by fields) with its leads, conversion to
    opportunity and win rate (95 % Wilson intervals), revenue of won deals (amount),
    cost (costs.per_lead by source) and profit per lead; workable segments (at least
    --min-leads leads and profit per lead above 0 even at the interval's low end) and
    the workable leads per rep per month the reps' capacity supports.
    """
    from leadsla.report.analytics import segment_field_problem
    from leadsla.report.analytics import segments as segments_of
    from leadsla.report.figures import SORT_KEYS
    from leadsla.report.settings import ReportSettings
    from leadsla.report.sources import stored_events

    fields = [name.strip() for text in by or ["source"] for name in text.split(",")]
    fields = [name for name in fields if name]
    if not fields or len(set(fields)) != len(fields):
        fail(f"--by: {segment_field_problem(EventTable.empty(), fields)}")
    if sort not in SORT_KEYS:
        fail(f"--sort: {sort!r} is not one of {', '.join(SORT_KEYS)}")
    if format_ not in ("table", "json", "csv"):
        fail(f"--format: {format_!r} is not table, json or csv")
    if propose and format_ != "table":
        fail("--propose writes YAML: leave out --format")
    if min_leads < 1:
        fail("--min-leads: must be at least 1")
    setup, rules = load_setup(config)
    instant = instant_option(as_of, "--as-of")
    if events is not None:
        table, read = read_event_file(rules, events)
        report_row_errors(read.errors, read.skipped)
    else:
        engine = open_engine(database, create=False)
        with engine.connect() as connection:
            table = stored_events(connection, instant).table
    problem = segment_field_problem(table, fields)
    if problem is not None:
        fail(f"--by: {problem}")
    settings = ReportSettings.of(rules, setup)
    result = segments_of(table, settings, instant, fields, min_leads=min_leads, sort=sort)
    if propose:
        from leadsla.report.propose import proposed_rule

        text = proposed_rule(result)
    elif format_ == "table":
        if output is None:
            _print_segments(result, None)
        else:
            with open_output(output) as handle:
                _print_segments(result, handle)
        return
    else:
        text = _segments_text(result, format_)
    if output is None:
        typer.echo(text, nl=False)
    else:
        with open_output(output) as handle:
            handle.write(text)


def _print_segments(result: dict[str, Any], handle: TextIO | None) -> None:
    console = Console(file=handle, width=200, highlight=False)
    console.print(segments_table(result))
    console.print(capacity_line(result), markup=False, soft_wrap=True)


def segment_rows(result: dict[str, Any]) -> tuple[list[str], list[list[object]]]:
    rows = [
        (tuple(row["segment"].values()), {k: v for k, v in row.items() if k != "segment"})
        for row in result["segments"]
    ]
    return wide_table(list(result["by"]), rows)


def _segments_text(result: dict[str, Any], fmt: str) -> str:
    if fmt == "json":
        return json.dumps(result, indent=2) + "\n"
    header, rows = segment_rows(result)
    buffer = io.StringIO()
    write_csv(buffer, header, rows)
    return buffer.getvalue()


def write_csv(handle: TextIO, header: list[str], rows: list[list[object]]) -> None:
    writer = csv.writer(handle, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(["" if cell is None else cell for cell in row] for row in rows)


def _money(value: float | None) -> str:
    return "" if value is None else f"{value:,.2f}"


def _share(value: float | None) -> str:
    return "" if value is None else f"{100 * value:.1f}%"


def segments_table(result: dict[str, Any]) -> Table:
    currency = result["currency"] or ""
    months = result["months"]
    span = f"{months} month{'' if months == 1 else 's'}"
    table = Table(title=f"Lead segments by {', '.join(result['by'])} ({span} of history)")
    for name in result["by"]:
        table.add_column(name)
    for title in ("leads", "conversion (95% CI)", "win rate (95% CI)"):
        table.add_column(title, justify="right")
    for title in ("revenue/lead", "cost/lead", "profit/lead (95% CI)"):
        table.add_column(f"{title} {currency}".strip(), justify="right")
    table.add_column("workable")
    for row in result["segments"]:
        workable = "yes" if row["workable"] else "no"
        if row["workable"] and not row["within_capacity"]:
            workable = "yes, over capacity"
        table.add_row(
            *("(none)" if v is None else str(v) for v in row["segment"].values()),
            str(row["leads"]),
            f"{_share(row['conversion'])} ({_share(row['conversion_low'])}–"
            f"{_share(row['conversion_high'])})",
            f"{_share(row['win_rate'])} ({_share(row['win_rate_low'])}–"
            f"{_share(row['win_rate_high'])})",
            _money(row["revenue_per_lead"]),
            _money(row["cost_per_lead"]),
            f"{_money(row['profit_per_lead'])} ({_money(row['profit_per_lead_low'])} to "
            f"{_money(row['profit_per_lead_high'])})",
            workable,
        )
    return table


def capacity_line(result: dict[str, Any]) -> str:
    c = result["capacity"]
    per_rep = c["workable_leads_per_rep_per_month"]
    shown = "n/a (no reps)" if per_rep is None else f"{per_rep:.1f}"
    return (
        f"Workable leads per month: {c['workable_leads_per_month']:.1f}; reps' capacity: "
        f"{c['capacity_per_month']} per month over {c['reps']} reps; supported workable "
        f"leads per rep per month: {shown} (rule: at least {result['rule']['min_leads']} "
        "leads and profit per lead above 0 at the 95% interval's low end)"
    )


def register(app: typer.Typer) -> None:
    app.command()(segments)
