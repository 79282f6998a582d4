"""Which MQLs are workable leads (SPEC §8, ``workable`` of the config).

An MQL is workable when its grade at the MQL instant is one of ``grades`` **or** its
fields at the MQL instant match any of ``segments`` (a segment matches when every one
of its conditions holds; conditions are scoring's, :class:`~leadsla.core.scoring.Condition`).
``grade`` in a condition is the effective grade (a score maps to one), ``owner`` the
owner the follow-up started with and ``team`` that owner's team unless the lead has a
``team`` field: the values the commitments' segments read.

The rule is decided here once, for one lead (:meth:`Workable.holds`, the exact
engine) and for columns of value codes (:meth:`Workable.column`, the NumPy paths),
so that both say the same of every lead.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from leadsla.core.columns import BoolArray
from leadsla.core.scoring import Condition

__all__ = ["EVENT_FIELDS", "Coded", "Workable", "WorkableSegment"]

# Fields that are events, not attributes of the lead: at the MQL instant the status is
# always the MQL status, and an activity is a row, not a value the lead holds.
EVENT_FIELDS = frozenset({"status", "activity"})

Coded = tuple[np.ndarray[tuple[int], np.dtype[np.integer]], Sequence[str]]
"""A column as value codes (-1: no value) and the name of each code."""


@dataclass(frozen=True, slots=True)
class WorkableSegment:
    """A named segment of leads: every condition holds on the fields at the MQL instant."""

    name: str
    when: tuple[Condition, ...]

    def __post_init__(self) -> None:
        if not self.when:
            raise ValueError(f"workable segment {self.name!r} has no condition")
        for condition in self.when:
            if condition.field in EVENT_FIELDS:
                raise ValueError(
                    f"workable segment {self.name!r}: {condition.field!r} is an event, "
                    "not a field of the lead"
                )

    def matches(self, fields: Mapping[str, str]) -> bool:
        return all(condition.holds(fields) for condition in self.when)


@dataclass(frozen=True, slots=True)
class Workable:
    """Grades that are workable, and segments of leads that are workable whatever their grade."""

    grades: frozenset[str]
    segments: tuple[WorkableSegment, ...] = ()

    @classmethod
    def of(cls, grades: Iterable[str], segments: Iterable[WorkableSegment] = ()) -> Workable:
        return cls(frozenset(grades), tuple(segments))

    @property
    def fields(self) -> tuple[str, ...]:
        """The lead fields the segments read, each once, in order."""
        return tuple(dict.fromkeys(c.field for s in self.segments for c in s.when))

    def segment_of(self, fields: Mapping[str, str]) -> str | None:
        """The first segment the fields match (``None``: none)."""
        return next((s.name for s in self.segments if s.matches(fields)), None)

    def holds(self, grade: str | None, fields: Mapping[str, str]) -> bool:
        """Whether an MQL of this grade and these fields (at the MQL instant) is workable."""
        if grade is not None and grade in self.grades:
            return True
        return any(segment.matches(fields) for segment in self.segments)

    def column(self, grade: Coded, fields: Mapping[str, Coded]) -> BoolArray:
        """:meth:`holds` for columns: each condition is judged once per distinct value
        (the last slot of each lookup stands for code -1, no value)."""
        codes, names = grade
        allowed = np.array([name in self.grades for name in names] + [False], dtype=np.bool_)
        result: BoolArray = allowed[np.asarray(codes)]
        for segment in self.segments:
            matched = np.ones(len(result), dtype=np.bool_)
            for condition in segment.when:
                values, value_names = fields[condition.field]
                holds = [condition.holds({condition.field: n}) for n in value_names]
                lookup = np.array([*holds, condition.holds({})], dtype=np.bool_)
                matched &= lookup[np.asarray(values)]
            result = result | matched
        return result
