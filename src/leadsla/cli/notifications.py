"""``leadsla notifications list``: the outbox of reminders and escalations."""

from __future__ import annotations

from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from leadsla.cli.common import ConfigOption, DatabaseOption, fail, load_setup, open_engine
from leadsla.core.instants import format_instant

notifications_app = typer.Typer(
    help="The reminders and escalations the worker queued, sent, skipped or gave up on.",
    no_args_is_help=True,
)


def register(app: typer.Typer) -> None:
    app.add_typer(notifications_app, name="notifications")


@notifications_app.command("list")
def notifications_list(
    config_path: ConfigOption,
    database: DatabaseOption = None,
    state: Annotated[
        str | None, typer.Option(help="queued, sent, skipped or failed; default all.")
    ] = None,
    lead: Annotated[str | None, typer.Option("--lead", help="Only this lead.")] = None,
    limit: Annotated[int, typer.Option(min=1, help="At most this many, newest first.")] = 50,
) -> None:
    """The notification outbox: recipient, step, state, attempts and the last error."""
    from leadsla.service.timers import notification_records

    _setup, rules = load_setup(config_path)
    if state is not None and state not in ("queued", "sent", "skipped", "failed"):
        fail(f"--state: {state!r} is not queued, sent, skipped or failed")
    engine = open_engine(database, create=False)
    with engine.connect() as connection:
        rows = notification_records(connection, state=state, lead_id=lead, limit=limit)
    zone = rules.default_zone
    header = (
        "lead", "policy", "what", "recipient", "state", "due", "tries", "last error", "held to"
    )  # fmt: skip
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
            # SPEC §9.4: held for the recipient's hours until this instant.
            format_instant(int(row["deliver_at"]), zone)
            if row["deliver_at"] != row["fire_at"]
            else "",
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
