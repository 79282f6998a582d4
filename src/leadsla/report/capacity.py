"""The capacity plan (:func:`leadsla.core.capacity.plan`) of a config: what ``leadsla
capacity`` prints and ``leadsla whatif`` compares."""

from __future__ import annotations

from leadsla.config.schema import Config
from leadsla.core.capacity import CapacityPlan, plan
from leadsla.core.policy import Rulebook


def config_plan(config: Config, rules: Rulebook) -> CapacityPlan | None:
    """The plan for the config's unsegmented MQL commitments; ``None`` without a
    ``capacity`` section. Raises :class:`ValueError` if no commitment counts MQLs."""
    if config.capacity is None:
        return None
    commitments = [
        (c.name, c.period, c.target)
        for c in config.commitments
        if c.metric == "mqls" and not c.segment
    ]
    return plan(
        commitments,
        workable_share=config.capacity.workable_share,
        attempts_per_lead=config.capacity.attempts_per_lead,
        minutes_per_attempt=config.capacity.minutes_per_attempt,
        hours_per_rep=config.capacity.hours_per_rep,
        rep_capacities=[rep.capacity for rep in rules.reps.values()],
    )
