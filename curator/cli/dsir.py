"""`curator dsir`: DSIR selection from a raw pool toward a target, without a pipeline YAML."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import QUIET_HELP, fail
from curator.cli.run import print_step_reports, run_and_report
from curator.errors import CuratorError


def dsir(
    inputs: list[Path] = typer.Option(..., "--input", "-i", help="raw pool: JSONL/Parquet files, folders, globs"),
    target: str = typer.Option(..., "--target", "-t", help="target documents (JSONL/Parquet/save_to_disk)"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: output/ holds the selected documents"),
    k: int | None = typer.Option(None, "--k", "-k", min=1, help="documents to select"),
    fraction: float | None = typer.Option(None, "--fraction", min=0.0, max=1.0, help="or: a share of the pool"),
    method: str = typer.Option("gumbel", "--method", help="gumbel | top_k | replacement"),
    temperature: float = typer.Option(1.0, "--temperature", min=0.0, help="w^(1/T); > 1 flattens peaked weights"),
    weight: str = typer.Option("sum", "--weight", help="sum (data-selection) | length_normalized | chunk"),
    chunk_words: int = typer.Option(128, "--chunk-words", min=1, help="tokens per chunk (weight chunk, KL report)"),
    min_length: int = typer.Option(100, "--min-length", min=0, help="tokens; shorter documents are never selected"),
    num_buckets: int = typer.Option(10_000, "--buckets", min=1),
    ngrams: int = typer.Option(2, "--ngrams", min=1, max=5),
    heldout: float = typer.Option(0.1, "--heldout", min=0.0, max=0.99, help="target share held out for KL"),
    seed: int = typer.Option(0, "--seed"),
    compare_fasttext: str | None = typer.Option(
        None, "--compare-fasttext", help="'auto' (train target vs pool) or a model: its top-k KL reduction too"
    ),
    allow_fewer: bool = typer.Option(False, "--allow-fewer", help="select all eligible when k exceeds them"),
    text_field: str = typer.Option("text", "--text-field"),
    id_field: str = typer.Option("id", "--id-field"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1),
    overwrite: bool = typer.Option(False, "--overwrite"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Select the k documents of a raw pool that look most like a target (DSIR), and report the KL reduction."""
    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.run_folder import RunFolder

    params = dict(
        target={"path": target, "text_field": text_field, "id_field": id_field}, method=method,
        temperature=temperature, weight=weight, chunk_words=chunk_words, min_length=min_length,
        num_buckets=num_buckets, ngrams=ngrams,
        heldout_fraction=heldout, allow_fewer=allow_fewer, seed=seed,
        **({"k": k} if k is not None else {}), **({"fraction": fraction} if fraction is not None else {}),
    )  # fmt: skip
    lock = None
    try:
        lock = RunFolder(out).claim(overwrite=overwrite)  # before the comparison model is trained into it
        if compare_fasttext == "auto":
            params["compare_model"] = str(_train_compare_model(target, [str(p) for p in inputs], out, seed, quiet))
        elif compare_fasttext:
            params["compare_model"] = compare_fasttext
        data = {
            "name": "dsir",
            "seed": 0,
            "inputs": [{"path": str(p), "text_field": text_field, "id_field": id_field} for p in inputs],
            "steps": [{"dsir_select": params}],
        }
        config = parse_pipeline(data, "curator dsir")
        run_and_report(config, out, workers, False, quiet)
        if quiet:  # the report is the point of this command: print it even when quiet
            print_step_reports(config, out)
    except CuratorError as exc:
        fail(exc)
    finally:
        if lock is not None:
            lock.release()


def _train_compare_model(target: str, inputs: list[str], out: Path, seed: int, quiet: bool) -> Path:
    """A fastText target-vs-pool classifier for the comparison row (trained once per run folder)."""
    from curator.filters.fasttext_train import LabelledInput, TrainSettings, train_classifier

    model = out / "compare" / "fasttext.bin"
    if not model.exists():
        if not quiet:
            typer.echo(f"training the comparison fastText classifier (target vs pool) into {model}")
        settings = TrainSettings(seed=seed, max_docs_per_label=50_000)
        inputs_ = [LabelledInput([target], label="target"), LabelledInput(inputs, label="raw")]
        train_classifier(inputs_, model, settings, positive="target")
    return model
