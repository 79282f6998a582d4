"""The dashboard at scale: each page's load time in Chromium, and an ingest POST while
pages load, on the demo company at 200,000 leads (or ``--size``).

1. The demo company is built once into ``<data-dir>/demo-<size>/`` (what ``leadsla demo
   --no-serve`` writes: config, history, SQLite file, tokens; built here, in process,
   because the command stops at 200,000 leads). ``--database postgresql`` loads the
   same history into a PostgreSQL 15 cluster kept in ``<data-dir>/postgres-<size>/``
   (started with ``pg_ctl`` as the ``postgres`` user, as ``tests/postgres.py`` does,
   and stopped at the end; built once, reused after).
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
        [--database sqlite|postgresql] [--data-dir bench-data]
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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

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


def told(stage: str, done: int, total: int | None) -> None:
    """A long build's progress, a line every 30 s."""
    if time.monotonic() - told.last >= 30:  # type: ignore[attr-defined]
        told.last = time.monotonic()  # type: ignore[attr-defined]
        print(f"  {time.strftime('%H:%M:%S')} {stage} {done:,} / {total or 0:,}", flush=True)


told.last = 0.0  # type: ignore[attr-defined]


def demo(size: int, data: Path, *, files_only: bool = False) -> Path:
    """The demo company's directory, built once per size (its history ends at the end
    of the day it is built: the pages are about then). ``files_only``: just the config
    and history, which a PostgreSQL run loads (no SQLite file: 26 min at 1 M leads)."""
    from leadsla.bootstrap import now_micros
    from leadsla.demo.company import today_end
    from leadsla.demo.setup import prepare_demo, write_demo_files

    directory = data / f"demo-{size}"
    built = (directory / "tokens.txt").exists()
    if not built and not (files_only and (directory / "now.txt").exists()):
        began = time.perf_counter()
        now = today_end(now_micros())
        if files_only:
            write_demo_files(directory, now=now, leads=size, progress=told)
        else:
            prepare_demo(directory, now=now, leads=size, progress=told)
        (directory / "now.txt").write_text(str(now), encoding="utf-8")
        print(f"demo {'history ' if files_only else ''}built in "
              f"{time.perf_counter() - began:.0f} s")  # fmt: skip
    return directory


def built_at(directory: Path) -> int:
    """The instant the demo's history ends (a demo built by ``leadsla demo``: today's end)."""
    from leadsla.bootstrap import now_micros
    from leadsla.demo.company import today_end

    mark = directory / "now.txt"
    return int(mark.read_text(encoding="utf-8")) if mark.exists() else today_end(now_micros())


