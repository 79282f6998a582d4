"""``leadsla report`` and ``evaluate`` past one machine's memory: in memory against by
lead-hash partitions (``--memory-limit``), on 2 M, 5 M and 20 M-lead histories.

Generates (once, cached under ``/work/bench-data/`` or ``--data-dir``) each history with
the demo generator (``leadsla.demo.generate``) in blocks of a million leads: the
generator holds a block's text columns in memory (about 2.3 GiB per million leads), so
a 20 M-lead history is twenty blocks, each its own seed and lead-id prefix
(``L00…``, ``L01…``), the rows shuffled within a block. Then for each size and each
way of running, a subprocess as a user runs it: wall time and peak memory of its whole
process tree (proportional set size, pages shared between processes counted once,
sampled every 0.1 s; the sampling costs the run a little).

    .venv/bin/python benchmarks/scale_bench.py --generate-only             # the histories
    .venv/bin/python benchmarks/scale_bench.py --sizes 2000000,5000000     # the figures
    .venv/bin/python benchmarks/scale_bench.py --sizes 20000000 --skip-memory-path

``--runs`` names the ways to run (default ``memory,partitioned``): ``memory`` is the
report as today, ``partitioned`` adds ``--memory-limit`` (default 4GiB), ``spark`` runs
``--engine spark`` in local mode (and ``evaluate-`` before each, the same for evaluate):

    .venv/bin/python benchmarks/scale_bench.py --sizes 200000,1000000 \
        --runs memory,spark,evaluate-memory,evaluate-spark --compare
"""

from __future__ import annotations

import argparse
import io
import os
import platform
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from evaluate_bench import AS_OF, START, memory_kib, tree_memory_kib
from leadsla.demo.generate import HistoryShape, write_history

ROOT = Path(__file__).resolve().parents[1]
CONFIG = ROOT / "benchmarks" / "leadsla-v2.yaml"
DATA_DIR = Path("/work/bench-data")
BLOCK_LEADS = 1_000_000
SIZES = (2_000_000, 5_000_000, 20_000_000)


def history(leads: int, data_dir: Path) -> tuple[Path, float | None]:
    """The cached history of ``leads`` leads (generated now if missing) and the seconds
    its generation took (``None``: it was cached)."""
    path = data_dir / f"scale-{leads}.csv"
    if path.exists():
        return path, None
    data_dir.mkdir(parents=True, exist_ok=True)
    began = time.perf_counter()
    partial = path.with_suffix(".csv.part")
    with partial.open("w", encoding="utf-8", newline="") as out:
        for block, first in enumerate(range(0, leads, BLOCK_LEADS)):
            size = min(BLOCK_LEADS, leads - first)
            buffer = io.StringIO()
            write_history(HistoryShape(leads=size, start=START, seed=1 + block), buffer)
            text = buffer.getvalue()
            del buffer
            # Each block numbers its leads from 1: a block prefix keeps the ids apart.
            header, _, rows = text.partition("\n")
            if block == 0:
                out.write(header + "\n")
            out.write(("\n" + rows).replace("\nL", f"\nL{block:02d}")[1:])
            del text, rows
    partial.rename(path)
    return path, time.perf_counter() - began


@dataclass(frozen=True)
class Measured:
    seconds: float
    cpu_seconds: float  # user + system, the command's process and every worker it waited for
    peak_gib: float  # the whole process tree's proportional set size
    parent_peak_gib: float  # the command's own process (the merge, for partitions)


def measured(command: list[str]) -> Measured:
    """Wall and CPU time and peak memory of a command's process tree (sampled every
    0.1 s). CPU time is the steadier figure on a shared machine."""
    began = time.perf_counter()
    process = subprocess.Popen(command)
    peak = parent = 0
    while True:
        pid, status, usage = os.wait4(process.pid, os.WNOHANG)
        if pid:
            break
        peak = max(peak, tree_memory_kib(process.pid))
        parent = max(parent, memory_kib(process.pid))
        time.sleep(0.1)
    seconds = time.perf_counter() - began
    process.returncode = os.waitstatus_to_exitcode(status)
    if process.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed with status {process.returncode}")
    cpu = usage.ru_utime + usage.ru_stime
    return Measured(seconds, cpu, peak / 1024 / 1024, parent / 1024 / 1024)


def leadsla(*args: str) -> list[str]:
    return [sys.executable, "-m", "leadsla.cli", *args]


