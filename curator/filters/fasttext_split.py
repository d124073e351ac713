"""The data of `curator quality train`: labelled documents streamed from JSONL/Parquet/HF inputs, each routed by a
key hashed from (seed, label, id) to the held-out file or to one of SHUFFLE_BUCKETS training buckets, each
bucket then shuffled in memory on its own (so RAM holds about 1/SHUFFLE_BUCKETS of the training text)."""

from __future__ import annotations

import random
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from curator.errors import ConfigError
from curator.filters.fasttext_model import fasttext_text
from curator.text.hashing import seeded_uniform

SHUFFLE_BUCKETS = 64
LABEL_PREFIX = "__label__"


@dataclass
class TrainSettings:
    """fastText hyper-parameters and the split; `threads` > 1 is faster but no longer deterministic."""

    lr: float = 0.1
    dim: int = 100
    ws: int = 5
    epoch: int = 5
    min_count: int = 1
    word_ngrams: int = 2
    bucket: int = 200_000
    seed: int = 0
    threads: int = 1
    valid_fraction: float = 0.1
    max_docs_per_label: int | None = None
    newline: str = " "
    quantize: bool = False
    cutoff: int = 100_000  # words kept by quantisation


@dataclass
class LabelledInput:
    """Documents of one label (`paths`), or of labels read from a column (`label_column`)."""

    paths: list[str]
    label: str | None = None
    label_column: str | None = None
    only: list[str] | None = None  # with label_column: keep documents of these labels, skip the rest


def _clean_label(label: str) -> str:
    label = label.removeprefix(LABEL_PREFIX).strip()
    if not label or any(c.isspace() for c in label):
        raise ConfigError(f"label {label!r} must be non-empty and without whitespace")
    return label


def _document_batches(path: str) -> Iterator[pa.RecordBatch]:
    """Document batches (id, source, text, meta) of every file behind `path`; rejected rows are counted out."""
    from curator.pipeline.side_input import side_input_batches

    yield from side_input_batches(path)


def _labels_of(batch: pa.RecordBatch, column: str) -> pa.Array:
    if column in batch.schema.names:
        return batch.column(column).cast(pa.string())
    meta = pl.from_arrow(batch.column("meta")).cast(pl.Utf8)
    return meta.str.json_path_match(f"$.{column}").to_arrow().cast(pa.string())


def _keys(ids: pa.Array, labels: pa.Array, seed: int) -> np.ndarray:
    """A uniform [0, 1) value per document from (seed, label, id): the split and the shuffle order."""
    return seeded_uniform(pc.binary_join_element_wise(labels, ids, "\x00"), seed)


class SplitWriter:
    """Routes labelled lines to the held-out file or to a shuffle bucket."""

    def __init__(self, work: Path, settings: TrainSettings):
        self.work = work
        self.settings = settings
        # held open across batches; finish() or close() closes them
        self.buckets = [open(work / f"bucket-{b:02d}.txt", "w", encoding="utf-8") for b in range(SHUFFLE_BUCKETS)]  # noqa: SIM115
        self.valid = open(work / "valid.txt", "w", encoding="utf-8")  # noqa: SIM115
        self.train_docs: dict[str, int] = {}
        self.valid_docs: dict[str, int] = {}
        self.skipped: dict[str, int] = {}

    def skip(self, reason: str, n: int) -> None:
        if n:
            self.skipped[reason] = self.skipped.get(reason, 0) + n

    def add(self, batch: pa.RecordBatch, labels: pa.Array) -> None:
        texts = batch.column("text")
        usable = pc.and_(pc.is_valid(labels), pc.greater(pc.utf8_length(pc.utf8_trim_whitespace(texts)), 0))
        self.skip("no label", labels.null_count)
        self.skip("empty text", len(labels) - labels.null_count - int(pc.sum(usable).as_py() or 0))
        batch, labels = batch.filter(usable), labels.filter(usable)
        if not batch.num_rows:
            return
        keys = _keys(batch.column("id"), labels, self.settings.seed)
        held_out = keys < self.settings.valid_fraction
        bucket = (keys * 2**32).astype(np.int64) % SHUFFLE_BUCKETS
        encoded = pc.dictionary_encode(labels)
        names = [_clean_label(v) for v in encoded.dictionary.to_pylist()]
        prefix = pc.take(pa.array([LABEL_PREFIX + name for name in names]), encoded.indices)
        lines = pc.binary_join_element_wise(prefix, fasttext_text(batch.column("text"), self.settings.newline), " ")
        lines = np.asarray(lines.to_pylist(), dtype=object)
        codes = encoded.indices.to_numpy()
        cap = self.settings.max_docs_per_label
        for code, label in enumerate(names):  # a few labels; rows of each are written as blocks
            rows = np.flatnonzero(codes == code)
            seen = self.train_docs.get(label, 0) + self.valid_docs.get(label, 0)
            if cap is not None and seen + len(rows) > cap:
                self.skip("over max_docs_per_label", seen + len(rows) - max(cap, seen))
                rows = rows[: max(0, cap - seen)]
            valid_rows, train_rows = rows[held_out[rows]], rows[~held_out[rows]]
            self.valid.write("".join(lines[valid_rows]))
            for b in np.unique(bucket[train_rows]):
                self.buckets[b].write("".join(lines[train_rows[bucket[train_rows] == b]]))
            self.valid_docs[label] = self.valid_docs.get(label, 0) + len(valid_rows)
            self.train_docs[label] = self.train_docs.get(label, 0) + len(train_rows)

    def close(self) -> None:
        for handle in [*self.buckets, self.valid]:
            handle.close()

    def finish(self) -> Path:
        """Shuffle each bucket in memory and concatenate them into train.txt."""
        self.valid.close()
        train = self.work / "train.txt"
        with open(train, "w", encoding="utf-8") as out:
            for b, handle in enumerate(self.buckets):
                handle.close()
                path = Path(handle.name)
                lines = path.read_text(encoding="utf-8").splitlines(keepends=True)
                random.Random(self.settings.seed * 1000 + b).shuffle(lines)
                out.writelines(lines)
                path.unlink()
        return train


def split_inputs(inputs: list[LabelledInput], writer: SplitWriter) -> None:
    """Label every document of the inputs (one label, or a column's, kept to `only`) and route it to `writer`."""
    for item in inputs:
        for path in item.paths:
            for batch in _document_batches(path):
                if item.label_column:
                    labels = _labels_of(batch, item.label_column)
                    if item.only:
                        chosen = pc.fill_null(pc.is_in(labels, pa.array(item.only, pa.string())), False)
                        writer.skip("label not chosen", len(labels) - int(pc.sum(chosen).as_py() or 0))
                        batch, labels = batch.filter(chosen), labels.filter(chosen)
                else:
                    labels = pa.repeat(pa.scalar(_clean_label(item.label or ""), pa.string()), batch.num_rows)
                writer.add(batch, labels)
