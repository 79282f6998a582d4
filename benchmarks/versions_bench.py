"""The report of the database when its cycles were recorded under an earlier policy
version (SPEC §9.6), against the same report when they were not.

A generated history of N leads (``leadsla.demo.generate``, cached in ``bench-data/``)
is imported once under the example config into a SQLite file. Then, in this process,
the full report (``report.full.report`` over ``report.sources.stored_events``, what
``GET /api/v1/report`` and ``leadsla report --database`` run) is timed:

- ``same config``: read under the config it was imported with; every cycle is of the
  current version (the plain path, as before versions were judged);
- ``config changed``: read under the example with A's target cut to 4 business hours;
  every follow-up cycle is of the earlier version, so the leads are evaluated in
  groups on a rulebook holding that version;
- ``changed, versions ignored``: the same config read as before this change (every
  cycle judged by the current config): the cost of judging by version is the
  difference with the line above.

Prints the median of ``--repeat`` runs and the follow-up compliance each gives.

    .venv/bin/python benchmarks/versions_bench.py [--leads 100000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

from evaluate_bench import AS_OF, CONFIG, ROOT, history
from leadsla.config import build_rulebook, load_config
from leadsla.core.events import parse_instant
from leadsla.report.full import report
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import stored_events
from leadsla.store.database import open_database

LEADSLA = str(Path(sys.executable).with_name("leadsla"))


def database(leads: int, data_dir: Path) -> str:
    """The history imported under the example config, once per size."""
    events, _ = history(leads, data_dir)
    path = data_dir / f"versions-{leads}.db"
    if not path.exists():
        began = time.perf_counter()
        subprocess.run(
            [LEADSLA, "import", "--config", str(CONFIG), "--database", f"sqlite:///{path}",
             str(events)],
            check=True,
        )  # fmt: skip
        print(f"imported {leads:,} leads in {time.perf_counter() - began:.1f} s")
    return f"sqlite:///{path}"


def changed_config(data_dir: Path) -> Path:
    path = data_dir / "versions-changed.yaml"
    text = CONFIG.read_text(encoding="utf-8")
    path.write_text(
        text.replace("target: {A: 8 business hours", "target: {A: 4 business hours"),
        encoding="utf-8",
    )
    return path


def timed(url: str, config_path: Path, *, by_version: bool, repeat: int) -> tuple[float, float]:
    """Median seconds of the full report, and its follow-up compliance."""
    config = load_config(config_path)
    rules = build_rulebook(config)
    settings = ReportSettings.of(rules, config)
    as_of = parse_instant(AS_OF)
    engine = open_database(url, create=False)
    times: list[float] = []
    compliance = float("nan")
    try:
        for _ in range(repeat):
            began = time.perf_counter()
            with engine.connect() as connection:
                events = stored_events(connection, as_of, rules=rules if by_version else None)
                figures = report(events, settings, as_of)
            times.append(time.perf_counter() - began)
            compliance = figures["overall"]["compliance"]["follow_up"]
    finally:
        engine.dispose()
    return statistics.median(times), compliance


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--leads", type=int, default=100_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--data-dir", type=Path, default=ROOT / "bench-data")
    args = parser.parse_args()
    url = database(args.leads, args.data_dir)
    changed = changed_config(args.data_dir)
    runs = [
        ("same config", CONFIG, True),
        ("config changed", changed, True),
        ("changed, versions ignored", changed, False),
    ]
    print(f"{args.leads:,} leads, SQLite, report at {AS_OF}, median of {args.repeat}")
    for label, config, by_version in runs:
        seconds, compliance = timed(url, config, by_version=by_version, repeat=args.repeat)
        print(f"{label:28} {seconds:7.2f} s   follow-up compliance {compliance:.4f}")


if __name__ == "__main__":
    main()
