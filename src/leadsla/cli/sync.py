"""``leadsla sync``: the CRMs' changes into the database, and the SLA fields back out."""

from __future__ import annotations

import json
from typing import Annotated

import typer
from rich.progress import TaskID

from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    err,
    fail,
    instant_option,
    load_setup,
    open_engine,
    progress_bar,
    report_row_errors,
    worker_crm_jobs,
)


def register(app: typer.Typer) -> None:
    app.command("sync")(sync)


def sync(
    config_path: ConfigOption,
    database: DatabaseOption = None,
    crm: Annotated[
        str | None,
        typer.Option(
            "--crm", help="Only this CRM (salesforce or hubspot); default: every one set up."
        ),
    ] = None,
    writeback: Annotated[
        bool,
        typer.Option(
            "--writeback/--no-writeback",
            help="Write the leads' SLA fields back to each CRM whose writeback section is set "
            "is set (the default), or only read.",
        ),
    ] = True,
    at: Annotated[
        str | None,
        typer.Option("--now", help="Act as if it were this instant (tests).", hidden=True),
    ] = None,
) -> None:
    """Read what changed in each CRM since its last sync into the database (the first sync
    reads everything), then write SLA due times and states back to the CRM's fields.

    Set up under connectors.salesforce.sync / connectors.hubspot.sync in the config, with
    the credentials in environment variables (docs/crm.md). Prints one JSON line per CRM.
    """
    import requests

    from leadsla.connectors.records import CrmApiError
    from leadsla.service.sync import job_summary, run_job
    from leadsla.store.database import settle_after_import

    setup, rules = load_setup(config_path)
    jobs = worker_crm_jobs(setup, rules, config_path)
    if crm is not None:
        known = ("salesforce", "hubspot")
        if crm not in known:
            fail(f'--crm: unknown CRM "{crm}"; expected one of: {", ".join(known)}')
        jobs = [job for job in jobs if job.crm == crm]
    if not jobs:
        fail(
            "no CRM to sync: set connectors.salesforce.sync or connectors.hubspot.sync in "
            f"{config_path}, and its credentials in the environment (docs/crm.md)"
        )
    engine = open_engine(database, bulk=True)
    now = instant_option(at, "--now")
    failed = False
    loaded = False  # a backfill stored events: leave the database quick to read
    for job in jobs:
        with progress_bar(None, f"{job.crm}: reading") as bar:
            task = bar.add_task(f"{job.crm}: reading", total=None)

            def progress(done: int, total: int | None, task: TaskID = task) -> None:
                bar.update(task, completed=done, total=total)

            try:
                synced, written = run_job(
                    engine, rules, job, now=now, progress=progress, write=writeback
                )
            except (CrmApiError, requests.RequestException) as exc:
                # Nothing of the window is past the watermark: the next sync reads it again.
                err.print(f"leadsla: {job.crm}: {exc}", markup=False, soft_wrap=True)
                failed = True
                continue
        report_row_errors(
            (
                f"{job.crm} {row.raw[0] if row.raw else '?'} (record {row.line - 1}): {row.reason}"
                for row in synced.rejected
            ),
            len(synced.rejected),
        )
        if written is not None:
            for lead_id, error in written.failed[:10]:
                err.print(
                    f"leadsla: {job.crm}: write-back of {lead_id} refused, to be retried: {error}",
                    markup=False,
                    soft_wrap=True,
                )
        typer.echo(json.dumps(job_summary(synced, written)))
        loaded |= synced.window is not None and synced.window.backfill
    if loaded:
        settle_after_import(engine)
    if failed:
        raise typer.Exit(1)
