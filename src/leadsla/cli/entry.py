"""The ``leadsla`` executable's entry: the command line imported as a one-shot
process's long-lived modules (:func:`~leadsla.report.heap.long_lived_imports`), then run.
"""

from __future__ import annotations

from leadsla.report.heap import long_lived_imports


def run() -> None:
    with long_lived_imports():
        from leadsla.cli.main import main
    main()
