"""The worker: finding due timers among 1 M open clocks; emails per second with 1, 2, 4 workers.

1. **Scan.** 1,000,000 open clock cycles with random ``next_timer_at`` are written
   straight into the table; then the worker's due-timer query (``next_timer_at <=
   now``, oldest first, 1,000 at a time) and its wake-up query are timed.
2. **Delivery.** N leads whose ladders are all due are fired into the outbox, then
   1, 2 or 4 running ``leadsla worker`` processes (not ``--once``: the loop that
   serves production) drain that queued backlog to a real SMTP server on loopback
   (aiosmtpd, in this process). Emails per second over the wall clock from start-up
   to the last email, and over the steady part (first email to last), which leaves
   out the processes' start-up. Each message is still its own commit.

Both on a SQLite file and on a throwaway PostgreSQL 15 server.

    .venv/bin/python benchmarks/worker_bench.py [--emails 2000] [--no-scan]
"""

from __future__ import annotations

import argparse
import json
import random
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller
from sqlalchemy import select

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from leadsla.config import build_rulebook, load_config  # noqa: E402
from leadsla.core.events import parse_instant  # noqa: E402
from leadsla.service.ingest import IncomingEvent, ingest  # noqa: E402
from leadsla.service.timers import fire_due_timers, next_wake  # noqa: E402
from leadsla.store.bulk import insert_rows  # noqa: E402
from leadsla.store.database import open_database  # noqa: E402
from leadsla.store.tables import clock_cycles  # noqa: E402
from postgres import ThrowawayPostgres  # noqa: E402  (the tests' throwaway server)

CONFIG = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
START = parse_instant("2026-03-02T09:00:00-05:00")
HOUR = 3_600_000_000


class Counter:
    def __init__(self) -> None:
        self.count = 0
        self.first = 0.0
        self.last = 0.0

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        self.last = time.perf_counter()
        if not self.first:
            self.first = self.last
        self.count += 1
        return "250 OK"


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def scan(url: str, cycles: int) -> tuple[float, float, float]:
    engine = open_database(url)
    rng = random.Random(3)
    columns = ("lead_id", "policy", "cycle", "calendar", "started_at", "open", "next_timer_at",
               "facts")  # fmt: skip
    facts = json.dumps({"segments": [], "grades": [], "owners": []})
    began = time.perf_counter()
    with engine.begin() as connection:
        for start in range(0, cycles, 100_000):
            rows = [
                (f"S{i:07d}", "follow_up", 1, "us-east", START, 1,
                 START + rng.randrange(0, 2000) * HOUR, facts)
                for i in range(start, min(start + 100_000, cycles))
            ]  # fmt: skip
            insert_rows(connection, clock_cycles, columns, rows)
    if engine.dialect.name == "postgresql":
        with engine.begin() as connection:
            connection.exec_driver_sql("ANALYZE clock_cycles")
    load = time.perf_counter() - began
    now = START + 1000 * HOUR  # about half of the clocks are due
    query = (
        select(clock_cycles.c.lead_id, clock_cycles.c.policy, clock_cycles.c.cycle)
        .where(clock_cycles.c.next_timer_at <= now)
        .order_by(clock_cycles.c.next_timer_at)
        .limit(1000)
    )
    due_times: list[float] = []
    wake_times: list[float] = []
    with engine.connect() as connection:
        for _ in range(20):
            began = time.perf_counter()
            rows = connection.execute(query).all()
            due_times.append(time.perf_counter() - began)
            assert len(rows) == 1000
            began = time.perf_counter()
            next_wake(connection)
            wake_times.append(time.perf_counter() - began)
    engine.dispose()
    return load, statistics.median(due_times), statistics.median(wake_times)