def cli_run(verb: str, extra: list[str]) -> Callable[[Path, Path, Path], list[str]]:
    """The command of ``leadsla <verb>`` for a config, events file and output."""

    def command(config: Path, events: Path, output: Path) -> list[str]:
        return leadsla(
            verb, "--config", str(config), "--events", str(events), "--as-of", AS_OF,
            "--output", str(output), *extra,
        )  # fmt: skip

    return command


def runs(memory_limit: str) -> dict[str, tuple[str, Callable[[Path, Path, Path], list[str]]]]:
    """Each way of running, by name: (its label, its command for a config, events file
    and output). ``spark`` and ``evaluate-spark``: ``--engine spark`` in Spark's local
    mode on every core (the JVM and its Python workers are in the measured tree)."""
    partitioned = ["--memory-limit", memory_limit]
    spark = ["--engine", "spark", "--spark-master", f"local[{os.cpu_count() or 1}]"]
    return {
        "spark": ("report, --engine spark (local mode)", cli_run("report", spark)),
        "evaluate-spark": ("evaluate, --engine spark (local mode)", cli_run("evaluate", spark)),
        "memory": ("report, in memory", cli_run("report", [])),
        "partitioned": (f"report, --memory-limit {memory_limit}", cli_run("report", partitioned)),
        "evaluate-memory": ("evaluate, in memory", cli_run("evaluate", [])),
        "evaluate-partitioned": (
            f"evaluate, --memory-limit {memory_limit}",
            cli_run("evaluate", partitioned),
        ),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--sizes",
        default=",".join(str(size) for size in SIZES),
        help="comma list of lead counts",
    )
    parser.add_argument("--data-dir", type=Path, default=DATA_DIR)
    parser.add_argument("--generate-only", action="store_true", help="make the histories, stop")
    parser.add_argument("--runs", default="memory,partitioned", help="comma list, see RUNS")
    parser.add_argument("--memory-limit", default="4GiB")
    parser.add_argument("--config", type=Path, default=CONFIG)
    parser.add_argument(
        "--compare", action="store_true", help="check that the runs' outputs are the same bytes"
    )
    args = parser.parse_args()
    # Spark starts its Python workers with PYSPARK_PYTHON, else the first python3 on
    # the PATH, which need not have leadsla's dependencies: this one has.
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    sizes = [int(text) for text in args.sizes.split(",") if text]
    print(f"python {platform.python_version()}, machine: {os.cpu_count()} cores", flush=True)
    for leads in sizes:
        path, generated = history(leads, args.data_dir)
        made = f"generated in {generated:.0f} s" if generated is not None else "cached"
        print(f"{path}: {path.stat().st_size / 1e6:,.0f} MB ({made})", flush=True)
    if args.generate_only:
        return
    chosen = runs(args.memory_limit)
    names = [name for name in args.runs.split(",") if name]
    unknown = [name for name in names if name not in chosen]
    if unknown:
        raise SystemExit(f"--runs: unknown {unknown}; known: {', '.join(chosen)}")
    print()
    print(
        "| leads | run | wall (s) | CPU user + sys (s) | peak memory (GiB PSS) "
        "| of which the parent | CPU µs per lead |"
    )
    print("| ---: | --- | ---: | ---: | ---: | ---: | ---: |")
    for leads in sizes:
        events, _ = history(leads, args.data_dir)
        outputs: dict[str, Path] = {}
        for name in names:
            label, command = chosen[name]
            suffix = "csv" if name.startswith("evaluate") else "json"
            output = args.data_dir / f"scale-out-{leads}-{name}.{suffix}"
            result = measured(command(args.config, events, output))
            outputs[name] = output
            print(
                f"| {leads:,} | {label} | {result.seconds:.1f} | {result.cpu_seconds:.1f} "
                f"| {result.peak_gib:.2f} | {result.parent_peak_gib:.2f} "
                f"| {result.cpu_seconds / leads * 1e6:.1f} |",
                flush=True,
            )
        if args.compare:
            for kind in ("", "evaluate-"):
                for other in ("partitioned", "spark"):
                    pair = [outputs.get(f"{kind}memory"), outputs.get(f"{kind}{other}")]
                    if pair[0] is not None and pair[1] is not None:
                        same = pair[0].read_bytes() == pair[1].read_bytes()
                        print(f"{leads:,} {kind or 'report-'}{other} byte-identical: {same}")


if __name__ == "__main__":
    main()
