"""The runs table: one row per (run, checkpoint) with the mixture (`w:<domain>`) and losses (`loss:<eval>`)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from curator.errors import ConfigError
from curator.io.atomic import write_table_atomic

WEIGHT_TOL = 0.01  # |sum(w) - 1| up to this is rounding (17 domains at 3 decimals: <= 0.0085) and is renormalised
W, LOSS = "w:", "loss:"
KNOWN = ("run", "model", "params", "tokens")


def read_table(path: str | Path, what: str = "runs table") -> pa.Table:
    """A CSV or Parquet file as an Arrow table; a missing or unreadable file is a ConfigError naming it."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"{what} '{path}' not found")
    try:
        if path.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            return pq.read_table(path)
        import pyarrow.csv as pcsv

        return pcsv.read_csv(path, convert_options=pcsv.ConvertOptions(strings_can_be_null=True))
    except (pa.ArrowInvalid, OSError) as exc:
        raise ConfigError(
            f"{what} '{path}': cannot read it as {'Parquet' if 'parq' in path.suffix else 'CSV'}: {exc}"
        ) from None


def _floats(table: pa.Table, name: str, origin: str) -> np.ndarray:
    col = table.column(name)
    if not (pa.types.is_integer(col.type) or pa.types.is_floating(col.type) or pa.types.is_null(col.type)):
        raise ConfigError(f"{origin}: column '{name}' must be numeric, found {col.type}")
    return col.cast(pa.float64()).to_numpy(zero_copy_only=False)


def normalize_weights(
    weights: np.ndarray, labels: list[str], origin: str, tol: float = WEIGHT_TOL
) -> tuple[np.ndarray, list[str]]:
    """Rows scaled to sum 1 when within `tol` of 1 (a note says so); negative, non-finite or off sums are errors."""
    bad = ~np.isfinite(weights).all(axis=1) | (weights < 0).any(axis=1)
    if bad.any():
        i = int(np.argmax(bad))
        raise ConfigError(f"{origin}: {labels[i]} has a negative or missing weight: {weights[i].tolist()}")
    sums = weights.sum(axis=1)
    off = np.abs(sums - 1.0)
    if (off > tol).any():
        i = int(np.argmax(off))
        raise ConfigError(
            f"{origin}: the weights of {labels[i]} sum to {sums[i]:.6g}, more than {tol:g} from 1; "
            "fix that row (rounding to 3 decimals is renormalised, larger gaps are not)"
        )
    notes = []
    fixed = off > 1e-9
    if fixed.any():
        notes.append(
            f"{origin}: renormalised the weights of {int(fixed.sum())} row(s) to sum 1 "
            f"(largest gap {off.max():.2g}, within the tolerance {tol:g}; e.g. {labels[int(np.argmax(off))]})"
        )
    return weights / sums[:, None], notes


