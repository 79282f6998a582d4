"""What the report reads of the rulebook and the config, gathered once per report.

The rulebook alone does not say which grades are workable, what the commitments
are, what a lead costs or which clock speed to lead is measured on: those live in
the config. Every part of the report takes one :class:`ReportSettings` instead of a
``(rules, config)`` pair, so each works it out the same way and only once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from datetime import tzinfo

from leadsla.config.schema import Config
from leadsla.core.metrics import Commitment, MetricRules, metric_rules
from leadsla.core.policy import Rulebook


@dataclass(frozen=True)
class Costs:
    """What a lead costs marketing, by ``source``; ``default`` for any other source."""

    per_lead: Mapping[str, float]
    default: float | None
    currency: str


@dataclass(frozen=True)
class ReportSettings:
    rules: Rulebook
    # Kept for the helper process (:mod:`.sidecar`), which is sent the config and
    # builds these settings from it.
    config: Config
    metric: MetricRules  # every configured rep listed; see :meth:`metric_for`
    costs: Costs | None
    stages: Mapping[str, str | None]  # status → stage
    grades: tuple[tuple[str, float], ...]  # (name, min_score) in config order
    team_of: Mapping[str, str]  # rep → team, for reps of a configured team
    zone: tzinfo  # the default calendar's: months and days are counted there

    @classmethod
    def of(cls, rules: Rulebook, config: Config) -> ReportSettings:
        commitments = tuple(
            Commitment(
                name=c.name,
                metric=c.metric,
                period=c.period,
                target=c.target,
                segment={name: frozenset(values) for name, values in (c.segment or {}).items()},
                team_targets=dict(c.team_targets or {}),
            )
            for c in config.commitments
        )
        metric = metric_rules(
            rules,
            workable=config.workable.build() if config.workable is not None else None,
            commitments=commitments,
            score_bands=config.score_bands,
            speed_clock=config.speed_to_lead.clock,
        )
        costs = config.costs
        return cls(
            rules=rules,
            config=config,
            metric=metric,
            costs=(
                None
                if costs is None
                else Costs(dict(costs.per_lead), costs.default, costs.currency)
            ),
            stages=dict(rules.statuses),
            grades=tuple((g.name, g.min_score) for g in rules.grades),
            team_of={rep.id: rep.team for rep in rules.reps.values() if rep.team in rules.teams},
            zone=rules.default_zone,
        )

    def metric_for(self, scope: frozenset[str] | None) -> MetricRules:
        """The metric rules of a view limited to the reps of ``scope`` (``None``: all).

        Only the reps listed in per-rep figures differ: a manager's report lists the
        reps of the manager's teams, including those without a lead."""
        if scope is None:
            return self.metric
        return replace(self.metric, reps=tuple(r for r in self.metric.reps if r in scope))
