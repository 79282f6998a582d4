"""``leadsla doctor``: checks of the stored data against the config (docs/cli.md)."""

from __future__ import annotations

import json
from typing import Annotated

import typer

from leadsla.cli.common import ConfigOption, DatabaseOption, fail, load_rules, open_engine


def register(app: typer.Typer) -> None:
    app.command("doctor")(doctor)


def doctor(
    config_path: ConfigOption,
    database: DatabaseOption = None,
    output: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """List lead owners that are no rep of the config (CRM ids without a rep), with the
    number of leads each holds."""
    from leadsla.service.doctor import unmapped_owners

    if output not in ("text", "json"):
        fail(f"--format: {output!r} is not text or json")
    rules = load_rules(config_path)
    engine = open_engine(database, create=False)
    with engine.connect() as connection:
        found = unmapped_owners(connection, rules)
    if output == "json":
        rows = [{"owner": u.owner, "leads": u.leads, "looks_like": u.looks_like} for u in found]
        typer.echo(json.dumps({"unmapped_owners": rows}, indent=2))
        return
    if not found:
        typer.echo("Every lead owner is a rep of the config.")
        return
    total = sum(u.leads for u in found)
    typer.echo(
        f"{len(found)} lead owner(s) are no rep of the config ({total} leads): "
        "their leads reach no one's escalations."
    )
    width = max(len(u.owner) for u in found)
    for u in found:
        typer.echo(f"  {u.owner:<{width}}  {u.leads:>6} leads  {u.looks_like}")
