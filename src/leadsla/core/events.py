"""Lead events: ISO 8601 instants, and the native events CSV read into a columnar table.

An events file may hold millions of rows, so reading one never makes a Python
object per row or per field. Lines are read a block at a time; the block's text
becomes one UTF-8 ``bytes`` object and each column a pair of offset arrays into
it. Lines without a quote are cut at commas with NumPy; lines with one go through
:mod:`csv`, and a block in which a quoted field spans lines is read by :mod:`csv`
from its first line, so fields and line numbers are always what :mod:`csv` makes
of the file. Equal strings are found by hashing their bytes with NumPy (and then
comparing them byte for byte), so Python strings are made only for distinct
values; instants of the usual fixed-width forms are parsed with integer
arithmetic on whole columns.
"""

from __future__ import annotations

import csv
import math
import operator
import re
from array import array
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, tzinfo
from itertools import chain, islice, repeat
from typing import Any

import numpy as np
import numpy.typing as npt

from leadsla.core.acceptance import (
    REASON_FIELD,
    SAL_FIELD,
    SAL_REASON_FIELD,
    Acceptance,
    acceptance_problem,
)
from leadsla.core.calendar import local_instant
from leadsla.core.columns import (
    MICROS_PER_SECOND,
    SECONDS_PER_DAY,
    BoolArray,
    IndexArray,
    Int16Array,
    Int32Array,
    Int64Array,
    UInt8Array,
    UInt64Array,
)
from leadsla.core.limits import (
    FIRST_INSTANT,
    LAST_INSTANT,
    MAX_COLUMN_VALUE,
    MAX_FIELD,
    MAX_LEAD_ID,
    event_problem,
    instant_in_range,
    lead_id_problem,
    range_problem,
)
from leadsla.core.policy import ACTIVITY_KINDS, ACTIVITY_OUTCOMES

EVENT_COLUMNS = ("lead_id", "at", "field", "value")
CLOSED_FIELDS = (
    "status",
    "grade",
    "score",
    "activity",
    "outcome",
    "amount",
    SAL_FIELD,
    SAL_REASON_FIELD,
    REASON_FIELD,
)
OUTCOMES = ("won", "lost")

INSTANT_FORMAT = "an ISO 8601 instant with a UTC offset"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_FIELDS = int(np.iinfo(np.int16).max)
_SHOWN_TEXT = 60  # longer offending texts are cut in messages: they are usually garbage


class InstantError(ValueError):
    """A text that is not an ISO 8601 instant with a UTC offset; the message says why."""


class EventFileError(ValueError):
    """An events file that cannot be read at all (no header, missing columns)."""


# -- instants --------------------------------------------------------------------------

# The form nearly every system writes; anything else takes the general path.
_FIXED = re.compile(
    r"(\d{4})-(\d\d)-(\d\d)T(\d\d):(\d\d):(\d\d)(?:Z|([+-])(\d\d):(\d\d))", re.ASCII
)
# What we accept at all. ``datetime.fromisoformat`` alone would also take week dates,
# basic formats and any character between date and time, which no CRM writes.
_GENERAL = re.compile(
    r"(?P<date>\d{4}-\d\d-\d\d)[Tt ]"
    r"(?P<time>\d\d:\d\d(?::\d\d(?:[.,]\d+)?)?)"
    r"(?P<offset>[Zz]|[+-]\d\d(?::?(?P<offset_minutes>\d\d))?)?",
    re.ASCII,
)
_DAYS_IN_MONTH = (0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31)


def parse_instant(text: str) -> int:
    """Epoch microseconds (UTC) of an ISO 8601 instant with a UTC offset or ``Z``.

    ``2026-03-02T09:15:00-05:00``, ``2026-03-02T09:15:00Z``, fractional seconds,
    ``±HHMM`` and ``±HH`` offsets and a space instead of ``T`` are accepted. An
    instant without an offset is refused: its meaning would depend on a zone
    nobody wrote down.
    """
    match = _FIXED.fullmatch(text)
    if match is not None:
        year, month, day, hour, minute, second, sign, off_hours, off_minutes = match.groups()
        y, mo, d = int(year), int(month), int(day)
        h, mi, s = int(hour), int(minute), int(second)
        if (
            y >= 1
            and 1 <= mo <= 12
            and 1 <= d <= _days_in_month(y, mo)
            and h < 24
            and mi < 60
            and s < 60
        ):
            seconds = _days_from_civil(y, mo, d) * SECONDS_PER_DAY + h * 3600 + mi * 60 + s
            if sign is None:
                return seconds * MICROS_PER_SECOND
            oh, om = int(off_hours), int(off_minutes)
            if oh < 24 and om < 60:
                offset = oh * 3600 + om * 60
                seconds += -offset if sign == "+" else offset
                return seconds * MICROS_PER_SECOND
    # Range errors fall through too, so that every refusal is worded by one place.
    return _parse_general(text)


def parse_event_instant(text: str) -> int:
    """:func:`parse_instant`, refusing what is outside the instants an event may have
    (:mod:`leadsla.core.limits`): also the bound for ``as_of`` and other instants asked about.
    """
    at = parse_instant(text)
    if not instant_in_range(at):
        raise InstantError(range_problem(_quote(text.strip())))
    return at


def instant_or_date(text: str, zone: tzinfo) -> int | None:
    """An ISO 8601 instant with an offset, or a date ``YYYY-MM-DD`` (midnight in ``zone``);
    ``None`` when it is neither."""
    try:
        return parse_instant(text)
    except InstantError:
        pass
    try:
        day = date.fromisoformat(text.strip())
    except ValueError:
        return None
    return local_instant(day, 0, zone)


def _parse_general(text: str) -> int:
    stripped = text.strip()
    if not stripped:
        raise InstantError(f"an empty text is not {INSTANT_FORMAT}")
    match = _GENERAL.fullmatch(stripped)
    if match is None:
        raise InstantError(f"{_quote(text)} is not {INSTANT_FORMAT}")
    offset = match["offset"]
    if offset is None:
        raise InstantError(
            f"{_quote(text)} has no UTC offset: write {stripped}Z for UTC, or add the "
            "offset of its zone such as -05:00"
        )
    if int(match["offset_minutes"] or 0) > 59:
        raise InstantError(f"{_quote(text)} is not {INSTANT_FORMAT} (offset minutes above 59)")
    normal = f"{match['date']}T{match['time']}{'Z' if offset in 'Zz' else offset}"
    try:
        moment = datetime.fromisoformat(normal)
    except ValueError as exc:
        raise InstantError(f"{_quote(text)} is not {INSTANT_FORMAT} ({exc})") from None
    delta = moment - _EPOCH
    return (delta.days * SECONDS_PER_DAY + delta.seconds) * MICROS_PER_SECOND + delta.microseconds


def _days_in_month(year: int, month: int) -> int:
    if month == 2 and year % 4 == 0 and (year % 100 != 0 or year % 400 == 0):
        return 29
    return _DAYS_IN_MONTH[month]


