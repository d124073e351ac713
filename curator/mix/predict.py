"""`curator mix predict`: a fitted mixture law's losses for a table of mixtures (w:<domain> rows)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from curator.errors import ConfigError
from curator.mix.fit_file import MIXTURE_LAWS, read_fit
from curator.mix.runs_table import WEIGHT_TOL, W, normalize_weights, read_table


def predict_losses(fit: dict, w: np.ndarray) -> dict[str, np.ndarray]:
    """{'pred:<eval>': values, ..., 'pred:target': weighted sum} for mixtures w (n, k) in the fit's domain order."""
    from curator.mix.fit import law_module

    mod = law_module(fit["law"])
    out = {f"pred:{name}": mod.predict(fit["params"][name], w) for name in fit["targets"]}
    out["pred:target"] = sum(weight * out[f"pred:{name}"] for name, weight in fit["targets"].items())
    return out


def mixtures_matrix(table: pa.Table, domains: list[str], origin: str) -> tuple[np.ndarray, list[str]]:
    """The (n, k) weights of a MIXTURES table in the fit's domain order; unknown or missing domains are errors."""
    cols = [c for c in table.column_names if c.startswith(W)]
    unknown = [c for c in cols if c[len(W) :] not in domains]
    if unknown:
        raise ConfigError(
            f"{origin}: column(s) {', '.join(unknown)} are not domains of the fit; its domains: "
            f"{', '.join(W + d for d in domains)}"
        )
    missing = [W + d for d in domains if W + d not in cols]
    if missing:
        raise ConfigError(f"{origin}: missing weight column(s) {', '.join(missing)} (the fit's domains)")
    w = np.column_stack([table.column(W + d).cast(pa.float64()).to_numpy(zero_copy_only=False) for d in domains])
    labels = [f"row {i + 1}" for i in range(len(w))]
    if "run" in table.column_names:
        labels = [f"row {i + 1} ({r})" for i, r in enumerate(table.column("run").to_pylist())]
    return normalize_weights(w, labels, origin, WEIGHT_TOL)


def predict_mixtures(fit_path: str | Path, mixtures: str | Path, out: str | Path | None = None) -> pa.Table:
    """The MIXTURES table with pred:<eval>, pred:target and `extrapolated` columns; written to `out` when given."""
    fit = read_fit(fit_path, MIXTURE_LAWS)
    table = read_table(mixtures, "mixtures table")
    if table.num_rows == 0:
        raise ConfigError(f"mixtures table '{mixtures}' has no rows")
    w, notes = mixtures_matrix(table, fit["domains"], str(mixtures))
    for name, values in predict_losses(fit, w).items():
        table = table.append_column(name, pa.array(values, pa.float64()))
    lo, hi = np.asarray(fit["weight_min"]), np.asarray(fit["weight_max"])
    outside = ((w < lo - 1e-9) | (w > hi + 1e-9)).any(axis=1)
    table = table.append_column("extrapolated", pa.array(outside))
    if out is not None:
        import pyarrow.csv as pcsv

        out = Path(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        if out.suffix.lower() in (".parquet", ".pq"):
            import pyarrow.parquet as pq

            pq.write_table(table, out)
        else:
            pcsv.write_csv(table, out)
    table = table.replace_schema_metadata({"notes": "\n".join(notes)})
    return table
