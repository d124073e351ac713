"""The `model_loss` step: each document's mean token loss under a `curator train` checkpoint (a proxy LM)."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any, ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from curator.buckets.tokenize import TOKENS_COLUMN
from curator.dedup.state import save_npz, task_file
from curator.errors import ConfigError, RunError
from curator.pipeline.step import Step, StepContext, register_step, with_columns
from curator.score.scorer import (
    checkpoint_file,
    first_out_of_vocab,
    load_model,
    pick_device,
    read_checkpoint,
    score_tokens,
)
from curator.text.hashing import seeded_hash

CACHE_DIR = "state/model_loss-cache"


@register_step
class ModelLoss(Step):
    """Mean token loss (nats) of each document under a causal LM checkpoint written by `curator train`.

    Needs `tokenize` before it, with the tokenizer of the store the checkpoint trained on (checked when the
    pipeline is read: the vocabulary must fit the model's, and when the store is still found, its tokenizer
    sha256 must match). `checkpoint` is a training run folder (its newest checkpoint) or a .pt file. The model
    loads once per worker in `setup()`. The first `max_tokens` tokens of each document are scored (null: all),
    in seq_len windows when longer than the model's seq_len (see curator.score.scorer); windows are sorted by
    length into micro-batches of <= `batch_tokens` padded tokens. Stats: `loss` (mean over `loss_tokens`
    predicted tokens) and `loss_tokens`; a document of fewer than 2 tokens has nothing to predict: null loss,
    0 tokens, `loss_skip` = 'too_short'. Keeps every document.
    In a run folder, each task's losses are also kept under state/model_loss-cache/ (20 B per document), so a
    task redone after its run finished (its stage files are gone, its input is read again) is not scored again.
    Memory: the model, one reader batch of tokens and its windows, and one micro-batch's logits
    (batch_tokens x vocab x 4 B, about three times over); the cache check holds 8 B per document of the task.
    """

    name: ClassVar[str] = "model_loss"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "loss": pa.float64(),  # mean token cross-entropy, nats; null when nothing was scored
        "loss_tokens": pa.int64(),  # predicted tokens scored (n_tokens - 1, capped by max_tokens - 1)
        "loss_skip": pa.string(),  # why the loss is null ('too_short'), else null
    }

    checkpoint: str = Field(description="a `curator train` run folder (its newest checkpoint) or a .pt file")
    max_tokens: int | None = Field(None, ge=2, description="score only each document's first tokens; null: all")
    batch_tokens: int = Field(
        1024, ge=1, description="padded tokens per forward pass (bounds the logits memory; 1024 is fastest on CPU)"
    )
    device: Literal["auto", "cpu", "cuda"] = Field("cpu", description="auto: a GPU when torch sees one")
    threads: int | None = Field(1, ge=1, description="torch CPU threads per worker (null: torch's default)")
    cache: bool = Field(True, description="keep each task's losses in the run folder: a redone task is not rescored")
    _model = PrivateAttr(default=None)
    _cache_key: str | None = PrivateAttr(default=None)

    def required_columns(self) -> set[str]:
        return {"tokens"}  # it scores the tokens of a `tokenize` step

    @classmethod
    def pipeline_problem(cls, index: int, steps: list[dict[str, Any]]) -> str | None:
        """The tokenize step's tokenizer must fit the checkpoint's vocabulary (and be its store's, when known)."""
        params = steps[index][cls.name] or {}
        tokenizers = [e["tokenize"] for e in steps[:index] if "tokenize" in e and e["tokenize"]]
        if not tokenizers or "checkpoint" not in params or "tokenizer" not in tokenizers[-1]:
            return None
        if not Path(params["checkpoint"]).exists():
            return None  # preflight names the missing checkpoint (a pipeline file loads before it is trained)
        from curator.buckets.tokenizer import load_tokenizer
        from curator.loader.store import file_sha256

        path = tokenizers[-1]["tokenizer"]
        try:
            _, info = read_checkpoint(params["checkpoint"])
            vocab = load_tokenizer(path).get_vocab_size(with_added_tokens=True)
        except ConfigError as exc:
            return str(exc)
        if vocab > info.model.vocab_size:
            return (
                f"the tokenize step's tokenizer {path} has {vocab:,} tokens but checkpoint {info.path} models "
                f"{info.model.vocab_size:,}; use the tokenizer of the store the checkpoint was trained on"
            )
        trained = info.store_tokenizer()
        if trained and trained.get("sha256") and trained["sha256"] != file_sha256(path):
            return (
                f"the tokenize step's tokenizer {path} is not the one checkpoint {info.path} was trained with "
                f"({trained.get('path')}, sha256 {str(trained['sha256'])[:12]}...); tokenize with that file"
            )
        return None

    def preflight(self) -> None:
        """A missing or unreadable checkpoint fails here, before any task (and in --dry-run)."""
        checkpoint_file(self.checkpoint)
        read_checkpoint(self.checkpoint)
        pick_device(self.device)

    def describe(self) -> str:
        tokens = f"first {self.max_tokens:,} tokens" if self.max_tokens else "all tokens"
        return f"checkpoint {checkpoint_file(self.checkpoint)}; {tokens}, {self.batch_tokens:,} tokens per pass"

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        if self.threads:
            import torch

            torch.set_num_threads(self.threads)
        self._model, info = load_model(self.checkpoint, self.device)
        file = info.path.stat()
        key = self.model_dump(mode="json", exclude={"device", "threads", "cache", "checkpoint"})
        key |= {"checkpoint": str(info.path.resolve()), "size": file.st_size, "mtime": file.st_mtime_ns}
        self._cache_key = hashlib.sha256(json.dumps(key, sort_keys=True).encode()).hexdigest()[:16]

    def teardown(self) -> None:
        self._model = None

    def _cache_path(self) -> Path | None:
        if not self.cache or self.ctx.run_dir is None or self.ctx.task < 0:
            return None
        return task_file(Path(self.ctx.run_dir) / CACHE_DIR / self._cache_key, "", self.ctx.task, ".npz")

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        path = self._cache_path()
        cached = dict(np.load(path)) if path is not None and path.exists() else None
        hashes, sums, counts = [], [], []
        position, all_cached = 0, cached is not None
        for batch in batches:
            if TOKENS_COLUMN not in batch.schema.names:
                raise RunError(f"{self.name} found no `tokens` column: put a `tokenize` step before it")
            ids = seeded_hash(batch.column("id").cast(pa.string()), 0)
            end = position + batch.num_rows
            if (
                cached is not None
                and end <= len(cached["id_hash"])
                and np.array_equal(cached["id_hash"][position:end], ids)
            ):
                loss_sum, tokens = cached["loss_sum"][position:end], cached["tokens"][position:end]
            else:
                all_cached = False
                loss_sum, tokens = self._score(batch)
            position = end
            hashes.append(ids)
            sums.append(loss_sum)
            counts.append(tokens)
            yield with_columns(batch, loss_columns(loss_sum, tokens))
        if path is not None and not (all_cached and position == len(cached["id_hash"])):
            cat = lambda parts, dtype: np.concatenate(parts).astype(dtype) if parts else np.zeros(0, dtype)  # noqa: E731
            save_npz(path, id_hash=cat(hashes, np.uint64), loss_sum=cat(sums, np.float64), tokens=cat(counts, np.int64))

    def _score(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        col = batch.column(TOKENS_COLUMN)
        flat = col.flatten().to_numpy(zero_copy_only=False).astype(np.int64)
        offsets = col.offsets.to_numpy() - col.offsets[0].as_py()
        docs = [flat[offsets[i] : offsets[i + 1]] for i in range(batch.num_rows)]
        try:
            result = score_tokens(self._model, docs, self.batch_tokens, self.max_tokens)
        except RunError as exc:
            bad = first_out_of_vocab(docs, self._model.config.vocab_size)
            doc = f"document id {batch.column('id')[bad].as_py()!r}" if bad is not None else "a document"
            raise RunError(f"{self.name}, task {self.ctx.task}, {doc}: {exc}") from None
        return result.loss_sum, result.tokens


def loss_columns(loss_sum: np.ndarray, tokens: np.ndarray) -> dict[str, pa.Array]:
    """loss (mean, null when nothing scored), loss_tokens, loss_skip."""
    none = tokens == 0
    mean = np.where(none, 0.0, loss_sum / np.maximum(tokens, 1))
    skip = np.where(none, "too_short", None)
    return {
        "loss": pa.array(mean, pa.float64(), mask=none),
        "loss_tokens": pa.array(tokens, pa.int64()),
        "loss_skip": pa.array(skip.tolist(), pa.string()),
    }
