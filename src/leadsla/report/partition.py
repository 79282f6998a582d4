"""A history larger than memory, on one machine: ``leadsla report`` and ``evaluate`` by
lead-hash partitions (``--memory-limit``, ``--partitions``).

The file is read once, by Polars' streaming engine, and split into temporary
partition files by the 64-bit Polars hash (seed 0) of each lead id, cut into equal
ranges: every event of a lead lands in one partition, in the file's order. Each
partition is then an events file like any other: worker processes (spawned, never
forked: Polars' threads and ``fork`` deadlock) read it with the one fast reader and
compute it with the one column path the in-memory report and evaluate use.

* The report: each worker returns a :class:`~.partials.ReportPartial` (tallies), and
  :func:`~.partials.merged` adds them up as they arrive: the same JSON to the byte.
* Evaluate: each worker writes its partition's clock rows (in lead-id order, as
  ``evaluate`` writes them); the rows of all partitions are then merged by lead id,
  which gives the in-memory output to the byte.

The partition files are plain CSV with the source's own text, not Parquet: each then
goes through exactly the reader, and checks, of the in-memory path. Partitions are for
plain machine exports: a file the fast reader does not take (quotes, bad rows, odd
instants), in whole or in one partition, is left to the in-memory path and its careful
reader, which reports each bad row with its line in the file (``None`` here).

How many partitions a memory limit allows: :func:`partition_plan` (``docs/scale.md``).
"""

from __future__ import annotations

import csv
import heapq
import math
import multiprocessing
import os
import tempfile
from collections.abc import Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO

import polars as pl

from leadsla.config import Config
from leadsla.core.events import EVENT_COLUMNS
from leadsla.core.policy import Rulebook
from leadsla.report.fast_reader import _header, _plain_lines, read_grouped_events
from leadsla.report.partials import ReportPartial, merged, report_partial
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import LeadEvents

GIB = 1 << 30
# Measured on the benchmark histories (``docs/benchmarks.md``, scale_bench.py), per
# byte of events CSV: a worker's peak while it computes a partition, and what the
# parent holds while it splits the file and merges the partials' tallies (0.46 GiB
# in all at 2 M leads, 1.27 GiB at 20 M, base included: 0.19 per byte, rounded up);
# plus each process's own base.
WORKER_BYTES_PER_FILE_BYTE = 6.0
MERGE_BYTES_PER_FILE_BYTE = 0.25
PROCESS_BASE_BYTES = 400 << 20
# The hash is cut into at most this many ranges.
MAX_PARTITIONS = 4096


class MemoryLimitError(ValueError):
    """The memory limit is below what the smallest plan needs."""


@dataclass(frozen=True)
class PartitionPlan:
    partitions: int
    workers: int


def parse_memory(text: str) -> int:
    """Bytes of a memory size: ``4GiB``, ``512MiB``, ``6G``, ``1.5GB`` or plain bytes
    (binary units: a G is a GiB)."""
    cleaned = text.strip().lower().replace(" ", "")
    units = {"": 1, "b": 1, "k": 1 << 10, "m": 1 << 20, "g": 1 << 30, "t": 1 << 40}
    number = cleaned.rstrip("bi")
    unit = number[-1:] if number[-1:].isalpha() else ""
    number = number[: len(number) - len(unit)]
    try:
        value = float(number)
    except ValueError:
        raise ValueError(f"{text!r} is not a memory size such as 4GiB or 512MiB") from None
    if unit not in units or value <= 0 or not math.isfinite(value):
        raise ValueError(f"{text!r} is not a memory size such as 4GiB or 512MiB")
    return int(value * units[unit])


