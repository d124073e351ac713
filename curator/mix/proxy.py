"""`curator mix proxy`: train small proxy LMs at a designed set of mixtures and collect a runs table.

Every design point is one `curator train` run on the same token store with the domain weights replaced (and
`max_epochs` caps dropped: a proxy may repeat a small domain). Each run evaluates every domain on its held-out
documents at `evals` evenly spaced checkpoints; every evaluation becomes one runs-table row (run, model,
params, tokens, w:<domain>..., loss:<domain>...). Continual pre-training (`cpt`): one base run on the general
domain alone (the training config's schedule), then every design point continues from its final checkpoint at
a constant learning rate equal to the base's last one (never re-warmed), with `tokens` counted from the
start of continual pre-training and a tokens = 0 row holding the base model's losses.

Layout of OUT: runs/NAME/ (training run folders), mixtures/NAME.yaml (each proxy's mixture), runs.parquet
(the runs table, rewritten atomically from every finished run after each one finishes). A run is named by a
hash of what it trains (weights, seed, steps, train config, base run), so re-running skips finished runs,
resumes an interrupted one from its checkpoint, and a larger design only adds the new points.
"""

from __future__ import annotations

import hashlib
import json
import os
import warnings
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import yaml

from curator.errors import ConfigError
from curator.loader.mixture import MixtureConfig, load_mixture
from curator.loader.store import TokenStore
from curator.mix.runs_table import W, normalize_weights, read_table, write_runs
from curator.pipeline.run_folder import write_atomic

RUNS_FILE = "runs.parquet"


@dataclass
class ContinualPretraining:
    """CPT mode: a base run of `base_steps` on the `general` domain, then each design point continues from it."""

    general: str
    base_steps: int


@dataclass
class ProxySummary:
    """What a proxy sweep did: the runs table, runs trained now, runs found finished, rows written."""

    runs_table: Path
    trained: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    rows: int = 0


def ratio_design(domain: str, general: str, ratios: Sequence[float], names: Sequence[str]) -> list[dict[str, float]]:
    """Two-domain mixtures: `domain` at each ratio r, `general` at 1 - r, every other domain at 0."""
    for name in (domain, general):
        if name not in names:
            raise ConfigError(f"--domain/--general: unknown domain '{name}'; the mixture has {', '.join(names)}")
    if domain == general:
        raise ConfigError(f"--domain and --general are both '{domain}'; give two different domains")
    bad = [r for r in ratios if not (0.0 <= r <= 1.0)]
    if bad or not ratios:
        raise ConfigError(f"--ratios must be numbers in [0, 1], got {list(ratios)}")
    return [{n: (r if n == domain else 1.0 - r if n == general else 0.0) for n in names} for r in ratios]


def read_design(path: str | Path, names: Sequence[str]) -> list[dict[str, float]]:
    """Mixtures from a CSV/Parquet table with one `w:<domain>` column per mixture domain (a missing domain
    column is weight 0; other columns are ignored); rows off 1 by rounding are renormalised, others refused."""
    table = read_table(path, "design table")
    cols = [c for c in table.column_names if c.startswith(W)]
    unknown = sorted(c[len(W) :] for c in cols if c[len(W) :] not in names)
    if unknown:
        raise ConfigError(
            f"design table {path}: unknown domain(s) {', '.join(unknown)} (columns w:...); the mixture has "
            f"{', '.join(names)}"
        )
    if not cols:
        raise ConfigError(f"design table {path}: no w:<domain> columns (it has {', '.join(table.column_names)})")
    if table.num_rows == 0:
        raise ConfigError(f"design table {path} has no rows")
    weights = np.column_stack(
        [
            table.column(f"{W}{n}").cast(pa.float64()).to_numpy(zero_copy_only=False)
            if f"{W}{n}" in cols
            else np.zeros(table.num_rows)
            for n in names
        ]  # fmt: skip
    )
    weights, notes = normalize_weights(weights, [f"row {i + 1}" for i in range(len(weights))], f"design table {path}")
    for note in notes:
        warnings.warn(note, stacklevel=2)
    return [dict(zip(names, map(float, row), strict=True)) for row in weights]


