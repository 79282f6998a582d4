"""``report`` and ``evaluate`` by lead-hash partitions (``--partitions``,
``--memory-limit``) give, to the byte, what the in-memory path gives: on a random
history of ``sales_work.yaml`` (a policy for every key of SPEC §9.1–9.3, many leads
replayed by the exact engine) and on the demo generator's history under the v2
benchmark agreement; with one partition, a few, and more partitions than some groups
(owners, grades, months) have leads, so that many partitions hold none of a group."""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from pathlib import Path

import pytest

from leadsla.config import Config, build_rulebook, load_config
from leadsla.core.events import EventTable
from leadsla.demo.generate import HistoryShape, write_history
from leadsla.report.clocks_csv import write_clocks
from leadsla.report.fast_reader import read_grouped_events
from leadsla.report.full import report
from leadsla.report.partition import (
    MemoryLimitError,
    PartitionPlan,
    parse_memory,
    partition_plan,
    partitioned_clocks,
    partitioned_report,
    split_events,
)
from leadsla.report.settings import ReportSettings
from leadsla.report.sources import file_events
from sales_work import BASE, CONFIG, history_csv, sales_history

ROOT = Path(__file__).resolve().parents[2]
V2_CONFIG = ROOT / "benchmarks" / "leadsla-v2.yaml"
DAY = 86_400_000_000


def in_memory(path: Path, config: Config, as_of: int) -> tuple[str, str]:
    """The report's JSON and the clocks CSV of the file, in memory (the fast reader)."""
    rules = build_rulebook(config)
    settings = ReportSettings.of(rules, config)

    def careful() -> EventTable:
        raise AssertionError("the fast reader gave the file up")

    with file_events(path, settings, as_of, careful=careful) as events:
        figures = report(events, settings, as_of, "month")
    grouped = read_grouped_events(
        path,
        statuses=list(rules.statuses),
        grades=[g.name for g in rules.grades],
        acceptance=rules.acceptance,
    )
    assert grouped is not None
    out = io.StringIO()
    write_clocks(rules, grouped.sorted(), as_of, out, jobs=1)
    return json.dumps(figures, indent=2), out.getvalue()


def by_partitions(path: Path, config: Config, as_of: int, plan: PartitionPlan) -> tuple[str, str]:
    settings = ReportSettings.of(build_rulebook(config), config)
    figures = partitioned_report(path, settings, as_of, "month", plan)
    assert figures is not None
    out = io.StringIO()
    counts = partitioned_clocks(path, config, as_of, out, plan)
    assert counts is not None
    assert counts.rows == out.getvalue().count("\n") - 1
    return json.dumps(figures, indent=2), out.getvalue()


