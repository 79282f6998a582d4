"""``leadsla report``: the SLA scorecard, from an events file or from the database."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadsla.cli.analytics import (
    COMPUTING,
    DRAWING,
    READING,
    file_report,
    finish_report,
    partitioned_file_report,
    stored_report,
)
from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    MemoryLimitOption,
    OutputOption,
    PartitionsOption,
    PeriodOption,
    fail,
    instant_option,
    load_setup,
    open_engine,
    open_output,
    partition_plan_of,
    skip_teardown,
    stage_bar,
)
from leadsla.cli.spark import (
    EngineOption,
    EventsFormatOption,
    LeadGroupsOption,
    SparkMasterOption,
    check_engine,
)
from leadsla.report.heap import reuse_freed_memory

# As the other report-like commands' --events, but a text: with --engine spark it may
# be a URL (s3a://...) or a table name, which a Path would not keep as written.
ReportEventsOption = Annotated[
    str | None,
    typer.Option(
        "--events",
        "-e",
        help="Events CSV; without it, the database is read. With --engine spark: any "
        "path or URL Spark reads (CSV, Parquet, ...), or a table name.",
    ),
]

if TYPE_CHECKING:
    from leadsla.config import Config
    from leadsla.core.policy import Rulebook


def register(app: typer.Typer) -> None:
    app.command()(report)


def report(
    config_path: ConfigOption,
    events: ReportEventsOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The instant of the report; default now.")
    ] = None,
    period: PeriodOption = "month",
    format_: Annotated[str, typer.Option("--format", help="json, csv or html.")] = "json",
    output: OutputOption = None,
    database: DatabaseOption = None,
    charts: Annotated[
        Path | None, typer.Option("--charts", help="Directory for PNG and SVG charts.")
    ] = None,
    csv_dir: Annotated[
        Path | None, typer.Option("--csv-dir", help="Directory for one CSV per report table.")
    ] = None,
    memory_limit: MemoryLimitOption = None,
    partitions: PartitionsOption = None,
    engine: EngineOption = "local",
    spark_master: SparkMasterOption = None,
    events_format: EventsFormatOption = "auto",
    lead_groups: LeadGroupsOption = None,
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
    spark_only = {
        "--spark-master": spark_master,
        "--events-format": events_format,
        "--lead-groups": lead_groups,
    }
    on_spark = check_engine(engine, spark_only=spark_only)
    drawn = charts is not None or format_ == "html"
    if on_spark:
        if events is None:
            fail("--engine spark reads the events Spark reads: give --events")
        if (memory_limit, partitions) != (None, None):
            fail("--memory-limit, --partitions: not with --engine spark (see --lead-groups)")
        if drawn:
            fail(
                "--engine spark: the charts (--charts, --format html) are drawn in memory; "
                "leave them out"
            )
    setup, rules = load_setup(config_path)
    instant = instant_option(as_of, "--as-of")
    if on_spark:
        from leadsla.cli.spark import spark_report

        assert events is not None
        figures = spark_report(
            rules, setup, events, events_format, instant, period, spark_master, lead_groups
        )
        _write(finish_report(figures, format_, None, charts=None, csv_dir=csv_dir), output)
        return
    _local_report(
        setup,
        rules,
        None if events is None else Path(events),
        instant,
        period,
        format_,
        (output, database, charts, csv_dir),
        (memory_limit, partitions),
    )


def _local_report(
    setup: Config,
    rules: Rulebook,
    events: Path | None,
    instant: int,
    period: str,
    format_: str,
    files: tuple[Path | None, str | None, Path | None, Path | None],
    split: tuple[str | None, int | None],
) -> None:
    """The report computed in this process (and its helpers): of an events file, in
    memory or by partitions, or of the database."""
    output, database, charts, csv_dir = files
    memory_limit, partitions = split
    drawn = charts is not None or format_ == "html"
    plan = None
    if memory_limit is not None or partitions is not None:
        if events is None:
            fail("--memory-limit and --partitions split an events file: give --events")
        if drawn:
            fail(
                "--memory-limit and --partitions: the charts (--charts, --format html) "
                "are drawn in memory; leave them out"
            )
        plan = partition_plan_of(events, memory_limit, partitions)
    stages = [READING, COMPUTING, *([DRAWING] if drawn else [])]
    with stage_bar(stages) as stage:
        partitioned = None
        if events is not None and plan is not None:
            partitioned = partitioned_file_report(events, rules, setup, instant, period, plan)
        if partitioned is not None:
            figures, follow_up = partitioned, None
        elif events is not None:
            # A one-shot bulk job: keep freed NumPy temporaries' pages for the next ones, and
            # leave them to the system at the end.
            reuse_freed_memory()
            skip_teardown()
            figures, follow_up = file_report(events, rules, setup, instant, period, drawn, stage)
        else:
            engine = open_engine(database, create=False)
            with engine.connect() as connection:
                stage(COMPUTING)
                figures, follow_up = stored_report(connection, rules, setup, instant, period, drawn)
        if drawn:
            stage(DRAWING)
        text = finish_report(figures, format_, follow_up, charts=charts, csv_dir=csv_dir)
    _write(text, output)


def _write(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
    else:
        with open_output(output) as handle:
            handle.write(text)
