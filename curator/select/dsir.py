"""DSIR importance resampling as pipeline steps: `dsir_fit` weighs every document, `dsir_select` also keeps k.

Passes (a global step; see curator.pipeline.stage):
  prepare  the target, once: n-gram streams, held-out split, target counts (state/NN-name/target*)
  index    each task's documents -> gram stream on disk, bucket counts, Gumbel noise (and a fastText score)
  resolve  p_raw, per-document log weights (weights/task-N.npy; `weight`: sum, length_normalized or chunk,
           see curator.select.chunks), the selection (a top-k over the weights), ESS and the KL report
           (per held-out document and per held-out chunk) -> state/NN-name/report.json and stats/NN-name.json
  filter   dsir_* columns to the stats table; dsir_select drops the rest with a reason
Memory: the n-gram cache (16 B x cache_slots) and one batch while indexing; in resolve, one task's
per-document arrays (about 40 B per document), a chunk of grams and the top-k candidates (16 B x k).
Disk: about 2 bytes per n-gram (roughly 0.8x the text for English with bigrams).
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from pydantic import Field, PrivateAttr, field_validator, model_validator

from curator.dedup.state import read_json, save_npy, save_npz, task_file, write_json
from curator.errors import ConfigError, RunError
from curator.pipeline.config import InputConfig
from curator.pipeline.global_step import GlobalStep
from curator.pipeline.plan import shards_for_input
from curator.pipeline.side_input import side_input_batches
from curator.pipeline.step import StepContext, register_step
from curator.select.chunks import WeightMode, chunk_stream, document_log_weights
from curator.select.estimator import HeldoutTarget, distribution, log_ratio, logsumexp
from curator.select.features import GramStream, GramStreamWriter, bucket_counts
from curator.select.resample import TopK, gumbel_from_uniform, multinomial_by_task, selected_by_threshold
from curator.text.hashing import seeded_uniform
from curator.text.ngrams import NgramHasher, bucket_dtype, ngram_hasher, token_lengths

log_run = logging.getLogger("curator.run")
HELDOUT_SALT = 0x7A26E7  # the held-out split depends on the target ids only: a new seed re-draws, never re-fits
HOW_TO_TRAIN = (
    "train one with `curator quality train --positive TARGET --negative RAW --positive-label target --out M.bin`"
)


@register_step
class DsirFit(GlobalStep):
    """Weight every document by DSIR's hashed n-gram importance toward a target (keeps all documents)."""

    name: ClassVar[str] = "dsir_fit"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "dsir_log_weight": pa.float64(),  # log importance weight under the hashed n-gram models (`weight` mode)
        "dsir_length": pa.int32(),  # tokens (DSIR's example length)
        "dsir_fasttext_score": pa.float32(),  # P(compare_label) when compare_model is set
    }
    shared_stats_columns: ClassVar[frozenset[str]] = frozenset(stats_columns)  # dsir_select computes them too

    def summary_lines(self, run_dir: Path, position: int) -> list[str]:
        from curator.pipeline.run_folder import RunFolder
        from curator.select.report import dsir_report_lines

        report = RunFolder(run_dir).stage_dir(position, self.name) / "report.json"
        return dsir_report_lines(json.loads(report.read_text())) if report.is_file() else []

    target: InputConfig = Field(description="target documents: JSONL/Parquet path or glob, or a save_to_disk folder")
    num_buckets: int = Field(10_000, ge=1, lt=2**32, description="hashed n-gram buckets")
    ngrams: int = Field(2, ge=1, le=5, description="unigrams up to n-grams")
    min_length: int = Field(100, ge=0, description="documents with fewer tokens are never selected")
    weight: WeightMode = Field(
        "sum",
        description="sum: log ratio summed over the document (data-selection); length_normalized: its mean per "
        "gram x a chunk's grams; chunk: mean importance weight of the document's chunk_words-token chunks",
    )
    chunk_words: int = Field(128, ge=1, description="tokens per chunk: the chunk weight and the per-chunk KL report")
    target_sources: list[str] | None = Field(
        None, min_length=1, description="use only target documents with these source labels; null: all"
    )
    target_laplace: float = Field(0.0, ge=0.0, description="add-alpha smoothing of the target counts")
    raw_fit_grams: int | None = Field(
        None, ge=1, description="fit p_raw on about this many grams (each task's first documents); null: all"
    )
    heldout_fraction: float = Field(0.1, ge=0.0, lt=1.0, description="target share held out for the KL report")
    min_target_docs: int = Field(10, ge=1, description="fewer non-empty target documents is an error")
    seed: int = Field(0, description="added to the pipeline seed: the Gumbel noise and draws")
    compare_model: str | None = Field(None, description="fastText model whose top-k is scored in the KL report")
    compare_label: str = Field("target", description="the compare model's label for target-like text")
    cache_slots: int = Field(1 << 21, ge=16, description="n-gram bucket cache entries per process (16 B each)")
    _arrays: dict | None = PrivateAttr(default=None)

    @field_validator("target", mode="before")
    @classmethod
    def _target_path(cls, value: Any) -> Any:
        return {"path": value} if isinstance(value, str) else value

    @field_validator("compare_model")
    @classmethod
    def _model_exists(cls, path: str | None) -> str | None:
        if path is not None:
            from curator.filters.fasttext_model import validated_model_path

            validated_model_path(path, HOW_TO_TRAIN)
        return path

    def describe(self) -> str:
        sources = f" (sources {', '.join(self.target_sources)})" if self.target_sources else ""
        chunks = f", {self.chunk_words}-token chunks" if self.weight != "sum" else ""
        return (
            f"target {self.target.path}{sources}; {self.num_buckets:,} buckets, 1..{self.ngrams}-grams, "
            f"weight {self.weight}{chunks}, min_length {self.min_length} tokens, "
            f"{self.heldout_fraction:.0%} of the target held out for KL"
        )

    @property
    def selects(self) -> bool:
        return False

    def hasher(self) -> NgramHasher:
        return ngram_hasher(self.num_buckets, self.ngrams, self.cache_slots)

    def full_seed(self) -> int:
        return self.seed + self.ctx.seed

    # -- the target (prepare) ---------------------------------------------------------------------------

    def prepare(self) -> None:
        """Read the target once: features, the held-out split (exact share, by a fixed hash of the id), counts."""
        if self.compare_model is not None:  # a wrong label fails here, not in every index task
            from curator.filters.fasttext_model import model_with_label

            model_with_label(self.compare_model, self.compare_label)
        if (self.state / "target.npz").exists():
            return
        hasher = self.hasher()
        folder = self.state / "target"
        try:
            shards_for_input(self.target)
        except ConfigError as exc:
            raise ConfigError(f"{self.name} target: {exc}") from None
        writer = GramStreamWriter(folder / "stream", hasher.dtype)
        draws, other_sources = [], 0
        try:
            for batch in side_input_batches(self.target, rejects_dir=folder / "rejects", warn=log_run.warning):
                if self.target_sources is not None:
                    mine = pc.fill_null(pc.is_in(batch.column("source"), pa.array(self.target_sources)), False)
                    kept = batch.filter(mine)
                    other_sources += batch.num_rows - kept.num_rows
                    batch = kept
                flat, offsets = hasher.buckets(batch.column("text"))
                writer.write(flat, offsets)
                draws.append(seeded_uniform(batch.column("id"), HELDOUT_SALT))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        stream = GramStream(folder / "stream", hasher.dtype)
        nonempty = np.diff(stream.offsets) > 0
        n_docs, n_nonempty = stream.docs, int(nonempty.sum())
        rejected = sum(pq.ParquetFile(p).metadata.num_rows for p in sorted((folder / "rejects").glob("*.parquet")))
        where = f"target '{self.target.path}'"
        if self.target_sources is not None:
            where += f" (sources {self.target_sources}; {other_sources} other documents skipped)"
        if n_nonempty < self.min_target_docs:
            raise RunError(
                f"{self.name}: {where} has {n_nonempty} document(s) with at least one token ({n_docs} read, "
                f"{rejected} rejected); at least min_target_docs={self.min_target_docs} are needed for a target "
                "distribution; give more target text or lower min_target_docs"
            )
        n_held = math.ceil(self.heldout_fraction * n_nonempty) if self.heldout_fraction > 0 else 0
        if n_nonempty - n_held < 1:
            raise RunError(f"{self.name}: {where}: nothing left to fit after holding out {n_held} documents")
        held = np.zeros(n_docs, bool)
        if n_held:
            u = np.concatenate(draws) if draws else np.zeros(0)
            candidates = np.flatnonzero(nonempty)
            held[candidates[np.lexsort((candidates, u[candidates]))[:n_held]]] = True
        fit = nonempty & ~held
        counts = np.zeros(self.num_buckets, np.float64)
        heldout, heldout_chunks = HeldoutTarget(self.num_buckets), HeldoutTarget(self.num_buckets)
        for d, e, buckets, offsets in stream.chunks():
            counts += bucket_counts(buckets, offsets, fit[d:e], self.num_buckets)
            if held[d:e].any():
                sub_b, sub_o = _subset(buckets, offsets, held[d:e])
                heldout.add(sub_b, sub_o)
                heldout_chunks.add(*chunk_stream(sub_b, sub_o, self.ngrams, self.chunk_words)[:2])
        facts = {"docs": n_docs, "nonempty": n_nonempty, "rejected": rejected, "fit_docs": int(fit.sum())}
        facts |= {"heldout_docs": n_held, "heldout_chunks": heldout_chunks.docs, "fit_grams": int(counts.sum())}
        if self.target_sources is not None:
            facts |= {"sources": self.target_sources, "other_sources_skipped": other_sources}
        write_json(folder / "facts.json", facts)
        save_npz(self.state / "target.npz", counts=counts, **heldout.state(), **heldout_chunks.state("chunk_"))

    # -- index pass -------------------------------------------------------------------------------------

    def index(self, batches: Iterator[pa.RecordBatch], task: int) -> dict:
        hasher = self.hasher()
        writer = GramStreamWriter(task_file(self.state, "grams", task, ""), hasher.dtype)
        counts = np.zeros(self.num_buckets, np.int64)
        noise, scores = [], []
        try:
            for batch in batches:
                flat, offsets = hasher.buckets(batch.column("text"))
                counts += np.bincount(flat, minlength=self.num_buckets)
                writer.write(flat, offsets)
                noise.append(gumbel_from_uniform(seeded_uniform(batch.column("id"), self.full_seed())))
                if self.compare_model is not None:
                    scores.append(self._compare_scores(batch))
            writer.close()
        except BaseException:
            writer.abort()
            raise
        save_npy(task_file(self.state, "counts", task, ".npy"), counts)
        save_npy(task_file(self.state, "noise", task, ".npy"), _cat(noise, np.float64))
        if self.compare_model is not None:
            save_npy(task_file(self.state, "fasttext", task, ".npy"), _cat(scores, np.float32))
        return {"grams": writer.grams}

    def _compare_scores(self, batch: pa.RecordBatch) -> np.ndarray:
        from curator.filters.fasttext_model import label_probability

        return label_probability(self.compare_model, batch.column("text"), self.compare_label)

    # -- global passes ----------------------------------------------------------------------------------

    def stream(self, task: int) -> GramStream:
        return GramStream(task_file(self.state, "grams", task, ""), bucket_dtype(self.num_buckets))

    def resolve(self, markers: list[dict], log: logging.Logger) -> dict:
        done = read_json(self.state / "report.json")
        if done is not None:
            return done
        m = self.num_buckets
        n_tasks = len(markers)
        target = np.load(self.state / "target.npz")
        raw_all = sum((np.load(task_file(self.state, "counts", t, ".npy")) for t in range(n_tasks)), np.zeros(m))
        raw_fit = raw_all if self.raw_fit_grams is None else self._prefix_counts(n_tasks)
        if raw_all.sum() == 0:
            raise RunError(f"{self.name}: none of the {sum(x['docs'] for x in markers):,} documents has a token")
        ratio = log_ratio(distribution(target["counts"], self.target_laplace), distribution(raw_fit))
        summary = _WeightSummary(getattr(self, "temperature", 1.0))
        for t in range(n_tasks):
            path = task_file(self.state, "weights", t, ".npy")
            stream = self.stream(t)
            if not path.exists():
                parts = [
                    document_log_weights(ratio, b, o, self.ngrams, self.weight, self.chunk_words)
                    for _, _, b, o in stream.chunks()
                ]
                save_npy(path, _cat(parts, np.float64))
            summary.add(np.load(path), token_lengths(stream.offsets, self.ngrams), self.min_length)
        report = {
            "step": self.name,
            "docs": summary.docs,
            "eligible": summary.eligible,
            "min_length": self.min_length,
            "weight": self.weight,
            "chunk_words": self.chunk_words,
            "grams": int(raw_all.sum()),
            "raw_fit_grams": int(raw_fit.sum()),
            "target": read_json(self.state / "target" / "facts.json"),
            "log_weight": summary.facts(),
        }
        heldout = {"document": HeldoutTarget.from_state(target), "chunk": HeldoutTarget.from_state(target, "chunk_")}
        report["kl"] = {"heldout_docs": heldout["document"].docs, "heldout_chunks": heldout["chunk"].docs}
        if heldout["document"].docs:
            report["kl"]["target_from_raw"] = heldout["document"].mean_kl(distribution(raw_all))
            report["kl"]["target_from_raw_per_chunk"] = heldout["chunk"].mean_kl(distribution(raw_all))
        report |= self.select(markers, summary, heldout, raw_all, log)
        write_json(self.state / "report.json", report)
        write_json(Path(self.ctx.run_dir or self.state.parent.parent) / "stats" / f"{self.state.name}.json", report)
        return report

    def select(self, markers, summary, heldout: dict[str, HeldoutTarget], raw_all, log) -> dict:
        """dsir_fit selects nothing."""
        return {}

    def _prefix_counts(self, n_tasks: int) -> np.ndarray:
        """data-selection's 'num_tokens_to_fit': each task's first documents until its share is exceeded."""
        share = self.raw_fit_grams // n_tasks
        counts = np.zeros(self.num_buckets)
        for t in range(n_tasks):
            stream = self.stream(t)
            if stream.docs == 0:
                continue
            last = min(int(np.searchsorted(stream.offsets[1:], share, side="right")), stream.docs - 1)
            end = int(stream.offsets[last + 1])
            counts += np.bincount(np.asarray(stream.buckets[:end]), minlength=self.num_buckets)
        return counts

    # -- filter pass ------------------------------------------------------------------------------------

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        self._arrays = None

    def task_arrays(self, task: int) -> dict[str, np.ndarray]:
        """What the filter pass needs of one task, by ordinal."""
        stream_offsets = np.load(task_file(self.state, "grams", task, ".offsets.npy"))
        arrays = {
            "log_weight": np.load(task_file(self.state, "weights", task, ".npy")),
            "length": token_lengths(stream_offsets, self.ngrams).astype(np.int32),
        }
        if self.compare_model is not None:
            arrays["fasttext"] = np.load(task_file(self.state, "fasttext", task, ".npy"))
        return arrays

    def columns(self, arrays: dict, sl: slice) -> dict[str, pa.Array]:
        cols = {
            "dsir_log_weight": pa.array(arrays["log_weight"][sl], pa.float64()),
            "dsir_length": pa.array(arrays["length"][sl], pa.int32()),
        }
        if "fasttext" in arrays:
            cols["dsir_fasttext_score"] = pa.array(arrays["fasttext"][sl], pa.float32())
        return cols

    def reasons(self, arrays: dict, sl: slice) -> pa.Array | None:
        return None

    def open_task(self, task: int) -> None:
        self._arrays = self.task_arrays(task)

    def apply(self, batch: pa.RecordBatch, start: int) -> tuple[dict[str, pa.Array], pa.Array | None]:
        sl = slice(start, start + batch.num_rows)
        return self.columns(self._arrays, sl), self.reasons(self._arrays, sl)


