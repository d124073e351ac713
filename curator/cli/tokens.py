"""`curator tokenizer train` and `curator buckets report`: the tokenizer and the Dataset Decomposition buckets."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import fail
from curator.errors import CuratorError

tokenizer_app = typer.Typer(no_args_is_help=True, help="Tokenizers: train a byte-level BPE for the tokenize step.")


@tokenizer_app.command("train")
def tokenizer_train(
    data: list[str] = typer.Argument(..., help="JSONL/Parquet files, globs, folders or HF save_to_disk folders"),
    out: Path = typer.Option(..., "--out", "-o", help="tokenizer.json to write"),
    vocab_size: int = typer.Option(8192, "--vocab-size", min=260, help="<= 65,536 stores tokens as uint16"),
    min_frequency: int = typer.Option(2, "--min-frequency", min=1),
    max_docs: int | None = typer.Option(None, "--max-docs", min=1, help="train on the first N documents"),
    text_field: str = typer.Option("text", "--text-field"),
) -> None:
    """Train a byte-level BPE tokenizer (GPT-2 style, with <|endoftext|>) on local documents."""
    from itertools import chain

    from curator.buckets.tokenizer import train_tokenizer
    from curator.pipeline.config import InputConfig
    from curator.pipeline.side_input import side_input_batches

    try:
        batches = chain.from_iterable(side_input_batches(InputConfig(path=p, text_field=text_field)) for p in data)
        info = train_tokenizer(batches, out, vocab_size, min_frequency, max_docs=max_docs)
    except CuratorError as exc:
        fail(exc)
    typer.echo(f"tokenizer: {info['path']} ({info['vocab_size']:,} tokens, trained on {info['docs']:,} documents)")


buckets_app = typer.Typer(no_args_is_help=True, help="Dataset Decomposition buckets: reports.")


@buckets_app.command("report")
def buckets_report(
    run_dir: Path = typer.Argument(..., help="a run folder whose pipeline had a `tokenize` step"),
    context: list[int] = typer.Option([2048, 8192], "--context", "-c", help="context lengths (repeatable)"),
    min_bucket: int = typer.Option(8, "--min-bucket", min=0, max=20, help="Dataset Decomposition's shortest 2^i"),
    out: Path | None = typer.Option(None, "--out", help="folder for buckets.md/.json/.png (default RUN/reports)"),
) -> None:
    """Padding, drops, cross-document attention and attention cost of concat-and-chunk, document masking,
    best-fit-decreasing and Dataset Decomposition at each context length, per source; with plots."""
    from curator.buckets.report import bucket_report, markdown, write_report

    try:
        report = bucket_report(run_dir, tuple(context), min_bucket)
    except CuratorError as exc:
        fail(exc)
    typer.echo(markdown(report))
    paths = write_report(report, out or run_dir / "reports")
    typer.echo("written: " + ", ".join(str(p) for p in paths.values()))
