"""Large histories on Polars: the events CSV read into a lead-grouped table in a few passes.

:func:`~leadsla.core.events.read_events` reads any file exactly as :mod:`csv` does
and reports every bad row with its line, at about 2.5 µs per row in one process.
Most large histories are plain machine exports: one record per line, no quotes, no
bad rows. For those, Polars parses the file on every core, each column is checked
and coded in bulk, and the rows are grouped by lead with one sort of a packed
integer key instead of a sort of strings. Anything this reader is not sure to read
exactly as ``read_events`` would (quotes, carriage returns, blank or ragged lines, a
bad value, an instant outside the core's fixed-width layouts or outside the instants
an event may have, a NUL or a text long enough to break a limit of
:mod:`~leadsla.core.limits`, lead ids with surrounding blanks) makes it give up, and
the caller uses ``read_events``: the result is the same table either way (a test compares them).

The table this returns is *lead-grouped* (each lead's rows together, by instant
and line) but its leads are not in id order: that is all
:func:`~leadsla.core.columnar.report_facts` needs, and it saves sorting millions of
strings.
"""

from __future__ import annotations

import csv
from collections.abc import Callable, Collection
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import polars as pl

from leadsla.core.acceptance import Acceptance
from leadsla.core.columns import MICROS_PER_SECOND, Int32Array, Int64Array, UInt64Array
from leadsla.core.events import (
    CLOSED_FIELDS,
    EVENT_COLUMNS,
    EventTable,
    ReadReport,
    normalize_field,
    parse_instant_rows,
    value_problem,
)
from leadsla.core.limits import MAX_COLUMN_VALUE, MAX_FIELD, MAX_LEAD_ID, instant_in_range
from leadsla.core.utc_text import WIDTH as UTC_WIDTH
from leadsla.core.utc_text import parse_utc_seconds_rows

# Bytes read at a time when scanning the file for what this reader does not handle.
_SCAN_BYTES = 1 << 24
# Instants joined into one text at a time.
_JOIN_ROWS = 1 << 18
# Fewer bits than this for the lead hash and grouping by sort key is not worth it.
_MIN_HASH_BITS = 32
# Texts no longer than this (in bytes, so in characters too) are within every limit.
SHORTEST_LIMIT = min(MAX_LEAD_ID, MAX_FIELD, MAX_COLUMN_VALUE)
# The characters str.isspace() is true of: what str.strip() removes (a test checks it).
BLANKS = (
    "\t\n\x0b\x0c\r\x1c\x1d\x1e\x1f \x85\xa0\u1680\u2000\u2001\u2002\u2003\u2004\u2005"
    "\u2006\u2007\u2008\u2009\u200a\u2028\u2029\u202f\u205f\u3000"
)
_BLANK_CLASS = "[" + "".join(f"\\x{{{ord(c):x}}}" for c in BLANKS) + "]"
_BLANK_EDGE = f"^{_BLANK_CLASS}|{_BLANK_CLASS}$"  # a blank first or last in a text
# What :func:`~leadsla.core.limits.lead_id_problem` refuses inside a lead id (control
# characters, line and paragraph separators): the careful reader reports such rows.
_NOT_IN_IDS = r"[\x00-\x1f\x7f-\x{9f}\x{2028}\x{2029}]"


def _header(path: Path) -> list[str] | None:
    """The name of each column of the header: the event columns by their canonical
    names (whatever their order and spelling), any other ``_other<i>``; ``None`` if
    unusual or unreadable (the careful reader then says what is wrong with the file)."""
    try:
        with path.open(encoding="utf-8-sig", newline="") as handle:
            row = next(csv.reader(handle), None)
    except (OSError, UnicodeDecodeError, csv.Error):
        return None
    if row is None:
        return None
    names = [normalize_field(cell) for cell in row]
    if any(names.count(name) != 1 for name in EVENT_COLUMNS):
        return None
    return [name if name in EVENT_COLUMNS else f"_other{i}" for i, name in enumerate(names)]


def _plain_lines(path: Path, width: int) -> int | None:
    """The number of data lines if every line is a record of ``width`` unquoted fields.

    ``None`` if the file holds a quote or a carriage return, or its commas do not add
    up to ``width - 1`` per line. (When they add up, a short line means a long one too,
    and Polars refuses a long one: so no line lacks a field.)
    """
    try:
        return _counted_lines(path, width)
    except OSError:  # gone since the header was read: the careful reader reports it
        return None


