"""The ``leadsla`` command line (SPEC §5): the app, and each command group added to it.

:func:`main` hands the process's environment to :mod:`leadsla.bootstrap`, which wires
what the commands use; the commands read the wall clock on a user's behalf (``--as-of``
defaults to now). Bad input never ends in a traceback: a bad file or option is one
line on stderr and exit status 1; bad rows are reported with their line number,
skipped, and counted, and the good rows still go through.
"""

from __future__ import annotations

import os
import sys
from typing import Annotated

import typer

from leadsla import __version__
from leadsla.bootstrap import Wiring
from leadsla.cli import (
    analytics,
    calendar,
    db,
    demo,
    doctor,
    evaluate,
    imports,
    notifications,
    qualify,
    report,
    serve,
    whatif,
)
from leadsla.cli.common import UserError, err, teardown_skipped, use_wiring
from leadsla.cli.help import tidy_help

app = typer.Typer(
    name="leadsla",
    help="Run the marketing-to-sales SLA: business-hour clocks, escalations and scorecards.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
# `leadsla --help` lists the commands in this order, then the groups in theirs.
for module in (
    calendar,
    evaluate,
    report,
    db,
    serve,
    imports,
    notifications,
    demo,
    qualify,
    analytics,
    whatif,
    doctor,
):
    module.register(app)


def _print_version(asked: bool) -> None:
    if asked:
        typer.echo(f"leadsla {__version__}")
        raise typer.Exit()


@app.callback()
def _options(
    version: Annotated[
        bool,
        typer.Option(
            "--version", is_eager=True, callback=_print_version, help="Print the version and exit."
        ),
    ] = False,
) -> None:
    """Run the marketing-to-sales SLA: business-hour clocks, escalations and scorecards."""


def main() -> None:
    # The one place the environment comes in: every command gets what it names from here.
    use_wiring(Wiring(os.environ))
    command = typer.main.get_command(app)
    tidy_help(command)
    try:
        command()
    except UserError as exc:
        err.print(f"leadsla: error: {exc}", markup=False, soft_wrap=True)
        sys.exit(1)
    except SystemExit as exc:
        if teardown_skipped() and exc.code in (0, None):
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(0)
        raise


if __name__ == "__main__":  # pragma: no cover
    main()