def tokens(path: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        for role, name in LOGINS.items():
            if line.split("\t")[0].strip() == name or line.startswith(name + " "):
                found[role] = line.split()[-1]
    return found


class KeptPostgres:
    """A PostgreSQL 15 cluster whose data directory outlives the run, so a 1 M-lead
    database is loaded once: ``initdb`` on first use, ``pg_ctl start`` on a free port,
    ``pg_ctl stop`` at the end. Settings as the tests' throwaway server (durability
    off: the data can be rebuilt), with a larger ``shared_buffers``."""

    def __init__(self, root: Path) -> None:
        from postgres import DEFAULT_BIN, _server_owner

        self.root, self.bin, self.owner = root, DEFAULT_BIN, _server_owner()
        self.data = root / "data"
        self.port = 0

    def command(self, args: list[str]) -> None:
        from postgres import _run

        done = _run(args, owner=self.owner, cwd=self.root, timeout=600)
        if done.returncode != 0:
            raise SystemExit(f"{args[0]} failed:\n{done.stderr}{done.stdout}")

    def start(self) -> str:
        from postgres import _SETTINGS, _quote_setting

        self.root.mkdir(parents=True, exist_ok=True)
        if self.owner is not None:
            os.chown(self.root, self.owner.uid, self.owner.gid)
        if not (self.data / "PG_VERSION").exists():
            self.command([str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres",
                          "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"])  # fmt: skip
            with (self.data / "postgresql.conf").open("a", encoding="utf-8") as conf:
                conf.write(_SETTINGS.format(socket_dir=_quote_setting(str(self.root))))
                conf.write("shared_buffers = '1GB'\nmax_wal_size = '2GB'\n")
        self.port = free_port()
        self.command([str(self.bin / "pg_ctl"), "start", "-D", str(self.data), "-w", "-t", "120",
                      "-l", str(self.root / "server.log"), "-o", f"-p {self.port}"])  # fmt: skip
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/leadsla"

    def stop(self) -> None:
        self.command([str(self.bin / "pg_ctl"), "stop", "-D", str(self.data), "-m", "fast", "-w"])


def postgres_copy(directory: Path, data: Path, size: int) -> tuple[KeptPostgres, str, Path]:
    """The running cluster holding the demo, its URL and its tokens file (loaded on
    first use: the same history, reminders and logins as the SQLite file)."""
    import psycopg

    from leadsla.demo.setup import load_demo

    cluster = KeptPostgres(data / f"postgres-{size}")
    url = cluster.start()
    logins = cluster.root / "tokens.txt"
    try:
        if not logins.exists():
            began = time.perf_counter()
            server = f"postgresql://postgres@127.0.0.1:{cluster.port}"
            with psycopg.connect(f"{server}/postgres", autocommit=True) as connection:
                connection.execute("DROP DATABASE IF EXISTS leadsla")
                connection.execute("CREATE DATABASE leadsla")
            _imported, made = load_demo(directory, url, now=built_at(directory), progress=told)
            with psycopg.connect(f"{server}/leadsla", autocommit=True) as connection:
                connection.execute("VACUUM ANALYZE")
            logins.write_text("".join(f"{n}\t{t}\n" for n, t in made.items()), encoding="utf-8")
            print(f"loaded into PostgreSQL in {time.perf_counter() - began:.0f} s")
    except BaseException:
        cluster.stop()
        raise
    return cluster, url, logins


@contextmanager
def mail_catcher(config: Path) -> Iterator[None]:
    """An SMTP server on the demo config's port while the worker runs (as ``leadsla demo``
    runs one): with none, each of the thousands of reminders queued by the demo's build
    failed to connect and was claimed again on the next round, which kept ``worker
    --once`` at 8 emails a second (12 minutes at 200,000 leads on PostgreSQL)."""
    from aiosmtpd.controller import Controller

    from leadsla.config import load_config
    from mail_server import Inbox

    email = load_config(config).notifications.email
    if email is None:
        yield
        return
    controller = Controller(Inbox(), hostname="127.0.0.1", port=email.port)
    try:
        controller.start()
    except OSError as exc:  # the port is taken (a demo running): its catcher takes the mail
        print(f"no mail catcher on port {email.port}: {exc}")
        yield
        return
    try:
        yield
    finally:
        controller.stop()


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
        context = browser.new_context(viewport={"width": 1280, "height": 900})
        # Logged in over HTTP, not through the form: its redirect lands on the overview,
        # which computes the report on load when no snapshot is written (minutes at 1 M).
        context.add_cookies(
            [{"name": c.name, "value": c.value or "", "url": base} for c in session(base, token)]
        )
        page = context.new_page()
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


def session(base: str, token: str) -> list[Any]:
    """The cookies of a dashboard session logged in with ``token`` (the redirect after
    the login is not followed)."""
    with httpx.Client(base_url=base, timeout=60) as client:
        login = client.get("/login")
        csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
        assert csrf is not None
        answer = client.post("/login", data={"token": token, "csrf": csrf.group(1)})
        assert answer.status_code in (302, 303), answer.status_code
        return list(client.cookies.jar)


def posts_while_loading(base: str, token: str, count: int, path: str) -> list[float]:
    """POST one event ``count`` times while another thread loads ``path``."""
    stop = threading.Event()

    def load_pages() -> None:
        with httpx.Client(base_url=base, timeout=600) as client:
            login = client.get("/login")
            csrf = re.search(r'name="csrf" value="([^"]+)"', login.text)
            assert csrf is not None
            client.post("/login", data={"token": token, "csrf": csrf.group(1)})
            while not stop.is_set():
                client.get(path)

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
    parser.add_argument("--database", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument(
        "--data-dir", type=Path, default=ROOT / "bench-data",
        help="where the built demos (and PostgreSQL clusters) are kept between runs",
    )  # fmt: skip
    parser.add_argument("--baseline", action="store_true", help="also time pages without snapshots")
    parser.add_argument(
        "--skip-worker", action="store_true", help="the snapshots are fresh: no worker round"
    )
    parser.add_argument(
        "--only", default="",
        help="comma-separated pages to time (e.g. /at-risk,/breached: the live queues, "
        "which read no snapshot); the POSTs are then timed while the first of them loads",
    )  # fmt: skip
    args = parser.parse_args()
    directory = demo(args.size, args.data_dir, files_only=args.database == "postgresql")
    config = directory / "leadsla.yaml"
    database = f"sqlite:///{directory / 'leadsla.db'}"
    logins = directory / "tokens.txt"
    cluster = None
    if args.database == "postgresql":
        cluster, database, logins = postgres_copy(directory, args.data_dir, args.size)
    try:
        run(args, config, database, tokens(logins), directory)
    finally:
        if cluster is not None:
            cluster.stop()


def run(
    args: argparse.Namespace, config: Path, database: str, secrets: dict[str, str], directory: Path
) -> None:
    env = dict(os.environ)
    began = time.perf_counter()
    if not args.skip_worker:
        with mail_catcher(config):
            subprocess.run(
                [LEADSLA, "worker", "-c", str(config), "--database", database, "--once"],
                check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, env=env,
            )  # fmt: skip
    print(f"python {sys.version.split()[0]}; {os.cpu_count()} cores; {args.size:,} leads; "
          f"{database.split(':')[0]}; snapshots written by worker --once in "
          f"{time.perf_counter() - began:.0f} s; load {os.getloadavg()[0]:.1f}")  # fmt: skip
    port = free_port()
    server = serve(config, database, port, env)
    base = f"http://127.0.0.1:{port}"
    try:
        print("with snapshots (navigation start to load event, Chromium):")
        only = [path for path in args.only.split(",") if path]
        for role, paths in PAGES.items():
            kept = [path for path in paths if not only or path in only]
            if kept:
                report(role, page_times(base, secrets[role], kept, args.repeat))
        loading = only[0] if only else "/overview"
        posts = posts_while_loading(base, secrets["admin"], 20, loading)
        middle, worst = statistics.median(posts), max(posts)
        print(f"  POST /api/v1/events while {loading} loads: median {middle:.3f} s, "
              f"max {worst:.3f} s ({len(posts)} posts)")  # fmt: skip
        print(f"load average after: {os.getloadavg()[0]:.1f}")
    finally:
        server.terminate()
        server.wait()
    if args.baseline and args.database == "sqlite":
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
    print(json.dumps({"size": args.size, "database": args.database}))


if __name__ == "__main__":
    main()