def _counted_lines(path: Path, width: int) -> int | None:
    lines = commas = 0
    last = b"\n"
    with path.open("rb") as handle:
        while chunk := handle.read(_SCAN_BYTES):
            # A NUL, or 0xED (which may begin a surrogate), may make a row unstorable:
            # the careful reader says which (:mod:`leadsla.core.limits`).
            if b'"' in chunk or b"\r" in chunk or b"\x00" in chunk or b"\xed" in chunk:
                return None
            # NumPy counts bytes about twice as fast as bytes.count, and lets go of the GIL.
            codes = np.frombuffer(chunk, dtype=np.uint8)
            lines += int(np.count_nonzero(codes == ord("\n")))
            commas += int(np.count_nonzero(codes == ord(",")))
            last = chunk[-1:]
    if last != b"\n":
        lines += 1
    if commas != (width - 1) * lines:
        return None
    return lines - 1


def _codes(column: pl.Series, canonical: Callable[[str], str]) -> tuple[Int32Array, list[str]]:
    """Codes of a string column's canonical spellings (-1 where that is empty or null),
    and the names; each distinct spelling is made canonical once."""
    categories = column if column.dtype == pl.Categorical else column.cast(pl.Categorical)
    # Polars keeps a categorical's strings in the order of their physical codes: the
    # spellings present are found by flagging the codes, where unique() hashed every row.
    dtype = categories.dtype
    assert isinstance(dtype, pl.Categorical)
    spelled = dtype.categories.to_series()
    null_slot = len(spelled)  # where nulls look up
    physical = categories.to_physical().fill_null(null_slot).to_numpy()
    present = np.zeros(null_slot + 1, dtype=np.bool_)
    present[physical] = True
    present[null_slot] = False
    distinct = np.flatnonzero(present)
    lookup = np.full(null_slot + 1, -1, dtype=np.int32)
    names: dict[str, int] = {}
    for code, raw in zip(distinct.tolist(), spelled.gather(distinct).to_list(), strict=True):
        name = canonical(raw)
        lookup[code] = names.setdefault(name, len(names)) if name else -1
    codes: Int32Array = lookup[physical]
    return codes, list(names)


def _instants(column: pl.Series) -> tuple[Int64Array, bool] | None:
    """Epoch microseconds of each instant, and whether all are whole seconds (known
    from how they were read); ``None`` if one is not read here.

    ``YYYY-MM-DDTHH:MM:SSZ`` (what exports mostly write) is read from the column's
    bytes by :func:`~leadsla.core.utc_text.parse_utc_seconds_rows`; ``…Z`` and
    ``…±HH:MM`` (second precision) that it does not take are checked digit by digit
    and parsed by Polars (an impossible date does not parse); other widths go through
    the core's fixed-width layouts.
    """
    widths = column.str.len_bytes().to_numpy()
    result = np.zeros(len(column), dtype=np.int64)
    # Mostly one width: no need to sort ten million of them to find it, nor to pick rows.
    if widths.size == 0:
        return result, True
    narrow, wide = int(widths.min()), int(widths.max())
    whole = True
    for width in [narrow] if narrow == wide else np.unique(widths).tolist():
        rows = np.flatnonzero(widths == width) if narrow != wide else None
        texts = column if rows is None else column.gather(rows)
        micros = _utc_seconds(texts) if width == UTC_WIDTH else None
        if micros is None:
            micros = _round_trip(texts, width)
        if micros is None:
            if width == 0:  # an empty instant: the careful reader reports the row
                return None
            joined = texts.str.join("").item()
            if not joined.isascii():
                return None
            chars = np.frombuffer(joined.encode("ascii"), dtype=np.uint8).reshape(-1, width)
            micros, valid = parse_instant_rows(chars)
            if not valid.all():
                return None
            whole = False  # a layout with a fraction of a second, maybe
        if rows is None:
            return micros, whole
        result[rows] = micros
    return result, whole


def _utc_seconds(texts: pl.Series) -> Int64Array | None:
    """Texts of 20 bytes, if all are ``YYYY-MM-DDTHH:MM:SSZ``, as epoch µs.

    A slice of rows at a time: the joined text of each (5 MB) is parsed while it is
    still in cache, and its memory serves the next slice instead of fresh pages."""
    result = np.empty(len(texts), dtype=np.int64)
    for start in range(0, len(texts), _JOIN_ROWS):
        part = texts.slice(start, _JOIN_ROWS)
        joined = part.str.join("").cast(pl.Binary).item()
        if not isinstance(joined, bytes) or len(joined) != UTC_WIDTH * len(part):
            return None
        micros = parse_utc_seconds_rows(
            np.frombuffer(joined, dtype=np.uint8).reshape(-1, UTC_WIDTH)
        )
        if micros is None:
            return None
        result[start : start + len(part)] = micros
    return result


