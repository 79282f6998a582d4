"""Writing instants as ISO 8601 text in a zone's local time, many at a time.

``datetime.fromtimestamp(…, zone).isoformat()`` costs microseconds per instant:
more than the clock arithmetic that produced it. Offsets only change at a zone's
transitions, so we look them up once per UTC hour and let NumPy format the rest.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo

import numpy as np

from leadsla.core.columns import MICROS_PER_HOUR, MICROS_PER_SECOND, IndexArray, Int64Array


def offset_seconds(instant: int, zone: tzinfo) -> int:
    """The zone's UTC offset in seconds at ``instant`` (epoch microseconds)."""
    moment = datetime.fromtimestamp(instant // MICROS_PER_SECOND, UTC).astimezone(zone)
    offset = moment.utcoffset()
    return 0 if offset is None else int(offset.total_seconds())


def offsets_seconds(instants: Int64Array, zone: tzinfo) -> Int64Array:
    """Vectorised :func:`offset_seconds`; exact even for transitions inside an hour."""
    instants = np.asarray(instants, dtype=np.int64)
    if instants.size == 0:
        return np.zeros(0, dtype=np.int64)
    hours = instants // MICROS_PER_HOUR
    unique_hours, inverse = unique_inverse(hours)
    known = _HOUR_OFFSETS.setdefault(zone, {})
    pairs = [known.get(h) or _hour_offsets(h, zone, known) for h in unique_hours.tolist()]
    at_start = np.array([p[0] for p in pairs], dtype=np.int64)
    at_end = np.array([p[1] for p in pairs], dtype=np.int64)
    result = at_start[inverse]
    # Some zones change offset at a local midnight that is not a UTC hour boundary.
    mixed = np.flatnonzero((at_start != at_end)[inverse])
    for index in mixed:
        result[index] = offset_seconds(int(instants[index]), zone)
    return result


def unique_inverse(keys: Int64Array) -> tuple[Int64Array, IndexArray]:
    """``numpy.unique(keys, return_inverse=True)``, by a lookup table when the keys span
    a small range (hours of a history, value codes): a sort of millions is the slow part."""
    keys = np.asarray(keys, dtype=np.int64)
    if keys.size == 0:
        return keys, np.zeros(0, dtype=np.intp)
    low = int(keys.min())
    span = int(keys.max()) - low + 1
    if span > 2 * keys.size + 1024:
        distinct, inverse = np.unique(keys, return_inverse=True)
        return distinct, inverse.reshape(-1)
    present = np.flatnonzero(np.bincount(keys - low, minlength=span))
    position = np.zeros(span, dtype=np.intp)
    position[present] = np.arange(present.size)
    return present + low, position[keys - low]


# Offsets at the start and end of each UTC hour, per zone: a zone's rules never change
# within a process, and output batches keep asking for the same hours.
_HOUR_OFFSETS: dict[tzinfo, dict[int, tuple[int, int]]] = {}


def _hour_offsets(hour: int, zone: tzinfo, known: dict[int, tuple[int, int]]) -> tuple[int, int]:
    pair = (
        offset_seconds(hour * MICROS_PER_HOUR, zone),
        offset_seconds((hour + 1) * MICROS_PER_HOUR - 1, zone),
    )
    known[hour] = pair
    return pair


def format_offset(seconds: int) -> str:
    sign = "-" if seconds < 0 else "+"
    seconds = abs(seconds)
    return f"{sign}{seconds // 3600:02d}:{seconds % 3600 // 60:02d}"


def format_instant(instant: int, zone: tzinfo) -> str:
    """ISO 8601 at second precision with the zone's offset: ``2026-03-02T17:00:00-05:00``;
    sub-second parts are dropped (floored), as by :func:`format_instants`. One instant
    is written without NumPy, whose set-up per call cost ~0.4 ms (one per email sent)."""
    offset = offset_seconds(instant, zone)
    local = _EPOCH + timedelta(seconds=instant // MICROS_PER_SECOND + offset)
    return local.isoformat() + format_offset(offset)


_EPOCH = datetime(1970, 1, 1)


def format_instants(instants: Int64Array, zone: tzinfo) -> list[str]:
    """:func:`format_instant` for an array; sub-second parts are dropped (floored)."""
    instants = np.asarray(instants, dtype=np.int64)
    if instants.size == 0:
        return []
    offsets = offsets_seconds(instants, zone)
    local_seconds = instants // MICROS_PER_SECOND + offsets
    text = np.datetime_as_string(local_seconds.astype("datetime64[s]"), unit="s")
    suffix_of = {int(o): format_offset(int(o)) for o in np.unique(offsets)}
    return [f"{t}{suffix_of[o]}" for t, o in zip(text.tolist(), offsets.tolist(), strict=True)]
