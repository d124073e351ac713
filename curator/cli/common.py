"""What the commands share: the error exit (one exit code per error class) and the --quiet help."""

from __future__ import annotations

from typing import NoReturn

import typer

from curator.errors import CuratorError

QUIET_HELP = "no progress bars or step table: one summary line (and warnings)"


def fail(exc: CuratorError) -> NoReturn:
    """Print the error and exit with its class's code: 2 usage/config/path, 1 run or data problem (README)."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)
