"""``leadsla evaluate`` end to end on a large synthetic history, against a hand-built peer.

Generates (once, cached under ``bench-data/``) a shuffled history of N leads with
the example config's reps, runs ``leadsla evaluate`` as a user would, and reports
wall time, rows per second and the peak memory of that process. In the same run,
the peer is what a RevOps analyst scripts by hand: pandas reads the CSV, a
groupby finds each lead's first ``New`` and first follow-up status, and a
day-by-day business-hours loop (``peers.py``) measures the time between them.
The peer computes only that one figure (no cycles, pauses, grades, ladders or
owners) and is timed on a sample of leads, then scaled per lead.

    .venv/bin/python benchmarks/evaluate_bench.py                 # 1 M leads, ~5 M events
    .venv/bin/python benchmarks/evaluate_bench.py --leads 100000  # a quicker look
    .venv/bin/python benchmarks/evaluate_bench.py --config examples/leadsla.yaml \
        --config benchmarks/leadsla-v2.yaml --skip-peer          # two agreements, one run

Each ``--config`` is run in turn on the same history (``leadsla-v2.yaml``: the example's
agreement under the keys of SPEC §9.1-9.3); the peer, which knows only the example's
follow-up clock, runs once.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from datetime import UTC, date, datetime
from datetime import time as wall_time
from pathlib import Path
from zoneinfo import ZoneInfo

import holidays as holiday_data
import numpy as np
import pandas as pd

from leadsla.demo.generate import HistoryShape, write_history
from peers import DayByDayCalendar  # beside this script, which Python puts first on sys.path

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "examples" / "leadsla.yaml"
V2_CONFIG = ROOT / "benchmarks" / "leadsla-v2.yaml"
START = int(datetime(2026, 1, 5, 14, tzinfo=UTC).timestamp()) * 1_000_000
AS_OF = "2026-07-15T00:00:00Z"
STOP_STATUSES = {"Attempting to Contact", "Contacted", "Invalid Information"}


def history(leads: int, data_dir: Path) -> tuple[Path, float | None]:
    path = data_dir / f"history-{leads}.csv"
    if path.exists():
        return path, None
    data_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    with path.open("w", encoding="utf-8", newline="") as out:
        write_history(HistoryShape(leads=leads, start=START), out)
    return path, time.perf_counter() - began


def memory_kib(pid: int) -> int:
    """A process's proportional set size: its resident pages, each page it shares with
    n processes counted 1/n (so a tree's sum counts shared memory once). Its resident
    size where the kernel has no ``smaps_rollup``."""
    try:
        rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
        return int(rollup.split("\nPss:")[1].split()[0])
    except (OSError, IndexError, ValueError):
        status = Path(f"/proc/{pid}/status").read_text()
        return int(status.split("VmRSS:")[1].split()[0]) if "VmRSS:" in status else 0


def tree_memory_kib(pid: int) -> int:
    """Memory of a process and its descendants (workers, helpers), shared pages once."""
    total = 0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            total += memory_kib(current)
            for task in Path(f"/proc/{current}/task").iterdir():
                children = (task / "children").read_text().split()
                pending.extend(int(child) for child in children)
        except (OSError, IndexError, ValueError):
            continue
    return total


def run_measured(command: list[str], *, memory: bool = True) -> tuple[float, float]:
    """Wall time and peak memory (GiB, proportional set size) of a command's whole process
    tree (forked workers and helpers too), sampled every 0.1 s; without ``memory``, the
    wall time alone (and 0.0), the command undisturbed by the sampling."""
    began = time.perf_counter()
    process = subprocess.Popen(command)
    if not memory:
        process.wait()
    peak_kib = 0
    while process.poll() is None:
        peak_kib = max(peak_kib, tree_memory_kib(process.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - began
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command[:2])} failed with status {process.returncode}")
    return seconds, peak_kib / 1024 / 1024


def output_name(stem: str, leads: int, config: Path, suffix: str) -> str:
    """``clocks-1000000.csv`` for the example's config, ``clocks-1000000-<config>.csv``
    for another."""
    tail = "" if config.resolve() == CONFIG.resolve() else f"-{config.stem}"
    return f"{stem}-{leads}{tail}.{suffix}"


def run_evaluate(events: Path, output: Path, config: Path = CONFIG) -> tuple[float, float]:
    """Wall time and peak memory (GiB) of ``leadsla evaluate`` on a history."""
    return run_measured(
        [
            str(Path(sys.executable).with_name("leadsla")),
            "evaluate",
            "--config", str(config),
            "--events", str(events),
            "--as-of", AS_OF,
            "--output", str(output),
        ],
    )  # fmt: skip


def peer(events: Path, sample_leads: int) -> tuple[float, float, int]:
    """The hand-built script: pandas + a day-by-day loop. Returns read s, per-lead µs, leads."""
    began = time.perf_counter()
    frame = pd.read_csv(events, dtype=str)
    read_seconds = time.perf_counter() - began
    zone = ZoneInfo("America/New_York")
    years = range(2025, 2028)
    closed: set[date] = set()
    for year in years:
        closed |= set(holiday_data.country_holidays("US", subdiv="NY", years=year))
    closed.add(date(2026, 12, 24))
    windows = [(wall_time(9), wall_time(12)), (wall_time(13), wall_time(17))]
    loop = DayByDayCalendar(zone, {d: windows for d in range(5)}, closed)

    began = time.perf_counter()
    status = frame[frame["field"] == "status"].copy()
    wanted = status["lead_id"].drop_duplicates().iloc[:sample_leads]
    status = status[status["lead_id"].isin(set(wanted))]
    status["at"] = pd.to_datetime(status["at"], utc=True, format="ISO8601")
    status = status.sort_values(["lead_id", "at"])
    new = status[status["value"] == "New"].groupby("lead_id")["at"].min()
    stop = status[status["value"].isin(STOP_STATUSES)].groupby("lead_id")["at"].min()
    pairs = pd.concat({"new": new, "stop": stop}, axis=1).dropna()
    seconds = [
        loop.elapsed(a.to_pydatetime(), b.to_pydatetime()).total_seconds()
        for a, b in zip(pairs["new"], pairs["stop"], strict=True)
    ]
    work_seconds = time.perf_counter() - began
    assert len(seconds) == len(pairs)
    return read_seconds, work_seconds / len(wanted) * 1e6, len(wanted)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--peer-leads", type=int, default=20_000)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench-data")
    parser.add_argument(
        "--config",
        type=Path,
        action="append",
        help="agreement to evaluate (repeat for several, run in turn); default: the example's",
    )
    parser.add_argument("--skip-peer", action="store_true", help="time leadsla only")
    args = parser.parse_args()
    configs: list[Path] = args.config or [CONFIG]

    print(f"python {platform.python_version()}, numpy {np.__version__}, pandas {pd.__version__}")
    print(f"machine: {os.cpu_count()} cores, {platform.machine()}")
    events, generated = history(args.leads, args.data_dir)
    rows = sum(1 for _ in events.open(encoding="utf-8")) - 1
    size_mb = events.stat().st_size / 1e6
    made = f"generated in {generated:.1f} s" if generated is not None else "cached"
    print(f"history: {args.leads:,} leads, {rows:,} events, {size_mb:,.0f} MB ({made})")

    timed: list[tuple[Path, float, float, int]] = []
    for config in configs:
        output = args.data_dir / output_name("clocks", args.leads, config, "csv")
        seconds, peak_gib = run_evaluate(events, output, config)
        cycles = sum(1 for _ in output.open(encoding="utf-8")) - 1
        timed.append((config, seconds, peak_gib, cycles))
    print()
    print("| implementation | work | wall time (s) | events/s | per lead | peak memory |")
    print("| --- | --- | ---: | ---: | ---: | ---: |")
    for config, seconds, peak_gib, cycles in timed:
        print(
            f"| leadsla evaluate ({config.name}) | every clock cycle ({cycles:,} rows), all rules "
            f"| {seconds:.1f} | {rows / seconds:,.0f} | {seconds / args.leads * 1e6:.1f} µs "
            f"| {peak_gib:.2f} GiB |"
        )
    seconds = timed[0][1]
    met = all(s < 60 and peak < 4 for _, s, peak, _ in timed)
    if args.skip_peer:
        print()
        print(
            "targets: under 60 s and 4 GiB at 1 M leads / 5 M events; "
            f"{'met' if met else 'MISSED'} at this size; peer skipped"
        )
        return
    read_seconds, per_lead_us, sampled = peer(events, args.peer_leads)
    projected = read_seconds + per_lead_us * args.leads / 1e6
    print(
        f"| pandas + day-by-day loop (peer) | follow-up time only; timed on {sampled:,} leads, "
        f"scaled | {projected:.1f} (read {read_seconds:.1f}) | {rows / projected:,.0f} "
        f"| {per_lead_us:.1f} µs | n/a |"
    )
    print()
    print(
        f"leadsla ({timed[0][0].name}) is {projected / seconds:.1f}× the peer's projected time, "
        "doing more work"
    )
    print(
        "targets: under 60 s and 4 GiB at 1 M leads / 5 M events; "
        f"{'met' if met else 'MISSED'} at this size"
    )


if __name__ == "__main__":
    main()