def _check_weights(w: dict[str, float], where: str) -> dict[str, float]:
    values, _ = normalize_weights(np.array([list(w.values())], np.float64), [where], "the design")
    return dict(zip(w, map(float, values[0]), strict=True))


def natural_weights(mixture: MixtureConfig) -> dict[str, float]:
    """Each domain's share of the store's training tokens."""
    store = TokenStore(mixture.store)
    tokens = {n: int(store.meta["domains"][n]["tokens"]) for n in mixture.names}
    total = sum(tokens.values())
    return {n: t / total for n, t in tokens.items()}


def run_proxies(
    mixture: str | Path,
    design: list[dict[str, float]],
    out: str | Path,
    train_config: str | Path | dict | None = None,
    steps: int = 200,
    evals: int = 10,
    seeds: Sequence[int] = (0,),
    cpt: ContinualPretraining | None = None,
    quiet: bool = True,
    on_run: Callable[[str, bool], None] | None = None,
) -> ProxySummary:
    """Train (or resume, or skip) one proxy per (design point, seed) into OUT and write OUT/runs.parquet.

    `train_config` is a training YAML or dict (its `mixture`, `steps`, eval and checkpoint settings are set
    here); default: the recipe's sizes (curator.train.config defaults). Memory: one proxy model at a time.
    """
    from curator.train.config import parse_train_config
    from curator.train.trainer import train

    mix = load_mixture(mixture)
    if steps < 1 or evals < 1 or evals > steps:
        raise ConfigError(f"need steps >= 1 and 1 <= evals <= steps, got steps {steps}, evals {evals}")
    if not design:
        raise ConfigError("the design has no mixtures")
    design = [_check_weights({n: float(d.get(n, 0.0)) for n in mix.names}, f"design row {i + 1}")
              for i, d in enumerate(design)]  # fmt: skip
    base = _base_config(train_config)
    out = Path(out)
    (out / "runs").mkdir(parents=True, exist_ok=True)
    eval_every = max(1, steps // evals)
    summary = ProxySummary(out / RUNS_FILE)
    base_run = None
    if cpt is not None:
        if cpt.general not in mix.names:
            raise ConfigError(f"cpt: unknown general domain '{cpt.general}'; the mixture has {', '.join(mix.names)}")
        base_weights = {n: float(n == cpt.general) for n in mix.names}
        cfg = {**base, "steps": cpt.base_steps}  # the training config's schedule (cosine by default)
        base_lr = parse_train_config({**cfg, "mixture": str(mixture)}, "proxy base config").lr_at(cpt.base_steps)
        cfg.update(eval_every=cpt.base_steps, checkpoint_every=cpt.base_steps, keep_checkpoints=1)
        base_run = _one(out, mix, base_weights, cfg, seeds[0], "base", train, quiet, summary, on_run)
    runs = []
    for seed in seeds:
        for weights in design:
            cfg = {**base, "steps": steps, "eval_every": eval_every, "checkpoint_every": eval_every}
            cfg["keep_checkpoints"] = 1
            if base_run is not None:
                cfg.update(init_from=str(base_run), schedule="constant", warmup_steps=0, lr=base_lr)
            parse_train_config({**cfg, "mixture": str(mixture)}, "proxy training config")  # fail before training
            runs.append(_one(out, mix, weights, cfg, seed, "p", train, quiet, summary, on_run))
            summary.rows = write_runs_table(out, mix.names, runs, base_run)
    return summary


def _base_config(train_config: str | Path | dict | None) -> dict:
    if train_config is None:
        return {}
    if isinstance(train_config, dict):
        return dict(train_config)
    from curator.pipeline.config import read_yaml_file

    data = read_yaml_file(train_config, "training config")
    if not isinstance(data, dict):
        raise ConfigError(f"{train_config}: a training config is a YAML mapping")
    return data


def _one(out, mix, weights, cfg, seed, prefix, train, quiet, summary, on_run) -> Path:
    """Train (or resume, or skip) one proxy; returns its run folder."""
    cfg = {**cfg, "seed": seed}
    key = json.dumps({"w": {n: round(v, 9) for n, v in weights.items()}, "cfg": cfg, "store": mix.store},
                     sort_keys=True, default=str)  # fmt: skip
    name = f"{prefix}-{hashlib.sha256(key.encode()).hexdigest()[:10]}-s{seed}"
    run = out / "runs" / name
    done = run / "stats" / "train_summary.json"
    if done.is_file() and json.loads(done.read_text()).get("steps") == cfg["steps"]:
        summary.skipped.append(name)
        if on_run:
            on_run(name, False)
        return run
    mixture_file = out / "mixtures" / f"{name}.yaml"
    domains = [
        d.model_dump(mode="json", by_alias=True, exclude_none=True) | {"weight": weights[d.name]} for d in mix.domains
    ]
    for d in domains:
        d.pop("max_epochs", None)
    data = mix.model_dump(mode="json", by_alias=True, exclude_none=True)
    data.update(domains=domains, store=os.path.abspath(mix.store), normalize_weights=True)
    if mix.tokenizer:
        data["tokenizer"] = os.path.abspath(mix.tokenizer)
    write_atomic(mixture_file, yaml.safe_dump(data, sort_keys=False))
    train({**cfg, "mixture": str(mixture_file)}, run, resume=True, quiet=quiet)
    summary.trained.append(name)
    if on_run:
        on_run(name, True)
    return run


def write_runs_table(out: Path, names: Sequence[str], runs: Sequence[Path], base_run: Path | None) -> int:
    """OUT/runs.parquet from the runs' train logs and mixtures: one row per (run, evaluation); returns rows."""
    from curator.train.train_log import read_train_log

    rows = []
    base_losses = _eval_rows(read_train_log(base_run))[-1][1] if base_run is not None else None
    for run in runs:
        if not (run / "stats" / "train_summary.json").is_file():
            continue
        config = yaml.safe_load((run / "config.yaml").read_text())
        weights = {d["name"]: d["weight"] for d in yaml.safe_load(Path(config["mixture"]).read_text())["domains"]}
        m = config["model"]
        info = json.loads((run / "stats" / "train_summary.json").read_text())
        common = {"run": run.name, "model": f"d{m['d_model']}-l{m['n_layers']}", "params": info["parameters"]}
        common |= {f"w:{n}": float(weights[n]) for n in names}
        evals = _eval_rows(read_train_log(run))
        if base_losses is not None:
            evals = [(0, base_losses), *evals]
        for tokens, losses in evals:
            rows.append({**common, "tokens": tokens, **{f"loss:{n}": losses.get(n) for n in names}})
    if not rows:
        return 0
    columns = ["run", "model", "params", "tokens", *[f"w:{n}" for n in names], *[f"loss:{n}" for n in names]]
    return write_runs(out / RUNS_FILE, pa.Table.from_pylist(rows, schema=_schema(columns)))


def _schema(columns: list[str]) -> pa.Schema:
    kinds = {"run": pa.string(), "model": pa.string(), "params": pa.int64(), "tokens": pa.int64()}
    return pa.schema([(c, kinds.get(c, pa.float64())) for c in columns])


def _eval_rows(log: pa.Table) -> list[tuple[int, dict[str, float]]]:
    """[(tokens, {domain: loss})] of a train log's evaluations, in step order."""
    ev = log.filter(pc.and_(pc.equal(log.column("split"), "eval"), pc.is_valid(log.column("domain"))))
    by_step: dict[int, tuple[int, dict[str, float]]] = {}
    for r in ev.to_pylist():
        tokens, losses = by_step.setdefault(r["step"], (r["tokens"], {}))
        losses[r["domain"]] = r["loss"]
    return [by_step[s] for s in sorted(by_step)]
