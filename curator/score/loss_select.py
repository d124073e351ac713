"""Selection by proxy-model loss (after `model_loss`): `loss_reweight` (Sow et al. weights, resample or a weight
column) and `loss_filter` (drop the high- or low-loss tail: perplexity filtering as in CCNet).

Both are global steps (curator.pipeline.global_step): the index pass writes each task's (group, loss, Gumbel noise)
to state/NN-name/loss/task-N.parquet (about 20 B per document); resolve computes the groups' statistics in
streaming passes over those files; the filter pass writes the columns and drops with a reason. A group is
`all`, the document's `source`, or its `length` bucket (floor(log2(loss_tokens))): raw losses of short and long
documents, or of code and prose, are not on one scale. `model_loss` keeps its losses in the run folder, so the
two passes do not score the documents twice.
The steps are here; their shared index and filter passes are in loss_step.py, the groups and the group weights
in group_weights.py.
Memory: one reader batch and one task's per-document arrays (about 24 B per document), plus k candidates.
"""

from __future__ import annotations

import logging
import math
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from curator.dedup.state import read_json, save_npy, task_file, write_json
from curator.errors import RunError
from curator.pipeline.step import register_step
from curator.score.group_weights import GroupWeights, encode_groups
from curator.score.loss_step import LossStep
from curator.select.resample import TopK, selected_by_threshold


