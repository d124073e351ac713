"""The `curator` command line: one Typer app; each command group is a small module of thin wrappers that parse,
call the library and print (run.py, dedup.py, dsir.py, quality.py, tokens.py, mixture.py, mix.py, train.py,
stats.py, schemas.py, sample.py)."""

from __future__ import annotations

import signal
import sys

import typer

from curator.cli import dedup, dsir, run, sample, schemas, stats, train
from curator.cli.mix import mix_app
from curator.cli.mixture import mixture_app
from curator.cli.quality import quality_app
from curator.cli.tokens import buckets_app, tokenizer_app
from curator.errors import Interrupted

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Data curation and mixing for language-model training data.",
)


def _version() -> str:
    """The installed package's version (importlib.metadata), or curator.__version__ when run from a checkout."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("curator")
    except PackageNotFoundError:
        from curator import __version__

        return __version__


def _print_version(value: bool) -> None:
    if value:
        typer.echo(f"curator {_version()}")
        raise typer.Exit()


@app.callback()
def _options(
    version: bool = typer.Option(
        False, "--version", "-V", callback=_print_version, is_eager=True, help="print the version and exit"
    ),
) -> None:
    """Data curation and mixing for language-model training data."""


# the order here is the order of `curator --help`
app.command()(run.run)
app.command()(dedup.dedup)
app.command()(dsir.dsir)
app.command()(sample.sample)
app.command("train")(train.train_cmd)
app.command()(stats.sql)
app.command()(stats.stats)
app.command()(stats.contamination)
app.command()(schemas.steps)
app.command()(schemas.schemas)
app.add_typer(quality_app, name="quality")
app.add_typer(tokenizer_app, name="tokenizer")
app.add_typer(buckets_app, name="buckets")
app.add_typer(mixture_app, name="mixture")
app.add_typer(mix_app, name="mix")


def _interrupt(signum, frame) -> None:
    """Ctrl-C and SIGTERM unwind the command (workers stopped, nothing half-published), then main() reports."""
    raise Interrupted(signum)


def main() -> None:
    """The console script: run the app; an interrupt exits 128 + the signal number with a resume hint."""
    signal.signal(signal.SIGINT, _interrupt)
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        app()
    except (Interrupted, KeyboardInterrupt) as exc:
        signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the message
        typer.echo("interrupted; re-run the same command to resume", err=True)
        sys.exit(128 + getattr(exc, "signum", signal.SIGINT))


if __name__ == "__main__":
    main()
