"""`curator quality train`: a fastText classifier for the fasttext_quality step, with its held-out report."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import fail
from curator.errors import ConfigError, CuratorError

quality_app = typer.Typer(no_args_is_help=True, help="Quality classifiers: train fastText models for fasttext_quality.")


@quality_app.command("train")
def quality_train(
    data: list[str] = typer.Argument(None, help="with --label-column: inputs whose documents carry their label"),
    out: Path = typer.Option(..., "--out", "-o", help="model file (.bin; .ftz with --quantize); report in OUT.json"),
    positive: list[str] = typer.Option([], "--positive", "-p", help="high-quality inputs (repeatable)"),
    negative: list[str] = typer.Option([], "--negative", "-n", help="low-quality inputs (repeatable)"),
    label_column: str | None = typer.Option(
        None, "--label-column", help="label per document: 'source' or a meta field"
    ),
    only_labels: str | None = typer.Option(None, "--only-labels", help="with --label-column: e.g. prose,code,man"),
    positive_label: str = typer.Option("hq", "--positive-label", help="label of --positive documents"),
    negative_label: str = typer.Option("lq", "--negative-label", help="label of --negative documents"),
    epoch: int = typer.Option(5, "--epoch", min=1),
    lr: float = typer.Option(0.1, "--lr", min=0.0),
    dim: int = typer.Option(100, "--dim", min=1),
    word_ngrams: int = typer.Option(2, "--word-ngrams", min=1),
    bucket: int = typer.Option(200_000, "--bucket", min=0, help="hashed n-gram rows (2M = an 838 MB .bin)"),
    min_count: int = typer.Option(1, "--min-count", min=1),
    seed: int = typer.Option(0, "--seed"),
    threads: int = typer.Option(1, "--threads", min=1, help="more is faster but not deterministic"),
    valid_fraction: float = typer.Option(0.1, "--valid-fraction", min=0.0, max=0.99, help="held out for the report"),
    max_docs_per_label: int | None = typer.Option(None, "--max-docs-per-label", min=1),
    quantize: bool = typer.Option(False, "--quantize", help="quantise (qnorm, retrain, cutoff 100k): a small .ftz"),
) -> None:
    """Train a fastText classifier (positive vs negative, or one label per document) and report held-out
    precision, recall and AUC."""
    from curator.filters.fasttext_train import LabelledInput, TrainSettings, train_classifier

    inputs = []
    if label_column:
        if not data:
            fail(ConfigError("--label-column needs the inputs as arguments"))
        only = [x.strip() for x in only_labels.split(",") if x.strip()] if only_labels else None
        inputs.append(LabelledInput(list(data), label_column=label_column, only=only))
    elif data:
        fail(ConfigError("inputs given as arguments need --label-column; otherwise use --positive/--negative"))
    if positive or negative:
        if not (positive and negative):
            fail(ConfigError("give both --positive and --negative"))
        inputs += [LabelledInput(positive, label=positive_label), LabelledInput(negative, label=negative_label)]
    if not inputs:
        fail(ConfigError("nothing to train on: give --positive and --negative, or inputs with --label-column"))
    settings = TrainSettings(
        lr=lr, dim=dim, epoch=epoch, word_ngrams=word_ngrams, bucket=bucket, min_count=min_count, seed=seed,
        threads=threads, valid_fraction=valid_fraction, max_docs_per_label=max_docs_per_label, quantize=quantize,
    )  # fmt: skip
    try:
        report = train_classifier(inputs, out, settings, positive=None if label_column else positive_label)
    except CuratorError as exc:
        fail(exc)
    _print_train_report(report)


def _print_train_report(report) -> None:
    m = report.metrics
    train, valid = sum(report.train_docs.values()), sum(report.valid_docs.values())
    typer.echo(f"model: {report.model} ({report.model_bytes / 1e6:,.1f} MB), labels: {', '.join(report.labels)}")
    typer.echo(
        f"documents: {train:,} trained, {valid:,} held out" + "".join(f", {n:,} {r}" for r, n in report.skipped.items())
    )
    typer.echo("seconds: " + ", ".join(f"{k} {v:.1f}" for k, v in report.seconds.items()))
    if not m.get("docs"):
        typer.echo("no held-out documents: nothing to report (raise --valid-fraction)")
        return
    auc = (
        f", AUC {m['auc']:.3f}" + (f" (P({m['positive']}))" if m.get("positive") else " (mean one-vs-rest)")
        if m["auc"] is not None
        else ""
    )
    typer.echo(f"held out: accuracy {m['accuracy']:.3f}{auc}")
    typer.echo(f"  {'label':<12} {'precision':>9} {'recall':>7} {'f1':>6} {'auc':>6} {'docs':>7}")
    for label, v in m["per_label"].items():
        auc = f"{v['auc']:.3f}" if v["auc"] is not None else "-"
        typer.echo(f"  {label:<12} {v['precision']:9.3f} {v['recall']:7.3f} {v['f1']:6.3f} {auc:>6} {v['docs']:7,}")
    typer.echo(f"report: {report.model}.json")
