"""leadsla on Apache Spark: the same replay and figures, one group of leads per task.

A history too large for one machine is read by Spark from wherever it lies (Parquet,
CSV, a table of the metastore), its rows spread into groups by a hash of the lead id,
and each group, whole leads only, goes through leadsla's own reader and core in a
Python worker (:mod:`.clocks`). Nothing here computes a figure or a clock itself.

* :mod:`.session`: the Spark session, and the one clear error when PySpark is missing.
* :mod:`.sources`: events from a path or a table, as four text columns and a row order.
* :mod:`.clocks`: the clock rows of ``leadsla evaluate --engine spark``, written back
  as Parquet or as the clocks CSV.
* :mod:`.submit`: the entry point for ``spark-submit``.

PySpark is imported only by the commands that use it (the ``spark`` extra). See
``docs/scale.md``.
"""
