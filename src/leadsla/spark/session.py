"""The Spark session a command runs in, and the one error when PySpark is missing."""

from __future__ import annotations

import importlib.util
import warnings
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

# Local mode's own defaults: a handful of shuffle partitions suit one machine (Spark's
# 200 cost a Python task each for nothing); no web UI to bind a port; a driver heap of
# 2 GiB, not 1, as the local driver is also the executor that shuffles the events.
LOCAL_SETTINGS = {
    "spark.sql.shuffle.partitions": "8",
    "spark.ui.enabled": "false",
    "spark.driver.memory": "2g",
}
SPARK_DEFAULT_SHUFFLE = "200"
# What every session gets, whatever its master: instants read from a Parquet or table
# timestamp are written out in UTC (see :mod:`.sources`).
SETTINGS = {"spark.sql.session.timeZone": "UTC"}


class SparkMissing(RuntimeError):
    """PySpark is not installed: ``--engine spark`` cannot run."""


def require_pyspark() -> None:
    """Raise :class:`SparkMissing`, with how to install it, if PySpark is not importable."""
    if importlib.util.find_spec("pyspark") is None:
        raise SparkMissing(
            "--engine spark needs PySpark and a Java runtime: pip install 'leadsla[spark]' "
            "(and a JRE 17 or later, e.g. apt-get install default-jre-headless)"
        )


def spark_session(master: str | None, app_name: str = "leadsla") -> SparkSession:
    """The session: with ``master`` (``local[2]``, ``spark://host:7077``, ``yarn``), a new
    one there; else the one ``spark-submit`` or a notebook started, else local mode on
    every core. A local session without a shuffle setting of its own gets
    :data:`LOCAL_SETTINGS`' number of partitions."""
    require_pyspark()
    # PySpark warns about pandas versions on import; leadsla hands it Arrow only.
    warnings.filterwarnings("ignore", message="PySpark does not yet fully support pandas")
    from pyspark.sql import SparkSession

    builder = SparkSession.builder.appName(app_name)
    if master is not None:
        builder = builder.master(master)
        if master.startswith("local"):
            for key, value in LOCAL_SETTINGS.items():
                builder = builder.config(key, value)
    for key, value in SETTINGS.items():
        builder = builder.config(key, value)
    session = builder.getOrCreate()
    shuffle = "spark.sql.shuffle.partitions"
    if str(session.sparkContext.master).startswith("local") and (
        session.conf.get(shuffle) == SPARK_DEFAULT_SHUFFLE
    ):
        session.conf.set(shuffle, LOCAL_SETTINGS[shuffle])
    return session