@pytest.fixture(scope="module")
def sales_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = sales_history(random.Random(19), leads=300, instants=14)
    path = tmp_path_factory.mktemp("sales") / "events.csv"
    path.write_text(history_csv(rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "events.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        write_history(HistoryShape(leads=4000, start=BASE - 150 * DAY, seed=19), out)
    return path


@pytest.mark.parametrize("partitions", [1, 4, 120])
def test_sales_work_by_partitions_is_the_in_memory_output(
    sales_file: Path, partitions: int
) -> None:
    config = load_config(CONFIG)
    as_of = BASE + 6 * DAY
    expected_report, expected_clocks = in_memory(sales_file, config, as_of)
    # The history uses the rules it is meant to: replayed leads, reasons, outcomes.
    figures = json.loads(expected_report)
    assert figures["overall"]["mqls"] > 0 and figures["by_owner"]
    report_text, clocks = by_partitions(
        sales_file, config, as_of, PartitionPlan(partitions, workers=2)
    )
    assert report_text == expected_report
    assert clocks == expected_clocks


@pytest.mark.parametrize("partitions", [1, 3, 250])
def test_the_v2_agreement_by_partitions_is_the_in_memory_output(
    demo_file: Path, partitions: int
) -> None:
    config = load_config(V2_CONFIG)
    as_of = BASE
    expected_report, expected_clocks = in_memory(demo_file, config, as_of)
    report_text, clocks = by_partitions(
        demo_file, config, as_of, PartitionPlan(partitions, workers=2)
    )
    assert report_text == expected_report
    assert clocks == expected_clocks
    assert len(json.loads(report_text)["speed_legs"]["by_owner"]) == 3


def test_year_commitments_and_a_quarter_period_by_partitions_are_the_in_memory_output(
    demo_file: Path, tmp_path: Path
) -> None:
    """A partial's facts drop what no figure reads outside the report's quarter, but
    keep the owner and segment fields a commitment reads over a whole year: the
    per-rep and segment counts of a year, and the figures of a quarter, are the same."""
    text = V2_CONFIG.read_text(encoding="utf-8")
    head, _, rest = text.partition("commitments:\n")
    tail = rest[rest.index("\n\n") :]
    commitments = (
        "commitments:\n"
        "  - {name: MQLs per year, metric: mqls, period: year, target: 9000}\n"
        "  - {name: Healthcare SALs per year, metric: sals, period: year, target: 500,"
        " segment: {industry: Healthcare}}\n"
        "  - {name: Workable leads per rep and year, metric: workable_leads_per_rep,"
        " period: year, target: 400}\n"
        "  - {name: Workable leads per quarter, metric: workable_leads, period: quarter,"
        " target: 900}\n"
    )
    path = tmp_path / "leadsla.yaml"
    path.write_text(head + commitments + tail, encoding="utf-8")
    config = load_config(path)
    as_of = BASE
    rules = build_rulebook(config)
    settings = ReportSettings.of(rules, config)

    def careful() -> EventTable:
        raise AssertionError("the fast reader gave the file up")

    with file_events(demo_file, settings, as_of, careful=careful) as events:
        expected = json.dumps(report(events, settings, as_of, "quarter"), indent=2)
    figures = partitioned_report(demo_file, settings, as_of, "quarter", PartitionPlan(5, 2))
    assert json.dumps(figures, indent=2) == expected
    # The year's commitments count MQLs from before the quarter.
    by_name = {entry["name"]: entry for entry in json.loads(expected)["commitments"]}
    assert by_name["MQLs per year"]["count"] > json.loads(expected)["overall"]["mqls"] > 0
    assert sum(by_name["Workable leads per rep and year"]["per_rep"].values()) > 0


def test_every_lead_lands_in_one_partition_with_its_rows_in_file_order(
    demo_file: Path, tmp_path: Path
) -> None:
    files = split_events(demo_file, tmp_path, 5)
    assert files is not None and len(files) == 5
    source = demo_file.read_text(encoding="utf-8").splitlines()
    seen: dict[str, int] = {}
    rows: list[str] = []
    for number, file in enumerate(files):
        lines = file.read_text(encoding="utf-8").splitlines()
        assert lines[0] == "lead_id,at,field,value"
        for line in lines[1:]:
            assert seen.setdefault(line.partition(",")[0], number) == number
        rows.extend(lines[1:])
    assert sorted(rows) == sorted(source[1:])
    # Within a partition, a lead's rows keep the file's order.
    first = [line for line in source[1:] if seen[line.partition(",")[0]] == 0]
    assert files[0].read_text(encoding="utf-8").splitlines()[1:] == first


def test_a_file_that_is_not_plain_is_left_to_the_in_memory_path(tmp_path: Path) -> None:
    path = tmp_path / "quoted.csv"
    path.write_text(
        'lead_id,at,field,value\nL1,2026-03-02T14:00:00Z,status,"New"\n', encoding="utf-8"
    )
    config = load_config(CONFIG)
    settings = ReportSettings.of(build_rulebook(config), config)
    assert partitioned_report(path, settings, BASE, "month", PartitionPlan(2, 1)) is None


def leadsla(*args: str | Path) -> subprocess.CompletedProcess[str]:
    """The CLI as a user runs it, on this checkout's package."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    return subprocess.run(
        [sys.executable, "-m", "leadsla.cli", *map(str, args)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        env=env,
    )


def test_the_cli_refuses_a_bad_memory_limit_and_reports_by_partitions(sales_file: Path) -> None:
    base = ["--config", CONFIG, "--events", sales_file, "--as-of", "2026-12-24T00:00Z"]
    bad = leadsla("report", *base, "--memory-limit", "lots")
    assert bad.returncode != 0
    assert "--memory-limit" in bad.stderr and "Traceback" not in bad.stderr
    small = leadsla("report", *base, "--memory-limit", "1MiB")
    assert small.returncode != 0 and "needs at least" in small.stderr
    charts = leadsla("report", *base, "--partitions", "2", "--format", "html")
    assert charts.returncode != 0 and "charts" in charts.stderr
    whole = leadsla("report", *base)
    split = leadsla("report", *base, "--partitions", "3")
    # A limit that holds the small history whole: computed in memory.
    held = leadsla("report", *base, "--memory-limit", "4GiB")
    for run in (whole, split, held):
        assert run.returncode == 0, run.stderr
    assert split.stdout == whole.stdout and held.stdout == whole.stdout


def test_the_memory_limit_chooses_the_partitions() -> None:
    assert parse_memory("4GiB") == 4 << 30
    assert parse_memory("512 MiB") == 512 << 20
    assert parse_memory("1.5G") == 3 << 29
    with pytest.raises(ValueError):
        parse_memory("four")
    small = partition_plan(100 << 20, 4 << 30, cores=2)
    large = partition_plan(1 << 30, 8 << 30, cores=2)
    assert (small.partitions, small.workers) == (1, 1)
    assert large.partitions > small.partitions and large.workers == 2
    # A tighter limit: more, smaller partitions.
    tight = partition_plan(1 << 30, 3 << 30, cores=2)
    assert tight.partitions > large.partitions
    # The report's parent holds the partials' tallies, modelled as growing with the
    # file: a limit below them is refused.
    with pytest.raises(MemoryLimitError, match="needs at least"):
        partition_plan(20 << 30, 4 << 30, cores=2)
    # Evaluate merges its rows as a stream: the same limit fits, in more partitions.
    streamed = partition_plan(20 << 30, 4 << 30, cores=2, merge_bytes_per_file_byte=0.0)
    assert streamed.workers == 2 and streamed.partitions > large.partitions


def test_a_bad_row_is_reported_with_its_line_in_the_file(tmp_path: Path) -> None:
    # The file is plain, so it is split; its partition with the bad instant is not
    # for the fast reader, and the careful reader names the row's line in the file.
    rows = sales_history(random.Random(7), leads=40, instants=6)
    text = history_csv(rows).splitlines()
    text.insert(9, "L3,2026-13-45T00:00:00Z,status,New")
    path = tmp_path / "events.csv"
    path.write_text("\n".join(text) + "\n", encoding="utf-8")
    base = ["--config", CONFIG, "--events", path, "--as-of", "2026-12-24T00:00Z"]
    whole = leadsla("evaluate", *base, "--output", tmp_path / "whole.csv")
    split = leadsla("evaluate", *base, "--partitions", "3", "--output", tmp_path / "split.csv")
    assert whole.returncode == 0 and split.returncode == 0, split.stderr
    assert f"{path}:10:" in split.stderr and "Traceback" not in split.stderr
    assert (tmp_path / "split.csv").read_bytes() == (tmp_path / "whole.csv").read_bytes()
