"""The dashboard at scale: each page's load time in Chromium, and an ingest POST while
pages load, on the demo company at 200,000 leads (or ``--size``).

1. The demo company is built once into ``bench-data/demo-<size>/`` (``leadsla demo
   --no-serve``: config, history, SQLite file, tokens); ``--database`` copies it into
   a PostgreSQL URL instead (``leadsla import``).
2. One ``leadsla worker --once`` writes the report snapshots the pages read.
3. ``leadsla serve`` runs on a free loopback port; headless Chromium (Playwright, Debian's
   /usr/bin/chromium) logs in as the admin, the east manager and a rep and loads each
   page ``--repeat`` times; the time is navigation start to the load event.
4. While an admin loads the overview in a loop, one-event ``POST /api/v1/events``
   requests are timed: an ingest must not wait on a page.

Prints median and p95 per page and role, and the POST latencies. The peer is the same
server without snapshots (``--baseline``: pages compute the report on each load, as
before snapshots; minutes at 200,000 leads, so one load per page).

    .venv/bin/python benchmarks/pages_bench.py [--size 200000] [--repeat 7] [--baseline]
"""

from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import socket
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
CHROMIUM = "/usr/bin/chromium"
PAGES = {
    "admin": ["/overview", "/at-risk", "/breached", "/reps", "/marketing", "/settings"],
    "manager": ["/overview", "/at-risk", "/reps", "/marketing"],
    "rep": ["/overview", "/at-risk"],
}
LOGINS = {"admin": "demo admin", "manager": "Dana Whitfield (east manager)",
          "rep": "Maya Chen (east rep)"}  # fmt: skip


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def demo(size: int) -> Path:
    """The demo company's directory, built once per size."""
    directory = ROOT / "bench-data" / f"demo-{size}"
    if not (directory / "tokens.txt").exists():
        began = time.perf_counter()
        subprocess.run(
            [LEADSLA, "demo", "--dir", str(directory), "--size", str(size), "--no-serve"],
            check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"demo built in {time.perf_counter() - began:.0f} s")
    return directory


def tokens(directory: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in (directory / "tokens.txt").read_text(encoding="utf-8").splitlines():
        for role, name in LOGINS.items():
            if line.split("\t")[0].strip() == name or line.startswith(name + " "):
                found[role] = line.split()[-1]
    return found


def percentile(values: list[float], share: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(share * (len(ordered) - 1)))]


def serve(config: Path, database: str, port: int, env: dict[str, str]) -> subprocess.Popen[bytes]:
    process = subprocess.Popen(
        [LEADSLA, "serve", "-c", str(config), "--database", database, "--port", str(port)],
        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
    )  # fmt: skip
    for _ in range(300):
        try:
            if httpx.get(f"http://127.0.0.1:{port}/login", timeout=2).status_code == 200:
                return process
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    process.kill()
    raise SystemExit("leadsla serve did not answer")


def page_times(base: str, token: str, paths: list[str], repeat: int) -> dict[str, list[float]]:
    from playwright.sync_api import sync_playwright

    times: dict[str, list[float]] = {path: [] for path in paths}
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM)
        page = browser.new_page(viewport={"width": 1280, "height": 900})
        page.goto(f"{base}/login")
        page.get_by_label("API token").fill(token)
        page.get_by_role("button", name="Log in").click()
        page.wait_for_url(re.compile(r"/overview$"), timeout=600_000)
        for _ in range(repeat):
            for path in paths:
                page.goto(f"{base}{path}", timeout=600_000)
                timing = page.evaluate(
                    "() => { const n = performance.getEntriesByType('navigation')[0];"
                    " return n.loadEventEnd - n.startTime; }"
                )
                times[path].append(float(timing) / 1000)
        browser.close()
    return times


