"""Conversion speed of CRM exports through the activity rules (docs/crm.md).

Writes a synthetic Salesforce Task export and a Lead History report export (en_US,
America/New_York) of ``--rows`` rows each into a temporary folder, then converts each
with the example config's rules, as ``leadsla import`` does before storing: rows per
second and CPU seconds, best of ``--repeat`` runs. No database: this is the
connectors' share of an import.

    .venv/bin/python benchmarks/crm_convert_bench.py               # 200,000 rows each
    .venv/bin/python benchmarks/crm_convert_bench.py --rows 50000
"""

from __future__ import annotations

import argparse
import random
import tempfile
import time
from collections import Counter
from datetime import datetime, timedelta
from pathlib import Path

from leadsla.config import build_rulebook, load_config
from leadsla.connectors import ConvertedRow, ImportMapping, RejectedRow, SkippedRow, convert
from leadsla.connectors.salesforce import REPORT_DATE_FORMATS

ROOT = Path(__file__).resolve().parents[1]
TASKS = [
    # (TaskSubtype, Type, CallDisposition, Status, IsClosed)
    ("Call", "Call", "Connected", "Completed", "true"),
    ("Call", "Call", "", "Completed", "true"),
    ("Call", "Call", "Left Voicemail", "Completed", "true"),
    ("Call", "Call", "No Answer", "Completed", "true"),
    ("Email", "Email", "", "Completed", "true"),
    ("ListEmail", "Email", "", "Completed", "true"),
    ("Task", "Meeting", "", "Completed", "true"),
    ("Task", "Other", "", "Not Started", "false"),
    ("Call", "Call", "Gatekeeper", "Completed", "true"),
]
FIELDS = [
    ("Lead Status", "Open - Not Contacted", "Working - Contacted"),
    ("Lead Owner", "Sam Ortiz", "Priya Nair"),
    ("Rating", "Warm", "Hot"),
    ("Created.", "", ""),
]


def write_tasks(path: Path, rows: int, pick: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write("Id,WhoId,CreatedDate,TaskSubtype,Type,CallDisposition,Status,IsClosed\n")
        for n in range(rows):
            subtype, kind, disposition, status, closed = pick.choice(TASKS)
            at = f"2026-03-{1 + n % 28:02d}T{n % 24:02d}:{n % 60:02d}:00.000+0000"
            out.write(
                f"00T{n:015d},00Q{n % 50_000:015d},{at},{subtype},{kind},{disposition},"
                f"{status},{closed}\n"
            )


def write_report(path: Path, rows: int, pick: random.Random) -> None:
    with path.open("w", encoding="utf-8", newline="") as out:
        out.write('"Lead ID","Field / Event","Old Value","New Value","Edit Date"\n')
        start = datetime(2025, 1, 1, 8, 0)
        for n in range(rows):
            field, old, new = pick.choice(FIELDS)
            # A save every minute, changing two fields: dates mostly distinct, in pairs.
            local = start + timedelta(minutes=n // 2)
            hour = local.hour % 12 or 12
            when = (
                f"{local.month}/{local.day}/{local.year} {hour}:{local.minute:02d} "
                f"{'AM' if local.hour < 12 else 'PM'}"
            )
            out.write(f'"00Q{n % 50_000:012d}","{field}","{old}","{new}","{when}"\n')


def run(path: Path, mapping: ImportMapping) -> tuple[float, float, Counter[str]]:
    wall, cpu = time.perf_counter(), time.process_time()
    kinds: Counter[str] = Counter()
    with path.open(encoding="utf-8", newline="") as handle:
        for item in convert(handle, mapping, source=path.name):
            if isinstance(item, ConvertedRow):
                kinds["events"] += 1
            elif isinstance(item, SkippedRow):
                kinds["skipped"] += 1
            elif isinstance(item, RejectedRow):
                kinds["rejected"] += 1
    return time.perf_counter() - wall, time.process_time() - cpu, kinds


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    rules = build_rulebook(load_config(ROOT / "examples" / "leadsla.yaml"))
    plain = ImportMapping().with_rules(rules)
    dated = ImportMapping(
        timezone="America/New_York", date_format=REPORT_DATE_FORMATS["en_US"]
    ).with_rules(rules)
    pick = random.Random(16)
    with tempfile.TemporaryDirectory() as folder:
        tasks, report = Path(folder) / "Task.csv", Path(folder) / "report.csv"
        write_tasks(tasks, args.rows, pick)
        write_report(report, args.rows, pick)
        for name, path, mapping in (("Task", tasks, plain), ("report", report, dated)):
            best = min((run(path, mapping) for _ in range(args.repeat)), key=lambda r: r[0])
            wall, cpu, kinds = best
            print(
                f"{name}: {args.rows} rows in {wall:.2f} s wall, {cpu:.2f} s CPU "
                f"({args.rows / wall:,.0f} rows/s); {dict(kinds)}"
            )


if __name__ == "__main__":
    main()