# Digits and separators where ``YYYY-MM-DDTHH:MM:SS`` has them, with the ranges Polars'
# parser would otherwise stretch (it reads second 60 as a leap second).
_WALL = r"^\d{4}-(0[1-9]|1[0-2])-[0-3]\d[T]([01]\d|2[0-3]):[0-5]\d:[0-5]\d"


def _round_trip(texts: pl.Series, width: int) -> Int64Array | None:
    """Instants ``YYYY-MM-DDTHH:MM:SS`` + ``Z`` (width 20) or ``±HH:MM`` (25) as epoch µs."""
    if width not in (20, 25):
        return None
    at = pl.col("at")
    wall = at.str.slice(0, 19).str.to_datetime("%Y-%m-%dT%H:%M:%S", time_unit="us", strict=False)
    if width == 20:
        offset: pl.Expr = pl.lit(0, dtype=pl.Int64)
        suffix = at.str.ends_with("Z")
    else:
        sign = pl.when(at.str.slice(19, 1) == "-").then(-1).otherwise(1)
        offset = sign * (
            at.str.slice(20, 2).cast(pl.Int64, strict=False) * 3600
            + at.str.slice(23, 2).cast(pl.Int64, strict=False) * 60
        )
        suffix = at.str.contains(r"[+-]([01]\d|2[0-3]):[0-5]\d$")
    frame = pl.DataFrame({"at": texts}).select(
        # A day past the month's end fails to parse (null), and year 0 is no instant.
        ok=(at.str.contains(_WALL) & suffix & (wall.dt.year() >= 1)).fill_null(False),
        micros=wall.dt.epoch("us") - offset * MICROS_PER_SECOND,
    )
    if not frame["ok"].all():
        return None
    micros: Int64Array = frame["micros"].to_numpy().astype(np.int64, copy=False)
    return micros


def _lead_hashes(leads: pl.Series) -> tuple[UInt64Array, UInt64Array] | None:
    """Two independent 64-bit hashes of each lead id; ``None`` if an id is empty, has
    blanks around it (read_events strips them with str.strip(), which removes exactly
    the str.isspace() characters) or holds a character no lead id may hold."""
    lengths = leads.str.len_bytes()
    if (
        leads.str.contains(_BLANK_EDGE).any()
        or (lengths == 0).any()
        or leads.str.contains(_NOT_IN_IDS).any()
    ):
        return None
    # Longer in bytes is not always longer in characters: the careful reader judges.
    longest = lengths.max()
    if isinstance(longest, int) and longest > SHORTEST_LIMIT:
        return None
    return leads.hash(seed=0).to_numpy(), leads.hash(seed=1).to_numpy()


def _closed_values_ok(
    field_codes: Int32Array,
    field_names: list[str],
    value_codes: Int32Array,
    value_names: list[str],
    statuses: Collection[str],
    grades: Collection[str],
    acceptance: Acceptance | None,
) -> bool:
    """Whether every value of a closed field (status, grade) is one it takes."""
    stride = len(value_names) + 1
    # The (field, value) pairs present: a flag per pair, not a sort of every row (nor a
    # count, which would widen ten million keys to 64 bits first).
    pairs: npt.NDArray[np.signedinteger[Any]] = (
        field_codes.astype(np.int32)
        if len(field_names) * stride < 2**31
        else field_codes.astype(np.int64)
    )
    pairs *= stride
    pairs += value_codes
    pairs += 1
    present = np.zeros(len(field_names) * stride, dtype=np.bool_)
    present[pairs] = True
    del pairs
    for pair in np.flatnonzero(present).tolist():
        field_code, value_code = divmod(pair, stride)
        name = field_names[field_code]
        if name in CLOSED_FIELDS:
            text = value_names[value_code - 1] if value_code else ""
            if value_problem(name, text, statuses, grades, acceptance) is not None:
                return False
    return True


def _names_short(names: list[str]) -> bool:
    """Whether no distinct field name or value is longer than any limit could refuse."""
    return all(len(name) <= SHORTEST_LIMIT for name in names)