@register_step
class DsirSelect(DsirFit):
    """DSIR: weight documents toward a target, then keep k of them (Gumbel top-k, top-k or with replacement)."""

    name: ClassVar[str] = "dsir_select"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        **DsirFit.stats_columns,
        "dsir_key": pa.float64(),  # the ranking key: log_weight / temperature (+ Gumbel noise); null if too short
        "dsir_copies": pa.int32(),  # times selected (0 or 1 without replacement)
    }

    k: int | None = Field(None, ge=1, description="documents to select")
    fraction: float | None = Field(None, gt=0.0, le=1.0, description="or: this share of the documents")
    method: Literal["gumbel", "top_k", "replacement"] = Field(
        "gumbel", description="gumbel: sample without replacement prop. to w; top_k: the k largest w; replacement"
    )
    temperature: float = Field(1.0, gt=0.0, description="w^(1/T): T > 1 flattens DSIR's very peaked weights")
    allow_fewer: bool = Field(False, description="select every eligible document when k exceeds them (else error)")

    @model_validator(mode="after")
    def _one_size(self):
        if (self.k is None) == (self.fraction is None):
            raise ValueError("give exactly one of k (documents) or fraction (share of the documents)")
        return self

    @property
    def selects(self) -> bool:
        return True

    def describe(self) -> str:
        size = f"k={self.k:,}" if self.k is not None else f"fraction={self.fraction:g}"
        return f"{super().describe()}; select {size} by {self.method} (T={self.temperature:g})"

    def _task_keys(self, t: int, numbering_offset: int) -> dict[str, np.ndarray]:
        stream_offsets = np.load(task_file(self.state, "grams", t, ".offsets.npy"))
        log_w = np.load(task_file(self.state, "weights", t, ".npy"))
        noise = np.load(task_file(self.state, "noise", t, ".npy"))
        keys = {
            "gumbel": log_w / self.temperature + noise,
            "top_k": log_w / self.temperature,
            "random": noise,
        }
        if self.compare_model is not None:
            keys["fasttext"] = np.load(task_file(self.state, "fasttext", t, ".npy")).astype(np.float64)
        eligible = token_lengths(stream_offsets, self.ngrams) >= self.min_length
        numbers = np.arange(numbering_offset, numbering_offset + len(log_w), dtype=np.int64)
        return {"keys": keys, "eligible": eligible, "numbers": numbers, "log_w": log_w}

    def select(self, markers, summary, heldout: dict[str, HeldoutTarget], raw_all, log) -> dict:
        docs, eligible = summary.docs, summary.eligible
        k = self.k if self.k is not None else int(math.floor(self.fraction * docs))
        if eligible == 0:
            raise RunError(
                f"{self.name}: no eligible document: all {docs:,} are shorter than min_length={self.min_length} "
                f"tokens (the longest has {summary.longest:,}); lower min_length"
            )
        if k == 0:
            raise RunError(f"{self.name}: fraction={self.fraction} of {docs:,} documents selects none")
        note = None
        if k > eligible:
            if not self.allow_fewer:
                raise RunError(
                    f"{self.name}: k={k:,} but only {eligible:,} of {docs:,} documents are eligible "
                    f"(min_length={self.min_length} tokens); lower k, lower min_length, or set allow_fewer: true"
                )
            note = f"k={k:,} exceeds the {eligible:,} eligible documents: all of them are selected"
            log.warning("%s: %s", self.name, note)
            k = eligible
        offsets = np.concatenate([[0], np.cumsum([mk["docs"] for mk in markers])])
        n_tasks = len(markers)
        variants = ["top_k", "random"] + (["fasttext"] if self.compare_model is not None else [])
        if self.method != "replacement":
            variants = [self.method] + [v for v in variants if v != self.method]
        tops = {v: TopK(k) for v in variants}
        for t in range(n_tasks):
            a = self._task_keys(t, offsets[t])
            for v, top in tops.items():
                top.add(a["keys"][v][a["eligible"]], a["numbers"][a["eligible"]])
        thresholds = {v: top.threshold() for v, top in tops.items()}
        drawn = None
        if self.method == "replacement":
            rng = np.random.default_rng([self.full_seed(), 0x5D51])
            masked = []
            for t in range(n_tasks):
                a = self._task_keys(t, offsets[t])
                masked.append(np.where(a["eligible"], a["log_w"] / self.temperature, -np.inf))
            drawn = multinomial_by_task(masked, k, rng)
        q_counts = {v: np.zeros(self.num_buckets) for v in [self.method, *thresholds]}
        selected_docs, copies_total = 0, 0
        for t in range(n_tasks):
            a = self._task_keys(t, offsets[t])
            masks = {
                v: selected_by_threshold(a["keys"][v], a["numbers"], a["eligible"], thr).astype(np.int32)
                for v, thr in thresholds.items()
            }
            copies = drawn[t] if drawn is not None else masks[self.method]
            masks[self.method] = copies
            key = a["keys"]["top_k" if self.method == "replacement" else self.method]
            save_npy(task_file(self.state, "selection", t, ".npy"), copies.astype(np.int32))
            save_npy(task_file(self.state, "keys", t, ".npy"), np.where(a["eligible"], key, np.nan))
            selected_docs += int((copies > 0).sum())
            copies_total += int(copies.sum())
            if heldout["document"].docs:
                for d, e, b, o in self.stream(t).chunks():
                    for v, c in masks.items():
                        q_counts[v] += bucket_counts(b, o, c[d:e], self.num_buckets)
        facts = {
            "k": k,
            "method": self.method,
            "temperature": self.temperature,
            "seed": self.full_seed(),
            "selected_docs": selected_docs,
            "selected_copies": copies_total,
            "ess_at_temperature": summary.ess(self.temperature),
        }
        if note:
            facts["note"] = note
        if heldout["document"].docs:
            q = {v: distribution(c) for v, c in q_counts.items()}
            kl_raw = heldout["document"].mean_kl(distribution(raw_all))
            kl = {v: heldout["document"].mean_kl(x) for v, x in q.items()}
            p_bar = heldout["document"].mean_distribution()
            kl_raw_c = heldout["chunk"].mean_kl(distribution(raw_all))
            kl_c = {v: heldout["chunk"].mean_kl(x) for v, x in q.items()}
            facts["kl_selection"] = {
                "target_from_selected": kl[self.method],
                "reduction": kl_raw - kl[self.method],
                "reduction_by": {v: kl_raw - x for v, x in kl.items()},
                # held-out target mass in buckets the selection never hits: each costs log(1e-8) in KL,
                # so a small selection (or a small pool) reads worse than it is
                "target_mass_unseen": float(p_bar[q_counts[self.method] == 0].sum()),
                # the same with each held-out chunk_words-token chunk as one unit (the paper's unit)
                "per_chunk": {
                    "target_from_selected": kl_c[self.method],
                    "reduction": kl_raw_c - kl_c[self.method],
                    "reduction_by": {v: kl_raw_c - x for v, x in kl_c.items()},
                },
            }
        return facts

    def task_arrays(self, task: int) -> dict[str, np.ndarray]:
        arrays = super().task_arrays(task)
        arrays["copies"] = np.load(task_file(self.state, "selection", task, ".npy"))
        arrays["key"] = np.load(task_file(self.state, "keys", task, ".npy"))
        return arrays

    def columns(self, arrays: dict, sl: slice) -> dict[str, pa.Array]:
        key = arrays["key"][sl]
        return super().columns(arrays, sl) | {
            "dsir_key": pa.array(key, pa.float64(), mask=np.isnan(key)),
            "dsir_copies": pa.array(arrays["copies"][sl], pa.int32()),
        }

    def reasons(self, arrays: dict, sl: slice) -> pa.Array:
        short = arrays["length"][sl] < self.min_length
        unselected = arrays["copies"][sl] == 0
        out = np.full(len(short), None, dtype=object)
        out[unselected] = "dsir_not_selected"
        out[short] = "dsir_short"
        return pa.array(out, pa.string())