@register_step
class LossReweight(LossStep):
    """Sow et al. sample weights from `model_loss` losses, normalised within a group; resample k or write weights.

    The weights are `curator.loader.reweight_formula`'s (the online SampleReweighter's): h from the loss's place
    between the group's min and max, f = linupper | quadratic | extremes | uniform, w = softmax(f / r) over the
    group. `loss_weight` = w x the group's documents with a loss (mean 1 per group; null without a loss).
    mode `resample`: keep k documents (or `fraction` of those reaching the step) drawn without replacement in
    proportion to loss_weight (Gumbel top-k: key = log loss_weight + Gumbel noise seeded per document id;
    `top_k`: no noise), across groups, so each group keeps about its share; the rest are dropped with
    `loss_not_selected`, documents without a loss with `loss_missing`. mode `weight`: every document is kept
    and `loss_weight` is written for the loader.
    """

    name: ClassVar[str] = "loss_reweight"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "loss_weight": pa.float64(),  # sample weight, mean 1 within the group; null without a loss
        "loss_group": pa.string(),  # the normalisation group
        "loss_key": pa.float64(),  # the resample ranking key (log weight + Gumbel noise); null without a loss
    }

    strategy: Literal["linupper", "quadratic", "extremes", "uniform"] = Field(
        "linupper", description="f(h): linupper damps low loss, quadratic favours the middle, extremes the tails"
    )
    temperature: float = Field(1.0, gt=0.0, description="r: max w / min w <= e^(1/r) within a group")
    mode: Literal["resample", "weight"] = Field("resample", description="keep k by weight, or keep all + weights")
    k: int | None = Field(None, ge=1, description="documents to keep (mode resample)")
    fraction: float | None = Field(None, gt=0.0, le=1.0, description="or this share of the documents reaching it")
    method: Literal["gumbel", "top_k"] = Field("gumbel", description="gumbel: sample prop. to w; top_k: the largest")
    allow_fewer: bool = Field(False, description="keep every document with a loss when k exceeds them (else error)")

    @model_validator(mode="after")
    def _size(self):
        if self.mode == "resample" and (self.k is None) == (self.fraction is None):
            raise ValueError("mode resample needs exactly one of k (documents) or fraction (share of the documents)")
        if self.mode == "weight" and (self.k is not None or self.fraction is not None):
            raise ValueError("mode weight keeps every document: leave out k and fraction (or use mode: resample)")
        return self

    def describe(self) -> str:
        what = "weights only" if self.mode == "weight" else f"resample {self.k or self.fraction} by {self.method}"
        return f"{self.strategy} r={self.temperature:g} within {self.group}; {what}"

    def resolve(self, markers: list[dict], log: logging.Logger) -> dict:
        done = read_json(self.state / "report.json")
        if done is not None:
            return done
        n_tasks = len(markers)
        weights = GroupWeights(self.strategy, self.temperature)
        for t in range(n_tasks):
            weights.add_range(self.task_losses(t))
        for t in range(n_tasks):
            weights.add_scores(self.task_losses(t))
        docs, eligible = sum(m["docs"] for m in markers), int(weights.finite.sum())
        top = None
        k = None
        if self.mode == "resample":
            k = self.k if self.k is not None else int(math.floor(self.fraction * docs))
            if k == 0:
                raise RunError(f"{self.name}: fraction={self.fraction} of {docs:,} documents selects none")
            if k > eligible:
                if not self.allow_fewer:
                    raise RunError(
                        f"{self.name}: k={k:,} but only {eligible:,} of {docs:,} documents have a loss "
                        "(documents of fewer than 2 tokens have none); lower k or set allow_fewer: true"
                    )
                log.warning("%s: k=%d exceeds the %d documents with a loss: all are kept", self.name, k, eligible)
                k = eligible
            top = TopK(k)
        numbering = np.concatenate([[0], np.cumsum([m["docs"] for m in markers])])
        ess_num, ess_den = 0.0, 0.0
        for t in range(n_tasks):
            table = self.task_losses(t)
            log_w = weights.log_weights(table)
            g = weights._ids(table.column("group").combine_chunks())
            scaled = log_w + np.log(np.maximum(weights.finite[g], 1))  # log loss_weight: mean 1 per group
            ok = np.isfinite(scaled)
            noise = table.column("noise").to_numpy() if self.method == "gumbel" else 0.0
            key = np.where(ok, scaled + noise, np.nan)
            save_npy(task_file(self.state, "weight", t, ".npy"), np.where(ok, np.exp(scaled), np.nan))
            save_npy(task_file(self.state, "key", t, ".npy"), key)
            w = np.exp(scaled[ok])
            ess_num, ess_den = ess_num + w.sum(), ess_den + (w * w).sum()
            if top is not None:
                top.add(key[ok], np.arange(numbering[t], numbering[t + 1], dtype=np.int64)[ok])
        selected = 0
        if top is not None:
            thr = top.threshold()
            for t in range(n_tasks):
                key = np.load(task_file(self.state, "key", t, ".npy"))
                numbers = np.arange(numbering[t], numbering[t + 1], dtype=np.int64)
                mask = selected_by_threshold(np.nan_to_num(key, nan=-np.inf), numbers, np.isfinite(key), thr)
                save_npy(task_file(self.state, "selected", t, ".npy"), mask)
                selected += int(mask.sum())
        report = {
            "step": self.name,
            "docs": docs,
            "with_loss": eligible,
            "strategy": self.strategy,
            "temperature": self.temperature,
            "group": self.group,
            "mode": self.mode,
            "groups": weights.facts(),
            "ess": ess_num**2 / ess_den if ess_den else None,  # (sum w)^2 / sum w^2 over documents with a loss
            "max_weight_ratio_bound": math.exp(1.0 / self.temperature),
        }
        if top is not None:
            report |= {"k": k, "method": self.method, "seed": self.full_seed(), "selected": selected}
        return self.publish(report)

    def task_arrays(self, task: int) -> dict:
        arrays = {
            "weight": np.load(task_file(self.state, "weight", task, ".npy")),
            "key": np.load(task_file(self.state, "key", task, ".npy")),
            "group": self.task_losses(task).column("group").combine_chunks(),
        }
        if self.mode == "resample":
            arrays["selected"] = np.load(task_file(self.state, "selected", task, ".npy"))
            arrays["held"] = np.isnan(self.task_losses(task).column("noise").to_numpy(zero_copy_only=False))
        return arrays

    def columns(self, batch: pa.RecordBatch, arrays: dict, sl: slice) -> dict[str, pa.Array]:
        w, key = arrays["weight"][sl], arrays["key"][sl]
        cols = {"loss_weight": pa.array(w, pa.float64(), mask=np.isnan(w))}
        cols["loss_group"] = arrays["group"].slice(sl.start, sl.stop - sl.start)
        if self.mode == "resample":
            cols["loss_key"] = pa.array(key, pa.float64(), mask=np.isnan(key))
        return cols

    def reasons(self, batch: pa.RecordBatch, arrays: dict, sl: slice) -> pa.Array | None:
        if self.mode == "weight":
            return None
        missing = np.isnan(arrays["weight"][sl])
        out = np.full(len(missing), None, dtype=object)
        out[~arrays["selected"][sl]] = "loss_not_selected"
        out[missing] = "loss_missing"
        out[arrays["held"][sl]] = None
        return pa.array(out, pa.string())