@dataclass
class RunsTable:
    """A validated runs table as numpy arrays; `notes` hold what was fixed (renormalised weights...)."""

    origin: str
    run: np.ndarray  # (n,) str
    tokens: np.ndarray  # (n,) float
    domains: list[str]  # names without the w: prefix
    weights: np.ndarray  # (n, k), rows sum to 1
    evals: list[str]  # names without the loss: prefix
    losses: np.ndarray  # (n, m), finite
    model: np.ndarray | None = None
    params: np.ndarray | None = None
    notes: list[str] = field(default_factory=list)

    def loss(self, name: str) -> np.ndarray:
        """The loss column `name` (with or without the loss: prefix); an unknown one is a ConfigError."""
        return self.losses[:, self.eval_index(name)]

    def eval_index(self, name: str) -> int:
        """Position of eval `name` (loss:NAME or NAME) in `evals`."""
        key = name.removeprefix(LOSS)
        if key not in self.evals:
            raise ConfigError(
                f"{self.origin}: no column 'loss:{key}'; loss columns: {', '.join(LOSS + e for e in self.evals)}"
            )
        return self.evals.index(key)

    def domain_index(self, name: str) -> int:
        """Position of training domain `name` (w:NAME or NAME) in `domains`."""
        key = name.removeprefix(W)
        if key not in self.domains:
            raise ConfigError(
                f"{self.origin}: no column 'w:{key}'; weight columns: {', '.join(W + d for d in self.domains)}"
            )
        return self.domains.index(key)

    def run_names(self) -> list[str]:
        """The runs in order of first appearance."""
        return list(dict.fromkeys(self.run.tolist()))

    def at_checkpoint(self, tokens: float | None = None) -> np.ndarray:
        """Row index per run: its checkpoint at `tokens`, or its last one; a run without it is a ConfigError."""
        rows = []
        for name in self.run_names():
            idx = np.flatnonzero(self.run == name)
            if tokens is None:
                rows.append(idx[np.argmax(self.tokens[idx])])
                continue
            hit = idx[np.isclose(self.tokens[idx], tokens, rtol=1e-9, atol=0.5)]
            if not len(hit):
                have = ", ".join(f"{t:,.0f}" for t in sorted(self.tokens[idx]))
                raise ConfigError(
                    f"{self.origin}: run '{name}' has no checkpoint at tokens={tokens:,.0f} (it has {have}); "
                    "pick a --tokens every run has, or drop the run"
                )
            rows.append(hit[0])
        return np.asarray(rows, dtype=np.int64)


def parse_runs(table: pa.Table, origin: str = "<runs>", tol: float = WEIGHT_TOL) -> RunsTable:
    """Validate an Arrow runs table: required columns, numeric values, weights per run, no duplicate checkpoints."""
    names = table.column_names
    missing = [c for c in ("run", "tokens") if c not in names]
    if missing:
        raise ConfigError(f"{origin}: missing column(s) {', '.join(missing)}; columns: {', '.join(names)}")
    wcols = [c for c in names if c.startswith(W)]
    lcols = [c for c in names if c.startswith(LOSS)]
    other = [c for c in names if c not in KNOWN and c not in wcols and c not in lcols]
    if not wcols:
        raise ConfigError(f"{origin}: no weight columns; give one `w:<domain>` column per training domain")
    if not lcols:
        raise ConfigError(f"{origin}: no loss columns; give one `loss:<eval>` column per evaluation domain")
    if other:
        raise ConfigError(
            f"{origin}: unknown column(s) {', '.join(other)}; allowed: run, model, params, tokens, w:<domain>, "
            "loss:<eval>"
        )
    if table.num_rows == 0:
        raise ConfigError(f"{origin}: the table has no rows")
    run_col = table.column("run")
    if run_col.null_count:
        raise ConfigError(f"{origin}: {run_col.null_count} row(s) have no run name")
    run = np.asarray([str(r) for r in run_col.to_pylist()])
    tokens = _floats(table, "tokens", origin)
    labels = [
        f"run '{r}' at tokens={t:,.0f}" if np.isfinite(t) else f"run '{r}'" for r, t in zip(run, tokens, strict=True)
    ]
    bad = ~np.isfinite(tokens) | (tokens < 0)
    if bad.any():
        raise ConfigError(f"{origin}: run '{run[np.argmax(bad)]}' has a missing or negative `tokens` value")
    weights = np.column_stack([_floats(table, c, origin) for c in wcols])
    weights, notes = normalize_weights(weights, labels, origin, tol)
    losses = np.column_stack([_floats(table, c, origin) for c in lcols])
    bad = ~np.isfinite(losses)
    if bad.any():
        i, j = np.argwhere(bad)[0]
        raise ConfigError(
            f"{origin}: {labels[i]} has a non-finite {lcols[j]} ({losses[i, j]}); {int(bad.sum())} such value(s) in "
            "all: drop those rows or the column"
        )
    order = np.lexsort((tokens, run))
    keys = np.char.add(run[order].astype(str), np.char.mod("|%.6g", tokens[order]))
    dup = keys[1:] == keys[:-1]
    if dup.any():
        i = order[1:][np.argmax(dup)]
        raise ConfigError(f"{origin}: {labels[i]} appears twice; keep one row per (run, tokens)")
    for name in dict.fromkeys(run.tolist()):
        w = weights[run == name]
        if np.abs(w - w[0]).max() > 1e-6:
            raise ConfigError(
                f"{origin}: run '{name}' has different weights at different checkpoints; one mixture "
                "per run (give a changed mixture its own run name)"
            )
    extra = {}
    for c in ("model", "params"):
        if c in names:
            col = table.column(c)
            extra[c] = np.asarray(col.to_pylist(), dtype=object if c == "model" else float)
    return RunsTable(
        origin,
        run,
        tokens,
        [c[len(W) :] for c in wcols],
        weights,
        [c[len(LOSS) :] for c in lcols],
        losses,
        extra.get("model"),
        extra.get("params"),
        notes,
    )