def posts_while_loading(base: str, token: str, count: int) -> list[float]:
    """POST one event ``count`` times while another thread loads the overview."""
    stop = threading.Event()

    def load_pages() -> None:
        with httpx.Client(base_url=base, timeout=600) as client:
            login = client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
            assert csrf is not None
            client.post("/login", data={"token": token, "csrf": csrf.group(1)})
            while not stop.is_set():
                client.get("/overview")

    loader = threading.Thread(target=load_pages, daemon=True)
    loader.start()
    time.sleep(1)
    latencies: list[float] = []
    headers = {"Authorization": f"Bearer {token}"}
    with httpx.Client(base_url=base, timeout=600, headers=headers) as client:
        for number in range(count):
            event = {"lead_id": f"BENCH{number:04d}", "at": "2026-01-05T10:00:00Z",
                     "field": "status", "value": "New"}  # fmt: skip
            body = [{**event, "id": f"bench-{time.time_ns()}"}]
            began = time.perf_counter()
            answer = client.post("/api/v1/events", json=body)
            latencies.append(time.perf_counter() - began)
            assert answer.status_code in (200, 201, 202), answer.text
            time.sleep(0.2)
    stop.set()
    return latencies


def report(label: str, times: dict[str, list[float]]) -> None:
    for path, values in times.items():
        print(f"  {label:8s} {path:12s} median {statistics.median(values):6.2f} s   "
              f"p95 {percentile(values, 0.95):6.2f} s   ({len(values)} loads)")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=7)
    parser.add_argument("--database", help="a PostgreSQL URL to copy the demo into")
    parser.add_argument("--baseline", action="store_true", help="also time pages without snapshots")
    parser.add_argument(
        "--skip-worker", action="store_true", help="the snapshots are fresh: no worker round"
    )
    args = parser.parse_args()
    directory = demo(args.size)
    config = directory / "leadsla.yaml"
    database = f"sqlite:///{directory / 'leadsla.db'}"
    if args.database:
        database = args.database
        began = time.perf_counter()
        subprocess.run([LEADSLA, "db", "upgrade", "--database", database], check=True)
        subprocess.run(
            [LEADSLA, "import", "-c", str(config), "--database", database,
             str(directory / "events.csv")], check=True, stdout=subprocess.DEVNULL,
        )  # fmt: skip
        print(f"imported into PostgreSQL in {time.perf_counter() - began:.0f} s")
    env = dict(os.environ)
    began = time.perf_counter()
    if not args.skip_worker:
        subprocess.run(
            [LEADSLA, "worker", "-c", str(config), "--database", database, "--once"],
            check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
        )  # fmt: skip
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cores; {args.size:,} leads; "
          f"{database.split(':')[0]}; snapshots written by worker --once in "
          f"{time.perf_counter() - began:.0f} s")  # fmt: skip
    secrets = tokens(directory)
    port = free_port()
    server = serve(config, database, port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        print("with snapshots (navigation start to load event, Chromium):")
        for role, paths in PAGES.items():
            report(role, page_times(base, secrets[role], paths, args.repeat))
        posts = posts_while_loading(base, secrets["admin"], 20)
        middle, worst = statistics.median(posts), max(posts)
        print(f"  POST /api/v1/events while the overview loads: median {middle:.3f} s, "
              f"max {worst:.3f} s ({len(posts)} posts)")  # fmt: skip
    finally:
        server.terminate()
        server.wait()
    if args.baseline:
        snapshotless = directory / "baseline.db"
        shutil.copyfile(directory / "leadsla.db", snapshotless)
        import sqlite3

        with sqlite3.connect(snapshotless) as connection:
            connection.execute("DELETE FROM report_snapshots")
        server = serve(config, f"sqlite:///{snapshotless}", port, env)
        try:
            print("without snapshots (the report computed on each load):")
            report("admin", page_times(base, secrets["admin"], PAGES["admin"], 1))
        finally:
            server.terminate()
            server.wait()
            snapshotless.unlink()
    print(json.dumps({"size": args.size}))


if __name__ == "__main__":
    main()