def partition_plan(
    file_bytes: int,
    memory_limit: int,
    cores: int | None = None,
    *,
    merge_bytes_per_file_byte: float = MERGE_BYTES_PER_FILE_BYTE,
) -> PartitionPlan:
    """The partitions and worker processes for a file of ``file_bytes`` within
    ``memory_limit`` bytes: the parent holds the merged partials (the report's
    ``merge_bytes_per_file_byte``; evaluate merges rows as a stream: 0), each worker
    one partition at a time. As many workers as cores while each still gets room for a
    partition of at least 64 MiB of events; as few partitions as then fit."""
    cores = max(1, cores or os.cpu_count() or 1)
    merging = PROCESS_BASE_BYTES + merge_bytes_per_file_byte * file_bytes
    smallest = WORKER_BYTES_PER_FILE_BYTE * (64 << 20)
    for workers in range(min(cores, 8), 0, -1):
        room = (memory_limit - merging) / workers - PROCESS_BASE_BYTES
        if room >= smallest or (workers == 1 and room > 0):
            per_worker = WORKER_BYTES_PER_FILE_BYTE * file_bytes
            partitions = max(1, math.ceil(per_worker / room))
            return PartitionPlan(min(partitions, MAX_PARTITIONS), min(workers, partitions))
    need = merging + PROCESS_BASE_BYTES + smallest
    raise MemoryLimitError(
        f"a history of {file_bytes / GIB:.1f} GiB needs at least {need / GIB:.1f} GiB "
        "to be reported by partitions on one machine (docs/scale.md)"
    )


