"""Ingest speed with clocks kept live: the REST API, `leadsla import`, and one lead's clocks.

For each database (a SQLite file; a throwaway PostgreSQL 15 server, as the tests
start it) this runs, on a synthetic shuffled history from ``leadsla.demo.generate``:

1. ``leadsla import`` of the whole file (the CLI, as a user runs it);
2. ``POST /api/v1/events`` in batches of 500 against ``leadsla serve`` on
   loopback, one client, of a second history (new leads, so every event is
   stored and every clock moves);
3. ``GET /api/v1/clocks?lead_id=…`` for random stored leads: median and p95.

    .venv/bin/python benchmarks/ingest_bench.py                  # 100,000 leads
    .venv/bin/python benchmarks/ingest_bench.py --leads 1000000  # the 1 M-lead lookup
    .venv/bin/python benchmarks/ingest_bench.py --only import    # the import alone, with CPU

The import's CPU seconds are those of the CLI and its forked workers (a
PostgreSQL server's own work is not counted): steadier than events/s on a
machine shared with other work.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import resource
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from leadsla.demo.generate import HistoryShape, write_history  # noqa: E402
from postgres import ThrowawayPostgres  # noqa: E402  (the tests' throwaway server)

CONFIG = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
START = int(datetime(2026, 1, 5, 14, tzinfo=UTC).timestamp()) * 1_000_000
BATCH = 500


def history(path: Path, leads: int, seed: int, prefix: str) -> int:
    with path.open("w", encoding="utf-8", newline="") as out:
        count = write_history(HistoryShape(leads=leads, start=START, seed=seed), out)
    if prefix != "L":
        text = path.read_text(encoding="utf-8").replace("\nL", f"\n{prefix}")
        path.write_text(text, encoding="utf-8")
    return count


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def run_import(url: str, events: Path) -> tuple[float, float]:
    """Wall seconds, and CPU seconds of the CLI with its workers."""
    before = _children_cpu()
    began = time.perf_counter()
    subprocess.run(
        [LEADSLA, "import", "--config", str(CONFIG), "--database", url, str(events)],
        check=True,
        capture_output=True,
    )
    return time.perf_counter() - began, _children_cpu() - before


def _children_cpu() -> float:
    # Waited-for descendants: the CLI, and the workers it forked and reaped.
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def serve(url: str, port: int) -> subprocess.Popen[bytes]:
    server = subprocess.Popen(
        [LEADSLA, "serve", "--config", str(CONFIG), "--database", url, "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/api/v1/health", timeout=1).status_code == 200:
                return server
        except httpx.HTTPError:
            time.sleep(0.2)
    server.kill()
    raise SystemExit("leadsla serve did not come up")


def token(url: str) -> str:
    done = subprocess.run(
        [LEADSLA, "token", "create", "--config", str(CONFIG), "--database", url,
         "--role", "admin", "--name", "bench"],
        check=True, capture_output=True, text=True,
    )  # fmt: skip
    return done.stdout.strip()


def run_api(url: str, events: Path) -> tuple[float, int]:
    with events.open(encoding="utf-8", newline="") as handle:
        rows = [
            {"lead_id": r["lead_id"], "at": r["at"], "field": r["field"], "value": r["value"]}
            for r in csv.DictReader(handle)
        ]
    # Live traffic arrives as things happen: in time order (late events are the exception).
    rows.sort(key=lambda r: r["at"])
    port = free_port()
    server = serve(url, port)
    headers = {"Authorization": f"Bearer {token(url)}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            began = time.perf_counter()
            for start in range(0, len(rows), BATCH):
                batch = rows[start : start + BATCH]
                answer = client.post("/api/v1/events", json=batch, timeout=120)
                answer.raise_for_status()
            return time.perf_counter() - began, len(rows)
    finally:
        server.terminate()
        server.wait(timeout=30)


def run_lookups(url: str, leads: int, samples: int) -> list[float]:
    port = free_port()
    server = serve(url, port)
    headers = {"Authorization": f"Bearer {token(url)}"}
    rng = random.Random(5)
    timings: list[float] = []
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers) as client:
            for _ in range(samples):
                lead = f"L{rng.randint(1, leads):07d}"
                began = time.perf_counter()
                answer = client.get(
                    "/api/v1/clocks", params={"lead_id": lead, "as_of": "2026-07-15T00:00:00Z"}
                )
                timings.append(time.perf_counter() - began)
                answer.raise_for_status()
                assert answer.json(), f"no clocks for {lead}"
    finally:
        server.terminate()
        server.wait(timeout=30)
    return timings


@contextmanager
def database(name: str, work: Path) -> Iterator[str]:
    """The URL of a new SQLite file in ``work``, or of a throwaway PostgreSQL server's database."""
    if name == "sqlite":
        yield f"sqlite:///{work / 'bench.db'}"
        return
    server = ThrowawayPostgres()
    server.start()
    try:
        yield server.create_database("leadsla_bench")
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=100_000, help="leads imported")
    parser.add_argument("--api-leads", type=int, default=4_000, help="leads sent through the API")
    parser.add_argument("--lookups", type=int, default=200)
    parser.add_argument("--databases", default="sqlite,postgresql")
    parser.add_argument(
        "--only", choices=["import"], help="run only this part (the API and lookups skipped)"
    )
    args = parser.parse_args()
    if args.only == "import":
        import_only(args.leads, args.databases.split(","))
        return

    work = Path(tempfile.mkdtemp(prefix="leadsla-ingest-"))
    imported = work / "import.csv"
    sent = work / "api.csv"
    n_import = history(imported, args.leads, 11, "L")
    n_api = history(sent, args.api_leads, 12, "A")
    print(f"cores: {os.cpu_count()}; import file: {args.leads:,} leads, {n_import:,} events; "
          f"API: {args.api_leads:,} leads, {n_api:,} events in batches of {BATCH}")  # fmt: skip
    print()
    print("| database | import events/s | API events/s | GET /clocks one lead: median | p95 |")
    print("| --- | ---: | ---: | ---: | ---: |")
    for name in args.databases.split(","):
        with database(name, work) as url:
            import_seconds, _cpu = run_import(url, imported)
            api_seconds, api_events = run_api(url, sent)
            lookups = sorted(run_lookups(url, args.leads, args.lookups))
            p95 = lookups[int(0.95 * (len(lookups) - 1))]
            print(
                f"| {name} | {n_import / import_seconds:,.0f} | {api_events / api_seconds:,.0f} "
                f"| {statistics.median(lookups) * 1000:.1f} ms | {p95 * 1000:.1f} ms |"
            )
    print()
    print("targets: API ≥ 5,000 events/s, import ≥ 50,000 events/s, one lead's clocks < 20 ms "
          "at 1 M leads stored")  # fmt: skip


def import_only(leads: int, databases: list[str]) -> None:
    work = Path(tempfile.mkdtemp(prefix="leadsla-ingest-"))
    imported = work / "import.csv"
    n_import = history(imported, leads, 11, "L")
    print(f"cores: {os.cpu_count()}; import file: {leads:,} leads, {n_import:,} events")
    print()
    print("| database | import events/s | wall | CPU (CLI + workers) |")
    print("| --- | ---: | ---: | ---: |")
    for name in databases:
        with database(name, work) as url:
            seconds, cpu = run_import(url, imported)
            print(f"| {name} | {n_import / seconds:,.0f} | {seconds:.2f} s | {cpu:.2f} s |")


if __name__ == "__main__":
    main()
