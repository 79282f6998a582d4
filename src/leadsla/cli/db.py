"""``leadsla db upgrade`` and ``leadsla token create``: the database's schema and the API's
tokens."""

from __future__ import annotations

from typing import Annotated

import typer

from leadsla.bootstrap import now_micros
from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    err,
    fail,
    load_rules,
    open_engine,
    wiring,
)

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
