"""``leadsla serve`` and ``leadsla worker``: the long-running processes."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from leadsla.bootstrap import now_micros
from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    err,
    fail,
    instant_option,
    load_setup,
    open_engine,
    wiring,
    worker_crm_jobs,
    worker_senders,
)
from leadsla.cli.lifecycle import port_holder


def register(app: typer.Typer) -> None:
    app.command()(serve)
    app.command()(worker)


def serve(
    config_path: ConfigOption,
    database: DatabaseOption = None,
    host: Annotated[str, typer.Option(help="Address to listen on.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
) -> None:
    """Serve the REST API under /api/v1 (OpenAPI at /api/v1/openapi.json) and the dashboard at /."""
    import uvicorn

    # Checked first: a URL printed and then a bind error would mislead.
    holder = port_holder(host, port)
    if holder is not None:
        held = "is in use" if holder == "in use" else f"is held by {holder}"
        fail(f"--port: {host}:{port} {held}; stop it or choose another with --port")
    setup, rules = load_setup(config_path)
    engine = open_engine(database)
    err.print(f"leadsla: serving http://{host}:{port}/api/v1 (docs at /api/v1/docs)", markup=False)
    uvicorn.run(wiring().build_app(rules, engine, setup), host=host, port=port, log_level="info")


def worker(
    config_path: ConfigOption,
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
    from sqlalchemy.exc import OperationalError

    from leadsla.worker import ONCE_ATTEMPTS, run_worker

    setup, rules = load_setup(config_path)
    engine = open_engine(database)
    senders = worker_senders(setup, rules)
    crm_jobs = worker_crm_jobs(setup, rules, config_path)
    instant = None if at is None else instant_option(at, "--now")
    try:
        run_worker(
            engine,
            rules,
            setup,
            senders,
            now_micros,
            once=once,
            at=instant,
            log=sys.stderr.write,
            crm_jobs=crm_jobs,
        )
    except OperationalError as exc:
        # Only a --once run gives up, after ONCE_ATTEMPTS refused rounds in a row; one
        # message that fails never ends a run (docs/worker.md, "Exit status").
        lines = str(getattr(exc, "orig", exc)).strip().splitlines()
        fail(
            f"the database refused {ONCE_ATTEMPTS} rounds in a row; the last time: "
            f"{lines[0] if lines else type(exc).__name__}"
        )
