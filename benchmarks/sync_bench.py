"""Backfill speed of ``leadsla sync`` from Salesforce: leads per minute, against the local
HTTPS Salesforce of the tests (tests/crm_server.py) on loopback.

The org is synthetic (tests/crm_org.py): each lead with its history (status, owner and
rating changes) and 0 to 3 tasks. The first sync of an empty database reads it all with
Bulk API 2.0 query jobs (CSV pages of 50,000 records), converts every record through the
export connectors, and stores the events with the leads' clocks; the figure is leads
over the wall time of that sync (the CLI, as a user runs it: sign-in, three query jobs,
conversion, storing, the watermark). Then an incremental sync with nothing new, with the
first write-back of every lead's SLA fields (sObject Collections, 200 a call), and one more
with nothing to write.

    .venv/bin/python benchmarks/sync_bench.py                 # 50,000 leads, SQLite
    .venv/bin/python benchmarks/sync_bench.py --leads 20000

The server runs in this process's threads while the CLI runs in its own process, so the
two share the machine as a CRM and leadsla do not; the figure is a floor.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

from crm_org import HOUR, Org  # noqa: E402
from crm_server import CLIENT_ID, CLIENT_SECRET, CrmState, running_salesforce  # noqa: E402
from crm_setup import sync_config  # noqa: E402
from leadsla.core.events import parse_instant  # noqa: E402

LEADSLA = str(Path(sys.executable).with_name("leadsla"))
START = parse_instant("2026-03-02T08:00:00Z")


def config_for(folder: Path, url: str) -> Path:
    sync = {"login_url": url, "bulk_poll_seconds": 0.2}
    return sync_config(folder, "salesforce", sync, writeback="follow_up")


def timed_sync(
    config: Path, database: str, now: int, env: dict[str, str], *options: str
) -> tuple[float, str]:
    at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(now // 1_000_000))
    command = [LEADSLA, "sync", "--config", str(config), "--database", database, "--now", at]
    command.extend(options)
    started = time.perf_counter()
    done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"leadsla sync failed:\n{done.stderr}")
    return elapsed, done.stdout.strip()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=50_000)
    args = parser.parse_args()
    org = Org(args.leads, start=START, span=30 * 24 * HOUR, seed=3)
    final = org.end + HOUR
    state = CrmState(org, final)
    state.view()  # the org's records made before the clock starts
    with (
        tempfile.TemporaryDirectory() as folder,
        running_salesforce(state, Path(folder)) as (
            url,
            cert,
        ),
    ):
        config = config_for(Path(folder), url)
        database = f"sqlite:///{Path(folder) / 'sync.db'}"
        env = {
            **os.environ,
            "LEADSLA_SALESFORCE_CLIENT_ID": CLIENT_ID,
            "LEADSLA_SALESFORCE_CLIENT_SECRET": CLIENT_SECRET,
            "REQUESTS_CA_BUNDLE": str(cert),
        }
        records = sum(len(rows) for rows in state.view().values())
        seconds, summary = timed_sync(config, database, final, env, "--no-writeback")
        print(f"backfill: {args.leads:,} leads ({records:,} records) in {seconds:.1f} s")
        print(f"  {args.leads / seconds * 60:,.0f} leads per minute")
        print(f"  {summary}")
        seconds, summary = timed_sync(config, database, final + HOUR, env)
        print(f"incremental sync, nothing new, first write-back: {seconds:.1f} s  {summary}")
        seconds, summary = timed_sync(config, database, final + 2 * HOUR, env)
        print(f"incremental sync, nothing new, nothing to write: {seconds:.1f} s  {summary}")


if __name__ == "__main__":
    main()
