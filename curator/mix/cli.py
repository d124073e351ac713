"""`curator mix ...`: thin wrappers over curator.mix (each command is also a Python function)."""

from __future__ import annotations

import typer

mix_app = typer.Typer(no_args_is_help=True, help="Mixing laws: fit proxy runs, predict, CMR, optimise a mixture.")