def _days_from_civil(year: int, month: int, day: int) -> int:
    """Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm)."""
    year -= month <= 2
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + (-3 if month > 2 else 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    return era * 146_097 + day_of_era - 719_468


class _Layout:
    """One fixed-width spelling of an instant, parsed for many texts at once."""

    def __init__(self, fraction: int, offset: str) -> None:
        self.fraction = fraction  # digits after the decimal point, 0 for none
        self.offset = offset  # "Z", "+HH:MM" or "+HHMM"
        fixed = {4: "-", 7: "-", 10: "T", 13: ":", 16: ":"}
        digits = [0, 1, 2, 3, 5, 6, 8, 9, 11, 12, 14, 15, 17, 18]
        at = 19
        if fraction:
            fixed[at] = "."
            digits += range(at + 1, at + 1 + fraction)
            at += 1 + fraction
        self.sign_column = at
        if offset == "Z":
            fixed[at] = "Z"
            at += 1
        else:
            digits += [at + 1, at + 2]
            if offset == "+HH:MM":
                fixed[at + 3] = ":"
                digits += [at + 4, at + 5]
            else:
                digits += [at + 3, at + 4]
            at += len(offset)
        self.width = at
        self.digit_columns = digits
        self.fixed = [(column, ord(char)) for column, char in fixed.items()]

    def parse(self, chars: UInt8Array) -> tuple[Int64Array, BoolArray]:
        """Epoch microseconds of each row of ``chars`` (one text per row), and which are valid."""
        columns = chars.T
        # One contiguous row per digit position: whole-row arithmetic is what NumPy is fast at.
        raw = columns[self.digit_columns] - np.uint8(ord("0"))
        good = (raw <= 9).all(axis=0)
        for column, char in self.fixed:
            good &= columns[column] == char
        digits = raw.astype(np.int32)

        def number(first: int, count: int) -> Int32Array:
            value: Int32Array = digits[first]
            for k in range(first + 1, first + count):
                value = value * 10 + digits[k]
            return value

        year, month, day = number(0, 4), number(4, 2), number(6, 2)
        hour, minute, second = number(8, 2), number(10, 2), number(12, 2)
        leap = (year % 4 == 0) & ((year % 100 != 0) | (year % 400 == 0))
        month_days = _MONTH_DAYS[np.minimum(month, 12)] + ((month == 2) & leap)
        good &= (year >= 1) & (month >= 1) & (month <= 12) & (day >= 1) & (day <= month_days)
        good &= (hour < 24) & (minute < 60) & (second < 60)

        clock = hour * 3600 + minute * 60 + second
        if self.offset != "Z":
            signs = columns[self.sign_column]
            good &= (signs == ord("+")) | (signs == ord("-"))
            off_hours = number(14 + self.fraction, 2)
            off_minutes = number(16 + self.fraction, 2)
            good &= (off_hours < 24) & (off_minutes < 60)
            offset = off_hours * 3600 + off_minutes * 60
            clock -= np.where(signs == ord("-"), -offset, offset)
        days = _days_from_civil_many(year.astype(np.int64), month, day)
        micros = (days * SECONDS_PER_DAY + clock) * MICROS_PER_SECOND
        if self.fraction:
            micros += number(14, self.fraction).astype(np.int64) * 10 ** (6 - self.fraction)
        return micros, good


_MONTH_DAYS = np.asarray(_DAYS_IN_MONTH, dtype=np.int32)


def _days_from_civil_many(year: Int64Array, month: Int32Array, day: Int32Array) -> Int64Array:
    year = year - (month <= 2)
    era = year // 400
    year_of_era = year - era * 400
    day_of_year = (153 * (month + np.where(month > 2, -3, 9)) + 2) // 5 + day - 1
    day_of_era = year_of_era * 365 + year_of_era // 4 - year_of_era // 100 + day_of_year
    result: Int64Array = era * 146_097 + day_of_era - 719_468
    return result


def _layouts_by_width() -> dict[int, tuple[_Layout, ...]]:
    by_width: dict[int, list[_Layout]] = {}
    for fraction in (0, 3, 6, 1, 2, 4, 5):  # the common ones first
        for offset in ("Z", "+HH:MM", "+HHMM"):
            layout = _Layout(fraction, offset)
            by_width.setdefault(layout.width, []).append(layout)
    return {width: tuple(layouts) for width, layouts in by_width.items()}


_LAYOUTS = _layouts_by_width()


def _quote(text: str) -> str:
    if len(text) > _SHOWN_TEXT:
        text = text[: _SHOWN_TEXT - 1] + "…"
    return f'"{text}"'


# -- values --------------------------------------------------------------------------


def normalize_field(name: str) -> str:
    """Field names are matched without regard to case or surrounding blanks."""
    return name.strip().lower()


def value_problem(
    field: str,
    value: str,
    statuses: Collection[str],
    grades: Collection[str],
    acceptance: Acceptance | None = None,
) -> str | None:
    """Why ``value`` cannot be the value of ``field`` (normalised), or ``None`` if it can.

    An empty value clears a field and is always allowed. ``outcome`` (an
    opportunity's result) is ``won`` or ``lost`` in any case; ``amount`` a number
    of at least 0. ``sal`` is ``accepted`` or ``rejected``; ``sal_reason`` and
    ``reason`` are free text unless ``acceptance`` lists them (SPEC §9.5). Other
    fields take any value.
    """
    if not value:
        return None
    if field in (SAL_FIELD, SAL_REASON_FIELD, REASON_FIELD):
        return acceptance_problem(field, value, acceptance)
    if field == "outcome":
        if value.casefold() in OUTCOMES:
            return None
        return f"{_quote(value)} is not an outcome (won, lost)"
    if field == "status":
        return None if value in statuses else _not_one_of(value, "status", statuses)
    if field == "grade":
        return None if value in grades else _not_one_of(value, "grade", grades)
    if field in ("score", "amount"):
        try:
            number = float(value)
        except ValueError:
            return f"{_quote(value)} is not a number (field {field})"
        if not math.isfinite(number):
            return f"{_quote(value)} is not a finite number"
        return None if field == "score" or number >= 0 else f"{_quote(value)} is below 0"
    if field == "activity":
        return _activity_problem(value)
    return None


def _not_one_of(value: str, what: str, allowed: Collection[str]) -> str:
    if not allowed:
        return f"{_quote(value)} is not a {what}: the config defines no {what}s"
    names = list(dict.fromkeys(allowed))
    shown = ", ".join(names[:12]) + (", …" if len(names) > 12 else "")
    return f"{_quote(value)} is not a {what} of the config ({shown})"


def _activity_problem(value: str) -> str | None:
    kind, colon, outcome = value.partition(":")
    if colon and kind in ACTIVITY_KINDS and outcome in ACTIVITY_OUTCOMES:
        return None
    kinds = ", ".join(sorted(ACTIVITY_KINDS))
    outcomes = ", ".join(sorted(ACTIVITY_OUTCOMES))
    if not colon:
        return f"{_quote(value)} is not <kind>:<outcome> (kinds {kinds}; outcomes {outcomes})"
    if kind not in ACTIVITY_KINDS:
        return f"{_quote(value)}: {_quote(kind)} is not an activity kind ({kinds})"
    return f"{_quote(value)}: {_quote(outcome)} is not an activity outcome ({outcomes})"


# -- the table ---------------------------------------------------------------------


@dataclass
class EventTable:
    """Events as equal-length columns; strings are codes into the name lists.

    ``value`` is -1 where the value is empty (the field is cleared). ``line`` is
    the line of the events file where the row starts (the header is line 1).
    :func:`read_events` gives the rows in line order; :meth:`sorted` orders them by
    lead id, instant and line. In both, lead codes follow the order of the lead ids.
    """

    lead: Int32Array
    at: Int64Array
    field: Int16Array
    value: Int32Array
    line: Int64Array
    lead_ids: list[str]
    fields: list[str]
    values: list[str]
    ordered: bool = False

    def __post_init__(self) -> None:
        size = len(self.lead)
        if any(len(column) != size for column in (self.at, self.field, self.value, self.line)):
            raise ValueError("the columns of an event table must have the same length")

    def __len__(self) -> int:
        return len(self.lead)

    @classmethod
    def empty(cls) -> EventTable:
        return cls(
            lead=np.zeros(0, dtype=np.int32),
            at=np.zeros(0, dtype=np.int64),
            field=np.zeros(0, dtype=np.int16),
            value=np.zeros(0, dtype=np.int32),
            line=np.zeros(0, dtype=np.int64),
            lead_ids=[],
            fields=[],
            values=[],
            ordered=True,
        )

    def rows(self) -> Iterator[tuple[str, int, str, str | None, int]]:
        """``(lead_id, at, field, value or None, line)`` per row: for tests and small tables."""
        for lead, at, field, value, line in zip(
            self.lead.tolist(),
            self.at.tolist(),
            self.field.tolist(),
            self.value.tolist(),
            self.line.tolist(),
            strict=True,
        ):
            yield (
                self.lead_ids[lead],
                at,
                self.fields[field],
                None if value < 0 else self.values[value],
                line,
            )

    def sorted(self) -> EventTable:
        """A copy ordered by lead id, then instant, then line; lead codes renumbered to match.

        Lead ids are compared as Python strings (code point order). Lead ids no row
        uses are dropped.
        """
        used = np.zeros(len(self.lead_ids), dtype=np.bool_)
        used[self.lead] = True
        lead_ids = self.lead_ids
        lead = self.lead
        if not (used.all() and all(map(operator.lt, lead_ids, lead_ids[1:]))):
            used_codes = np.flatnonzero(used)
            names = [lead_ids[code] for code in used_codes.tolist()]
            order_of_names = sorted(range(len(names)), key=names.__getitem__)
            renumber = np.full(len(lead_ids), -1, dtype=np.int32)
            renumber[used_codes[order_of_names]] = np.arange(len(names), dtype=np.int32)
            lead = renumber[lead]
            lead_ids = [names[i] for i in order_of_names]
        order = _row_order(lead, self.at, self.line)
        return EventTable(
            lead=lead[order],
            at=self.at[order],
            field=self.field[order],
            value=self.value[order],
            line=self.line[order],
            lead_ids=lead_ids,
            fields=self.fields,
            values=self.values,
            ordered=True,
        )

    def take(self, rows: IndexArray) -> EventTable:
        """The given rows (in the given order), with the same code tables."""
        return EventTable(
            lead=self.lead[rows],
            at=self.at[rows],
            field=self.field[rows],
            value=self.value[rows],
            line=self.line[rows],
            lead_ids=self.lead_ids,
            fields=self.fields,
            values=self.values,
            ordered=self.ordered,
        )

    def lead_slices(self) -> Iterator[tuple[str, int, int]]:
        """``(lead_id, start, stop)``: the row range of each lead, of a :meth:`sorted` table."""
        if not self.ordered:
            raise ValueError("lead_slices needs a sorted table: call sorted() first")
        size = len(self.lead)
        if size == 0:
            return
        cuts = (np.flatnonzero(self.lead[1:] != self.lead[:-1]) + 1).tolist()
        starts = [0, *cuts]
        stops = [*cuts, size]
        codes = self.lead[starts].tolist()
        for code, start, stop in zip(codes, starts, stops, strict=True):
            yield self.lead_ids[code], start, stop

    @classmethod
    def concat(cls, tables: Sequence[EventTable]) -> EventTable:
        """The rows of all tables, in the given order, with merged code tables (not sorted)."""
        if not tables:
            return cls.empty()
        lead_ids: dict[str, int] = {}
        fields: dict[str, int] = {}
        values: dict[str, int] = {}

        def recode(index: dict[str, int], names: list[str]) -> Int64Array:
            # One spare slot at the end, so that code -1 (empty value) maps to -1.
            codes = [index.setdefault(name, len(index)) for name in names]
            return np.array([*codes, -1], dtype=np.int64)

        leads_parts, field_parts, value_parts = [], [], []
        for table in tables:
            leads_parts.append(recode(lead_ids, table.lead_ids)[table.lead])
            field_parts.append(recode(fields, table.fields)[table.field])
            value_parts.append(recode(values, table.values)[table.value])
        if len(fields) > _MAX_FIELDS:
            raise ValueError(f"more than {_MAX_FIELDS} distinct field names")
        return cls(
            lead=np.concatenate(leads_parts).astype(np.int32),
            at=np.concatenate([t.at for t in tables]).astype(np.int64, copy=False),
            field=np.concatenate(field_parts).astype(np.int16),
            value=np.concatenate(value_parts).astype(np.int32),
            line=np.concatenate([t.line for t in tables]).astype(np.int64, copy=False),
            lead_ids=list(lead_ids),
            fields=list(fields),
            values=list(values),
        )


# -- byte ranges ---------------------------------------------------------------------
#
# A block of the file is kept as one UTF-8 ``bytes`` object; a column is two arrays
# of offsets into it. Strings are only made for distinct values and for the rare
# rows that need a message, which is what keeps millions of rows cheap.

_PAD = b"\0" * 8  # lets an 8-byte load start at any offset of the text
_PAD_TEXT = _PAD.decode()
_HASHED_BYTES = 40  # longer ranges are compared one by one: rare, and a UUID still fits
_TEXTS_AT_ONCE = 1 << 16  # strings decoded together, to bound the temporary index arrays
_TAIL_MASKS = np.array([(1 << (8 * k)) - 1 for k in range(8)] + [(1 << 64) - 1], dtype=np.uint64)


@dataclass
class _Text:
    """UTF-8 text (padded with 8 NUL bytes) and the same bytes as an array."""

    data: bytes
    chars: UInt8Array

    @classmethod
    def of(cls, *parts: bytes | memoryview) -> _Text:
        padded = b"".join([*parts, _PAD])
        return cls(padded, np.frombuffer(padded, dtype=np.uint8))

    def words(self) -> UInt64Array:
        """The 8 bytes starting at each offset, as little-endian integers (unaligned view)."""
        return np.ndarray(
            shape=(len(self.data) - 7,), dtype="<u8", buffer=self.data, offset=0, strides=(1,)
        )

    def text(self, start: int, end: int) -> str:
        return self.data[start:end].decode("utf-8", "surrogatepass")


def _encode_texts(columns: Sequence[Sequence[str]]) -> tuple[bytes, Int64Array, Int64Array]:
    """Columns of strings as one UTF-8 text and ``(rows, columns)`` start and end offsets."""
    rows = len(columns[0]) if columns else 0
    starts = np.zeros((rows, len(columns)), dtype=np.int64)
    ends = np.zeros((rows, len(columns)), dtype=np.int64)
    parts: list[bytes] = []
    offset = 0
    for k, column in enumerate(columns):
        encoded = [cell.encode("utf-8", "surrogatepass") for cell in column]
        lengths = np.fromiter(map(len, encoded), dtype=np.int64, count=rows)
        ends[:, k] = offset + np.cumsum(lengths)
        starts[:, k] = ends[:, k] - lengths
        part = b"".join(encoded)
        parts.append(part)
        offset += len(part)
    return b"".join(parts), starts, ends


def _parse_instant_ranges(
    text: _Text, starts: Int64Array, ends: Int64Array
) -> tuple[Int64Array, BoolArray]:
    count = len(starts)
    result = np.zeros(count, dtype=np.int64)
    valid = np.zeros(count, dtype=np.bool_)
    lengths = ends - starts
    widths = np.bincount(lengths[lengths < 64]) if count else np.zeros(0, dtype=np.intp)
    for width in np.flatnonzero(widths).tolist():
        layouts = _LAYOUTS.get(width)
        if layouts is None:
            continue
        rows = np.flatnonzero(lengths == width)
        # Copying rows of a window view moves ``width`` bytes per row with one index each.
        chars = np.lib.stride_tricks.sliding_window_view(text.chars, width)[starts[rows]]
        result[rows], valid[rows] = parse_instant_rows(chars)
    for row in np.flatnonzero(~valid).tolist():
        try:
            result[row] = parse_instant(text.text(int(starts[row]), int(ends[row])))
        except InstantError:
            continue
        valid[row] = True
    return result, valid


def parse_instant_rows(chars: UInt8Array) -> tuple[Int64Array, BoolArray]:
    """Instants written in one fixed-width layout, one text per row of ``chars`` (ASCII).

    Epoch microseconds and which rows were read; only the usual fixed-width forms are
    tried here (those :func:`read_events` reads in bulk), so a row that is not read
    may still be an instant :func:`parse_instant` accepts in another spelling.
    """
    result = np.zeros(len(chars), dtype=np.int64)
    valid = np.zeros(len(chars), dtype=np.bool_)
    pending = np.arange(len(chars))
    for layout in _LAYOUTS.get(chars.shape[1], ()):
        micros, good = layout.parse(chars[pending])
        result[pending[good]] = micros[good]
        valid[pending[good]] = True
        pending = pending[~good]
        if pending.size == 0:
            break
    return result, valid


def parse_instants(texts: Sequence[str]) -> tuple[Int64Array, BoolArray]:
    """:func:`parse_instant` for many texts: epoch microseconds, and which texts were valid.

    Invalid texts get 0; call :func:`parse_instant` on one to learn why it is refused.
    """
    data, starts, ends = _encode_texts([texts])
    return _parse_instant_ranges(_Text.of(data), starts[:, 0], ends[:, 0])


class _Interner:
    """Integer codes for the strings of byte ranges; spellings with one canonical form share one.

    Equal ranges are found in bulk by hashing their bytes with NumPy and checking
    the candidates byte for byte, so the Python dictionaries are only consulted
    once per distinct spelling and block.
    """

    def __init__(self, canonical: Callable[[str], str]) -> None:
        self.names: list[str] = []
        self._canonical = canonical
        self._by_name: dict[str, int] = {}
        self._by_raw: dict[bytes, int] = {}  # -1: the spelling is empty once canonical

    def code_of(self, name: str) -> int | None:
        return self._by_name.get(name)

    def _code(self, raw: bytes) -> int:
        code = self._by_raw.get(raw)
        if code is None:
            name = self._canonical(raw.decode("utf-8", "surrogatepass"))
            if not name:
                code = -1
            else:
                code = self._by_name.get(name)
                if code is None:
                    code = len(self.names)
                    self.names.append(name)
                    self._by_name[name] = code
            self._by_raw[raw] = code
        return code

    def encode(self, text: _Text, starts: Int64Array, ends: Int64Array) -> Int64Array:
        count = len(starts)
        codes = np.empty(count, dtype=np.int64)
        lengths = ends - starts
        short = lengths <= _HASHED_BYTES
        bulk = np.flatnonzero(short)
        one_by_one = np.flatnonzero(~short).tolist()
        if bulk.size:
            distinct = _distinct_ranges(text, starts[bulk], lengths[bulk])
            if distinct is None:
                one_by_one = list(range(count))
            else:
                first_starts = starts[bulk[distinct.rows]].tolist()
                first_ends = ends[bulk[distinct.rows]].tolist()
                data = text.data
                distinct_codes = np.fromiter(
                    (self._code(data[a:b]) for a, b in zip(first_starts, first_ends, strict=True)),
                    dtype=np.int64,
                    count=len(first_starts),
                )
                codes[bulk] = distinct_codes[distinct.inverse]
        for row in one_by_one:
            codes[row] = self._code(text.data[int(starts[row]) : int(ends[row])])
        return codes


def _word(words_at: UInt64Array, starts: Int64Array, lengths: Int64Array, k: int) -> UInt64Array:
    """The ``k``-th 8 bytes of each range, zero past its end."""
    left = np.clip(lengths - 8 * k, 0, 8)
    # Past its end a range reads padding or its neighbours; the mask clears those bytes.
    at = np.minimum(starts + 8 * k, len(words_at) - 1)
    word: UInt64Array = words_at[at] & _TAIL_MASKS[left]
    return word


def _range_hashes(
    text: _Text, starts: Int64Array, lengths: Int64Array
) -> tuple[UInt64Array, list[UInt64Array]]:
    """A 64-bit hash of each range of at most ``_HASHED_BYTES`` bytes, and its 8-byte words."""
    words_at = text.words()
    hashes = lengths.astype(np.uint64) * np.uint64(0x9E3779B97F4A7C15)
    words = []
    for k in range((int(lengths.max()) + 7) // 8 if lengths.size else 0):
        word = _word(words_at, starts, lengths, k)
        words.append(word)
        hashes ^= word
        hashes *= np.uint64(0xBF58476D1CE4E5B9)
        hashes ^= hashes >> np.uint64(31)
    return hashes, words


@dataclass
class _Distinct:
    rows: IndexArray  # one row of each distinct string, in ascending order of hash
    hashes: UInt64Array  # their hashes
    inverse: IndexArray  # for each row, its string's index in ``rows``


def _distinct_ranges(text: _Text, starts: Int64Array, lengths: Int64Array) -> _Distinct | None:
    """The distinct byte strings among ranges of at most ``_HASHED_BYTES`` bytes.

    ``None`` if two different strings share a hash, which a caller handles the slow
    way; with 64-bit hashes that is rarer than a cosmic ray.
    """
    hashes, words = _range_hashes(text, starts, lengths)
    # Sorting the hashes ourselves is twice as fast as np.unique with indices.
    order = np.argsort(hashes)
    ordered = hashes[order]
    first = np.empty(len(order), dtype=np.bool_)
    first[:1] = True
    np.not_equal(ordered[1:], ordered[:-1], out=first[1:])
    group = np.cumsum(first) - 1
    inverse = np.empty(len(order), dtype=np.intp)
    inverse[order] = group
    leaders = order[first]
    leader_of = leaders[group]
    if not np.array_equal(lengths[order], lengths[leader_of]):
        return None
    for word in words:
        if not np.array_equal(word[order], word[leader_of]):
            return None
    return _Distinct(leaders, ordered[first], inverse)


def _gather(text: _Text, starts: Int64Array, lengths: Int64Array) -> bytes:
    """The bytes of the ranges, end to end."""
    offsets = np.cumsum(lengths) - lengths
    index = np.repeat(starts - offsets, lengths) + np.arange(int(lengths.sum()))
    return text.chars[index].tobytes()


class _Growing:
    """A NumPy array appended to in place, with room to spare; zeros past the end."""

    def __init__(self, dtype: type[np.generic], spare: int = 0) -> None:
        self.array: npt.NDArray[Any] = np.zeros(1024, dtype=dtype)
        self.size = 0
        self._spare = spare  # zeros kept past the end

    def extend(self, values: npt.NDArray[Any]) -> None:
        end = self.size + len(values)
        if end + self._spare > len(self.array):
            grown = np.zeros(max(end + self._spare, 2 * len(self.array)), dtype=self.array.dtype)
            grown[: self.size] = self.array[: self.size]
            self.array = grown
        self.array[self.size : end] = values
        self.size = end

    @property
    def values(self) -> npt.NDArray[Any]:
        return self.array[: self.size]


class _LeadSpellings:
    """Every distinct spelling of a lead id, found by a hash of its bytes.

    A block holds many lead ids no earlier block had; a dictionary of every lead
    would cost a cache miss per lookup, which made this the slowest step of
    reading. Instead each block's distinct spellings are looked up at once by
    binary search in a sorted array of hashes, and checked byte for byte against
    the stored spelling. Names are made and sorted once, at the end.
    """

    def __init__(self) -> None:
        self._hashes = np.zeros(0, dtype=np.uint64)  # sorted
        self._ids = np.zeros(0, dtype=np.int64)  # the spelling of each hash
        self._bytes = _Growing(np.uint8, spare=len(_PAD))  # spellings end to end
        self._starts = _Growing(np.int64)
        self._lengths = _Growing(np.int64)
        self._blank = _Growing(np.bool_)
        self._by_bytes: dict[bytes, int] = {}  # long spellings, and the odd hash collision
        # Spellings that are no lead id (:func:`leadsla.core.limits.lead_id_problem`): why.
        self._refused: dict[int, str] = {}

    def add(
        self, text: _Text, starts: Int64Array, ends: Int64Array
    ) -> tuple[Int64Array, BoolArray]:
        """The spelling id of each row's lead id, and which rows have none (blank)."""
        lengths = ends - starts
        ids = np.empty(len(starts), dtype=np.int64)
        short = np.flatnonzero(lengths <= _HASHED_BYTES)
        one_by_one = np.flatnonzero(lengths > _HASHED_BYTES).tolist()
        if short.size:
            distinct = _distinct_ranges(text, starts[short], lengths[short])
            if distinct is None:
                one_by_one += short.tolist()
            else:
                rows = short[distinct.rows]
                found = self._find(text, starts[rows], lengths[rows], distinct.hashes)
                ids[short] = found[distinct.inverse]
        for row in one_by_one:
            ids[row] = self._find_one(text.data[int(starts[row]) : int(ends[row])])
        blank: BoolArray = self._blank.values[ids]
        return ids, blank

    def _find(
        self,
        text: _Text,
        starts: Int64Array,
        lengths: Int64Array,
        hashes: UInt64Array,
    ) -> Int64Array:
        """The ids of distinct spellings, given in ascending order of hash; new ones are added."""
        known = len(self._hashes)
        place = np.searchsorted(self._hashes, hashes)
        ids = np.full(len(hashes), -1, dtype=np.int64)
        same_hash = np.zeros(len(hashes), dtype=np.bool_)
        if known:
            at = np.minimum(place, known - 1)
            same_hash = self._hashes[at] == hashes
            candidate = self._ids[at]
            found = same_hash & (self._lengths.array[candidate] == lengths)
            stored = self._bytes.array
            stored_words = np.ndarray(
                shape=(len(stored) - 7,), dtype="<u8", buffer=stored, offset=0, strides=(1,)
            )
            text_words = text.words()
            stored_starts = self._starts.array[candidate]
            for k in range((int(lengths.max()) + 7) // 8):
                mine = _word(text_words, starts, lengths, k)
                found &= _word(stored_words, stored_starts, lengths, k) == mine
            ids[found] = candidate[found]
        new = np.flatnonzero(ids < 0)
        # A known hash with other bytes is a collision: such spellings stay out of the index.
        fresh, collided = new[~same_hash[new]], new[same_hash[new]]
        if fresh.size:
            ids[fresh] = self._store(text, starts[fresh], lengths[fresh])
            self._hashes = np.insert(self._hashes, place[fresh], hashes[fresh])
            self._ids = np.insert(self._ids, place[fresh], ids[fresh])
        for k in collided.tolist():
            start = int(starts[k])
            ids[k] = self._find_one(text.data[start : start + int(lengths[k])])
        return ids

    def _find_one(self, raw: bytes) -> int:
        known = self._by_bytes.get(raw)
        if known is None:
            span = np.array([len(raw)], dtype=np.int64)
            known = int(self._store(_Text.of(raw), np.zeros(1, dtype=np.int64), span)[0])
            self._by_bytes[raw] = known
        return known

    def refused(self, ids: Int64Array) -> dict[int, tuple[str, str]]:
        """``(column, why)`` of each row whose lead id (spelling ``ids[row]``) is no lead
        id: a control character or line break inside it."""
        if not self._refused:
            return {}
        codes = np.fromiter(self._refused, dtype=np.int64, count=len(self._refused))
        return {
            row: ("lead_id", self._refused[int(ids[row])])
            for row in np.flatnonzero(np.isin(ids, codes)).tolist()
        }

    def _store(self, text: _Text, starts: Int64Array, lengths: Int64Array) -> Int64Array:
        first_id = self._starts.size
        offsets = np.cumsum(lengths) - lengths
        self._starts.extend(self._bytes.size + offsets)
        raw = np.frombuffer(_gather(text, starts, lengths), dtype=np.uint8)
        self._bytes.extend(raw)
        self._lengths.extend(lengths)
        blank = lengths == 0
        first_bytes = text.chars[starts]
        # Only a string starting with a blank (ASCII, or maybe a non-ASCII one) can be all blank.
        for k in np.flatnonzero(~blank & ((first_bytes <= 0x20) | (first_bytes >= 0x80))).tolist():
            start = int(starts[k])
            blank[k] = not text.text(start, start + int(lengths[k])).strip()
        self._blank.extend(blank)
        # Only spellings holding a control character or a line break may break the lead
        # id rule: a byte below 0x20 or 0x7F, U+0080-U+009F (C2 80-C2 9F) or U+2028,
        # U+2029 (E2 80 A8, E2 80 A9) in UTF-8. Each new one is judged once, as the id
        # it strips to.
        after = np.concatenate((raw[1:], [0, 0]))
        odd = (raw < 0x20) | (raw == 0x7F)
        odd |= (raw == 0xC2) & (after[:-1] >= 0x80) & (after[:-1] <= 0x9F)
        odd |= (raw == 0xE2) & (after[:-1] == 0x80) & ((after[1:] | 1) == 0xA9)
        marked = np.concatenate(([0], np.cumsum(odd)))
        suspects = np.flatnonzero((marked[offsets + lengths] > marked[offsets]) & ~blank)
        for k in suspects.tolist():
            start = int(starts[k])
            problem = lead_id_problem(text.text(start, start + int(lengths[k])).strip())
            if problem is not None:
                self._refused[first_id + k] = problem
        return np.arange(first_id, first_id + len(starts), dtype=np.int64)

    def resolve(self) -> tuple[list[str], Int32Array]:
        """The lead ids in string order, and the code of each spelling id (-1 where blank)."""
        store = _Text.of(self._bytes.values.tobytes())
        starts, lengths = self._starts.values, self._lengths.values
        if lengths.size and int(lengths.max()) > _HASHED_BYTES:
            return _name_codes_slowly(store, starts, lengths)
        return _name_codes(store, starts, lengths)


def _name_codes(
    text: _Text, starts: Int64Array, lengths: Int64Array
) -> tuple[list[str], Int32Array]:
    """Distinct stripped names of distinct spellings (at most ``_HASHED_BYTES`` long), sorted.

    Returns the names and the code of each spelling (-1 where blank). The sort is
    NumPy's on the bytes: UTF-8 orders like the code points, as Python's ``sorted``.
    """
    first = text.chars[starts]
    last = text.chars[starts + np.maximum(lengths - 1, 0)]
    # Only these may change when stripped; non-ASCII bytes might be a Unicode blank.
    odd = (lengths == 0) | (first <= 0x20) | (first >= 0x80) | (last <= 0x20) | (last >= 0x80)
    entry_of = np.arange(len(starts))
    extra: list[bytes] = []
    odd_rows = np.flatnonzero(odd).tolist()
    for row in odd_rows:
        start = int(starts[row])
        name = text.text(start, start + int(lengths[row])).strip()
        entry_of[row] = len(starts) + len(extra) if name else -1
        extra.append(name.encode("utf-8", "surrogatepass"))
    base = len(text.data) - len(_PAD)
    names_text = _Text.of(memoryview(text.data)[:base], *extra)
    extra_lengths = np.fromiter(map(len, extra), dtype=np.int64, count=len(extra))
    entry_starts = np.concatenate((starts, base + np.cumsum(extra_lengths) - extra_lengths))
    entry_lengths = np.concatenate((lengths, extra_lengths))
    used = np.zeros(len(entry_starts), dtype=np.bool_)
    used[entry_of[entry_of >= 0]] = True
    entries = np.flatnonzero(used)

    words_at = names_text.words()
    e_starts, e_lengths = entry_starts[entries], entry_lengths[entries]
    longest = int(e_lengths.max()) if e_lengths.size else 0
    # Big-endian words compare as their bytes do; the length breaks ties of zero padding.
    words = [_word(words_at, e_starts, e_lengths, k).byteswap() for k in range((longest + 7) // 8)]
    order = np.lexsort((e_lengths, *reversed(words)))
    new = np.ones(len(order), dtype=np.bool_)
    for key in (e_lengths, *words):
        ordered = key[order]
        new[1:] &= ordered[1:] == ordered[:-1]
    new[1:] = ~new[1:]
    rank = np.empty(len(order), dtype=np.int32)
    rank[order] = np.cumsum(new) - 1
    code_of_entry = np.full(len(entry_starts), -1, dtype=np.int32)
    code_of_entry[entries] = rank
    heads = order[new]
    lead_ids = _texts(names_text, e_starts[heads], e_lengths[heads])
    codes = np.where(entry_of >= 0, code_of_entry[entry_of], -1).astype(np.int32)
    return lead_ids, codes


def _name_codes_slowly(
    text: _Text, starts: Int64Array, lengths: Int64Array
) -> tuple[list[str], Int32Array]:
    """:func:`_name_codes` for any lengths, with Python's strings."""
    names = list(map(str.strip, _texts(text, starts, lengths)))
    lead_ids = sorted(set(names) - {""})
    code_of_name = dict(zip(lead_ids, range(len(lead_ids)), strict=True))
    code_of_name[""] = -1
    codes = np.fromiter(map(code_of_name.__getitem__, names), dtype=np.int32, count=len(names))
    return lead_ids, codes


def _texts(text: _Text, starts: Int64Array, lengths: Int64Array) -> list[str]:
    """The strings of many ranges: one decode and one split rather than one decode each."""
    if b"\n" in text.data:
        return [text.text(a, a + n) for a, n in zip(starts.tolist(), lengths.tolist(), strict=True)]
    result: list[str] = []
    for low in range(0, len(starts), _TEXTS_AT_ONCE):
        part_starts = starts[low : low + _TEXTS_AT_ONCE]
        part_lengths = lengths[low : low + _TEXTS_AT_ONCE]
        widths = part_lengths + 1
        offsets = np.cumsum(widths) - widths
        joined = np.full(int(widths.sum()), ord("\n"), dtype=np.uint8)
        inside = np.ones(len(joined), dtype=np.bool_)
        inside[offsets + part_lengths] = False
        targets = np.flatnonzero(inside)
        joined[targets] = text.chars[np.repeat(part_starts - offsets, part_lengths) + targets]
        result += joined.tobytes().decode("utf-8", "surrogatepass").split("\n")[:-1]
    return result


def _row_order(lead: Int32Array, at: Int64Array, line: Int64Array) -> IndexArray:
    """The permutation ordering rows by lead, then instant, then line."""
    if len(lead) < 2:
        return np.arange(len(lead))
    in_line_order = bool(np.all(line[1:] > line[:-1]))
    low = int(at.min())
    offsets = at - low
    # Instants are usually whole seconds: counting in seconds leaves room for the lead.
    for unit in (MICROS_PER_SECOND, 1000):
        if not np.any(offsets % unit):
            offsets //= unit
            break
    at_bits = int(offsets.max()).bit_length()
    lead_bits = int(lead.max()).bit_length()
    if in_line_order and at_bits + lead_bits <= 63:
        # One stable sort of a packed key is twice as fast as two passes.
        key = (lead.astype(np.int64) << at_bits) | offsets
        return np.argsort(key, kind="stable")
    if in_line_order:
        # Two stable sorts, as lexsort does, but lexsort is slower at it.
        by_at = np.argsort(at, kind="stable")
        by_lead: IndexArray = by_at[np.argsort(lead[by_at], kind="stable")]
        return by_lead
    return np.lexsort((line, at, lead))


# -- reading the CSV ---------------------------------------------------------------


@dataclass(frozen=True)
class RowError:
    """A row that was skipped: where it is and what is wrong with it."""

    line: int
    column: str | None
    message: str
    source: str = "events.csv"

    def __str__(self) -> str:
        where = f"{self.source}:{self.line}"
        return (
            f"{where}: {self.column}: {self.message}" if self.column else f"{where}: {self.message}"
        )


@dataclass
class ReadReport:
    """What reading a file did: rows read, rows kept, and the first errors (one per bad row)."""

    rows_read: int
    rows_accepted: int
    errors: list[RowError]

    @property
    def skipped(self) -> int:
        return self.rows_read - self.rows_accepted

    @property
    def errors_not_kept(self) -> int:
        """Bad rows beyond ``max_errors_kept``: counted in :attr:`skipped`, not listed."""
        return self.skipped - len(self.errors)


@dataclass
class _Block:
    """The records of a block of lines, in line order."""

    text: _Text
    starts: Int64Array  # (records, 4): where lead_id, at, field and value begin in text
    ends: Int64Array
    lines: Int64Array  # the line each record starts on
    malformed: list[tuple[int, str]]  # (line, message) of records of the wrong shape
    lost: int = 0  # non-blank lines a never-closed quote swallowed: rows skipped unread


_PROBLEM_LEAD, _PROBLEM_AT, _PROBLEM_FIELD, _PROBLEM_VALUE, _PROBLEM_TEXT = 1, 2, 3, 4, 5


class _BlockReader:
    """Cuts an iterable of lines into blocks of records, numbering lines as :mod:`csv` does."""

    def __init__(self, lines: Iterable[str], source: str) -> None:
        self._lines = iter(lines)
        self._source = source
        self.line = 0  # lines consumed so far
        self.width = 0
        self.wanted: list[int] = []

    def read_header(self) -> None:
        # csv.reader pulls lines one at a time, so the lines after the header stay unread.
        reader = csv.reader(self._lines)
        header: list[str] | None = None
        try:
            for row in reader:
                if any(cell.strip() for cell in row):
                    header = row
                    break
        except csv.Error as exc:
            raise EventFileError(f"{self._source}: header: {exc}") from None
        self.line = reader.line_num
        if header is None:
            raise EventFileError(
                f"{self._source}: the file is empty; expected a header {','.join(EVENT_COLUMNS)}"
            )
        names = [normalize_field(cell.lstrip("\ufeff")) for cell in header]
        missing = [name for name in EVENT_COLUMNS if name not in names]
        if missing:
            raise EventFileError(
                f"{self._source}: the header has no column {', '.join(missing)} "
                f"(found {', '.join(names)}; expected {', '.join(EVENT_COLUMNS)})"
            )
        doubled = [name for name in EVENT_COLUMNS if names.count(name) > 1]
        if doubled:
            raise EventFileError(
                f"{self._source}: the header has column {', '.join(doubled)} more than once"
            )
        self.width = len(names)
        self.wanted = [names.index(name) for name in EVENT_COLUMNS]

    def read_block(self, size: int) -> _Block | None:
        lines = list(islice(self._lines, size))
        if not lines:
            return None
        block = self._one_line_records(lines)
        if block is None:
            return self._csv_records(lines)
        self.line += len(lines)
        return block

    def _one_line_records(self, lines: list[str]) -> _Block | None:
        """The block, if every record is one line; ``None`` if a record spans lines.

        Lines without quotes are cut at commas in bulk, which is what csv would do
        with them; lines with quotes go through csv one by one.
        """
        first_line = self.line + 1
        found = _line_text(lines)
        if found is None:
            return None
        text, breaks, line_ends = found
        chars = text.chars
        quoted = np.zeros(len(lines), dtype=np.bool_)
        quoted[np.searchsorted(breaks, np.flatnonzero(chars == ord('"')))] = True
        commas = np.flatnonzero(chars == ord(","))
        commas_before = np.searchsorted(commas, breaks)
        per_line = np.diff(commas_before, prepend=0)
        fits = (per_line == self.width - 1) & ~quoted
        rows = np.flatnonzero(fits)
        line_starts = np.concatenate(([0], breaks[:-1] + 1))
        separators = np.empty((rows.size, self.width + 1), dtype=np.int64)
        separators[:, 0] = line_starts[rows] - 1
        first_comma = commas_before[rows] - (self.width - 1)
        separators[:, 1 : self.width] = commas[first_comma[:, None] + np.arange(self.width - 1)]
        separators[:, self.width] = line_ends[rows]
        wanted = np.asarray(self.wanted)
        starts = separators[:, wanted] + 1
        ends = separators[:, wanted + 1]
        lines_of = first_line + rows

        malformed: list[tuple[int, str]] = []
        for row in np.flatnonzero(~fits & ~quoted).tolist():
            if lines[row].replace(",", " ").strip():
                malformed.append((first_line + row, self._wrong_width(int(per_line[row]) + 1)))

        quoted_rows = np.flatnonzero(quoted)
        if quoted_rows.size:
            texts = [lines[i] for i in quoted_rows.tolist()]
            # A blank line after each record: a record that does not end with its line
            # swallows the blank line after it, and the count of records gives it away.
            interleaved = list(chain.from_iterable(zip(texts, repeat("\n"))))
            try:
                records = list(csv.reader(interleaved))
            except csv.Error:
                return None
            if len(records) != len(interleaved):
                return None
            kept: list[list[str]] = []
            kept_rows: list[int] = []
            for row, record in zip(quoted_rows.tolist(), records[::2], strict=True):
                if len(record) == self.width:
                    kept.append(record)
                    kept_rows.append(row)
                elif any(cell.strip() for cell in record):
                    malformed.append((first_line + row, self._wrong_width(len(record))))
            columns = [[record[index] for record in kept] for index in self.wanted]
            extra, extra_starts, extra_ends = _encode_texts(columns)
            base = len(text.data) - len(_PAD)
            text = _Text.of(memoryview(text.data)[:base], extra)
            # Merge the two sets of rows back into line order.
            quoted_kept = np.asarray(kept_rows, dtype=np.intp)
            kept_lines = np.zeros(len(lines), dtype=np.bool_)
            kept_lines[rows] = True
            kept_lines[quoted_kept] = True
            position = np.cumsum(kept_lines) - 1
            merged_starts = np.empty((position[-1] + 1, len(self.wanted)), dtype=np.int64)
            merged_ends = np.empty_like(merged_starts)
            merged_starts[position[rows]], merged_ends[position[rows]] = starts, ends
            merged_starts[position[quoted_kept]] = extra_starts + base
            merged_ends[position[quoted_kept]] = extra_ends + base
            starts, ends = merged_starts, merged_ends
            lines_of = first_line + np.flatnonzero(kept_lines)
            malformed.sort()
        return _Block(text, starts, ends, lines_of.astype(np.int64), malformed)

    def _csv_records(self, lines: list[str]) -> _Block:
        """The block read by csv from its first line; its last record may read more lines."""
        pulled = _Pulled(chain(lines, self._lines))
        reader = csv.reader(pulled)
        records: list[list[str]] = []
        record_lines: list[int] = []
        malformed: list[tuple[int, str]] = []
        lost = 0
        consumed = 0
        while consumed < len(lines):
            start = self.line + consumed + 1
            pulled.kept.clear()
            try:
                record = next(reader)
            except StopIteration:
                break
            except csv.Error as exc:
                malformed.append((start, f"not a valid CSV row: {exc}"))
                consumed = reader.line_num
                continue
            consumed = reader.line_num
            if pulled.ended and _never_closed(pulled.kept):
                # csv gives the rest of the file as one field; its rows would vanish into it.
                lost = sum(1 for line in pulled.kept[1:] if line.replace(",", " ").strip())
                malformed.append((start, _unclosed_message(lost)))
                break
            if len(record) == self.width:
                records.append(record)
                record_lines.append(start)
            elif any(cell.strip() for cell in record):
                malformed.append((start, self._wrong_width(len(record))))
        self.line += reader.line_num
        columns = [[record[index] for record in records] for index in self.wanted]
        data, starts, ends = _encode_texts(columns)
        return _Block(
            _Text.of(data), starts, ends, np.asarray(record_lines, dtype=np.int64), malformed, lost
        )

    def _wrong_width(self, found: int) -> str:
        return f"expected {self.width} columns as in the header, found {found}"


class _Pulled:
    """The lines csv pulls, kept since the caller last cleared them, and whether they ran out."""

    def __init__(self, lines: Iterator[str]) -> None:
        self._lines = lines
        self.kept: list[str] = []
        self.ended = False

    def __iter__(self) -> _Pulled:
        return self

    def __next__(self) -> str:
        try:
            line = next(self._lines)
        except StopIteration:
            self.ended = True
            raise
        self.kept.append(line)
        return line


def _never_closed(lines: list[str]) -> bool:
    """Whether these lines, read to the end of the file, end inside a quoted field.

    csv in its lenient mode closes such a field at the end of the file without a word;
    its strict mode tells it apart from a field that was closed.
    """
    try:
        for _record in csv.reader(lines, strict=True):
            pass
    except csv.Error as exc:
        return "unexpected end of data" in str(exc)
    return False


def _unclosed_message(lost: int) -> str:
    rest = f" ({lost} more non-blank line(s) skipped)" if lost else ""
    return (
        "a quoted field starts here and is never closed; the rest of the file could not "
        f"be read{rest}"
    )


def _line_text(lines: list[str]) -> tuple[_Text, Int64Array, Int64Array] | None:
    """The lines as UTF-8, with the offset of each line's break and of the end of its content.

    ``None`` if a line holds a line break or carriage return that is not its end,
    where csv would not read one record per line. The last line gets a line break
    if it has none.
    """
    count = len(lines)
    # The last line of a file may have no line break; joining the padding in saves
    # copying the whole text once more to append it.
    unended = bool(lines) and not lines[-1].endswith("\n")
    lines.append("\n" + _PAD_TEXT if unended else _PAD_TEXT)
    joined = "".join(lines)
    lines.pop()
    data = joined.encode("utf-8", "surrogatepass")
    chars = np.frombuffer(data, dtype=np.uint8)
    breaks = np.flatnonzero(chars == ord("\n"))
    if len(breaks) != count or not _one_break_each(lines, joined, data, breaks):
        # Lines without their line break, as from a list of strings.
        joined = "".join([line.rstrip("\r\n") + "\n" for line in lines] + [_PAD_TEXT])
        data = joined.encode("utf-8", "surrogatepass")
        chars = np.frombuffer(data, dtype=np.uint8)
        breaks = np.flatnonzero(chars == ord("\n"))
        if len(breaks) != count:
            return None
    text = _Text(data, chars)
    returns = np.flatnonzero(chars == ord("\r"))
    if not returns.size:
        return text, breaks, breaks
    if not bool(np.all(chars[returns + 1] == ord("\n"))):
        return None
    crlf = np.zeros(count, dtype=np.int64)
    crlf[np.searchsorted(breaks, returns + 1)] = 1
    return text, breaks, breaks - crlf


def _one_break_each(lines: list[str], joined: str, data: bytes, breaks: Int64Array) -> bool:
    """Whether each line ends with its only line break (given as many breaks as lines)."""
    if len(data) != len(joined):
        return all(map(str.endswith, lines[:-1], repeat("\n")))
    # ASCII: character offsets are byte offsets, so line lengths locate the line ends.
    ends = np.cumsum(np.fromiter(map(len, lines), dtype=np.int64, count=len(lines)))
    return bool(np.array_equal(breaks[:-1], ends[:-1] - 1))


class _ColumnBuilder:
    """Growing typed columns; ``array.array`` grows in place, unlike a list of NumPy chunks."""

    def __init__(self) -> None:
        self.lead = array("i")
        self.at = array("q")
        self.field = array("h")
        self.value = array("i")
        self.line = array("q")

    def append(self, *columns: Int64Array) -> None:
        lead, at, field, value, line = columns
        self.lead.frombytes(lead.astype(np.int32).tobytes())
        self.at.frombytes(at.astype(np.int64).tobytes())
        self.field.frombytes(field.astype(np.int16).tobytes())
        self.value.frombytes(value.astype(np.int32).tobytes())
        self.line.frombytes(line.astype(np.int64).tobytes())

    def table(
        self, code_of_lead: Int32Array, lead_ids: list[str], fields: list[str], values: list[str]
    ) -> EventTable:
        return EventTable(
            lead=code_of_lead[np.frombuffer(self.lead, dtype=np.int32)],
            at=np.frombuffer(self.at, dtype=np.int64),
            field=np.frombuffer(self.field, dtype=np.int16),
            value=np.frombuffer(self.value, dtype=np.int32),
            line=np.frombuffer(self.line, dtype=np.int64),
            lead_ids=lead_ids,
            fields=fields,
            values=values,
        )


def read_events(
    lines: Iterable[str],
    *,
    statuses: Collection[str],
    grades: Collection[str],
    acceptance: Acceptance | None = None,
    source: str = "events.csv",
    chunk_rows: int = 100_000,
    max_errors_kept: int = 1000,
    progress: Callable[[int], None] | None = None,
) -> tuple[EventTable, ReadReport]:
    """Read the native events CSV (SPEC §3) from its lines into an unsorted table.

    ``lines`` is any iterable of text lines, such as a file opened with
    ``newline=""``. The header names the columns ``lead_id``, ``at``, ``field``
    and ``value`` in any order; other columns are ignored. A row that cannot be
    read is skipped and reported with the line it starts on, and the rest of
    the file is read; a row with several problems is reported for the first
    column in that order. Blank lines, and rows whose four columns are all
    empty, are skipped silently. Field names are compared lower-cased; lead
    ids, field names and values are stripped of surrounding blanks.

    Raises :class:`EventFileError` if the file has no header or the header
    lacks a column.
    """
    if chunk_rows < 1:
        raise ValueError("chunk_rows must be at least 1")
    blocks = _BlockReader(lines, source)
    blocks.read_header()

    leads = _LeadSpellings()
    fields = _Interner(normalize_field)
    values = _Interner(str.strip)
    # (field, value code) → problem or None: each distinct value is judged once.
    judged: dict[tuple[str, int], str | None] = {}
    builder = _ColumnBuilder()
    errors: list[RowError] = []
    rows_read = 0
    rows_accepted = 0

    while (block := blocks.read_block(chunk_rows)) is not None:
        text, starts, ends = block.text, block.starts, block.ends
        lead, no_lead = leads.add(text, starts[:, 0], ends[:, 0])
        at, at_valid = _parse_instant_ranges(text, starts[:, 1], ends[:, 1])
        field = fields.encode(text, starts[:, 2], ends[:, 2])
        value = values.encode(text, starts[:, 3], ends[:, 3])
        if len(fields.names) > _MAX_FIELDS:
            raise EventFileError(f"{source}: more than {_MAX_FIELDS} distinct field names")

        at_valid &= (at >= FIRST_INSTANT) & (at <= LAST_INSTANT)
        unstorable = {**leads.refused(lead), **_unstorable(text, starts, ends)}
        blank = no_lead & (field < 0) & (value < 0)
        for row in np.flatnonzero(blank).tolist():
            blank[row] = not text.text(int(starts[row, 1]), int(ends[row, 1])).strip()
        problem = np.zeros(len(lead), dtype=np.int8)
        for name in CLOSED_FIELDS:
            code = fields.code_of(name)
            if code is None:
                continue
            rows = np.flatnonzero(field == code)
            if not rows.size:
                continue
            distinct, inverse = np.unique(value[rows], return_inverse=True)
            bad = np.zeros(len(distinct), dtype=np.bool_)
            for k, value_code in enumerate(distinct.tolist()):
                key = (name, value_code)
                if key not in judged:
                    spelled = "" if value_code < 0 else values.names[value_code]
                    judged[key] = value_problem(name, spelled, statuses, grades, acceptance)
                bad[k] = judged[key] is not None
            problem[rows[bad[inverse.reshape(-1)]]] = _PROBLEM_VALUE
        # The first column in file-format order wins: later assignments overwrite.
        problem[list(unstorable)] = _PROBLEM_TEXT
        problem[field < 0] = _PROBLEM_FIELD
        problem[~at_valid] = _PROBLEM_AT
        problem[no_lead] = _PROBLEM_LEAD
        problem[blank] = 0

        accepted = (problem == 0) & ~blank
        builder.append(
            lead[accepted], at[accepted], field[accepted], value[accepted], block.lines[accepted]
        )
        rows_read += int(np.count_nonzero(~blank)) + len(block.malformed) + block.lost
        rows_accepted += int(np.count_nonzero(accepted))

        room = max_errors_kept - len(errors)
        bad_rows = np.flatnonzero(problem)
        if room > 0 and (bad_rows.size or block.malformed):
            # Rows are in line order, so the first ``room`` of each kind are all we need.
            found = [(line, -1, message) for line, message in block.malformed[:room]]
            found += [(int(block.lines[row]), row, "") for row in bad_rows[:room].tolist()]
            found.sort()
            for line, row, message in found[:room]:
                if row < 0:
                    errors.append(RowError(line, None, message, source))
                    continue
                kind = int(problem[row])
                if kind == _PROBLEM_VALUE:
                    name = fields.names[int(field[row])]
                    column, message = "value", judged[(name, int(value[row]))] or ""
                elif kind == _PROBLEM_TEXT:
                    column, message = unstorable[row]
                else:
                    at_text = text.text(int(starts[row, 1]), int(ends[row, 1]))
                    column, message = _describe(kind, at_text)
                errors.append(RowError(line, column, message, source))
        if progress is not None:
            progress(rows_read)

    lead_ids, code_of_spelling = leads.resolve()
    table = builder.table(code_of_spelling, lead_ids, fields.names, values.names)
    return table, ReadReport(rows_read, rows_accepted, errors)


def _unstorable(text: _Text, starts: Int64Array, ends: Int64Array) -> dict[int, tuple[str, str]]:
    """``(column, why)`` of each row whose lead id, field or value cannot be stored
    (:func:`leadsla.core.limits.event_problem`).

    Only rows with a NUL byte, a byte that may start a surrogate (0xED), or a text
    longer than the shortest limit in bytes are looked at one by one: almost none.
    """
    texts = [0, 2, 3]  # lead_id, field, value
    content = text.chars[: len(text.data) - len(_PAD)]
    marks = np.flatnonzero((content == 0) | (content == 0xED))
    lengths = ends[:, texts] - starts[:, texts]
    suspect = (lengths > min(MAX_LEAD_ID, MAX_FIELD, MAX_COLUMN_VALUE)).any(axis=1)
    if marks.size:
        for column in texts:
            suspect |= np.searchsorted(marks, ends[:, column]) > np.searchsorted(
                marks, starts[:, column]
            )
    found: dict[int, tuple[str, str]] = {}
    for row in np.flatnonzero(suspect).tolist():
        lead, _at, name, value = (
            text.text(int(starts[row, k]), int(ends[row, k])) for k in range(4)
        )
        problem = event_problem(lead.strip(), normalize_field(name), value.strip() or None)
        if problem is not None:
            found[row] = problem
    return found


def _describe(problem: int, at: str) -> tuple[str, str]:
    if problem == _PROBLEM_LEAD:
        return "lead_id", "empty: every event needs the id of its lead"
    if problem == _PROBLEM_FIELD:
        return "field", "empty: every event needs a field name (status, owner, grade, …)"
    if not at.strip():
        return "at", f"empty: every event needs {INSTANT_FORMAT}"
    try:
        parse_event_instant(at)
    except InstantError as exc:
        return "at", str(exc)
    return "at", f"{_quote(at)} is not {INSTANT_FORMAT}"
