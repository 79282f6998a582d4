"""``leadsla whatif`` (SPEC §9.6): one history's report under two configs, and what
changes.

Each side's report is the one :func:`leadsla.report.full.report` gives (the figures of
``leadsla report``, from the same code); the escalations and breaches come from the
replay of the same events under that side's rules (:func:`leadsla.core.whatif.outcomes`),
and the reps needed from the side's capacity plan. The events are read once by the
caller and evaluated here once per side.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from leadsla.core.evaluate import lead_blocks, lead_results
from leadsla.core.metrics import period_containing
from leadsla.core.plain import supported as plain_supported
from leadsla.core.whatif import Tallies, aligned, difference
from leadsla.report.capacity import config_plan
from leadsla.report.full import report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents


@dataclass(frozen=True)
class Side:
    """One config's view of the history."""

    report: dict[str, Any]  # the report object of SPEC §8
    outcomes: dict[str, Any]  # escalations and breaches, overall and by group
    capacity: dict[str, Any] | None  # the capacity plan's record; None without a section


def side(
    events: LeadEvents,
    settings: ReportSettings,
    as_of: int,
    period: str,
    progress: Callable[[int], None] | None = None,
) -> Side:
    """The history judged at ``as_of`` under one config's settings.

    Raises :class:`ValueError` if the config has a capacity section but no MQL
    commitment to plan for.
    """
    figures = report(events, settings, as_of, period)
    window = period_containing(as_of, period, settings.metric.zone)
    tallies = Tallies(settings.rules, settings.team_of, as_of, window.start, window.end)
    if plain_supported(settings.rules):
        # The plain leads' cycles in columns, verdicts only for the leads replayed.
        for block in lead_blocks(settings.rules, events.table, as_of):
            tallies.add_plain(block.plain)
            tallies.add(verdict for _, verdicts in block.replayed for verdict in verdicts)
            if progress is not None:
                progress(block.stop)
    else:
        results = lead_results(settings.rules, events.table, as_of, progress=progress)
        tallies.add(verdict for result in results for verdict in result.verdicts)
    tallied = tallies.result()
    plan = config_plan(settings.config, settings.rules)
    return Side(figures, tallied, None if plan is None else plan.record())


def reps_needed(side: Side) -> int | None:
    return None if side.capacity is None else int(side.capacity["reps_needed"])


def whatif(current: Side, proposed: Side) -> dict[str, Any]:
    """``{"current": R, "proposed": R, "difference": D}`` (SPEC §9.6).

    ``D`` is proposed minus current for every figure of ``overall``
    (:func:`leadsla.core.whatif.difference`: ``null`` where either side is), and for
    the period's breaches, escalations (in all, by step, by recipient) and reps needed.
    """
    delta = difference(current.report["overall"], proposed.report["overall"])
    left, right = _outcome_figures(current), _outcome_figures(proposed)
    aligned(left, right)
    delta.update(difference(left, right))
    return {"current": current.report, "proposed": proposed.report, "difference": delta}


def _outcome_figures(side: Side) -> dict[str, Any]:
    overall = side.outcomes["overall"]
    return {
        "breaches": overall["breaches"],
        "escalations": overall["escalations"],
        "escalations_by_step": overall["escalations_by_step"],
        "escalations_by_recipient": overall["escalations_by_recipient"],
        "reps_needed": reps_needed(side),
    }
