"""Synthetic lead histories in the native events CSV, for benchmarks and tests.

Seeded and vectorised: a million leads take seconds. Each lead becomes an MQL
(status ``New`` with a score and an owner), most are worked after a delay that
varies by rep, and some are then qualified, recycled or disqualified.
"""

from __future__ import annotations

import csv
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TextIO

import numpy as np
import numpy.typing as npt

from leadsla.core.columns import MICROS_PER_SECOND

HOUR = 3600 * MICROS_PER_SECOND


@dataclass(frozen=True)
class HistoryShape:
    leads: int
    start: int  # epoch µs of the first MQL
    span_days: int = 180
    reps: Sequence[str] = ("r1", "r2", "r3")
    seed: int = 1


def write_history(shape: HistoryShape, out: TextIO, *, shuffle: bool = True) -> int:
    """Write a history as the native CSV; return the number of event rows."""
    rng = np.random.default_rng(shape.seed)
    n = shape.leads
    ids = np.char.add("L", np.char.zfill(np.arange(1, n + 1).astype(str), 7))
    created = shape.start + rng.integers(0, shape.span_days * 24 * HOUR, n, dtype=np.int64)
    created -= created % MICROS_PER_SECOND
    score = rng.integers(0, 100, n)
    owners = np.asarray(shape.reps)[rng.integers(0, len(shape.reps), n)]
    # Response delays: log-normal around ~6 h, slower for the last rep.
    delay_hours = rng.lognormal(mean=1.8, sigma=1.1, size=n)
    delay_hours[owners == shape.reps[-1]] *= 2.5
    responded = rng.random(n) < 0.9
    response_at = created + (delay_hours * HOUR).astype(np.int64)
    response_at -= response_at % MICROS_PER_SECOND
    outcome = rng.choice(
        np.array(["call:connected", "call:no_answer", "email:sent", "call:voicemail"]),
        size=n,
        p=[0.35, 0.3, 0.25, 0.1],
    )
    response_status = np.where(
        outcome == "call:connected", "Contacted", "Attempting to Contact"
    ).astype(object)
    closes = responded & (rng.random(n) < 0.35)
    close_at = response_at + rng.integers(2 * HOUR, 14 * 24 * HOUR, n, dtype=np.int64)
    close_at -= close_at % MICROS_PER_SECOND
    close_status = rng.choice(
        np.array(["Qualified", "Recycled", "Not a Lead", "Deferred"]),
        size=n,
        p=[0.4, 0.3, 0.2, 0.1],
    )

    lead_parts: list[npt.NDArray[np.str_]] = []
    at_parts: list[npt.NDArray[np.int64]] = []
    field_parts: list[npt.NDArray[np.str_]] = []
    value_parts: list[npt.NDArray[np.str_]] = []

    def rows(
        mask: npt.NDArray[np.bool_], at: npt.NDArray[np.int64], name: str, values: object
    ) -> None:
        count = int(mask.sum())
        lead_parts.append(ids[mask])
        at_parts.append(at[mask])
        field_parts.append(np.full(count, name))
        value_parts.append(np.broadcast_to(np.asarray(values, dtype=str), (n,))[mask])

    everyone = np.ones(n, dtype=bool)
    rows(everyone, created, "status", "New")
    rows(everyone, created, "score", score.astype(str))
    rows(everyone, created, "owner", owners)
    rows(responded, response_at, "activity", outcome)
    rows(responded, response_at, "status", response_status.astype(str))
    rows(closes, close_at, "status", close_status)

    leads = np.concatenate(lead_parts)
    ats = np.concatenate(at_parts)
    fields = np.concatenate(field_parts)
    values = np.concatenate(value_parts)
    order = rng.permutation(len(leads)) if shuffle else np.lexsort((ats, leads))
    stamps = np.char.add(
        np.datetime_as_string((ats // MICROS_PER_SECOND).astype("datetime64[s]"), unit="s"), "Z"
    )
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(["lead_id", "at", "field", "value"])
    block = 500_000
    for begin in range(0, len(order), block):
        chosen = order[begin : begin + block]
        writer.writerows(
            zip(
                leads[chosen].tolist(),
                stamps[chosen].tolist(),
                fields[chosen].tolist(),
                values[chosen].tolist(),
                strict=True,
            )
        )
    return len(order)
