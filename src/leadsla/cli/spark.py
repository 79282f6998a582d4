"""``--engine spark`` on the command line: the options the Spark runs share, and the runs
themselves (:mod:`leadsla.spark` does the work). PySpark loads only here, and only when
a command is asked to run on Spark.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer

from leadsla.cli.common import err, fail, open_output, progress_bar, report_row_errors
from leadsla.core.policy import Rulebook

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from leadsla.config import Config
    from leadsla.spark.sources import EventSource

ENGINES = ("local", "spark")

EngineOption = Annotated[
    str,
    typer.Option(
        "--engine",
        help="local (this process) or spark (PySpark: local mode, or the cluster of "
        "spark-submit or --spark-master). See docs/scale.md.",
    ),
]
SparkMasterOption = Annotated[
    str | None,
    typer.Option(
        "--spark-master",
        help="With --engine spark: the master URL (local[4], spark://host:7077, yarn); "
        "default spark-submit's, else local mode on every core.",
    ),
]
EventsFormatOption = Annotated[
    str,
    typer.Option(
        "--events-format",
        help="With --engine spark: csv, parquet, orc, json or table (--events names a "
        "table); default auto: by the suffix, a folder without one being Parquet.",
    ),
]
LeadGroupsOption = Annotated[
    int | None,
    typer.Option(
        "--lead-groups",
        min=1,
        help="With --engine spark: groups of leads (one task each); default Spark's "
        "spark.sql.shuffle.partitions.",
    ),
]


def check_engine(engine: str, *, spark_only: Mapping[str, object]) -> bool:
    """Whether the command runs on Spark; an error for an unknown engine, or for a
    Spark-only option (name → value, None or default when not given) without it."""
    if engine not in ENGINES:
        fail(f"--engine: {engine!r} is not {' or '.join(ENGINES)}")
    if engine != "spark":
        given = [name for name, value in spark_only.items() if value not in (None, "auto")]
        if given:
            fail(f"{', '.join(given)}: only with --engine spark")
    return engine == "spark"


def session(master: str | None) -> SparkSession:
    """The Spark session, or one clear error when PySpark (or Java) is missing."""
    from leadsla.spark.session import SparkMissing, spark_session

    try:
        return spark_session(master)
    except SparkMissing as exc:
        fail(str(exc))
    except Exception as exc:  # PySpark raises plain errors when Java cannot start
        fail(f"cannot start Spark: {str(exc).strip().splitlines()[0] if str(exc) else exc!r}")


def event_source(events: str, events_format: str) -> EventSource:
    from leadsla.spark.sources import FORMATS, EventSource

    if events_format not in FORMATS:
        fail(f"--events-format: {events_format!r} is not one of {', '.join(FORMATS)}")
    return EventSource(events, events_format)


def spark_evaluate(
    rules: Rulebook,
    events: str,
    events_format: str,
    output: str,
    instant: int,
    master: str | None,
    lead_groups: int | None,
) -> None:
    """``leadsla evaluate --engine spark``: the clocks as a Parquet folder, or as the
    clocks CSV when ``output`` ends in ``.csv``."""
    from leadsla.spark.clocks import evaluate, output_is_csv, write_csv, write_parquet

    source = event_source(events, events_format)
    frame, groups = _read(source, master, lead_groups)
    result = evaluate(frame, source, rules, instant, groups)
    report_row_errors(result.report.errors, result.report.skipped)
    if output_is_csv(output):
        with open_output(Path(output)) as handle, progress_bar(None, "writing") as bar:
            task = bar.add_task("writing", total=None)
            rows = write_csv(result, handle, lambda done: bar.update(task, completed=done))
    else:
        from pyspark.errors import AnalysisException

        try:
            rows = write_parquet(result, output)
        except AnalysisException as exc:
            fail(f"{output}: cannot write: {str(exc).strip().splitlines()[0]}")
    err.print(
        f"leadsla: {result.report.rows_accepted} events of {result.leads} leads → {rows} "
        f"clock cycles in {output} (Spark, {groups} lead groups)",
        markup=False,
        soft_wrap=True,
    )


def spark_report(
    rules: Rulebook,
    setup: Config,
    events: str,
    events_format: str,
    instant: int,
    period: str,
    master: str | None,
    lead_groups: int | None,
) -> dict[str, Any]:
    """``leadsla report --engine spark``: the report's figures, merged on the driver."""
    from leadsla.report.settings import ReportSettings
    from leadsla.spark.figures import report

    source = event_source(events, events_format)
    frame, groups = _read(source, master, lead_groups)
    settings = ReportSettings.of(rules, setup)
    figures, read = report(frame, source, rules, settings, instant, period, groups)
    report_row_errors(read.errors, read.skipped)
    return figures


def _read(
    source: EventSource, master: str | None, lead_groups: int | None
) -> tuple[DataFrame, int]:
    """The source's events on Spark, and the lead groups to judge them in."""
    from leadsla.spark.sources import SourceError, read_source

    spark = session(master)
    groups = lead_groups or int(spark.conf.get("spark.sql.shuffle.partitions") or "8")
    try:
        return read_source(spark, source), groups
    except SourceError as exc:
        fail(str(exc))