def read_runs(path: str | Path, tol: float = WEIGHT_TOL) -> RunsTable:
    """Read and validate a runs table (CSV or Parquet)."""
    return parse_runs(read_table(path), str(path), tol)


def append_runs(path: str | Path, rows: Iterable[Mapping[str, object]]) -> int:
    """Append rows (dicts of run, tokens, w:*, loss:*, ...) to a runs table atomically; returns the row count.

    The file is created when missing; otherwise the rows must have exactly its columns, and the combined
    table must validate (parse_runs), so a (run, tokens) row already there is refused. Written to a temp
    file in the same folder, then renamed over the old one: a crash leaves the old table whole.
    """
    path = Path(path)
    rows = [dict(r) for r in rows]
    if not rows:
        raise ConfigError("append_runs: no rows given")
    new = pa.Table.from_pylist(rows)
    if path.exists():
        old = read_table(path)
        if set(old.column_names) != set(new.column_names):
            miss = sorted(set(old.column_names) - set(new.column_names))
            extra = sorted(set(new.column_names) - set(old.column_names))
            raise ConfigError(
                f"{path}: appended rows must have the table's columns; missing {miss or 'none'}, "
                f"extra {extra or 'none'}"
            )
        new = new.select(old.column_names)
        combined = pa.concat_tables([old, new.cast(old.schema, safe=False)], promote_options="default")
    else:
        combined = new
    return write_runs(path, combined)


def write_runs(path: str | Path, table: pa.Table) -> int:
    """Validate a whole runs table (parse_runs) and write it as CSV or Parquet (by suffix) atomically: a temp
    file in the same folder renamed over the old one. Returns the row count."""
    parse_runs(table, str(path))
    write_table_atomic(path, table)
    return table.num_rows


def runs_table_schema() -> dict:
    """The runs-table format as a JSON schema (schemas/runs_table.schema.json)."""
    return {
        "table": "runs_table",
        "version": 1,
        "description": "Proxy runs for `curator mix` (CSV or Parquet): one row per (run, checkpoint). Weights of "
        "a row sum to 1 (within 0.01: renormalised with a warning; beyond: an error naming the run); every run has "
        "one mixture; losses are finite. For `curator mix cmr` the rows are continual pre-training: `tokens` counts "
        "from the start of CPT and rows at tokens = 0 hold the base model's losses (or pass --base-loss).",
        "fields": [
            {"name": "run", "type": "string", "nullable": False, "description": "run name, unique per mixture"},
            {"name": "model", "type": "string", "nullable": True, "description": "optional model size label"},
            {"name": "params", "type": "double", "nullable": True, "description": "optional parameter count"},
            {"name": "tokens", "type": "double", "nullable": False, "description": "tokens seen at the checkpoint"},
        ],
        "patterns": [
            {"pattern": "w:<domain>", "type": "double", "description": "share of training domain <domain>, 0..1"},
            {"pattern": "loss:<eval>", "type": "double", "description": "validation loss (nats/token) on <eval>"},
        ],
    }
