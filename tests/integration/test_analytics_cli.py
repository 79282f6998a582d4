"""``leadsla segments`` and the report's charts, CSV tables and HTML, run as a user runs them."""

from __future__ import annotations

import csv
import json
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from analytics_history import AS_OF_TEXT, COSTS, EVENTS

ROOT = Path(__file__).resolve().parents[2]
EXAMPLE = ROOT / "examples" / "leadsla.yaml"
LEADSLA = str(Path(sys.executable).with_name("leadsla"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def leadsla(*args: str | Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [LEADSLA, *map(str, args)], capture_output=True, text=True, timeout=120, check=False
    )


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path]:
    config = tmp_path / "leadsla.yaml"
    config.write_text(EXAMPLE.read_text(encoding="utf-8") + COSTS, encoding="utf-8")
    events = tmp_path / "events.csv"
    events.write_text(EVENTS + "\n", encoding="utf-8")
    return config, events


def test_segments_json_csv_and_table(files: tuple[Path, Path], tmp_path: Path) -> None:
    config, events = files
    common = ("--config", config, "--events", events, "--as-of", AS_OF_TEXT, "--min-leads", "3")
    result = leadsla("segments", *common, "--by", "source", "--format", "json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    assert [row["segment"]["source"] for row in data["segments"]] == ["Webinar", "Ads", "Organic"]
    assert [row["workable"] for row in data["segments"]] == [True, True, False]
    assert data["capacity"]["capacity_per_month"] == 110

    target = tmp_path / "segments.csv"
    result = leadsla(
        "segments", *common, "--by", "source,industry", "--format", "csv", "-o", target
    )
    assert result.returncode == 0, result.stderr
    with target.open(encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle))
    # Webinar × (Healthcare: A1 A8; Tech: A6; none: A2), Ads × none, Organic × none.
    assert {(r["source"], r["industry"], r["leads"]) for r in rows} == {
        ("Webinar", "Healthcare", "2"), ("Webinar", "Tech", "1"), ("Webinar", "", "1"),
        ("Ads", "", "3"), ("Organic", "", "1"),
    }  # fmt: skip

    result = leadsla("segments", *common, "--by", "source")
    assert result.returncode == 0, result.stderr
    assert "Webinar" in result.stdout and "Workable leads per month: 3.5" in result.stdout

    # --by repeated is the comma list.
    repeated = leadsla("segments", *common, "--by", "source", "--by", "industry", "--format", "csv")
    assert repeated.returncode == 0, repeated.stderr
    assert repeated.stdout == target.read_text(encoding="utf-8")


def test_segments_propose_writes_a_rule_the_config_loads(
    files: tuple[Path, Path], tmp_path: Path
) -> None:
    config, events = files
    target = tmp_path / "workable.yaml"
    result = leadsla(
        "segments", "--config", config, "--events", events, "--as-of", AS_OF_TEXT,
        "--min-leads", "3", "--by", "source", "--propose", "-o", target,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    snippet = target.read_text(encoding="utf-8")
    # Webinar and Ads pass (see the JSON above); Organic does not.
    assert '    - name: "source=Webinar"' in snippet and "Organic" not in snippet
    pasted = tmp_path / "pasted.yaml"
    text = config.read_text(encoding="utf-8").replace("workable: {grade: [A, B]}\n", snippet)
    pasted.write_text(text, encoding="utf-8")
    check = leadsla("segments", "--config", pasted, "--events", events, "--as-of", AS_OF_TEXT)
    assert check.returncode == 0, check.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("--by", "colour"), "--by: no event carries the field 'colour'"),
        (("--by", "source", "--by", "won"), "--by: 'won' is a figure of the segments table"),
        (("--by", "source,source"), "--by: names a field twice"),
        (("--sort", "fun"), "--sort: 'fun' is not one of profit"),
        (("--format", "xml"), "--format: 'xml' is not table, json or csv"),
        (("--propose", "--format", "json"), "--propose writes YAML: leave out --format"),
    ],
)
def test_segments_refuses_bad_options(
    files: tuple[Path, Path], args: tuple[str, ...], message: str
) -> None:
    config, events = files
    result = leadsla("segments", "--config", config, "--events", events, *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert "Traceback" not in result.stderr


def test_bad_costs_config_names_file_line_and_key(tmp_path: Path) -> None:
    config = tmp_path / "leadsla.yaml"
    text = EXAMPLE.read_text(encoding="utf-8")
    config.write_text(text + "costs:\n  per_lead: {Webinar: -40}\n", encoding="utf-8")
    line = text.count("\n") + 2
    result = leadsla("segments", "--config", config, "--events", ROOT / "examples" / "events.csv")
    assert result.returncode == 1
    assert f"{config}:{line}: costs.per_lead.Webinar:" in result.stderr
    assert "Traceback" not in result.stderr
    config.write_text(
        text + "costs:\n  per_lead: {}\n  currency: EUR\n  fee: 3\n", encoding="utf-8"
    )
    result = leadsla("segments", "--config", config, "--events", ROOT / "examples" / "events.csv")
    assert result.returncode == 1
    assert "costs.per_lead:" in result.stderr and "costs.fee:" in result.stderr


def test_report_charts_csv_tables_and_html(files: tuple[Path, Path], tmp_path: Path) -> None:
    config, events = files
    charts, tables, page = tmp_path / "charts", tmp_path / "tables", tmp_path / "report.html"
    result = leadsla(
        "report", "--config", config, "--events", events, "--as-of", AS_OF_TEXT,
        "--charts", charts, "--csv-dir", tables, "--format", "html", "-o", page,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    stems = {
        "compliance-trend", "waterfall", "speed-to-lead", "touch-decay", "time-to-follow-up",
        "burn-up-mqls-per-quarter", "burn-up-healthcare-mqls-per-month",
    }  # fmt: skip
    assert {p.name for p in charts.iterdir()} == {f"{s}.{x}" for s in stems for x in ("png", "svg")}
    for stem in stems:
        assert (charts / f"{stem}.png").read_bytes().startswith(PNG_SIGNATURE)
        root = ET.parse(charts / f"{stem}.svg").getroot()
        assert root.tag == "{http://www.w3.org/2000/svg}svg"

    assert {p.name for p in tables.iterdir()} == {
        "scorecard.csv", "commitments.csv", "workable_leads_per_rep.csv",
        "waterfall.csv", "speed_to_lead.csv", "burn_up.csv",
        "speed_legs.csv", "touch_decay.csv", "touch_decay_loss.csv",
        "acceptance.csv", "qualification_outcomes.csv",
    }  # fmt: skip
    with (tables / "speed_legs.csv").open(encoding="utf-8", newline="") as handle:
        legs = next(csv.DictReader(handle))
    # 7 MQLs; touched after 0.05, 1, 2, 3 (A8: 08:00 to 13:00, open 09-12) and 8 business
    # hours (A6: Mar 2 09:00 to Mar 3 10:00): the median is 2.
    assert (legs["group"], legs["marketing.leads"], legs["rep.business_p50_hours"]) == (
        "overall", "7", "2.0",
    )  # fmt: skip
    with (tables / "waterfall.csv").open(encoding="utf-8", newline="") as handle:
        overall = next(csv.DictReader(handle))
    assert (overall["group"], overall["inquiries"], overall["won"]) == ("overall", "8", "2")

    html = page.read_text(encoding="utf-8")
    assert html.count("<svg") == len(stems)  # every chart inline: one self-contained file
    assert "<img" not in html and 'href="http' not in html
    assert "Demand waterfall" in html


def test_report_json_keeps_spec_keys_and_adds_analytics(files: tuple[Path, Path]) -> None:
    config, events = files
    result = leadsla("report", "--config", config, "--events", events, "--as-of", AS_OF_TEXT)
    assert result.returncode == 0, result.stderr
    report = json.loads(result.stdout)
    spec = ["as_of", "period", "overall", "by_grade", "by_owner", "by_team", "by_month"]
    assert list(report)[: len(spec)] == spec
    assert {"commitments", "waterfall", "speed_to_lead", "burn_up"} <= set(report)
    assert report["waterfall"]["overall"]["inquiries"] == 8
    csv_text = leadsla(
        "report", "--config", config, "--events", events, "--as-of", AS_OF_TEXT, "--format", "csv"
    ).stdout
    assert "waterfall.overall,,inquiries,8" in csv_text
    assert "waterfall.by_grade,A,inquiries,4" in csv_text
    assert "speed_to_lead,never,leads,2" in csv_text  # A3 (a call, no stop) and A5