def split_events(path: Path, directory: Path, partitions: int) -> list[Path] | None:
    """The file's events split by lead-hash range into ``partitions`` CSV files in
    ``directory`` (the lowest hashes first; an empty range has no file), each row's
    text as in the file, in the file's order; ``None`` if the file is not plain."""
    header = _header(path)
    if header is None or not _plain_lines(path, len(header)):
        return None
    # The hash's ranges: part k holds the hashes [k * step, (k + 1) * step).
    step = min(-(-(1 << 64) // partitions), (1 << 64) - 1)
    part = pl.min_horizontal(
        pl.col("lead_id").hash(seed=0) // pl.lit(step, dtype=pl.UInt64),
        pl.lit(partitions - 1, dtype=pl.UInt64),
    ).alias("part")
    frame = pl.scan_csv(
        path,
        new_columns=header,
        infer_schema=False,
        quote_char=None,
        empty_string_is_null=False,
    ).select(EVENT_COLUMNS)
    try:
        frame.sink_csv(
            pl.PartitionBy(directory, key=part, include_key=False, approximate_bytes_per_file=None),
            quote_style="never",
            line_terminator="\n",
        )
    except (pl.exceptions.PolarsError, OSError):
        return None
    found = {int(folder.name.partition("=")[2]): folder for folder in directory.glob("part=*")}
    files: list[Path] = []
    for number in sorted(found):
        pieces = sorted(found[number].glob("*.csv"))
        if len(pieces) != 1:
            return None  # one file per partition is what this reads
        files.append(pieces[0])
    return files


def _pool(workers: int, config: Config) -> ProcessPoolExecutor:
    """Worker processes, spawned, each with the settings of ``config`` (built once per
    worker: the rulebook's calendars do not pickle, the config does).

    The workers do not keep their freed memory (:mod:`.heap`): measured on 1 M leads in
    two partitions, their CPU time was the same with it and without it
    (``docs/benchmarks.md``), and without it a worker gives a partition's memory back
    before the next one."""
    return ProcessPoolExecutor(
        max_workers=workers,
        mp_context=multiprocessing.get_context("spawn"),
        initializer=_worker_start,
        initargs=(config,),
    )


# The worker's settings, built by _worker_start.
_worker_settings: list[ReportSettings] = []


def _worker_start(config: Config) -> None:
    from leadsla.config import build_rulebook

    _worker_settings.append(ReportSettings.of(build_rulebook(config), config))


def _read(path: Path, rules: Rulebook) -> Any:
    return read_grouped_events(
        path,
        statuses=list(rules.statuses),
        grades=[g.name for g in rules.grades],
        acceptance=rules.acceptance,
    )


def report_part(path: Path, as_of: int) -> ReportPartial | None:
    """One partition's partial (``None``: the fast reader does not take the file)."""
    settings = _worker_settings[-1]
    grouped = _read(path, settings.rules)
    if grouped is None:
        return None
    from dataclasses import replace

    events = LeadEvents(replace(grouped.table, ordered=True), grouped.named)
    return report_partial(events, settings, as_of)


def partitioned_report(
    path: Path,
    settings: ReportSettings,
    as_of: int,
    period: str,
    plan: PartitionPlan,
    *,
    work_dir: Path | None = None,
) -> dict[str, Any] | None:
    """The report of an events file computed by partitions (``None``: the file is for
    the in-memory path, see the module docstring)."""
    with tempfile.TemporaryDirectory(prefix="leadsla-parts-", dir=work_dir) as scratch:
        files = split_events(path, Path(scratch), plan.partitions)
        if not files:
            return None
        with _pool(min(plan.workers, len(files)), settings.config) as pool:
            partials = list(pool.map(report_part, files, *_repeat(len(files), as_of)))
        if any(partial is None for partial in partials):
            return None
        # Handed over as an iterator: the merge lets each part's facts go once merged.
        return merged(_taken(partials), settings, as_of, period)


def _taken(partials: list[ReportPartial | None]) -> Iterator[ReportPartial]:
    """The partials, each dropped from the list as it is given."""
    partials.reverse()
    while partials:
        partial = partials.pop()
        assert partial is not None
        yield partial


def _repeat(count: int, *values: Any) -> list[list[Any]]:
    return [[value] * count for value in values]


@dataclass(frozen=True)
class ClockCounts:
    events: int
    leads: int
    rows: int


def clocks_part(path: Path, as_of: int, output: Path) -> ClockCounts | None:
    """One partition's clock rows written to ``output`` (header included), as
    ``evaluate`` writes them; ``None``: the fast reader does not take the file."""
    from leadsla.report.clocks_csv import write_clocks

    rules = _worker_settings[-1].rules
    grouped = _read(path, rules)
    if grouped is None:
        return None
    table = grouped.sorted()
    with output.open("w", encoding="utf-8", newline="") as out:
        rows = write_clocks(rules, table, as_of, out, jobs=1)
    return ClockCounts(len(table), len(table.lead_ids), rows)


def partitioned_clocks(
    path: Path,
    config: Config,
    as_of: int,
    out: TextIO,
    plan: PartitionPlan,
    *,
    work_dir: Path | None = None,
) -> ClockCounts | None:
    """Evaluate an events file by partitions, writing the clocks CSV to ``out``; the
    events, leads and rows (``None``: nothing written, the file is for the in-memory
    path)."""
    with tempfile.TemporaryDirectory(prefix="leadsla-parts-", dir=work_dir) as scratch:
        files = split_events(path, Path(scratch), plan.partitions)
        if not files:
            return None
        outputs = [file.with_name("clocks.csv") for file in files]
        with _pool(min(plan.workers, len(files)), config) as pool:
            counts = list(pool.map(clocks_part, files, *_repeat(len(files), as_of), outputs))
        if any(count is None for count in counts):
            return None
        for file in files:
            file.unlink()
        _merge_by_lead(outputs, out)
        done = [count for count in counts if count is not None]
        return ClockCounts(
            sum(c.events for c in done), sum(c.leads for c in done), sum(c.rows for c in done)
        )


def _merge_by_lead(outputs: Sequence[Path], out: TextIO) -> None:
    """The rows of the partitions' clocks CSVs (each in lead-id order, a lead in one
    of them) in lead-id order, under one header."""
    handles = [path.open(encoding="utf-8", newline="") for path in outputs]
    try:
        header = ""
        for handle in handles:
            header = handle.readline()
        out.write(header)
        out.writelines(heapq.merge(*handles, key=_lead_id))
    finally:
        for handle in handles:
            handle.close()


def _lead_id(line: str) -> str:
    """A clocks CSV line's lead id (its first field), by which the in-memory evaluate
    orders its rows (code point order); an id the writer quoted is read by :mod:`csv`."""
    if line.startswith('"'):
        return next(csv.reader([line]))[0]
    return line[: line.index(",")]
