"""``leadsla whatif`` (SPEC §9.6): one history replayed under the current and a proposed
config, side by side with the difference."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterator, Mapping
from concurrent.futures import ThreadPoolExecutor
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import Progress, TaskID
from rich.table import Table

from leadsla.cli.common import (
    ConfigOption,
    DatabaseOption,
    EventsOption,
    OutputOption,
    PeriodOption,
    fail,
    instant_option,
    load_setup,
    open_engine,
    open_output,
    progress_bar,
    read_sorted_events,
)
from leadsla.config.schema import Config
from leadsla.core.calendar import CalendarError
from leadsla.core.policy import Rulebook
from leadsla.core.whatif import COUNTED, aligned

if TYPE_CHECKING:
    from leadsla.report.sources import LeadEvents
    from leadsla.report.whatif import Side

SIDES = ("current", "proposed")
# The report's groups the text shows, in this order.
TEXT_GROUPS = ("by_grade", "by_team", "by_owner")


def register(app: typer.Typer) -> None:
    app.command("whatif")(whatif_command)


def whatif_command(
    config_path: ConfigOption,
    proposed_path: Annotated[
        Path, typer.Option("--proposed", "-p", help="The leadsla.yaml to compare with --config.")
    ],
    events: EventsOption = None,
    as_of: Annotated[
        str | None, typer.Option("--as-of", help="The instant of the replay; default now.")
    ] = None,
    period: PeriodOption = "month",
    format_: Annotated[str, typer.Option("--format", help="text or json.")] = "text",
    output: OutputOption = None,
    database: DatabaseOption = None,
) -> None:
    """What a proposed config would have done to the same history (SPEC §9.6).

    Replays the events under --config and under --proposed and shows, overall (the
    month or quarter of --as-of) and by grade, team and owner, every figure of
    `leadsla report`, the breaches and the escalations that would have fired (by step
    and recipient), and the reps needed, side by side with the difference. --format
    json prints {"current": R, "proposed": R, "difference": D}: R is `leadsla report
    --format json` under each config, D proposed minus current for each figure of
    overall (null where either side is null).
    """
    from leadsla.report.settings import ReportSettings
    from leadsla.report.whatif import side, whatif

    if period not in ("month", "quarter"):
        fail(f"--period: {period!r} is not month or quarter")
    if format_ not in ("text", "json"):
        fail(f"--format: {format_!r} is not text or json")
    configs = {"current": load_setup(config_path), "proposed": load_setup(proposed_path)}
    paths = {"current": config_path, "proposed": proposed_path}
    instant = instant_option(as_of, "--as-of")
    sources = list(_sources(configs, events, database, instant))
    size = max(len(source.table) for _, source in sources)
    with progress_bar(size, "replaying") as bar:
        tasks = {
            name: bar.add_task(f"replaying ({name})", total=len(source.table))
            for name, source in sources
        }

        def judged(name: str, source: LeadEvents) -> Side | str:
            """One side, or the error to stop on (said by the main thread)."""
            setup, rules = configs[name]
            try:
                return side(
                    source,
                    ReportSettings.of(rules, setup),
                    instant,
                    period,
                    progress=partial(_advance, bar, tasks[name]),
                )
            except CalendarError as exc:
                return f"{paths[name]}: {exc}"
            except ValueError as exc:
                return f"{paths[name]}: commitments: {exc}"

        # The two sides on two threads: most of each is NumPy and Polars work that lets
        # the other run (on 2 cores, whatif then takes about the time of one side).
        with ThreadPoolExecutor(max_workers=len(sources)) as pool:
            done = dict(zip(SIDES, pool.map(lambda item: judged(*item), sources), strict=True))
    sides: dict[str, Side] = {}
    for name in SIDES:
        answer = done[name]
        if isinstance(answer, str):
            fail(answer)
        sides[name] = answer
    result = whatif(sides["current"], sides["proposed"])
    if output is None:
        _write(sys.stdout, result, sides, format_)
    else:
        with open_output(output) as handle:
            _write(handle, result, sides, format_)


def _advance(bar: Progress, task: TaskID, done: int) -> None:
    bar.update(task, completed=done)


def _sources(
    configs: Mapping[str, tuple[Config, Rulebook]],
    events: Path | None,
    database: str | None,
    instant: int,
) -> Iterator[tuple[str, LeadEvents]]:
    """Each side's events: the history is read once and shared by both sides.

    A file is read again for the proposed side only when the two configs name
    different statuses or grades: which rows are valid depends on them, and each side
    must see the rows ``leadsla report`` would under its config.
    """
    from leadsla.report.sources import LeadEvents, stored_events

    if events is None:
        engine = open_engine(database, create=False)
        with engine.connect() as connection:
            shared = stored_events(connection, instant)
        for name in SIDES:
            yield name, shared
        return
    read: dict[tuple[object, ...], LeadEvents] = {}
    for name in SIDES:
        rules = configs[name][1]
        vocabulary = (frozenset(rules.statuses), frozenset(g.name for g in rules.grades))
        if vocabulary not in read:
            read[vocabulary] = LeadEvents.of(read_sorted_events(rules, events)[0])
        yield name, read[vocabulary]


def _write(handle: Any, result: dict[str, Any], sides: Mapping[str, Side], fmt: str) -> None:
    if fmt == "json":
        handle.write(json.dumps(result, indent=2) + "\n")
        return
    console = Console(file=handle, width=160, highlight=False, force_terminal=False)
    for table in side_by_side(result, sides):
        console.print(table)


def side_by_side(result: dict[str, Any], sides: Mapping[str, Side]) -> list[Table]:
    """The text output: one table overall, then one per group (grade, team, owner)."""
    current, proposed = sides["current"], sides["proposed"]
    label = current.report["period"]["label"]
    overall = _titled(f"What-if, {label}: overall", ["figure"])
    for figure, left, right in _pairs(*_both(current, proposed, None)):
        overall.add_row(figure, *_cells(left, right))
    for name, side_ in (("current", current), ("proposed", proposed)):
        plan = side_.capacity
        if plan is not None:
            overall.caption = (overall.caption or "") + f"{name}: {plan['verdict']}. "
    tables = [overall]
    for group in TEXT_GROUPS:
        table = _titled(f"What-if, {label}: {group.replace('_', ' ')}", [group[3:], "figure"])
        keys = sorted(
            {
                *current.report[group],
                *proposed.report[group],
                *current.outcomes[group],
                *proposed.outcomes[group],
            }
        )
        for key in keys:
            rows = _pairs(*_both(current, proposed, (group, key)))
            for figure, left, right in rows:
                table.add_row(key, figure, *_cells(left, right))
        tables.append(table)
    return tables


def _titled(title: str, keys: list[str]) -> Table:
    table = Table(title=title, title_justify="left")
    for key in keys:
        table.add_column(key)
    for name in (*SIDES, "difference"):
        table.add_column(name, justify="right")
    return table


def _both(
    current: Side, proposed: Side, where: tuple[str, str] | None
) -> tuple[dict[str, Any], dict[str, Any]]:
    left, right = _with_outcomes(current, where), _with_outcomes(proposed, where)
    aligned(left, right)
    return left, right


def _with_outcomes(side_: Side, where: tuple[str, str] | None) -> dict[str, Any]:
    """The report's figures of the overall period or a group, with the outcomes'."""
    if where is None:
        figures = dict(side_.report["overall"])
        outcome = side_.outcomes["overall"]
        reps = {"reps_needed": None if side_.capacity is None else side_.capacity["reps_needed"]}
    else:
        group, key = where
        figures = dict(side_.report[group].get(key, {}))
        outcome = side_.outcomes[group].get(key, {})
        reps = {}
    for name in ("breaches", "escalations", "escalations_by_step", "escalations_by_recipient"):
        figures[name] = dict(outcome.get(name, {})) if name in COUNTED else outcome.get(name, 0)
    figures.update(reps)
    return figures


def _pairs(
    left: Mapping[str, Any], right: Mapping[str, Any], prefix: str = ""
) -> list[tuple[str, Any, Any]]:
    """Each figure of either side by its dotted name, with its value on both sides."""
    rows: list[tuple[str, Any, Any]] = []
    for key in [*left, *(k for k in right if k not in left)]:
        a, b = left.get(key), right.get(key)
        if isinstance(a, Mapping) or isinstance(b, Mapping):
            rows.extend(_pairs(a or {}, b or {}, f"{prefix}{key}."))
        elif a is None or b is None or (isinstance(a, int | float) and isinstance(b, int | float)):
            rows.append((f"{prefix}{key}", a, b))
    return rows


def _cells(left: Any, right: Any) -> tuple[str, str, str]:
    if left is None or right is None:
        return _shown(left), _shown(right), "n/a"
    change = right - left
    sign = "+" if change > 0 else ""
    return _shown(left), _shown(right), f"{sign}{_shown(change)}"


def _shown(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:.4f}".rstrip("0").rstrip(".") if value != int(value) else f"{value:.0f}"
    return str(value)
