"""The `dataset_decomposition` step: token ids -> 2^i-token bucket shards, per-document piece accounting."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curator.buckets.decompose import decompose, gather_sequences
from curator.buckets.shards import BUCKETS_DIR, BucketShardWriter, bucket_dir
from curator.buckets.tokenize import TOKENS_COLUMN, TokenSink
from curator.errors import RunError
from curator.io.atomic import TMP_PREFIX
from curator.pipeline.step import register_step, with_columns
from curator.text.hashing import seeded_hash

DROP_REASON = "dd_below_min_bucket"


@register_step
class DatasetDecomposition(TokenSink):
    """Cut each tokenised document into 2^i-token pieces and write them to per-bucket shards (RUN/buckets/).

    Needs a `tokenize` step before it and must be the last step (what it writes is what trains). A document
    whose every piece is shorter than 2^min_bucket is dropped with reason `dd_below_min_bucket`; kept documents
    report the tokens their short tail lost in `dd_dropped_tokens`. Memory: one batch of tokens plus its pieces.
    """

    name: ClassVar[str] = "dataset_decomposition"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "dd_tokens": pa.int64(),  # tokens placed in buckets
        "dd_dropped_tokens": pa.int64(),  # tokens in pieces shorter than 2**min_bucket
        "dd_pieces": pa.int32(),
        "dd_buckets": pa.int32(),  # bit i set when a piece went to bucket D_i
    }

    min_bucket: int = Field(8, ge=0, le=30, description="shortest sequences: 2**min_bucket tokens (8 = 256)")
    max_bucket: int = Field(13, ge=0, le=30, description="longest sequences = context length (13 = 8192)")
    long_docs: Literal["olmo", "random"] = Field(
        "olmo", description="documents over 2**max_bucket: olmo = full-context pieces first; random = Apple's"
    )
    writes: ClassVar[str] = BUCKETS_DIR
    side_outputs: ClassVar[tuple[str, ...]] = (BUCKETS_DIR,)

    @model_validator(mode="after")
    def _ordered(self):
        if self.min_bucket > self.max_bucket:
            raise ValueError(f"min_bucket ({self.min_bucket}) is above max_bucket ({self.max_bucket})")
        return self

    def clean_task_outputs(self, run_dir: Path, task: int) -> None:
        folder = bucket_dir(run_dir, task)
        for path in (folder, folder.with_name(TMP_PREFIX + folder.name)):
            shutil.rmtree(path, ignore_errors=True)

    def describe(self) -> str:
        return f"buckets 2^{self.min_bucket}..2^{self.max_bucket} tokens, long documents: {self.long_docs}"

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if self.ctx.run_dir is None:
            raise RunError("dataset_decomposition writes bucket shards into a run folder; run it in a pipeline")
        self.ctx.output_dir(BUCKETS_DIR)
        self._writer = BucketShardWriter(bucket_dir(self.ctx.run_dir, self.ctx.task))
        for batch in batches:
            out = self._decompose_batch(batch)
            if out.num_rows:
                yield out
        self._writer.close()
        self._writer = None

    def _decompose_batch(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        if TOKENS_COLUMN not in batch.schema.names:
            raise RunError("dataset_decomposition found no `tokens` column: put a `tokenize` step before it")
        tokens = batch.column(TOKENS_COLUMN)
        offsets = tokens.offsets.to_numpy().astype(np.int64)
        flat = tokens.values.to_numpy()
        lengths = np.diff(offsets)
        seeds = seeded_hash(batch.column("id"), self.ctx.seed) if self.long_docs == "random" else None
        pieces = decompose(lengths, self.min_bucket, self.max_bucket, self.long_docs, seeds)
        source, ids = batch.column("source"), batch.column("id")
        for b in np.unique(pieces.bucket)[::-1]:
            sel = np.nonzero(pieces.bucket == b)[0]
            starts = offsets[pieces.doc[sel]] + pieces.offset[sel]
            rows = gather_sequences(flat, starts, 1 << int(b))
            docs = pa.array(pieces.doc[sel])
            self._writer.write(int(b), rows, source.take(docs), ids.take(docs), pieces.offset[sel])
        columns = {
            "dd_tokens": pa.array(pieces.kept_tokens),
            "dd_dropped_tokens": pa.array(lengths - pieces.kept_tokens),
            "dd_pieces": pa.array(pieces.n_pieces),
            "dd_buckets": pa.array(pieces.bucket_mask),
        }
        batch = with_columns(batch.drop_columns([TOKENS_COLUMN]), columns)  # written: no need to filter the ids
        reasons = pc.if_else(pc.equal(columns["dd_pieces"], 0), pa.scalar(DROP_REASON), pa.scalar(None, pa.string()))
        return self.ctx.apply_drops(self.name, batch, reasons)
