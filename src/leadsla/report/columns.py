"""Events as coded NumPy columns, from an event table of any source (:mod:`.sources`).

:class:`EventColumns` holds ``lead`` (an integer code per lead: figures never name a
lead, and integers group much faster than text), ``at`` (epoch µs), ``field`` (the
index of the field's name in the ``fields`` asked for), ``value`` (a code into
``values``, -1 where the row clears the field), in (lead, instant, arrival) order;
every figure beyond the scorecard is computed from them. Values stay codes: the
per-lead frames look up what they need of a value (its stage, whether it says
``won``, its amount) once per distinct value.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from leadsla.core.events import EventTable


@dataclass(frozen=True)
class EventColumns:
    """Rows of the fields asked for, in (lead, instant, arrival) order."""

    lead: npt.NDArray[np.int64]
    at: npt.NDArray[np.int64]
    field: npt.NDArray[np.int16]
    value: npt.NDArray[np.int32]
    values: list[str]

    def __len__(self) -> int:
        return len(self.lead)

    def take(self, rows: npt.NDArray[np.intp]) -> EventColumns:
        return EventColumns(
            self.lead[rows], self.at[rows], self.field[rows], self.value[rows], self.values
        )


def event_columns(table: EventTable, fields: Sequence[str], as_of: int) -> EventColumns:
    """The rows of ``fields`` at or before ``as_of``, from a (sorted or unsorted) table."""
    ordered = table if table.ordered else table.sorted()
    index = {name: k for k, name in enumerate(fields)}
    # Table field code → index in ``fields`` (-1: not asked for).
    remap = np.array([index.get(name, -1) for name in ordered.fields] + [-1], dtype=np.int16)
    field = remap[ordered.field]
    keep = np.flatnonzero((field >= 0) & (ordered.at <= as_of))
    return EventColumns(
        lead=ordered.lead[keep].astype(np.int64),
        at=ordered.at[keep],
        field=field[keep],
        value=ordered.value[keep].astype(np.int32, copy=False),
        values=list(ordered.values),
    )
