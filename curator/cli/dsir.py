"""`curator dsir`: DSIR selection from a raw pool toward a target, without a pipeline YAML; the dsir_select
parameters are flags made from the step model (step_flags.py)."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import QUIET_HELP, fail
from curator.cli.run import print_step_reports, run_and_report
from curator.cli.step_flags import FlagSpec, StepFlags, with_step_flags
from curator.errors import ConfigError, CuratorError
from curator.select.dsir import DsirSelect

DSIR_FLAGS = FlagSpec(
    models=(DsirSelect,),
    names={"num_buckets": "--buckets", "heldout_fraction": "--heldout", "compare_model": "--compare-fasttext"},
    short={"k": "-k"},
    help={"compare_model": "'auto' (train target vs pool) or a model: its top-k KL reduction too"},
    given={"target": "--target"},
)


@with_step_flags(DSIR_FLAGS, "curator dsir")
def dsir(
    inputs: list[Path] = typer.Option(..., "--input", "-i", help="raw pool: JSONL/Parquet files, folders, globs"),
    target: str = typer.Option(..., "--target", "-t", help="target documents (JSONL/Parquet/save_to_disk)"),
    out: Path = typer.Option(..., "--out", "-o", help="run folder: output/ holds the selected documents"),
    flags: StepFlags = None,  # one option per field of dsir_select, made by with_step_flags
    text_field: str = typer.Option("text", "--text-field"),
    id_field: str = typer.Option("id", "--id-field"),
    workers: int | None = typer.Option(None, "--workers", "-w", min=1),
    overwrite: bool = typer.Option(False, "--overwrite"),
    quiet: bool = typer.Option(False, "--quiet", "-q", help=QUIET_HELP),
) -> None:
    """Select the k documents of a raw pool that look most like a target (DSIR), and report the KL reduction."""
    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.run_folder import RunFolder

    given = {"target": {"path": target, "text_field": text_field, "id_field": id_field}}
    auto = flags["compare_model"] == "auto"
    lock = None
    try:
        flags.steps((DsirSelect, given | ({"compare_model": None} if auto else {})))  # the options, before any work
        lock = RunFolder(out).claim(overwrite=overwrite)  # before the comparison model is trained into it
        if auto:
            model = _train_compare_model(target, [str(p) for p in inputs], out, flags["seed"], quiet)
            given["compare_model"] = str(model)
        data = {
            "name": "dsir",
            "seed": 0,
            "inputs": [{"path": str(p), "text_field": text_field, "id_field": id_field} for p in inputs],
            "steps": flags.steps((DsirSelect, given)),
        }
        try:
            config = parse_pipeline(data, "curator dsir")
        except ConfigError as exc:
            raise flags.explain(exc) from None
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
