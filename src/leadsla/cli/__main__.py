"""``python -m leadsla.cli``: the same entry as the ``leadsla`` command."""

from leadsla.cli.entry import run

run()
