"""Qualification commands of the ``leadsla`` command line.

``score``, ``reroute``, ``revisit`` and ``capacity``.

:func:`register` adds them to the main app (``leadsla.cli.main``).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated

import typer

from leadsla.bootstrap import now_micros
from leadsla.cli.common import (
    fail,
    instant_option,
    load_rules,
    load_setup,
    open_engine,
    read_event_file,
    report_row_errors,
)
from leadsla.core.instants import format_instant
from leadsla.core.scoring import Row, score_rows

Database = Annotated[
    str | None,
    typer.Option(
        "--database", help="SQLAlchemy URL; default $LEADSLA_DATABASE_URL, else leadsla.db."
    ),
]


def register(app: typer.Typer) -> None:
    app.command("score")(score)
    app.command("reroute")(reroute_command)
    app.command("capacity")(capacity_command)
    app.command("revisit")(revisit_command)


def score(
    config_path: Annotated[
        Path, typer.Option("--config", "-c", help="The leadsla.yaml with a scoring section.")
    ],
    events: Annotated[
        Path, typer.Option("--events", "-e", help="Events CSV: lead_id,at,field,value.")
    ],
    lead: Annotated[str, typer.Option("--lead", help="The lead to score.")],
    as_of: Annotated[
        str | None,
        typer.Option(
            "--as-of", help="Score at this instant (decay is counted to it); default now."
        ),
    ] = None,
    format_: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """A lead's score, grade and MQL verdict, with the points each rule gave.

    Profile rules read the lead's fields at --as-of; behaviour rules count its rows
    up to then, each halved every half-life of age; triggers qualify it at once.
    """
    if format_ not in ("text", "json"):
        fail(f"--format: {format_!r} is not text or json")
    rules = load_rules(config_path)
    if rules.scoring is None:
        fail(f"{config_path}: has no scoring section; see docs/qualification.md")
    instant = instant_option(as_of, "--as-of")
    table, read = read_event_file(rules, events)
    report_row_errors(read.errors, read.skipped)
    if lead not in table.lead_ids:
        fail(f"--lead: no events of lead {lead!r} in {events}")
    mask = table.lead == table.lead_ids.index(lead)
    rows: list[Row] = [
        (at, table.fields[name], None if value < 0 else table.values[value])
        for at, name, value, _line in sorted(
            zip(
                table.at[mask].tolist(),
                table.field[mask].tolist(),
                table.value[mask].tolist(),
                table.line[mask].tolist(),
                strict=True,
            ),
            key=lambda row: (row[0], row[3]),
        )
    ]
    result = score_rows(rules.scoring, rows, instant)
    zone = rules.default_zone
    from leadsla.service.qualify import score_record  # the service: loaded when used

    record = score_record(lead, result, zone)
    if format_ == "json":
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return
    verdict = (
        f"MQL (trigger: {result.trigger})"
        if result.trigger
        else ("MQL" if result.mql else "nurture")
    )
    threshold = "" if result.threshold is None else f" (threshold {result.threshold:g})"
    lines = [
        f"lead {lead} at {record['as_of']}: score {result.score:g}{threshold}, "
        f"grade {result.grade or '-'}, {verdict}",
        *(f"  {line}" for line in result.explanation()),
    ]
    sys.stdout.write("\n".join(lines) + "\n")


def reroute_command(
    config_path: Annotated[
        Path, typer.Option("--config", "-c", help="The leadsla.yaml with an assignment section.")
    ],
    database: Database = None,
    as_of: Annotated[
        str | None,
        typer.Option("--as-of", help="Re-route what is due at this instant; default now."),
    ] = None,
) -> None:
    """Re-route open leads away from reps who are out of office, and after the escalation
    step that assignment.reroute names; one line per lead, with why."""
    from leadsla.service.reroute import reroute

    rules = load_rules(config_path)
    if rules.assignment is None:
        fail(f"{config_path}: has no assignment section; see docs/qualification.md")
    instant = instant_option(as_of, "--as-of")
    engine = open_engine(database, create=False)
    with engine.begin() as connection:
        result = reroute(connection, rules, instant, recorded_at=now_micros())
    for lead_id, (old, new, why) in sorted(result.rerouted.items()):
        sys.stdout.write(f"{lead_id}: {old} → {new or 'nobody available'} ({why})\n")
    moved = sum(1 for _, new, _ in result.rerouted.values() if new is not None)
    sys.stderr.write(f"leadsla: {moved} lead(s) re-routed of {len(result.rerouted)} due\n")


def capacity_command(
    config_path: Annotated[
        Path, typer.Option("--config", "-c", help="The leadsla.yaml with a capacity section.")
    ],
    format_: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
) -> None:
    """Rep hours a month the MQL commitments need under the sales SLA, and reps needed
    against reps configured (when to hire)."""
    if format_ not in ("text", "json"):
        fail(f"--format: {format_!r} is not text or json")
    setup, rules = load_setup(config_path)
    if setup.capacity is None:
        fail(f"{config_path}: has no capacity section; see docs/qualification.md")
    from leadsla.report.capacity import config_plan

    try:
        result = config_plan(setup, rules)
    except ValueError as exc:
        fail(f"{config_path}: commitments: {exc}")
    assert result is not None  # the capacity section is there
    record = result.record()
    if format_ == "json":
        sys.stdout.write(json.dumps(record, indent=2) + "\n")
        return
    width = max(len(key) for key in record)
    sys.stdout.write("".join(f"{key:<{width}}  {value}\n" for key, value in record.items()))


def revisit_command(
    config_path: Annotated[Path, typer.Option("--config", "-c", help="The leadsla.yaml.")],
    database: Database = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="Re-surface what is due by this instant.")
    ] = None,
) -> None:
    """Deferred leads whose revisit_at has come back to sales as MQLs (a new follow-up
    cycle, same owner); one line per lead."""
    from leadsla.service.revisit import resurface

    rules = load_rules(config_path)
    instant = instant_option(as_of, "--as-of")
    engine = open_engine(database, create=False)
    with engine.begin() as connection:
        found = resurface(connection, rules, instant, recorded_at=now_micros())
    zone = rules.default_zone
    for lead_id, at in sorted(found.items()):
        sys.stdout.write(f"{lead_id}: re-surfaced at {format_instant(at, zone)}\n")
    sys.stderr.write(f"leadsla: {len(found)} deferred lead(s) re-surfaced\n")
