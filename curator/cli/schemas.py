"""`curator steps` and `curator schemas`: the steps' parameters, and the tables' Arrow schemas (write or check)."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import fail
from curator.errors import ConfigError, CuratorError


def steps(
    plugin: list[str] = typer.Option([], "--plugin", "-p", help="also import this module's steps (repeatable)"),
) -> None:
    """List the pipeline steps with their parameters: type, default and description."""
    import shutil

    from curator.pipeline.step import registered_steps
    from curator.pipeline.step_help import step_help

    try:
        registry = registered_steps(plugin)
    except CuratorError as exc:
        fail(exc)
    width = max(60, min(120, shutil.get_terminal_size((100, 24)).columns))
    for name, cls in registry.items():
        for line in step_help(name, cls, width):
            typer.echo(line)


def schemas(
    run_dirs: list[Path] = typer.Argument(None, help="with --check: the run folders to check", show_default=False),
    out: Path = typer.Option(Path("schemas"), "--out", help="folder to write the JSON schema files to"),
    check: bool = typer.Option(False, "--check", help="instead, check the run folders' tables against the schemas"),
) -> None:
    """Write the Arrow schemas of documents and stats tables as JSON (schemas/), or --check RUN_DIR... ."""
    from curator.schemas_export import export_schemas
    from curator.stats.conformance import check_run

    if run_dirs and not check:
        fail(ConfigError("run folders given without --check: write `curator schemas --check RUN_DIR...`"))
    if not check:
        for path in export_schemas(out):
            typer.echo(str(path))
        return
    if not run_dirs:
        fail(ConfigError("--check needs at least one run folder: `curator schemas --check RUN_DIR...`"))
    failed = False
    for run_dir in run_dirs:
        try:
            checked, problems = check_run(run_dir)
        except CuratorError as exc:
            fail(exc)
        typer.echo(f"{run_dir}: {'OK' if not problems else f'{len(problems)} problem(s)'}: {', '.join(checked)}")
        for problem in problems[:20]:
            typer.echo(f"  {problem}")
        if len(problems) > 20:
            typer.echo(f"  ... and {len(problems) - 20} more")
        failed |= bool(problems)
    if failed:
        raise typer.Exit(1)
