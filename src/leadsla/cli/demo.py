"""``leadsla generate`` and ``leadsla demo``: the demo company, as a file or running."""

from __future__ import annotations

import mailbox
import socket
import sys
import threading
from pathlib import Path
from typing import Annotated, Any

import typer

from leadsla.bootstrap import now_micros
from leadsla.cli import demo_background
from leadsla.cli.common import (
    err,
    fail,
    load_setup,
    open_output,
    progress_bar,
    stepped_progress,
    wiring,
    worker_senders,
)
from leadsla.cli.lifecycle import stop_on_signals, stoppable_sleep, until_stopped
from leadsla.config import build_rulebook, load_config
from leadsla.demo.company import (
    DEFAULT_SMTP_PORT,
    company_config,
    config_yaml,
    demo_company,
    parse_end,
    today_end,
    write_company_history,
)

# How long a stopping demo waits for the worker to finish the round it is in.
WORKER_STOP_SECONDS = 10.0


def register(app: typer.Typer) -> None:
    """Add ``generate`` and ``demo`` to the ``leadsla`` command line."""

    @app.command()
    def generate(
        output: Annotated[Path, typer.Option("--output", "-o", help="The events CSV to write.")],
        seed: Annotated[int, typer.Option(help="Same seed, same file.")] = 1,
        size: Annotated[
            int, typer.Option("--size", "--leads", min=1, max=5_000_000, help="Number of leads.")
        ] = 3000,
        months: Annotated[int, typer.Option(min=1, max=60, help="Months of history.")] = 6,
        end: Annotated[
            str | None,
            typer.Option(help="Last day of the history, YYYY-MM-DD (UTC); default now."),
        ] = None,
        config_out: Annotated[
            Path | None, typer.Option("--config-out", help="Also write the company's config.")
        ] = None,
    ) -> None:
        """Write the demo company's lead history (native events CSV) for a seed and a size."""
        try:
            until = today_end(now_micros()) if end is None else parse_end(end)
        except ValueError as exc:
            fail(str(exc))
        if config_out is not None:
            with open_output(config_out) as handle:
                handle.write(config_yaml(company_config(demo_company(), end=until)))
        with open_output(output) as handle, progress_bar(size, "generating the leads") as bar:
            stats = write_company_history(
                handle,
                seed=seed,
                leads=size,
                months=months,
                end=until,
                progress=stepped_progress(bar),
            )
        err.print(
            f"leadsla: {stats.leads} leads, {stats.events} events → {output}",
            markup=False,
            soft_wrap=True,
        )

    @app.command()
    def demo(
        directory: Annotated[
            Path, typer.Option("--dir", help="Where the config, history and database go.")
        ] = Path("leadsla-demo"),
        port: Annotated[int, typer.Option(min=1, max=65535, help="Port on 127.0.0.1.")] = 8000,
        size: Annotated[
            int,
            typer.Option(
                "--size",
                "--leads",
                min=1,
                max=200_000,
                help="Leads in the six months of history (200,000 takes a few minutes).",
            ),
        ] = 3000,
        seed: Annotated[
            int,
            typer.Option(help="Seed of the generated history: same seed and size, same company."),
        ] = 1,
        serve: Annotated[
            bool, typer.Option("--serve/--no-serve", help="--no-serve: prepare only.")
        ] = True,
        background: Annotated[
            bool,
            typer.Option(
                "--background",
                help="Prepare, start the dashboard and worker detached, print the URL and "
                "logins, and return. The process id goes in DIR/demo.pid, the output in "
                "DIR/demo.log.",
            ),
        ] = False,
        stop: Annotated[
            bool,
            typer.Option("--stop", help="Stop the demo that --background started from --dir."),
        ] = False,
        prepared_smtp: Annotated[
            int | None,
            # How --background's detached process serves what its parent prepared.
            typer.Option("--serve-prepared", hidden=True),
        ] = None,
    ) -> None:
        """The demo company in a SQLite file, its logins, then the dashboard and the worker.

        In the foreground it runs until Ctrl-C; with --background it returns once the
        dashboard answers, and --stop ends it.
        """
        if stop:
            demo_background.stop(directory)
            return
        if prepared_smtp is not None:
            from leadsla.demo.setup import demo_database_url

            mail = start_mail_catcher(directory / "mail", prepared_smtp)
            _serve(directory, demo_database_url(directory), port, mail)
            return
        if background and not serve:
            fail("--background: starts the server; --no-serve prepares only: choose one")
        if background and demo_background.running_pid(directory) is not None:
            fail(f"--background: a demo already runs from {directory}/; stop it with --stop")
        if serve and not port_free(port):
            fail(f"--port: 127.0.0.1:{port} is in use; choose another with --port")
        if background:
            # The detached process starts the catcher on the port the config names.
            mail = None
            smtp_port = demo_background.free_port()
        else:
            mail = start_mail_catcher(directory / "mail") if serve else None
            smtp_port = mail[1] if mail else DEFAULT_SMTP_PORT
        err.print(
            f"leadsla: preparing the demo company in {directory}/ …", markup=False, soft_wrap=True
        )
        # Loaded here: the service takes half a second to import, which other commands skip.
        from leadsla.demo.setup import prepare_demo

        try:
            with progress_bar(size, "preparing") as bar:
                setup = prepare_demo(
                    directory,
                    now=today_end(now_micros()),
                    seed=seed,
                    leads=size,
                    smtp_port=smtp_port,
                    progress=stepped_progress(bar),
                )
        except OSError as exc:
            fail(f"--dir: {directory}: {exc.strerror or exc}")
        err.print(
            f"leadsla: {setup.imported.leads} leads, {setup.imported.accepted} events imported "
            f"into {setup.database_url}",
            markup=False,
            soft_wrap=True,
        )
        url = f"http://127.0.0.1:{port}/"
        typer.echo(f"Dashboard: {url}  (paste one of these tokens on the login page)")
        for name, token in setup.tokens.items():
            typer.echo(f"  {name:32} {token}")
        typer.echo(f"(also in {setup.directory / 'tokens.txt'})")
        if not serve:
            return
        if background:
            arguments = ["--dir", str(directory), "--port", str(port)]
            pid = demo_background.start_detached(
                directory, port, [*arguments, "--serve-prepared", str(smtp_port)]
            )
            log = directory / demo_background.LOG_FILE
            typer.echo(f"Running in the background (pid {pid}, log {log}).")
            typer.echo(f"Stop it with: leadsla demo --stop --dir {directory}")
            return
        _serve(directory, setup.database_url, port, mail)


