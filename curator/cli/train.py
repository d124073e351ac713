"""`curator train`: a small GPT on a mixture's token store; the same command resumes."""

from __future__ import annotations

from pathlib import Path

import typer

from curator.cli.common import fail
from curator.errors import CuratorError


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
        fail(exc)
    typer.echo(summary_line(summary))
    if not quiet and summary.eval_domain_loss:
        shown = ", ".join(f"{name} {loss:.4f}" for name, loss in summary.eval_domain_loss.items())
        typer.echo(f"eval loss per domain: {shown}")
    if summary.stopped:
        typer.echo(f"note: {summary.stopped}", err=True)
