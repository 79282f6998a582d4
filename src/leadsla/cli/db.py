"""``leadsla db upgrade`` and ``leadsla token create|list|revoke``: the database's schema
and the API's tokens."""

from __future__ import annotations

import json
from datetime import UTC
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from leadsla.bootstrap import now_micros
from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    err,
    fail,
    instant_option,
    load_rules,
    open_engine,
    wiring,
)
from leadsla.core.instants import format_instant

db_app = typer.Typer(help="The database: bring its schema up to date.", no_args_is_help=True)
token_app = typer.Typer(help="API tokens for the REST API.", no_args_is_help=True)


def register(app: typer.Typer) -> None:
    app.add_typer(db_app, name="db")
    app.add_typer(token_app, name="token")


@db_app.command("upgrade")
def db_upgrade(database: DatabaseOption = None) -> None:
    """Create the database or apply the migrations it lacks."""
    from leadsla.store.database import DatabaseError, connect, upgrade

    try:
        engine = connect(wiring().database_url(database))
        revision = upgrade(engine)
    except DatabaseError as exc:
        fail(str(exc))
    except Exception as exc:  # the driver's errors: say which database and why
        fail(f"cannot upgrade the database: {str(exc).splitlines()[0]}")
    err.print(f"leadsla: database at revision {revision}", markup=False)


@token_app.command("create")
def token_create(
    config_path: ConfigOption,
    role: Annotated[str, typer.Option(help="admin, marketing, manager or rep.")],
    name: Annotated[str, typer.Option(help="Who or what uses the token.")],
    rep: Annotated[str | None, typer.Option(help="The rep's id (role rep).")] = None,
    team: Annotated[str | None, typer.Option(help="The team a manager manages.")] = None,
    database: DatabaseOption = None,
) -> None:
    """Create an API token and print it once; only its digest is stored."""
    from leadsla.service.tokens import TokenError, create_token

    rules = load_rules(config_path)
    engine = open_engine(database)
    try:
        with engine.begin() as connection:
            token = create_token(
                connection, rules, role=role, name=name, rep=rep, team=team, now=now_micros()
            )
    except TokenError as exc:
        fail(str(exc))
    typer.echo(token)


def _instant(micros: int | None) -> str | None:
    # Tokens belong to no calendar: their instants are written in UTC.
    return None if micros is None else format_instant(micros, UTC)


@token_app.command("list")
def token_list(
    database: DatabaseOption = None,
    format_: Annotated[str, typer.Option("--format", help="table or json.")] = "table",
) -> None:
    """The tokens: name, role, rep, team, prefix, created, revoked. Never the secret."""
    from leadsla.service.tokens import token_list as listed

    if format_ not in ("table", "json"):
        fail(f"--format: {format_!r} is not table or json")
    engine = open_engine(database)
    with engine.connect() as connection:
        rows = listed(connection)
    shown: list[dict[str, Any]] = [
        {
            **row,
            "created_at": _instant(row["created_at"]),
            "revoked_at": _instant(row["revoked_at"]),
        }
        for row in rows
    ]
    if format_ == "json":
        typer.echo(json.dumps(shown, indent=2))
        return
    table = Table("name", "role", "rep", "team", "prefix", "created", "revoked")
    for row in shown:
        cells = ("name", "role", "rep", "team", "prefix", "created_at", "revoked_at")
        table.add_row(*(row[key] or "" for key in cells))
    # Wide enough for the two instants on one line each, even in a pipe.
    Console(width=max(Console().width, 140)).print(table)


@token_app.command("revoke")
def token_revoke(
    key: Annotated[str, typer.Argument(metavar="NAME|PREFIX", help="The token's name or prefix.")],
    database: DatabaseOption = None,
) -> None:
    """Revoke a token: the API refuses it and its dashboard sessions end, at once."""
    from leadsla.service.tokens import TokenError, revoke

    engine = open_engine(database)
    try:
        with engine.begin() as connection:
            done = revoke(connection, key, now_micros())
    except TokenError as exc:
        fail(str(exc))
    named = f"token {done.name!r} ({done.prefix or 'no prefix'})"
    if done.already:
        err.print(
            f"leadsla: {named} was already revoked at {_instant(done.revoked_at)}; nothing changed",
            markup=False,
            soft_wrap=True,
        )
        return
    err.print(
        f"leadsla: revoked {named}; {done.sessions_ended} dashboard session(s) ended",
        markup=False,
        soft_wrap=True,
    )


@db_app.command("reclock")
def db_reclock(
    config_path: ConfigOption,
    since: Annotated[
        str,
        typer.Option("--since", help="Re-clock the cycles started at or after this instant."),
    ],
    yes: Annotated[bool, typer.Option("--yes", help="Do not ask for confirmation.")] = False,
    database: DatabaseOption = None,
) -> None:
    """Re-clock stored cycles started since an instant under the current config.

    A config change applies to the cycles started after it; the older ones keep the
    deadlines of the policy version they started under. This command moves the cycles
    started at or after --since to the current version: it first prints, by policy,
    how many cycles it touches and how many change deadline or state, then asks.
    """
    from leadsla.service.reclock import apply, preview

    rules = load_rules(config_path)
    instant = instant_option(since, "--since")
    now = now_micros()
    engine = open_engine(database, create=False)
    with engine.connect() as connection, connection.begin() as transaction:
        planned = preview(connection, rules, instant, now)
        table = Table("policy", "cycles", "other version", "deadline changes", "state changes")
        for policy, counted in sorted(planned.by_policy.items()):
            table.add_row(
                policy,
                str(counted.cycles),
                str(counted.versions),
                str(counted.deadlines),
                str(counted.states),
            )
        Console(width=max(Console().width, 100)).print(table)
        changes = list(planned.by_policy.values())
        if not any(c.deadlines or c.versions for c in changes):
            transaction.rollback()
            err.print("leadsla: nothing to re-clock; nothing changed", markup=False)
            return
        if not yes and not typer.confirm("Re-clock these cycles?", default=False, err=True):
            transaction.rollback()
            err.print("leadsla: nothing changed", markup=False)
            return
        apply(connection, rules, planned)
        transaction.commit()
    cycles = sum(c.cycles for c in changes)
    err.print(f"leadsla: re-clocked {cycles} cycle(s) started since {since}", markup=False)