def _serve(directory: Path, database_url: str, port: int, mail: tuple[Any, int] | None) -> None:
    """The dashboard on 127.0.0.1:``port`` and the worker beside it, until stopped."""
    config_path = directory / "leadsla.yaml"
    if mail is not None:
        typer.echo(f"Reminders and escalations are mailed to the Maildir {directory / 'mail'}")
    else:
        err.print("leadsla: aiosmtpd is not installed: emails will fail", markup=False)
    import uvicorn

    from leadsla.store.database import open_database
    from leadsla.worker import run_worker

    config = load_config(config_path)
    engine = open_database(database_url)
    # The worker has its engine and rulebook of its own, as a `leadsla worker` would.
    worker_config, worker_rules = load_setup(config_path)
    stopping = threading.Event()  # SIGINT or SIGTERM: stop all three, exit 0
    worker = threading.Thread(
        target=until_stopped,
        args=(
            run_worker,
            open_database(database_url),
            worker_rules,
            worker_config,
            worker_senders(worker_config, worker_rules),
            now_micros,
        ),
        kwargs={"once": False, "log": sys.stderr.write, "sleep": stoppable_sleep(stopping)},
        name="leadsla-worker",
        daemon=True,  # a round still running when the join gives up is rolled back
    )
    worker.start()
    try:
        with stop_on_signals(stopping):
            uvicorn.run(
                # The demo has always refused CRM webhooks, whatever secrets are set.
                wiring().build_app(build_rulebook(config), engine, config, webhooks=False),
                host="127.0.0.1",
                port=port,
                log_level="warning",
            )
    finally:
        stopping.set()
        worker.join(WORKER_STOP_SECONDS)  # it stops at its next pause
        if mail is not None:
            mail[0].stop()


def port_free(port: int) -> bool:
    with socket.socket() as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def start_mail_catcher(maildir: Path, port: int | None = None) -> tuple[Any, int] | None:
    """A local SMTP server filing every email in a Maildir (aiosmtpd, from the dev extras),
    on ``port`` or a free one."""
    try:
        from aiosmtpd.controller import Controller
        from aiosmtpd.handlers import Mailbox
    except ImportError:
        return None
    if port is None:
        port = demo_background.free_port()
    maildir.parent.mkdir(parents=True, exist_ok=True)
    mailbox.Maildir(maildir, create=True)  # new/, cur/ and tmp/
    controller = Controller(Mailbox(maildir), hostname="127.0.0.1", port=port)
    controller.start()
    return controller, port
