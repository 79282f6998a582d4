"""The live queues' reads as the dashboard makes them, timed in process: At risk (the
admin's, a manager's, a rep's), Breached, and a rep's overview counts, on a demo
built by ``pages_bench.py`` (``<data-dir>/demo-<size>/``), at the current instant.

Best of ``--repeat`` runs per read, wall and CPU time of this process (a PostgreSQL
server's own CPU is not in it). The code timed is whatever ``leadsla`` imports, so the
same command with ``PYTHONPATH`` on an older tree's ``src`` times that tree (on a copy
of the database at that tree's schema revision).

    PYTHONPATH=src .venv/bin/python benchmarks/queues_bench.py --demo bench-data/demo-200000
        [--database postgresql+psycopg://…] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from leadsla.bootstrap import now_micros
from leadsla.config import build_rulebook, load_config
from leadsla.core.columns import MICROS_PER_HOUR
from leadsla.service.queries import Scope, lead_list
from leadsla.service.tokens import Principal, Role
from leadsla.store.database import open_database
from leadsla.web.figures import first_open_status, overview_counts

WINDOW = 8 * MICROS_PER_HOUR  # the At risk page's default
PAGE = 200  # its rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--demo", type=Path, required=True)
    parser.add_argument("--database", help="default: the demo's SQLite file")
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rules = build_rulebook(load_config(args.demo / "leadsla.yaml"))
    engine = open_database(args.database or f"sqlite:///{args.demo / 'leadsla.db'}")
    now = now_micros()
    east = Scope(frozenset(rules.teams["east"].reps))
    maya = Scope(frozenset({"maya"}))
    rep = Principal("Maya Chen", Role.REP, rep="maya", team="east")
    untouched = first_open_status(rules)
    reads: dict[str, Callable[[Any], Any]] = {
        "admin at risk": lambda c: lead_list(c, rules, now, at_risk_within=WINDOW, limit=PAGE),
        "manager at risk": lambda c: lead_list(
            c, rules, now, scope=east, at_risk_within=WINDOW, limit=PAGE
        ),
        "rep at risk": lambda c: lead_list(
            c, rules, now, scope=maya, at_risk_within=WINDOW, limit=PAGE
        ),
        "admin breached": lambda c: lead_list(
            c, rules, now, status=untouched, breached=True, limit=PAGE
        ),
        "rep overview counts": lambda c: overview_counts(c, rules, rep, now),
    }
    print(f"{args.demo.name}; {engine.dialect.name}; load {os.getloadavg()[0]:.1f}")
    with engine.connect() as connection:
        for name, read in reads.items():
            best: tuple[float, float] | None = None
            for _ in range(args.repeat):
                wall, cpu = time.perf_counter(), time.process_time()
                found = read(connection)
                timing = (time.perf_counter() - wall, time.process_time() - cpu)
                best = timing if best is None or timing[1] < best[1] else best
            assert best is not None
            shown = len(found) if isinstance(found, list) else found[0]
            print(f"  {name:20s} wall {best[0]:5.2f} s  cpu {best[1]:5.2f} s  {shown}")
    print(f"load after: {os.getloadavg()[0]:.1f}")
    engine.dispose()


if __name__ == "__main__":
    main()