def delivery(
    url: str, leads: int, workers: int, config: Path, counter: Counter
) -> tuple[int, float, float]:
    """Emails, wall seconds from start-up to the last email, seconds first to last."""
    rules = build_rulebook(load_config(config))
    engine = open_database(url)
    rows = [
        IncomingEvent(f"D{i:05d}", START, name, value, f"d{i}:{name}")
        for i in range(leads)
        for name, value in (("status", "New"), ("grade", "A"), ("owner", "r1"))
    ]
    now = "2026-03-05T10:00:00-05:00"  # the whole ladder of every lead is due
    with engine.begin() as connection:
        ingest(connection, rules, rows, source="bench", recorded_at=START)
    # Fire everything first, so that the timing below is delivery alone.
    with engine.begin() as connection:
        fire_due_timers(connection, rules, parse_instant(now), max_delay=30 * 24 * HOUR)
    engine.dispose()
    emails = leads * 5
    expected = counter.count + emails
    counter.first = 0.0
    command = [LEADSLA, "worker", "--config", str(config), "--database", url, "--now", now]
    began = time.perf_counter()
    processes = [subprocess.Popen(command, stderr=subprocess.DEVNULL) for _ in range(workers)]
    try:
        deadline = began + 600
        while counter.count < expected:
            if time.perf_counter() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"{counter.count - expected + emails} of {emails} delivered")
            time.sleep(0.01)
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            process.wait(timeout=60)
    return emails, counter.last - began, counter.last - counter.first


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cycles", type=int, default=1_000_000)
    parser.add_argument("--emails", type=int, default=2000, help="backlog per delivery run")
    parser.add_argument("--no-scan", action="store_true", help="skip the 1 M-clock scan")
    parser.add_argument("--databases", default="sqlite,postgresql")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="leadsla-worker-"))
    counter = Counter()
    port = free_port()
    controller = Controller(counter, hostname="127.0.0.1", port=port)
    controller.start()
    config = work / "leadsla.yaml"
    text = CONFIG.read_text(encoding="utf-8").replace("port: 8025", f"port: {port}")
    config.write_text(text.rstrip("\n") + "\n  max_delay: 30 days\n", encoding="utf-8")
    print("| database | open clocks | due-timer query (1,000 due) | wake-up query | load |")
    print("| --- | ---: | ---: | ---: | ---: |")
    results: list[str] = []
    try:
        for name in args.databases.split(","):
            server: ThrowawayPostgres | None = None
            if name == "postgresql":
                server = ThrowawayPostgres()
                server.start()

            def fresh(label: str, server: ThrowawayPostgres | None = server) -> str:
                if server is None:
                    return f"sqlite:///{work / (label + '.db')}"
                return server.create_database(label)

            try:
                if not args.no_scan:
                    load, due, wake = scan(fresh(f"scan_{name}"), args.cycles)
                    print(f"| {name} | {args.cycles:,} | {due * 1000:.2f} ms "
                          f"| {wake * 1000:.2f} ms | {load:.1f} s |")  # fmt: skip
                for workers in (1, 2, 4):
                    before = counter.count
                    emails, wall, steady = delivery(
                        fresh(f"mail_{name}_{workers}"), args.emails // 5, workers, config, counter
                    )
                    # Nothing more arrives after the workers are stopped: exactly once each.
                    delivered = counter.count - before
                    assert delivered == emails, f"{delivered} delivered of {emails}"
                    results.append(
                        f"| {name} | {workers} | {emails:,} | {wall:.1f} s | {emails / wall:,.0f} "
                        f"| {steady:.1f} s | {emails / steady:,.0f} |"
                    )
            finally:
                if server is not None:
                    server.stop()
    finally:
        controller.stop()
    print()
    print("| database | workers | emails (each exactly once) | wall time | emails/s "
          "| first to last email | emails/s |")  # fmt: skip
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for line in results:
        print(line)
    print()
    print("targets: the due-timer query under 50 ms at 1 M open clocks; "
          ">= 300 emails/s with 4 workers on PostgreSQL")  # fmt: skip


if __name__ == "__main__":
    main()
