"""Train a supervised fastText classifier from labelled corpora, with a held-out report (`curator quality train`).

Data flow, bounded in memory: documents stream from JSONL/Parquet/HF inputs; each non-empty one gets a key
hashed from (seed, label, id) that decides held-out or training and its place in the shuffle; training lines
go to SHUFFLE_BUCKETS temp files by key, and each bucket is shuffled in memory on its own (so RAM holds about
1/SHUFFLE_BUCKETS of the training text), then fastText trains on the concatenation with one thread and a
seed: the same data and settings give a byte-identical model. Defaults are DCLM's (lr 0.1, dim 100, ws 5,
epoch 5, minCount 1, wordNgrams 2) except `bucket` (200k, not 2M: an 80 MB `.bin` instead of 838 MB).
"""

from __future__ import annotations

import json
import os
import random
import shutil
import tempfile
import time
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np
import polars as pl
import pyarrow as pa
import pyarrow.compute as pc

from curator.errors import ConfigError
from curator.filters.fasttext_model import fasttext_text, label_probabilities, quiet_fasttext
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


@dataclass
class TrainReport:
    model: str
    labels: list[str]
    train_docs: dict[str, int]
    valid_docs: dict[str, int]
    skipped: dict[str, int]  # reason -> documents not used (empty text, over max_docs_per_label, no label)
    metrics: dict
    seconds: dict[str, float]
    settings: dict = field(default_factory=dict)
    model_bytes: int = 0


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


class _SplitWriter:
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


def _auc(scores: np.ndarray, positive: np.ndarray) -> float | None:
    """Area under the ROC curve (Mann-Whitney U with tied ranks averaged); None without both classes."""
    n_pos = int(positive.sum())
    n_neg = len(positive) - n_pos
    if n_pos == 0 or n_neg == 0:
        return None
    order = np.argsort(scores, kind="mergesort")
    ranks = np.empty(len(scores), np.float64)
    sorted_scores = scores[order]
    _, first, counts = np.unique(sorted_scores, return_index=True, return_counts=True)
    avg = first + (counts - 1) / 2.0 + 1.0
    ranks[order] = np.repeat(avg, counts)
    return float((ranks[positive].sum() - n_pos * (n_pos + 1) / 2) / (n_pos * n_neg))


def evaluate(model, valid_file: Path, labels: list[str], positive: str | None, chunk: int = 20_000) -> dict:
    """Held-out accuracy, per-label precision/recall/F1, and AUC of `positive` (binary) or one-vs-rest mean."""
    truth: list[int] = []
    probs: list[np.ndarray] = []
    index = {label: j for j, label in enumerate(labels)}
    with open(valid_file, encoding="utf-8") as f:
        while True:
            block = [line for _, line in zip(range(chunk), f, strict=False)]
            if not block:
                break
            names, texts = zip(*(line.split(" ", 1) for line in block), strict=True)
            truth.extend(index[n.removeprefix(LABEL_PREFIX)] for n in names)
            probs.append(label_probabilities(model, list(texts), [LABEL_PREFIX + label for label in labels]))
    if not truth:
        return {"docs": 0}
    y = np.array(truth)
    p = np.concatenate(probs)
    pred = p.argmax(axis=1)
    per_label = {}
    for j, label in enumerate(labels):
        tp = int(((pred == j) & (y == j)).sum())
        predicted, actual = int((pred == j).sum()), int((y == j).sum())
        precision = tp / predicted if predicted else 0.0
        recall = tp / actual if actual else 0.0
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
        auc = _auc(p[:, j], y == j)
        per_label[label] = {"precision": precision, "recall": recall, "f1": f1, "auc": auc, "docs": actual}
    aucs = [v["auc"] for v in per_label.values() if v["auc"] is not None]
    return {
        "docs": len(y),
        "accuracy": float((pred == y).mean()),
        "auc": per_label[positive]["auc"] if positive else (float(np.mean(aucs)) if aucs else None),
        "positive": positive,
        "per_label": per_label,
    }


