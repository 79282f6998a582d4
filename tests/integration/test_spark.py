"""``evaluate`` and ``report`` on Spark (local mode, ``local[2]``) give, to the byte, what
the single-machine path gives: the clocks CSV and the report's JSON of a 50,000-lead
history under the v2 benchmark agreement, and of a random ``sales_work.yaml`` history (a
policy for every key of SPEC §9.1–9.3, many leads replayed by the exact engine); read
from CSV and from Parquet; clocks written back as Parquet. Bad rows are named by their
line, and ``spark-submit`` runs the package as a wheel.

One Spark session serves the module (a JVM's start costs seconds).
"""

from __future__ import annotations

import io
import json
import os
import random
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest
from test_partitions import V2_CONFIG, in_memory
from typer.testing import CliRunner

from leadsla.cli.common import UserError
from leadsla.cli.main import app
from leadsla.config import Config, build_rulebook, load_config
from leadsla.demo.generate import HistoryShape, write_history
from leadsla.report.clocks_csv import COLUMNS
from leadsla.report.settings import ReportSettings
from leadsla.spark import clocks, figures
from leadsla.spark.session import spark_session
from leadsla.spark.sources import EventSource, SourceError, read_source
from leadsla.spark.submit import spark_arguments
from sales_work import BASE, CONFIG, history_csv, sales_history

pyspark = pytest.importorskip("pyspark", reason="the spark extra: pip install -e '.[spark]'")
from pyspark.sql import SparkSession  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]
DAY = 86_400_000_000


@pytest.fixture(scope="module")
def spark() -> Iterator[SparkSession]:
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    session = spark_session("local[2]", "leadsla-tests")
    session.conf.set("spark.sql.shuffle.partitions", "4")
    yield session
    session.stop()


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("demo") / "events.csv"
    with path.open("w", encoding="utf-8", newline="") as out:
        write_history(HistoryShape(leads=50_000, start=BASE - 150 * DAY, seed=23), out)
    return path


