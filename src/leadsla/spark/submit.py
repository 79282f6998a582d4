"""The program ``spark-submit`` runs: ``leadsla evaluate`` and ``leadsla report`` on the
cluster spark-submit starts (docs/scale.md)::

    spark-submit --master yarn --py-files leadsla-0.1.0-py3-none-any.whl \\
        "$(python -c 'import leadsla.spark.submit as m; print(m.__file__)')" \\
        evaluate --config leadsla.yaml --events s3a://crm/events/ --output s3a://sla/clocks/

spark-submit wants a file, not a module, hence this one beside the adapter. Its
arguments are the command line's; ``evaluate`` and ``report`` run with ``--engine
spark`` unless told otherwise, in the session spark-submit configured.
"""

from __future__ import annotations

import sys

# spark-submit runs this file as a script, which puts this folder first on sys.path;
# nothing here shadows a module of Python's or of a dependency (see docs/scale.md).
from leadsla.cli.main import main

SPARK_COMMANDS = ("evaluate", "report")


def spark_arguments(arguments: list[str]) -> list[str]:
    """The command line's arguments, ``--engine spark`` added to a Spark command that
    names no engine."""
    if arguments and arguments[0] in SPARK_COMMANDS:
        named = any(a == "--engine" or a.startswith("--engine=") for a in arguments)
        if not named:
            return [*arguments, "--engine", "spark"]
    return arguments


def run() -> None:
    sys.argv = ["leadsla", *spark_arguments(sys.argv[1:])]
    main()


if __name__ == "__main__":
    run()