def _train_and_save(train_file: str, settings: TrainSettings, plain: str, quantized: str | None) -> dict:
    """Train (and quantise) in this process and save the model(s); returns seconds per phase.

    Runs in a fresh child process: with fasttext-numpy2 0.10.4, a `multilinePredict` earlier in a process
    changes every later training in it (other weights, often a NaN loss), so training never shares a
    process with prediction.
    """
    fasttext = quiet_fasttext()
    seconds = {}
    t0 = time.perf_counter()
    try:
        model = fasttext.train_supervised(
            input=train_file, lr=settings.lr, dim=settings.dim, ws=settings.ws, epoch=settings.epoch,
            minCount=settings.min_count, wordNgrams=settings.word_ngrams, bucket=settings.bucket,
            seed=settings.seed, thread=settings.threads, verbose=0,
        )  # fmt: skip
    except RuntimeError as exc:
        if "NaN" not in str(exc):
            raise
        raise ConfigError(
            f"fastText training diverged (NaN loss) with lr={settings.lr}, dim={settings.dim}; "
            "a lower --lr (or another --dim) usually trains"
        ) from None
    seconds["train"] = time.perf_counter() - t0
    model.save_model(plain)
    if quantized:
        t0 = time.perf_counter()
        model.quantize(input=train_file, qnorm=True, retrain=True, cutoff=settings.cutoff, thread=settings.threads)
        model.save_model(quantized)
        seconds["quantize"] = time.perf_counter() - t0
    return seconds


def _train_in_child(train_file: Path, settings: TrainSettings, plain: Path, quantized: Path | None) -> dict:
    """`_train_and_save` in a fresh interpreter (`python -m curator.filters.fasttext_train`); its ConfigError
    comes back as a ConfigError with the same message."""
    import subprocess
    import sys

    request = {"train_file": str(train_file), "settings": asdict(settings), "plain": str(plain)}
    request["quantized"] = str(quantized) if quantized else None
    proc = subprocess.run(
        [sys.executable, "-m", "curator.filters.fasttext_train"], input=json.dumps(request), capture_output=True,
        text=True,
    )  # fmt: skip
    if proc.returncode == 3:
        raise ConfigError(proc.stderr.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"fastText training process failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child_main() -> None:
    import sys

    request = json.loads(sys.stdin.read())
    try:
        seconds = _train_and_save(
            request["train_file"], TrainSettings(**request["settings"]), request["plain"], request["quantized"]
        )
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        sys.exit(3)
    print(json.dumps(seconds))


def train_classifier(
    inputs: list[LabelledInput], out: str | os.PathLike, settings: TrainSettings, positive: str | None = None
) -> TrainReport:
    """Train, evaluate on the held-out split, optionally quantise, and write `out` plus `out.json` (the report).

    The model appears under its final name only when complete (written to a temp name, then renamed).
    """
    if not 0.0 <= settings.valid_fraction < 1.0:
        raise ConfigError(f"valid_fraction must be in [0, 1), got {settings.valid_fraction}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fasttext = quiet_fasttext()
    seconds: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix=".curator-train-", dir=out.parent))
    writer = _SplitWriter(work, settings)
    try:
        t0 = time.perf_counter()
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
        train_file = writer.finish()
        labels = sorted(set(writer.train_docs) | set(writer.valid_docs))
        if len(labels) < 2:
            raise ConfigError(f"training needs documents of at least two labels, got {labels or 'none'}")
        if positive is not None and positive not in labels:
            raise ConfigError(f"positive label '{positive}' has no documents (labels: {', '.join(labels)})")
        seconds["prepare"] = time.perf_counter() - t0

        plain, quantized = work / "model.bin", (work / "model.ftz" if settings.quantize else None)
        t0 = time.perf_counter()
        seconds.update(_train_in_child(train_file, settings, plain, quantized))
        seconds["train_process"] = time.perf_counter() - t0
        valid_file = work / "valid.txt"
        t0 = time.perf_counter()
        metrics = evaluate(fasttext.load_model(str(plain)), valid_file, labels, positive)
        if quantized is not None:
            quantized_metrics = evaluate(fasttext.load_model(str(quantized)), valid_file, labels, positive)
            metrics = {**quantized_metrics, "before_quantize": metrics}
        seconds["evaluate"] = time.perf_counter() - t0
        tmp = quantized or plain
        os.replace(tmp, out)
    finally:
        writer.close()
        shutil.rmtree(work, ignore_errors=True)
    report = TrainReport(
        model=str(out), labels=labels, train_docs=writer.train_docs, valid_docs=writer.valid_docs,
        skipped=writer.skipped, metrics=metrics, seconds=seconds, settings=asdict(settings),
        model_bytes=out.stat().st_size,
    )  # fmt: skip
    report_path = out.with_name(out.name + ".json")
    report_path.write_text(json.dumps(asdict(report), indent=1, sort_keys=True))
    return report


if __name__ == "__main__":
    _child_main()