@dataclass(frozen=True)
class GroupedEvents:
    """A lead-grouped table whose lead ids are looked up only when asked for.

    ``table.lead_ids`` is empty: naming two million leads costs more than the column
    path spends on them. :meth:`named` gives a table of some rows with their ids.
    """

    table: EventTable
    report: ReadReport
    lead_column: pl.Series  # lead ids in file order
    first_rows: Int64Array  # file row of each lead code's first row

    def named(self, rows: npt.NDArray[np.intp]) -> EventTable:
        """The given rows (whole leads, in table order) with their lead ids."""
        part = self.table.take(rows)
        codes, lead = np.unique(part.lead, return_inverse=True)
        names = self.lead_column.gather(self.first_rows[codes]).to_list()
        return replace(part, lead=lead.reshape(-1).astype(np.int32), lead_ids=names)

    def sorted(self) -> EventTable:
        """The table ordered by lead id (code point order, as Python compares strings),
        then instant and line, with its lead ids: what
        :meth:`~leadsla.core.events.EventTable.sorted` gives for the careful reader's.

        Each lead's rows are already together and in order, so whole leads move."""
        table = self.table
        total = len(table)
        if total == 0:
            return replace(table, lead_ids=[], ordered=True)
        heads = np.ones(total, dtype=np.bool_)
        np.not_equal(table.lead[1:], table.lead[:-1], out=heads[1:])
        starts = np.flatnonzero(heads)
        sizes = np.diff(np.append(starts, total))
        names = self.lead_column.gather(self.first_rows)
        # Polars compares strings by their UTF-8 bytes: the order of their code points.
        order = names.arg_sort().to_numpy()
        new_sizes = sizes[order]
        new_starts = np.zeros(order.size, dtype=np.int64)
        np.cumsum(new_sizes[:-1], out=new_starts[1:])
        rows = np.repeat(starts[order] - new_starts, new_sizes) + np.arange(total)
        return EventTable(
            lead=np.repeat(np.arange(order.size, dtype=np.int32), new_sizes),
            at=table.at[rows],
            field=table.field[rows],
            value=table.value[rows],
            line=table.line[rows],
            lead_ids=names.gather(order).to_list(),
            fields=table.fields,
            values=table.values,
            ordered=True,
        )


def _read_plain(path: Path, names: list[str]) -> pl.DataFrame | None:
    """The event columns (field names and values coded), by the names :func:`_header`
    gave every column; ``None`` if Polars cannot parse the file."""
    try:
        return pl.read_csv(
            path,
            # Polars names the columns of the file in its order, every one of them.
            new_columns=names,
            columns=list(EVENT_COLUMNS),
            infer_schema=False,
            # Polars codes the field names and values while it parses, on every core.
            # A coded empty value reads as null, as a missing one would: the caller has
            # made sure that no line lacks a field (see _plain_lines).
            schema_overrides={"field": pl.Categorical, "value": pl.Categorical},
            empty_string_is_null=False,
            quote_char=None,
        )
    except (pl.exceptions.PolarsError, OSError, ValueError):
        return None