@register_step
class LossFilter(LossStep):
    """Drop the high- and/or low-loss tail (perplexity filtering, CCNet-style): absolute thresholds and/or
    quantiles of the loss within each group. Reasons: `loss_high`, `loss_low`, and `loss_missing` for documents
    without a loss when `keep_missing` is false. The thresholds used, per group, are in the step's report
    (stats/NN-loss_filter.json) and in `loss_max_kept` / `loss_min_kept`, so re-thresholding is SQL over `loss`.
    """

    name: ClassVar[str] = "loss_filter"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "loss_max_kept": pa.float64(),  # the document's group's upper threshold (null: none)
        "loss_min_kept": pa.float64(),  # its lower threshold (null: none)
    }

    max_loss: float | None = Field(None, description="drop loss above this (nats)")
    min_loss: float | None = Field(None, description="drop loss below this (nats)")
    max_quantile: float | None = Field(None, gt=0.0, lt=1.0, description="drop loss above the group's q-quantile")
    min_quantile: float | None = Field(None, gt=0.0, lt=1.0, description="drop loss below the group's q-quantile")
    keep_missing: bool = Field(True, description="keep documents without a loss (fewer than 2 tokens)")

    @model_validator(mode="after")
    def _some_rule(self):
        if all(v is None for v in (self.max_loss, self.min_loss, self.max_quantile, self.min_quantile)):
            raise ValueError("give at least one of max_loss, min_loss, max_quantile, min_quantile")
        if self.max_quantile is not None and self.min_quantile is not None and self.min_quantile >= self.max_quantile:
            raise ValueError(f"min_quantile {self.min_quantile} must be below max_quantile {self.max_quantile}")
        return self

    def describe(self) -> str:
        rules = [f"{k} {v:g}" for k, v in self.model_dump().items() if k.endswith(("_loss", "_quantile")) and v]
        return f"drop by {', '.join(rules)} within {self.group}"

    def resolve(self, markers: list[dict], log: logging.Logger) -> dict:
        done = read_json(self.state / "report.json")
        if done is not None:
            return done
        import duckdb

        files = [str(task_file(self.state, "loss", t, ".parquet")) for t in range(len(markers))]
        qs = {"hi": self.max_quantile, "lo": self.min_quantile}
        parts = [f"quantile_cont(loss, {q!r}) AS q_{k}" for k, q in qs.items() if q is not None]
        sql = (
            f'SELECT "group", count(*) AS docs, count(loss) AS with_loss{"".join(", " + p for p in parts)} '
            'FROM read_parquet(?) GROUP BY ALL ORDER BY "group"'
        )
        con = duckdb.connect()
        cursor = con.execute(sql, [files])
        names = [d[0] for d in cursor.description]
        rows = [dict(zip(names, r, strict=True)) for r in cursor.fetchall()]
        groups = {}
        for r in rows:
            hi = [v for v in (self.max_loss, r.get("q_hi")) if v is not None]
            lo = [v for v in (self.min_loss, r.get("q_lo")) if v is not None]
            groups[r["group"]] = {
                "docs": r["docs"], "with_loss": r["with_loss"],
                "max_kept": min(hi) if hi else None, "min_kept": max(lo) if lo else None,
            }  # fmt: skip
        write_json(self.state / "thresholds.json", groups)
        report = {"step": self.name, "docs": sum(m["docs"] for m in markers), "group": self.group, "groups": groups}
        report |= {k: v for k, v in self.model_dump().items() if k.endswith(("_loss", "_quantile"))}
        return self.publish(report)

    def task_arrays(self, task: int) -> dict:
        groups = read_json(self.state / "thresholds.json") or {}
        table = self.task_losses(task)
        labels, rows = encode_groups(table.column("group").combine_chunks())

        def bound(key: str) -> np.ndarray:  # per label, then per document
            values = [groups.get(g, {}).get(key) for g in labels]
            return np.array([np.nan if v is None else v for v in values], np.float64)[rows]

        hi, lo = bound("max_kept"), bound("min_kept")
        held = np.isnan(table.column("noise").to_numpy(zero_copy_only=False))
        return {"hi": hi, "lo": lo, "loss": table.column("loss").to_numpy().astype(np.float64), "held": held}

    def columns(self, batch: pa.RecordBatch, arrays: dict, sl: slice) -> dict[str, pa.Array]:
        hi, lo = arrays["hi"][sl], arrays["lo"][sl]
        return {
            "loss_max_kept": pa.array(hi, pa.float64(), mask=np.isnan(hi)),
            "loss_min_kept": pa.array(lo, pa.float64(), mask=np.isnan(lo)),
        }

    def reasons(self, batch: pa.RecordBatch, arrays: dict, sl: slice) -> pa.Array | None:
        loss, hi, lo = arrays["loss"][sl], arrays["hi"][sl], arrays["lo"][sl]
        out = np.full(len(loss), None, dtype=object)
        with np.errstate(invalid="ignore"):
            out[loss < lo] = "loss_low"
            out[loss > hi] = "loss_high"
        if not self.keep_missing:
            out[np.isnan(loss)] = "loss_missing"
        out[arrays["held"][sl]] = None
        return pa.array(out, pa.string())