class _WeightSummary:
    """Streaming statistics of the eligible documents' log weights (for the report). Memory: O(1)."""

    def __init__(self, temperature: float = 1.0):
        self.docs = 0
        self.eligible = 0
        self.longest = 0
        self._temperatures = sorted({1.0, float(temperature)})
        self._lse = {t: [float("-inf"), float("-inf")] for t in self._temperatures}  # LSE of x/T and 2x/T
        self._sums = np.zeros(5)  # x, x^2, y, y^2, xy with x = log w, y = length
        self._min, self._max = float("inf"), float("-inf")

    def add(self, log_w: np.ndarray, lengths: np.ndarray, min_length: int) -> None:
        self.docs += len(log_w)
        if len(lengths):
            self.longest = max(self.longest, int(lengths.max()))
        ok = lengths >= min_length
        x, y = log_w[ok], lengths[ok].astype(np.float64)
        self.eligible += len(x)
        if not len(x):
            return
        self._sums += [x.sum(), (x * x).sum(), y.sum(), (y * y).sum(), (x * y).sum()]
        self._min, self._max = min(self._min, float(x.min())), max(self._max, float(x.max()))
        for t, acc in self._lse.items():
            acc[0] = float(np.logaddexp(acc[0], logsumexp(x / t)))
            acc[1] = float(np.logaddexp(acc[1], logsumexp(2 * x / t)))

    def ess(self, temperature: float = 1.0) -> float:
        """(sum w)^2 / sum w^2 of w = exp(log_w / temperature) over the eligible documents."""
        lse1, lse2 = self._lse[float(temperature)]
        return float(np.exp(2 * lse1 - lse2)) if self.eligible else 0.0

    def facts(self) -> dict:
        n = max(self.eligible, 1)
        sx, sxx, sy, syy, sxy = self._sums
        var_x, var_y = sxx / n - (sx / n) ** 2, syy / n - (sy / n) ** 2
        cov = sxy / n - sx * sy / n**2
        corr = cov / math.sqrt(var_x * var_y) if var_x > 0 and var_y > 0 else None
        return {
            "mean": sx / n if self.eligible else None,
            "std": math.sqrt(max(var_x, 0.0)) if self.eligible else None,
            "min": self._min if self.eligible else None,
            "max": self._max if self.eligible else None,
            "corr_with_length": corr,
            "ess": self.ess(),
            "ess_fraction": self.ess() / self.eligible if self.eligible else None,
        }


def _cat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)


def _subset(buckets: np.ndarray, offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stream of the kept documents only."""
    lengths = np.diff(offsets)
    return buckets[np.repeat(keep, lengths)], np.concatenate([[0], np.cumsum(lengths[keep])])