def read_grouped_events(
    path: Path,
    *,
    statuses: Collection[str],
    grades: Collection[str],
    acceptance: Acceptance | None = None,
    hash_bits: int | None = None,
) -> GroupedEvents | None:
    """The events of a plain file as a lead-grouped table, or ``None`` if the file needs
    :func:`~leadsla.core.events.read_events` (see the module docstring).

    ``hash_bits`` caps the bits of each lead id's hash in the sort key (tests use a few
    to make leads share buckets)."""
    header = _header(path)
    if header is None:
        return None
    width = len(header)
    # Work that lets go of the GIL runs in a second thread: the scan while Polars
    # parses, then Polars' checks and hashes of the lead ids while NumPy reads instants.
    with ThreadPoolExecutor(max_workers=1) as pool:
        scanned = pool.submit(_plain_lines, path, width)
        frame = _read_plain(path, header)
        lines = scanned.result()
        if lines is None or lines == 0 or frame is None:
            return None
        frame = frame.select(EVENT_COLUMNS)
        # Null values are empty ones (no line lacks a field); elsewhere a null is a problem.
        if frame.height != lines or frame.drop("value").null_count().sum_horizontal().item():
            return None
        leads = frame["lead_id"]
        hashed = pool.submit(_lead_hashes, leads)
        field_codes, field_names = _codes(frame["field"], normalize_field)
        value_codes, value_names = _codes(frame["value"], str.strip)
        closed_ok = (
            not (field_codes < 0).any()
            and _names_short(field_names)
            and _names_short(value_names)
            and _closed_values_ok(
                field_codes, field_names, value_codes, value_names, statuses, grades, acceptance
            )
        )
        instants = _instants(frame["at"]) if closed_ok else None
        # The instants' text and the coded columns are no longer needed: their memory
        # serves the sort below (``leads`` keeps the lead ids).
        del frame
        lead_hashes = hashed.result()
    if instants is None or lead_hashes is None:
        return None
    micros, whole_seconds = instants
    del instants
    low = int(micros.min()) if micros.size else 0
    if micros.size and not (instant_in_range(low) and instant_in_range(int(micros.max()))):
        return None  # the careful reader reports the rows outside the range
    hashes, second = lead_hashes
    offsets = micros - low
    del micros
    # Instants are usually whole seconds: counting in seconds leaves room for the hash.
    # (The reader mostly knows they are: no need to divide ten million of them to see.)
    if whole_seconds:
        unit = MICROS_PER_SECOND
    else:
        units = (MICROS_PER_SECOND, 1000)
        unit = next((u for u in units if not np.any(offsets % u)), 1)
    if unit != 1:
        offsets //= unit
    at_bits = max(int(offsets.max()), 1).bit_length()
    if 63 - at_bits < _MIN_HASH_BITS:
        return None
    hash_bits = 63 - at_bits if hash_bits is None else min(hash_bits, 63 - at_bits)
    key = ((hashes >> np.uint64(64 - hash_bits)).astype(np.int64) << at_bits) | offsets
    # Beside the key: the bits of the first hash the key leaves out, and the top of a
    # second, independent hash. Two ids agreeing on both hashes' bits would merge
    # (about 2 M² / 2⁹⁷ for two million leads).
    check = (hashes << np.uint64(hash_bits)) | (second >> np.uint64(64 - hash_bits))
    # A stable sort of one integer: leads (by hash) together, then instants, then lines.
    # Polars gathers the other columns in that order as it sorts (on every core): each
    # gather of 10 M rows in a random order costs as much as a sort.
    columns = pl.DataFrame(
        {
            "key": key,
            "row": np.arange(len(key), dtype=np.int64),
            "check": check,
            "field": field_codes.astype(np.int16),
            "value": value_codes,
        }
    ).sort("key", maintain_order=True)
    del key, check
    # Views of Polars' memory (read-only), copied only if a few rows must move below.
    sorted_key, order, check, field, value = (columns[name].to_numpy() for name in columns.columns)
    del columns
    # The table's own columns: new arrays, where the views above are Polars' read-only
    # memory.
    at = sorted_key & ((1 << at_bits) - 1)
    at *= unit
    at += low
    line = order + 2
    bucket = sorted_key >> at_bits
    del sorted_key
    same_bucket = bucket[1:] == bucket[:-1]
    check_moves = check[1:] != check[:-1]
    del check
    # A lead starts where the bucket changes or, within one, where the check word does.
    starts = np.ones(len(order), dtype=np.bool_)
    np.logical_not(same_bucket, out=starts[1:])
    starts[1:] |= check_moves
    differ = same_bucket & check_moves
    del same_bucket, check_moves
    if differ.any():
        # Leads whose hashes agree on the key's bits share a bucket and interleave there:
        # order those few rows by full hash, instant and row. The buckets are runs of the
        # sorted keys: found by a search each, not by a pass over every row.
        shared = np.unique(bucket[1:][differ])
        begin = np.searchsorted(bucket, shared, side="left")
        end = np.searchsorted(bucket, shared, side="right")
        mixed = np.concatenate([np.arange(b, e) for b, e in zip(begin, end, strict=True)])
        within = order[mixed]
        moved = mixed[np.lexsort((within, offsets[within], hashes[within], bucket[mixed]))]
        field, value = field.copy(), value.copy()
        for column in (at, line, field, value):
            column[mixed] = column[moved]
        rows = order[moved]
        full, other = hashes[rows], second[rows]
        # Two ids with one 64-bit hash would merge: the second hash must agree too.
        if np.any((full[1:] == full[:-1]) & (other[1:] != other[:-1])):
            return None
        # Within those buckets a lead now starts where the full hash changes (rows moved
        # stayed in their bucket, whose first row starts a lead anyway).
        restart = np.ones(len(mixed), dtype=np.bool_)
        restart[1:] = (bucket[mixed[1:]] != bucket[mixed[:-1]]) | (full[1:] != full[:-1])
        starts[mixed] = restart
    del hashes, second, offsets, bucket, order
    first_rows = line[starts] - 2
    table = EventTable(
        lead=(np.cumsum(starts, dtype=np.int32) - 1),
        at=at,
        field=field,
        value=value,
        line=line,
        lead_ids=[],
        fields=field_names,
        values=value_names,
    )
    return GroupedEvents(table, ReadReport(lines, lines, []), leads, first_rows)