@pytest.fixture(scope="module")
def sales_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    rows = sales_history(random.Random(23), leads=400, instants=14)
    path = tmp_path_factory.mktemp("sales") / "events.csv"
    path.write_text(history_csv(rows), encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def sales_expected(sales_file: Path) -> tuple[Config, int, str, str]:
    """The sales history's config, instant, and report and clocks on one machine."""
    config = load_config(CONFIG)
    as_of = BASE + 6 * DAY
    return (config, as_of, *in_memory(sales_file, config, as_of))


def on_spark(
    spark: SparkSession, source: EventSource, config: Config, as_of: int, groups: int
) -> tuple[str, str]:
    """The report's JSON and the clocks CSV, computed on Spark."""
    rules = build_rulebook(config)
    settings = ReportSettings.of(rules, config)
    events = read_source(spark, source)
    found, read = figures.report(events, source, rules, settings, as_of, "month", groups)
    assert read.skipped == 0
    evaluated = clocks.evaluate(events, source, rules, as_of, groups)
    out = io.StringIO()
    rows = clocks.write_csv(evaluated, out)
    assert rows == out.getvalue().count("\n") - 1
    return json.dumps(found, indent=2), out.getvalue()


def test_the_v2_agreement_on_spark_is_the_single_machine_output(
    spark: SparkSession, demo_file: Path, tmp_path: Path
) -> None:
    config = load_config(V2_CONFIG)
    expected_report, expected_clocks = in_memory(demo_file, config, BASE)
    assert json.loads(expected_report)["overall"]["mqls"] > 1000
    report_text, clocks_text = on_spark(spark, EventSource(str(demo_file)), config, BASE, 5)
    assert report_text == expected_report
    assert clocks_text == expected_clocks


def test_sales_work_from_parquet_on_spark_is_the_single_machine_output(
    spark: SparkSession,
    sales_file: Path,
    sales_expected: tuple[Config, int, str, str],
    tmp_path: Path,
) -> None:
    config, as_of, expected_report, expected_clocks = sales_expected
    # Instants as a Parquet timestamp, as a data platform keeps them; the other
    # columns as text.
    frame = pl.read_csv(sales_file, infer_schema=False).with_columns(
        pl.col("at").str.to_datetime(time_unit="us", time_zone="UTC")
    )
    parquet = tmp_path / "events.parquet"
    frame.write_parquet(parquet)
    source = EventSource(str(parquet))
    assert source.kind == "parquet"
    report_text, clocks_text = on_spark(spark, source, config, as_of, 3)
    assert report_text == expected_report
    assert clocks_text == expected_clocks
    # Replayed leads and rules beyond the plain path are in use.
    assert {"met", "breached"} <= set(pl.read_csv(io.StringIO(clocks_text))["state"])


def test_clocks_written_as_parquet_are_the_csv_rows(
    spark: SparkSession,
    sales_file: Path,
    sales_expected: tuple[Config, int, str, str],
    tmp_path: Path,
) -> None:
    config, as_of, _, expected_clocks = sales_expected
    source = EventSource(str(sales_file))
    evaluated = clocks.evaluate(
        read_source(spark, source), source, build_rulebook(config), as_of, 2
    )
    folder = tmp_path / "clocks"
    rows = clocks.write_parquet(evaluated, str(folder))
    written = pl.read_parquet(folder / "*.parquet").sort("lead_id", "policy", "cycle")
    expected = pl.read_csv(
        io.StringIO(expected_clocks), schema_overrides=dict.fromkeys(COLUMNS, pl.String)
    ).sort("lead_id", "policy", "cycle")
    assert rows == expected.height == written.height
    assert written.columns == list(COLUMNS)
    for column in COLUMNS:
        assert written[column].cast(pl.String).to_list() == expected[column].to_list(), column
    # A folder is never written over.
    with pytest.raises(pyspark.errors.AnalysisException):
        clocks.write_parquet(evaluated, str(folder))


def test_bad_rows_are_named_by_their_line_and_the_rest_is_judged(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text(
        "lead_id,at,field,value\n"
        "L1,2026-03-02T14:00:00Z,status,New\n"
        "L2,not a time,status,New\n"
        "L2,2026-03-02T15:00:00Z,status,New\n"
        '"L3, Inc",2026-03-02T16:00:00Z,grade,Z\n',
        encoding="utf-8",
    )
    config = load_config(V2_CONFIG)
    source = EventSource(str(path))
    evaluated = clocks.evaluate(read_source(spark, source), source, build_rulebook(config), BASE, 3)
    report = evaluated.report
    assert (report.rows_read, report.rows_accepted, evaluated.leads) == (4, 2, 2)
    messages = [str(e) for e in report.errors]
    assert messages[0].startswith(f"{path}:3: at: ")
    assert messages[1].startswith(f"{path}:5: value: ")
    out = io.StringIO()
    clocks.write_csv(evaluated, out)
    assert {line.split(",")[0] for line in out.getvalue().splitlines()[1:]} == {"L1", "L2"}


def test_a_source_without_an_event_column_is_one_clear_error(
    spark: SparkSession, tmp_path: Path
) -> None:
    path = tmp_path / "events.csv"
    path.write_text("lead,at,field,value\nL1,2026-03-02T14:00:00Z,status,New\n", "utf-8")
    with pytest.raises(SourceError, match="no column lead_id"):
        read_source(spark, EventSource(str(path)))
    with pytest.raises(SourceError, match="cannot read"):
        read_source(spark, EventSource(str(tmp_path / "missing.parquet")))


def test_spark_submit_runs_the_wheel(
    sales_file: Path, sales_expected: tuple[Config, int, str, str], tmp_path: Path
) -> None:
    """A user's spark-submit: the package as a wheel (shipped with --py-files), the
    submit module as the program."""
    assert spark_arguments(["evaluate", "-c", "x"]) == ["evaluate", "-c", "x", "--engine", "spark"]
    assert spark_arguments(["report", "--engine=local"]) == ["report", "--engine=local"]
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(ROOT)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = wheels.glob("leadsla-*.whl")
    # --py-files puts a .zip, not a .whl, on the workers' path: a pure-Python wheel
    # is a zip of the package, and goes as one (docs/scale.md).
    shipped = tmp_path / f"{wheel.stem}.zip"
    shipped.write_bytes(wheel.read_bytes())
    submit = Path(pyspark.__file__).parent / "bin" / "spark-submit"
    output = tmp_path / "clocks.csv"
    # The wheel is the package's only copy on the driver's and workers' paths.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    env |= {"PYSPARK_PYTHON": sys.executable, "PYSPARK_DRIVER_PYTHON": sys.executable}
    done = subprocess.run(
        [str(submit), "--master", "local[1]", "--py-files", str(shipped),
         str(ROOT / "src" / "leadsla" / "spark" / "submit.py"),
         "evaluate", "--config", str(CONFIG), "--events", str(sales_file),
         "--output", str(output), "--as-of", "2026-12-24T14:00:00Z", "--lead-groups", "2"],
        capture_output=True, text=True, timeout=600, env=env, check=False, cwd=tmp_path,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    # spark-submit's JVM runs the Python driver with its stderr joined to stdout.
    assert "(Spark, 2 lead groups)" in done.stdout + done.stderr
    assert output.read_text(encoding="utf-8") == sales_expected[3]


def test_the_cli_refuses_options_of_the_other_engine(sales_file: Path, tmp_path: Path) -> None:
    """Each refusal is one error naming the option, before any Spark starts (the
    command line in this process: ``main`` prints the error as one line)."""
    base = ["--config", str(CONFIG), "--events", str(sales_file), "--as-of", "2026-12-24T00:00Z"]
    out = ["--output", str(tmp_path / "clocks.csv")]
    cases = [
        (["evaluate", *base, *out, "--lead-groups", "2"], "only with --engine spark"),
        (["evaluate", *base, *out, "--engine", "flink"], "is not local or spark"),
        (["evaluate", *base, *out, "--engine", "spark", "--jobs", "2"], "not with --engine"),
        (["report", *base, "--engine", "spark", "--format", "html"], "charts"),
        (["report", "--config", str(CONFIG), "--engine", "spark"], "give --events"),
        (["report", *base, "--events-format", "parquet"], "only with --engine spark"),
    ]
    for args, message in cases:
        result = CliRunner().invoke(app, args)
        assert isinstance(result.exception, UserError), (args, result.output)
        assert message in str(result.exception)
    assert not (tmp_path / "clocks.csv").exists()
