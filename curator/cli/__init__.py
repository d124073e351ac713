"""The `curator` command line: thin wrappers that parse, call the library, and print."""

from __future__ import annotations

import json
import signal
import sys
from pathlib import Path

import typer

from curator.errors import ConfigError, CuratorError, Interrupted

app = typer.Typer(
    add_completion=False,
    no_args_is_help=True,
    pretty_exceptions_enable=False,
    help="Data curation and mixing for language-model training data.",
)


QUIET_HELP = "no progress bars or step table: one summary line (and warnings)"


def _fail(exc: CuratorError) -> None:
    """Print the error and exit with its class's code: 2 usage/config/path, 1 run or data problem (README)."""
    typer.echo(f"error: {exc}", err=True)
    raise typer.Exit(exc.exit_code)


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


@app.command()
def run(
    pipeline: Path = typer.Argument(..., help="pipeline YAML, e.g. pipelines/quickstart.yaml"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder (created, or resumed if it holds this run)"),
    set_: list[str] = typer.Option([], "--set", help="override a config key: --set executor.workers=2"),
    workers: int | None = typer.Option(
        None, "--workers", "-w", min=1, help="processes (default: one per 8 MB of input, at most one per core)"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="validate and print the plan; write nothing"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="start again: remove what an earlier run wrote into this run folder (only that)"
    ),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Run a pipeline into a run folder: output/, stats/, rejects/, completions/, logs/."""
    from curator.pipeline.config import load_pipeline
    from curator.pipeline.plan import plan_tasks

    try:
        config = load_pipeline(pipeline, set_)
        if dry_run:
            for step in config.build_steps():
                step.preflight()
            shards = plan_tasks(config)
            typer.echo(f"pipeline {config.name}: valid")
            typer.echo(f"{len(shards)} task(s), {sum(s.size_bytes for s in shards) / 1e6:,.1f} MB of input files")
            for i, s in enumerate(shards[:20]):
                typer.echo(f"  task {i:5d}  {s.describe()}  source={s.force_source or s.default_source}")
            if len(shards) > 20:
                typer.echo(f"  ... {len(shards) - 20} more")
            typer.echo("steps: " + " -> ".join(["read"] + [next(iter(e)) for e in config.steps] + ["write"]))
            _print_step_notes(config)
            return
        _run_and_report(config, out, workers, overwrite, quiet)
    except CuratorError as exc:
        _fail(exc)


def _run_and_report(config, out: Path, workers: int | None, overwrite: bool, quiet: bool) -> None:
    """Print what the steps want seen first (S-curves), run, then print the summary."""
    from curator.pipeline.executor import run_pipeline

    if not quiet:
        _print_step_notes(config)
    summary = run_pipeline(config, out, workers=workers, overwrite=overwrite, quiet=quiet)
    if summary.tasks_run == 0:
        typer.echo(f"{out}: all {summary.tasks:,} tasks were already done; nothing was run again", err=True)
    if quiet:
        typer.echo(_counts_line(summary))
    else:
        _print_summary(summary, config)
    if summary.duplicate_ids:
        typer.echo(
            f"warning: {summary.duplicate_ids:,} id(s) are shared by more than one kept document (e.g. "
            f"{', '.join(repr(i) for i in summary.duplicate_id_examples)}), so dup_of, drop_listed and "
            "contamination lists cannot tell them apart; add the `unique_ids` step first to keep one document "
            "per id (or map another field with id_field)",
            err=True,
        )


def _counts_line(summary) -> str:
    """The one line --quiet keeps: documents read, kept, dropped, rejected (and where the rejects are)."""
    from curator.pipeline.run_folder import RunFolder

    line = (
        f"{summary.records:,} documents: {summary.kept:,} kept, {summary.dropped:,} dropped, "
        f"{summary.rejected_docs:,} rejected"
    )
    return line + (f" (see {RunFolder(summary.run_dir).rejects_table})" if summary.rejected_docs else "")


def _print_step_notes(config) -> None:
    for step in config.build_steps():
        note = step.describe()
        if note:
            typer.echo(f"{step.name}: {note}")


def _print_summary(summary, config) -> None:
    from curator.pipeline.run_folder import RunFolder
    from curator.pipeline.stats import step_totals

    run = RunFolder(summary.run_dir)
    typer.echo(f"\n{'step':<18}{'rows in':>12}{'rows out':>12}{'dropped':>10}{'MB in':>10}{'seconds':>10}")
    for t in step_totals(run.steps_table):
        typer.echo(
            f"{t['step']:<18}{t['rows_in']:>12,}{t['rows_out']:>12,}{t['dropped']:>10,}"
            f"{t['mb_in']:>10.1f}{t['seconds']:>10.2f}"
        )
    typer.echo(
        f"\n{summary.records:,} documents: {summary.kept:,} kept, {summary.dropped:,} dropped, "
        f"{summary.rejected_docs:,} rejected -> accounted for"
    )
    for reason, n in summary.dropped_by_reason.items():
        typer.echo(f"  dropped {reason}: {n:,}")
    for reason, n in summary.rejects_by_reason.items():
        typer.echo(f"  rejected {reason}: {n:,} (see {run.rejects_table})")
    _print_step_reports(config, run.root)
    typer.echo(f"output: {summary.output_rows:,} rows in {summary.output_files} file(s) under {run.output}")
    typer.echo(f"stats:  {run.docs_table}, {run.steps_table}")


@app.command()
def dedup(
    inputs: list[Path] = typer.Argument(
        ..., help="JSONL/Parquet files or folders, or Hugging Face save_to_disk folders"
    ),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: output/ holds the deduplicated documents"),
    exact: bool = typer.Option(True, "--exact/--no-exact", help="exact dedup on normalised text first"),
    near: bool = typer.Option(True, "--near/--no-near", help="MinHash LSH near-duplicate dedup"),
    num_perm: int = typer.Option(128, "--num-perm", min=1),
    bands: int = typer.Option(42, "--bands", "-b", min=1),
    rows: int = typer.Option(3, "--rows", "-r", min=1),
    ngram: int = typer.Option(5, "--ngram", min=1, help="words per shingle"),
    threshold: float = typer.Option(0.35, "--threshold", min=0.0, max=1.0, help="verified estimated Jaccard"),
    verify: bool = typer.Option(True, "--verify/--no-verify", help="check each candidate pair's estimated Jaccard"),
    clustering: str = typer.Option(
        "star", "--clustering", help="star: drop only documents similar to their kept one | transitive: components"
    ),
    keep: str = typer.Option("first", "--keep", help="representative: first | longest | score"),
    score_column: str | None = typer.Option(None, "--score-column", help="with --keep score"),
    text_field: str = typer.Option("text", "--text-field"),
    id_field: str = typer.Option("id", "--id-field"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1),
    overwrite: bool = typer.Option(False, "--overwrite"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Deduplicate documents on their own: exact then MinHash near-duplicates, into a run folder."""
    from curator.pipeline.config import parse_pipeline

    rule = {"keep": keep, **({"score_column": score_column} if score_column else {})}
    steps = []
    if exact:
        steps.append({"exact_dedup": dict(rule)})
    if near:
        params = dict(num_perm=num_perm, bands=bands, rows=rows, ngram=ngram, threshold=threshold, verify=verify)
        params["clustering"] = clustering
        steps.append({"minhash_dedup": {**params, **rule}})
    if not steps:
        _fail(ConfigError("nothing to do: both --no-exact and --no-near were given"))
    data = {
        "name": "dedup",
        "inputs": [{"path": str(p), "text_field": text_field, "id_field": id_field} for p in inputs],
        "steps": steps,
    }
    try:
        _run_and_report(parse_pipeline(data, "curator dedup"), out, workers, overwrite, quiet)
    except CuratorError as exc:
        _fail(exc)


def _print_step_reports(config, run_dir: Path) -> None:
    """Each step's own summary of what it did (summary_lines: dedup clusters, DSIR fit...)."""
    for position, step in enumerate(config.build_steps()):
        for line in step.summary_lines(run_dir, position):
            typer.echo(line)


@app.command()
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
        _run_and_report(config, out, workers, False, quiet)
        if quiet:  # the report is the point of this command: print it even when quiet
            _print_step_reports(config, out)
    except CuratorError as exc:
        _fail(exc)
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


@app.command()
def sample(
    out: Path = typer.Option(..., "--out", "-o", help="folder for part-NNNN.jsonl.zst and MANIFEST.json"),
    max_docs: int = typer.Option(50_000, "--max-docs", min=1),
    max_mb: float = typer.Option(16.0, "--max-mb", min=0.01, help="megabytes of text"),
    seed: int = typer.Option(0, "--seed"),
    shard_docs: int = typer.Option(500, "--shard-docs", min=1, help="documents per shard file"),
    force: bool = typer.Option(False, "--force", help="rebuild even if the same corpus is there"),
) -> None:
    """Build the sample corpus (prose, code, man pages, package docs) from text on this machine."""
    from curator.sample import build_sample

    try:
        manifest = build_sample(out, max_docs=max_docs, max_mb=max_mb, seed=seed, shard_docs=shard_docs, force=force)
    except CuratorError as exc:
        _fail(exc)
    typer.echo(
        f"{manifest['docs']:,} documents, {manifest['bytes'] / 1e6:.1f} MB in {len(manifest['files'])} "
        f"shard(s) under {out}"
    )
    for name, s in sorted(manifest["sources"].items()):
        typer.echo(f"  {name:<6} {s['docs']:>7,} docs {s['bytes'] / 1e6:>8.1f} MB")


quality_app = typer.Typer(no_args_is_help=True, help="Quality classifiers: train fastText models for fasttext_quality.")
app.add_typer(quality_app, name="quality")


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
            _fail(ConfigError("--label-column needs the inputs as arguments"))
        only = [x.strip() for x in only_labels.split(",") if x.strip()] if only_labels else None
        inputs.append(LabelledInput(list(data), label_column=label_column, only=only))
    elif data:
        _fail(ConfigError("inputs given as arguments need --label-column; otherwise use --positive/--negative"))
    if positive or negative:
        if not (positive and negative):
            _fail(ConfigError("give both --positive and --negative"))
        inputs += [LabelledInput(positive, label=positive_label), LabelledInput(negative, label=negative_label)]
    if not inputs:
        _fail(ConfigError("nothing to train on: give --positive and --negative, or inputs with --label-column"))
    settings = TrainSettings(
        lr=lr, dim=dim, epoch=epoch, word_ngrams=word_ngrams, bucket=bucket, min_count=min_count, seed=seed,
        threads=threads, valid_fraction=valid_fraction, max_docs_per_label=max_docs_per_label, quantize=quantize,
    )  # fmt: skip
    try:
        report = train_classifier(inputs, out, settings, positive=None if label_column else positive_label)
    except CuratorError as exc:
        _fail(exc)
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


tokenizer_app = typer.Typer(no_args_is_help=True, help="Tokenizers: train a byte-level BPE for the tokenize step.")
app.add_typer(tokenizer_app, name="tokenizer")


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
        _fail(exc)
    typer.echo(f"tokenizer: {info['path']} ({info['vocab_size']:,} tokens, trained on {info['docs']:,} documents)")


buckets_app = typer.Typer(no_args_is_help=True, help="Dataset Decomposition buckets: reports.")
app.add_typer(buckets_app, name="buckets")


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
        _fail(exc)
    typer.echo(markdown(report))
    paths = write_report(report, out or run_dir / "reports")
    typer.echo("written: " + ", ".join(str(p) for p in paths.values()))


mixture_app = typer.Typer(no_args_is_help=True, help="Mixtures: build a token store per domain, show the epochs.")
app.add_typer(mixture_app, name="mixture")


@mixture_app.command("build")
def mixture_build(
    mixture: Path = typer.Argument(..., help="mixture YAML, e.g. pipelines/mixture.yaml"),
    out: Path | None = typer.Option(None, "--out", "-o", help="token store folder (default: the mixture's `store:`)"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1, help="processes per domain run"),
    overwrite: bool = typer.Option(False, "--overwrite", help="rebuild every domain from scratch"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress bars: one line per domain"),
) -> None:
    """Build (or resume) the token store of a mixture: one curator run per domain under STORE/domains/."""
    from curator.loader.build import build_store
    from curator.loader.mixture import load_mixture

    try:
        config = load_mixture(mixture)
        meta = build_store(config, out, workers=workers, overwrite=overwrite, quiet=quiet)
    except CuratorError as exc:
        _fail(exc)
    for name, info in meta["domains"].items():
        held = info.get("heldout") or {}
        extra = f"; {held['docs']:,} held out ({held['tokens']:,} tokens)" if held else ""
        typer.echo(f"{name}: {info['docs']:,} docs, {info['tokens']:,} tokens, {len(info['shards'])} shard(s){extra}")
    typer.echo(f"store: {out or config.store} ({meta['dtype']}, tokenizer {meta['tokenizer']['path']})")


@mixture_app.command("show")
def mixture_show(
    mixture: Path = typer.Argument(..., help="mixture YAML whose store was built"),
    out: Path | None = typer.Option(None, "--out", "-o", help="token store folder (default: the mixture's `store:`)"),
    tokens: int | None = typer.Option(None, "--tokens", "-t", help="token budget (default: the store's tokens)"),
) -> None:
    """Per domain: docs, tokens, natural weight (token share), chosen weight, epochs at a token budget."""
    from curator.loader.epochs import epochs_table
    from curator.loader.mixture import load_mixture
    from curator.loader.store import TokenStore

    try:
        config = load_mixture(mixture)
        budget, rows = epochs_table(config, TokenStore(out or config.store), tokens)
    except CuratorError as exc:
        _fail(exc)
    typer.echo(
        f"{'domain':<16} {'docs':>10} {'tokens':>14} {'natural':>8} {'weight':>7} {'epochs':>8} {'held-out docs':>14}"
    )
    for r in rows:
        flag = f"  over max_epochs {r.max_epochs:g}" if r.over else ""
        typer.echo(
            f"{r.name:<16} {r.docs:>10,} {r.tokens:>14,} {r.natural:>8.3f} {r.weight:>7.3f} {r.epochs:>8.2f} "
            f"{r.heldout_docs:>14,}{flag}"
        )
    typer.echo(
        f"at a budget of {budget:,} tokens (epochs = budget x weight / tokens); held-out documents are for "
        "validation only (not in docs / tokens)"
    )
    built = TokenStore(out or config.store).meta.get("holdout")
    if built is not None and abs(float(built) - config.holdout) > 1e-12:
        typer.echo(
            f"warning: the store was built with holdout {built:g}, the mixture says {config.holdout:g}; rebuild it "
            "(curator mixture build --overwrite) for the mixture's split",
            err=True,
        )


from curator.cli.mix import mix_app  # noqa: E402

app.add_typer(mix_app, name="mix")


@app.command("train")
def train_cmd(
    config: Path = typer.Argument(..., help="training YAML, e.g. pipelines/train.yaml"),
    out: Path = typer.Option(..., "--out", "-o", help="training run folder (created, or resumed from its checkpoint)"),
    set_: list[str] = typer.Option([], "--set", help="override a config key: --set model.d_model=128"),
    steps: int | None = typer.Option(None, "--steps", min=1, help="optimizer steps (overrides the config's)"),
    reweight: str | None = typer.Option(
        None, "--reweight", help="sample reweighting strategy: uniform, linupper, quadratic, extremes"
    ),
    policy: str | None = typer.Option(None, "--policy", help="domain policy: static, schedule, odm, doremi"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help="no progress: the summary line only"),
    overwrite: bool = typer.Option(
        False, "--overwrite", help="start again: remove the run's checkpoints, logs and config (not other files)"
    ),
) -> None:
    """Train a small GPT on a mixture's token store (CPU); rerun the same command to resume."""
    from curator.train.trainer import summary_line, train

    overrides = list(set_) + ([f"steps={steps}"] if steps is not None else [])
    overrides += [f"reweight.strategy={reweight}"] if reweight is not None else []
    overrides += [f"policy.name={policy}"] if policy is not None else []
    try:
        summary = train(config, out, resume=True, quiet=quiet, overrides=overrides, overwrite=overwrite)
    except CuratorError as exc:
        _fail(exc)
    typer.echo(summary_line(summary))
    if not quiet and summary.eval_domain_loss:
        shown = ", ".join(f"{name} {loss:.4f}" for name, loss in summary.eval_domain_loss.items())
        typer.echo(f"eval loss per domain: {shown}")
    if summary.stopped:
        typer.echo(f"note: {summary.stopped}", err=True)


def _is_folder(arg: str) -> bool:
    """True for an existing folder; False for anything else, a long SQL query included (no OSError)."""
    try:
        return Path(arg).is_dir()
    except (OSError, ValueError):
        return False


@app.command()
def sql(
    args: list[str] = typer.Argument(
        ...,
        help="RUN_DIR... then QUERY (views: docs, steps, rejects, text, clusters, dsir_weights, buckets, "
        "contamination, mixture_log, train_log; those a run has)",
    ),
    db: Path | None = typer.Option(None, "--db", help="keep the views in this DuckDB catalog file for other clients"),
    fmt: str = typer.Option("table", "--format", "-f", help="table | csv | json | parquet"),
    output: Path | None = typer.Option(None, "--output", "-o", help="file for csv/json/parquet (csv/json: stdout)"),
    max_rows: int = typer.Option(50, "--max-rows", min=1, help="rows printed by --format table"),
) -> None:
    """Query one or many run folders with DuckDB SQL; each view has a `run` column naming its run folder.

    curator sql runs/quickstart "SELECT source, kept, count(*) FROM docs GROUP BY ALL ORDER BY ALL"
    """
    from curator.stats.query import run_query
    from curator.stats.views import connect

    query = None if _is_folder(args[-1]) else args[-1]
    run_dirs = args if query is None else args[:-1]
    try:
        con, notes, views = connect(run_dirs, db)
        for note in notes:
            typer.echo(f"note: {note}", err=True)
        if query is None:
            typer.echo(f"views: {', '.join(views)}" + (f" (catalog {db})" if db else ""))
            return
        sys.stdout.flush()  # csv/json without --output are written to the byte stream under it
        result = run_query(con, query, views, fmt, output, max_rows, stream=sys.stdout.buffer)
        if result is not None:
            typer.echo(result)
    except CuratorError as exc:
        _fail(exc)


@app.command()
def stats(
    run_dir: Path = typer.Argument(..., help="a run folder (the --out of `curator run`)"),
    out: Path | None = typer.Option(None, "--out", help="folder for stats.md/.json/.png (default RUN_DIR/reports)"),
    plot: bool = typer.Option(True, "--plot/--no-plot", help="also draw reports/stats.png"),
) -> None:
    """The corpus report: per-source flow through the steps, drop funnel, lengths, duplicates, languages, scores."""
    from curator.stats.render import markdown, write_report
    from curator.stats.report import corpus_report

    try:
        report = corpus_report(run_dir)
    except CuratorError as exc:
        _fail(exc)
    for note in report["notes"]:
        typer.echo(f"note: {note}", err=True)
    typer.echo(markdown(report))
    paths = write_report(report, out or run_dir / "reports", with_plot=plot)
    typer.echo("written: " + ", ".join(str(p) for p in paths.values()))


@app.command()
def contamination(
    run_dir: Path = typer.Argument(..., help="a finished run folder; its output/ documents are checked"),
    benchmark: Path = typer.Option(..., "--benchmark", "-b", help="benchmark items: JSONL / Parquet / HF folder"),
    ngram: int = typer.Option(13, "--ngram", "-n", help="words per n-gram"),
    min_matches: int = typer.Option(1, "--min-matches", help="n-grams in common that make a document contaminated"),
    text_field: str = typer.Option("text", "--text-field", help="benchmark field holding the item text"),
    id_field: str = typer.Option("id", "--id-field", help="benchmark field holding the item id"),
    mark: bool = typer.Option(False, "--mark", help="also write contamination/ids/<benchmark>.parquet for drop_listed"),
) -> None:
    """Word n-gram overlap of a run's documents with a benchmark, per source; --mark lists them for removal."""
    from curator.stats.contamination import load_benchmark, markdown, scan_run

    try:
        bench = load_benchmark(benchmark, ngram, text_field, id_field)
        report = scan_run(run_dir, bench, min_matches, mark)
    except CuratorError as exc:
        _fail(exc)
    typer.echo(markdown(report))
    (run_dir / "contamination" / f"{bench.name}.json").write_text(json.dumps(report, indent=1))


@app.command()
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
        _fail(exc)
    width = max(60, min(120, shutil.get_terminal_size((100, 24)).columns))
    for name, cls in registry.items():
        for line in step_help(name, cls, width):
            typer.echo(line)


@app.command()
def schemas(
    run_dirs: list[Path] = typer.Argument(None, help="with --check: the run folders to check", show_default=False),
    out: Path = typer.Option(Path("schemas"), "--out", help="folder to write the JSON schema files to"),
    check: bool = typer.Option(False, "--check", help="instead, check the run folders' tables against the schemas"),
) -> None:
    """Write the Arrow schemas of documents and stats tables as JSON (schemas/), or --check RUN_DIR... ."""
    from curator.schemas_export import export_schemas
    from curator.stats.conformance import check_run

    if run_dirs and not check:
        _fail(ConfigError("run folders given without --check: write `curator schemas --check RUN_DIR...`"))
    if not check:
        for path in export_schemas(out):
            typer.echo(str(path))
        return
    if not run_dirs:
        _fail(ConfigError("--check needs at least one run folder: `curator schemas --check RUN_DIR...`"))
    failed = False
    for run_dir in run_dirs:
        try:
            checked, problems = check_run(run_dir)
        except CuratorError as exc:
            _fail(exc)
        typer.echo(f"{run_dir}: {'OK' if not problems else f'{len(problems)} problem(s)'}: {', '.join(checked)}")
        for problem in problems[:20]:
            typer.echo(f"  {problem}")
        if len(problems) > 20:
            typer.echo(f"  ... and {len(problems) - 20} more")
        failed |= bool(problems)
    if failed:
        raise typer.Exit(1)


def _interrupt(signum, frame) -> None:
    """Ctrl-C and SIGTERM unwind the command (workers stopped, nothing half-published), then main() reports."""
    raise Interrupted(signum)


def main() -> None:
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
