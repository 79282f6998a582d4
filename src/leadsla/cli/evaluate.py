"""``leadsla evaluate``: a history of lead events replayed into one row per clock cycle."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer

from leadsla.cli.common import (
    ConfigOption,
    MemoryLimitOption,
    PartitionsOption,
    err,
    fail,
    instant_option,
    load_setup,
    open_output,
    partition_plan_of,
    progress_bar,
    read_sorted_events,
)
from leadsla.cli.spark import (
    EngineOption,
    EventsFormatOption,
    LeadGroupsOption,
    SparkMasterOption,
    check_engine,
)
from leadsla.core.calendar import CalendarError
from leadsla.core.policy import Rulebook

if TYPE_CHECKING:
    from leadsla.config import Config
    from leadsla.report.partition import PartitionPlan


def register(app: typer.Typer) -> None:
    app.command()(evaluate)


def evaluate(
    config_path: ConfigOption,
    events: Annotated[
        str,
        typer.Option(
            "--events",
            "-e",
            help="Events CSV: lead_id,at,field,value. With --engine spark: any path or URL "
            "Spark reads (CSV, Parquet, ...), or a table name.",
        ),
    ],
    output: Annotated[
        str,
        typer.Option(
            "--output",
            "-o",
            help="Clocks CSV to write. With --engine spark: a new Parquet folder, or the "
            "clocks CSV if it ends in .csv.",
        ),
    ],
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
        typer.Option("--jobs", "-j", min=1, help="Threads for the replay; default: one per core."),
    ] = None,
    memory_limit: MemoryLimitOption = None,
    partitions: PartitionsOption = None,
    engine: EngineOption = "local",
    spark_master: SparkMasterOption = None,
    events_format: EventsFormatOption = "auto",
    lead_groups: LeadGroupsOption = None,
) -> None:
    """Replay a history of lead events and write one row per SLA clock cycle.

    Each row says whether the clock is running, paused, met, breached, lapsed or
    reassigned at --as-of, when it was due, the business seconds it accrued, how many
    escalation steps fired and how many attempts were made in the cycle. Bad rows are
    reported with their line and skipped. With --engine spark, Spark reads the events and
    judges them by groups of leads (docs/scale.md); the clocks are the same.
    """
    spark_only = {
        "--spark-master": spark_master,
        "--events-format": events_format,
        "--lead-groups": lead_groups,
    }
    on_spark = check_engine(engine, spark_only=spark_only)
    if on_spark and (jobs, memory_limit, partitions) != (None, None, None):
        fail(
            "--jobs, --memory-limit, --partitions: not with --engine spark "
            "(Spark sizes its own tasks; see --lead-groups)"
        )
    setup, rules = load_setup(config_path)
    instant = instant_option(as_of, "--as-of")
    if on_spark:
        from leadsla.cli.spark import spark_evaluate

        spark_evaluate(rules, events, events_format, output, instant, spark_master, lead_groups)
        return
    evaluate_file(setup, rules, Path(events), Path(output), instant, jobs, memory_limit, partitions)


def evaluate_file(
    setup: Config,
    rules: Rulebook,
    events: Path,
    output: Path,
    instant: int,
    jobs: int | None,
    memory_limit: str | None,
    partitions: int | None,
) -> None:
    """The clocks CSV of an events file, judged in this process (by partitions if a
    memory limit or partition count is given)."""
    from leadsla.report.clocks_csv import write_clocks

    plan = partition_plan_of(events, memory_limit, partitions, merged_rows=False)
    if plan is not None and _partitioned(setup, events, instant, output, plan):
        return
    table, report = read_sorted_events(rules, events)
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
        soft_wrap=True,
    )


def _partitioned(
    setup: Config, events: Path, instant: int, output: Path, plan: PartitionPlan
) -> bool:
    """Evaluate by lead-hash partitions; false (nothing written): the file is not plain,
    the in-memory path reads it and reports its bad rows."""
    from leadsla.report.partition import partitioned_clocks

    with open_output(output) as handle:
        try:
            counts = partitioned_clocks(events, setup, instant, handle, plan)
        except CalendarError as exc:
            fail(f"{events}: {exc}")
    if counts is None:
        return False
    err.print(
        f"leadsla: {counts.events} events of {counts.leads} leads → {counts.rows} clock "
        f"cycles in {output} ({plan.partitions} partitions)",
        markup=False,
        soft_wrap=True,
    )
    return True
