"""The commonest spelling of an instant, ``YYYY-MM-DDTHH:MM:SSZ``, read in bulk.

Exports write almost every instant this way. :func:`parse_utc_seconds_rows` reads a
block of such texts (one per row of a byte matrix) with a handful of passes over
compact NumPy arrays, a cache-sized block of rows at a time: the digits are checked
and combined a row of the transposed matrix at a time, and the calendar is looked up
in a table per (year, month) instead of being computed per instant. It accepts a
block only if *every* text is in that form and a real instant (month 1–12, a day the
month has, hour ≤ 23, minute and second ≤ 59, year ≥ 1); otherwise it returns
``None`` and the caller reads the block the careful way, so its results are those of
:func:`~leadsla.core.events.parse_instant` (a test compares them).
"""

from __future__ import annotations

import numpy as np

from leadsla.core.columns import (
    MICROS_PER_SECOND,
    SECONDS_PER_DAY,
    Int32Array,
    Int64Array,
    UInt8Array,
)

WIDTH = 20
# Rows parsed at a time (1.3 MB of text).
BLOCK_ROWS = 1 << 16
# Days before each month (index 1–12) in a common year, and each month's length.
_DAYS_BEFORE = np.array([0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334], dtype=np.int32)
_MONTH_DAYS = np.array([0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31], dtype=np.int32)
_DIGITS = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
_SEPARATORS = {4: ord("-"), 7: ord("-"), 10: ord("T"), 13: ord(":"), 16: ord(":"), 19: ord("Z")}
# Days from 0001-01-01 to 1970-01-01 (proleptic Gregorian).
_EPOCH_DAYS = 719_162


def _year_tables(low: int, high: int) -> tuple[Int32Array, Int32Array]:
    """For each (year - low) * 13 + month: days from the epoch to the month's first day
    minus one, and the month's length (0 for month 0)."""
    years = np.arange(low, high + 1, dtype=np.int64)
    leap = (years % 4 == 0) & ((years % 100 != 0) | (years % 400 == 0))
    before = years - 1
    first = before * 365 + before // 4 - before // 100 + before // 400 - _EPOCH_DAYS
    months = np.arange(13)
    start = first[:, None] + _DAYS_BEFORE[None, :] + (leap[:, None] & (months > 2)) - 1
    length = _MONTH_DAYS[None, :] + (leap[:, None] & (months == 2))
    return start.astype(np.int32).reshape(-1), length.astype(np.int32).reshape(-1)


def _pair(digits: UInt8Array, k: int) -> UInt8Array:
    """The two-digit numbers of rows ``k`` and ``k + 1``."""
    tens: UInt8Array = digits[k] * np.uint8(10)
    tens += digits[k + 1]
    return tens


def parse_utc_seconds_rows(chars: UInt8Array) -> Int64Array | None:
    """Epoch microseconds of ``YYYY-MM-DDTHH:MM:SSZ`` texts (rows of ``chars``, 20 wide);
    ``None`` unless every row is such an instant."""
    if chars.ndim != 2 or chars.shape[1] != WIDTH:
        return None
    if len(chars) <= BLOCK_ROWS:
        return _parse_block(chars)
    # A block at a time, so that the transposed bytes and every temporary stay in the
    # processor's cache: five times faster than whole columns of millions of rows.
    result = np.empty(len(chars), dtype=np.int64)
    for start in range(0, len(chars), BLOCK_ROWS):
        block = _parse_block(chars[start : start + BLOCK_ROWS])
        if block is None:
            return None
        result[start : start + BLOCK_ROWS] = block
    return result


def _parse_block(chars: UInt8Array) -> Int64Array | None:
    if len(chars) == 0:
        return np.zeros(0, dtype=np.int64)
    # One row per character position: each check and sum below reads contiguous bytes.
    rows = np.ascontiguousarray(chars.T)
    for position, separator in _SEPARATORS.items():
        if not np.all(rows[position] == separator):
            return None
    digits = rows[_DIGITS]
    del rows
    digits -= np.uint8(ord("0"))  # wraps below "0": any non-digit is then above 9
    if int(digits.max()) > 9:
        return None

    year = digits[0].astype(np.int32) * 1000 + digits[1].astype(np.int32) * 100
    year += _pair(digits, 2)
    month, day, hour, minute, second = (_pair(digits, k) for k in (4, 6, 8, 10, 12))
    del digits
    low, high = int(year.min()), int(year.max())
    if low < 1 or int(month.min()) < 1 or int(month.max()) > 12 or int(day.min()) < 1:
        return None
    if int(hour.max()) > 23 or int(minute.max()) > 59 or int(second.max()) > 59:
        return None
    start, length = _year_tables(low, high)
    slot = (year - low) * 13
    slot += month
    del year
    if np.any(day > length[slot]):
        return None
    days = start[slot]
    days += day
    del slot
    clock = hour.astype(np.int32) * 3600
    clock += minute.astype(np.int32) * 60
    clock += second
    micros: Int64Array = days.astype(np.int64)
    micros *= SECONDS_PER_DAY
    micros += clock
    micros *= MICROS_PER_SECOND
    return micros
