"""``leadsla demo`` without the server: the demo company's config, database and tokens."""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypedDict, Unpack

from leadsla.config import build_rulebook, load_config
from leadsla.core.events import read_events
from leadsla.demo.company import (
    DEFAULT_SMTP_PORT,
    company_config,
    config_yaml,
    demo_company,
    write_company_history,
)
from leadsla.service.imports import ImportResult, import_table
from leadsla.service.timers import fire_due_timers
from leadsla.service.tokens import create_token
from leadsla.store.database import open_database

FIRE_BATCH = 1000
# (role, name, rep, team) of the tokens the demo prints.
DEMO_LOGINS = (
    ("admin", "demo admin", None, None),
    ("manager", "Dana Whitfield (east manager)", None, "east"),
    ("rep", "Maya Chen (east rep)", "maya", None),
    ("rep", "Sam Ortiz (east rep)", "sam", None),
)


@dataclass(frozen=True)
class DemoSetup:
    directory: Path
    config: Path
    events: Path
    database_url: str
    tokens: dict[str, str]  # login name → token
    imported: ImportResult


# (stage, done, total or None): what a long preparation tells a progress bar.
StageProgress = Callable[[str, int, int | None], None]


def _silent(_stage: str, _done: int, _total: int | None) -> None:
    pass


def demo_database_url(directory: Path) -> str:
    """The demo's SQLite file in ``directory``, by its absolute path."""
    return f"sqlite:///{(directory / 'leadsla.db').resolve()}"


class DemoShape(TypedDict, total=False):
    """The demo history's size and seed (``write_demo_files``' defaults where absent)."""

    seed: int
    leads: int
    months: int
    smtp_port: int


def prepare_demo(
    directory: Path, *, now: int, progress: StageProgress | None = None, **shape: Unpack[DemoShape]
) -> DemoSetup:
    """Write ``leadsla.yaml`` and ``events.csv`` in ``directory``, import them into a fresh
    ``leadsla.db`` there (an older demo database is replaced), record the reminders and
    escalations due by ``now`` as the worker would, and create the demo's tokens.

    ``progress`` is told each stage's name, its units done and their total (or None).
    """
    tell: StageProgress = progress or _silent
    config_path, events_path = write_demo_files(directory, now=now, progress=tell, **shape)
    for suffix in ("", "-wal", "-shm"):
        (directory / f"leadsla.db{suffix}").unlink(missing_ok=True)
    url = demo_database_url(directory)
    imported, tokens = load_demo(directory, url, now=now, progress=tell)
    tokens_path = directory / "tokens.txt"
    tokens_path.write_text(
        "".join(f"{name}\t{token}\n" for name, token in tokens.items()), encoding="utf-8"
    )
    os.chmod(tokens_path, 0o600)
    return DemoSetup(directory, config_path, events_path, url, tokens, imported)


def write_demo_files(
    directory: Path,
    *,
    now: int,
    seed: int = 1,
    leads: int = 3000,
    months: int = 6,
    smtp_port: int = DEFAULT_SMTP_PORT,
    progress: StageProgress | None = None,
) -> tuple[Path, Path]:
    """The demo company's ``leadsla.yaml`` and ``events.csv``, written in ``directory``:
    what ``load_demo`` imports into any database (the page benchmark loads them into
    PostgreSQL without building the SQLite file first)."""
    directory.mkdir(parents=True, exist_ok=True)
    config_path = directory / "leadsla.yaml"
    company = company_config(demo_company(), smtp_port=smtp_port, end=now)
    config_path.write_text(config_yaml(company), encoding="utf-8")
    events_path = directory / "events.csv"
    with events_path.open("w", encoding="utf-8", newline="") as out:
        write_company_history(
            out, seed=seed, leads=leads, months=months, end=now, progress=progress or _silent
        )
    return config_path, events_path


def load_demo(
    directory: Path, url: str, *, now: int, progress: StageProgress | None = None
) -> tuple[ImportResult, dict[str, str]]:
    """Import the demo's ``events.csv`` from ``directory`` into the empty database at
    ``url`` (SQLite or PostgreSQL, migrated here), record the reminders and escalations
    due by ``now`` as the worker would, and create the demo's tokens: what was imported
    and each login's token. The page benchmark loads a built demo into PostgreSQL so."""
    tell: StageProgress = progress or _silent
    config_path, events_path = directory / "leadsla.yaml", directory / "events.csv"
    config = load_config(config_path)
    rules = build_rulebook(config)
    engine = open_database(url)
    tell("reading the history", 0, None)
    with events_path.open(encoding="utf-8", newline="") as handle:
        table, _report = read_events(
            handle,
            statuses=list(rules.statuses),
            grades=[g.name for g in rules.grades],
            acceptance=rules.acceptance,
            source=str(events_path),
        )
    tell("importing", 0, len(table))
    imported = import_table(
        engine,
        rules,
        table.sorted(),
        source="import:events.csv",
        recorded_at=now,
        progress=lambda done: tell("importing", done, len(table)),
    )
    tell("recording the reminders due", 0, None)
    max_delay = config.notifications.max_delay.micros()
    while True:  # what the worker would have recorded by now (old steps: skipped)
        with engine.begin() as connection:
            fired = fire_due_timers(connection, rules, now, max_delay=max_delay, limit=FIRE_BATCH)
        if fired.cycles < FIRE_BATCH:
            break
    tokens: dict[str, str] = {}
    with engine.begin() as connection:
        for role, name, rep, team in DEMO_LOGINS:
            tokens[name] = create_token(
                connection, rules, role=role, name=name, rep=rep, team=team, now=now
            )
    engine.dispose()
    return imported, tokens
