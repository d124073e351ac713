"""DSIR importance resampling as pipeline steps: `dsir_fit` weighs every document, `dsir_select` also keeps k.

Passes (a global step; see curator.pipeline.global_step and docs/architecture.md):
  prepare  the target, once: n-gram streams, held-out split, target counts (state/NN-name/target*)
  index    each task's documents -> gram stream on disk, bucket counts, Gumbel noise (and a fastText score)
  resolve  p_raw, per-document log weights (weights/task-N.npy; `weight`: sum, length_normalized or chunk,
           see curator.select.chunks), the selection (a top-k over the weights), ESS and the KL report
           (per held-out document and per held-out chunk) -> state/NN-name/report.json and stats/NN-name.json
  filter   dsir_* columns to the stats table; dsir_select drops the rest with a reason
Memory: the n-gram cache (16 B x cache_slots) and one batch while indexing; in resolve, one task's
per-document arrays (about 40 B per document), a chunk of grams and the top-k candidates (16 B x k).
Disk: about 2 bytes per n-gram (roughly 0.8x the text for English with bigrams).
The two steps and their passes are here (about 330 lines); the target (prepare) is in dsir_target.py, the
selection (k of the weights) and the weight summary in dsir_selection.py.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr, field_validator, model_validator

from curator.dedup.state import read_json, save_npy, task_file, write_json
from curator.errors import RunError
from curator.pipeline.config import InputConfig
from curator.pipeline.global_step import GlobalStep
from curator.pipeline.step import StepContext, register_step
from curator.select.chunks import WeightMode, document_log_weights
from curator.select.dsir_selection import WeightSummary, select_documents
from curator.select.dsir_target import prepare_target
from curator.select.estimator import HeldoutTarget, distribution, log_ratio
from curator.select.features import GramStream, GramStreamWriter
from curator.select.resample import gumbel_from_uniform
from curator.text.hashing import seeded_uniform
from curator.text.ngrams import NgramHasher, bucket_dtype, ngram_hasher, token_lengths

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
        prepare_target(self)

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
        summary = WeightSummary(getattr(self, "temperature", 1.0))
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

    def select(self, markers, summary, heldout: dict[str, HeldoutTarget], raw_all, log) -> dict:
        return select_documents(self, markers, summary, heldout, raw_all, log)

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


def _cat(parts: list[np.ndarray], dtype) -> np.ndarray:
    return np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)
