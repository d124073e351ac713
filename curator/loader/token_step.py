"""The `token_store` step: each task's `tokens` column written as one token store shard (RUN/tokens/)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, PrivateAttr

from curator.buckets.tokenize import TOKENS_COLUMN, TokenSink
from curator.errors import RunError
from curator.io.atomic import TMP_PREFIX
from curator.loader.holdout import HELDOUT_DIR, heldout_mask
from curator.loader.store import DTYPE_OF, TokenShardWriter
from curator.pipeline.step import register_step

TOKENS_DIR = "tokens"  # the run folder's side output of token_store


def token_files(run_dir: str | Path, task: int) -> list[Path]:
    """Token store shards of `task` in a run folder (heldout/ too), published or temporary."""
    tokens = Path(run_dir) / TOKENS_DIR
    if not tokens.is_dir():
        return []
    name = f"task-{task:05d}."
    folders = [tokens] + [p for p in tokens.iterdir() if p.is_dir()]
    return sorted(
        p for f in folders for p in f.iterdir() if p.is_file() and p.name.startswith((name, TMP_PREFIX + name))
    )


@register_step
class TokenStoreStep(TokenSink):
    """Write the tokens of the documents that reach it (in order, each ending in the EOS that `tokenize` added)
    to RUN/tokens/task-TTTTT.u16|u32 plus the document end offsets (task-TTTTT.docs.npy).

    Needs a `tokenize` step before it and must be the last step (what it writes is what trains). The shard is
    published when the task's last batch is written; a redone task's shard is removed first (clean_task_outputs).
    With `holdout` > 0 the documents whose id hashes below it go to RUN/tokens/heldout/ shards instead (the
    validation documents; curator.loader.holdout). Keeps every document in output/ either way. Memory: one
    batch of tokens plus 8 bytes per document of the task.
    """

    name: ClassVar[str] = "token_store"

    dtype: Literal["uint16", "uint32"] | None = Field(
        None, description="token width; default: the tokenize step's (a task with no documents then writes no shard)"
    )
    holdout: float = Field(0.0, ge=0, lt=0.5, description="share of documents (by id hash) written as held-out")
    writes: ClassVar[str] = "the store"
    side_outputs: ClassVar[tuple[str, ...]] = (TOKENS_DIR,)
    _heldout = PrivateAttr(default=None)  # the held-out shard writer while a task runs

    def describe(self) -> str:
        held = f", {self.holdout:g} held out" if self.holdout else ""
        return f"token shards in RUN/tokens/ ({self.dtype or 'width of the tokenizer'}{held})"

    def _open(self, folder, dtype) -> None:
        self._writer = TokenShardWriter(folder, self.ctx.task, dtype)
        if self.holdout:
            self._heldout = TokenShardWriter(folder / HELDOUT_DIR, self.ctx.task, dtype)

    def clean_task_outputs(self, run_dir: Path, task: int) -> None:
        for path in token_files(run_dir, task):
            path.unlink()

    def teardown(self) -> None:
        if self._heldout is not None:
            self._heldout.abort()
            self._heldout = None
        super().teardown()

    def __call__(self, batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        if self.ctx.run_dir is None:
            raise RunError("token_store writes token shards into a run folder; run it in a pipeline")
        folder = self.ctx.output_dir(TOKENS_DIR)
        if self.dtype is not None:
            self._open(folder, DTYPE_OF[self.dtype])
        for batch in batches:
            if TOKENS_COLUMN not in batch.schema.names:
                raise RunError("token_store found no `tokens` column: put a `tokenize` step before it")
            tokens = batch.column(TOKENS_COLUMN)
            flat = tokens.flatten().to_numpy()  # respects a sliced batch
            if self._writer is None:
                self._open(folder, flat.dtype)
            if flat.dtype.itemsize > self._writer.dtype.itemsize:
                raise RunError(
                    f"token_store: the tokenizer's ids are {flat.dtype} but the store holds {self._writer.dtype.name}; "
                    "set token_store's dtype to uint32 (or leave it out)"
                )
            held = heldout_mask(batch.column("id"), self.holdout)
            if held.any():
                self._write(self._heldout, tokens.filter(pa.array(held)))
                self._write(self._writer, tokens.filter(pa.array(~held)))
            else:
                self._writer.write(flat, np.diff(tokens.offsets.to_numpy()))
            yield batch.drop_columns([TOKENS_COLUMN])  # written: later steps (none) and output/ need no tokens
        for writer in (self._writer, self._heldout):
            if writer is not None:
                writer.close()
        self._writer = self._heldout = None

    @staticmethod
    def _write(writer: TokenShardWriter, tokens: pa.ListArray) -> None:
        if len(tokens):
            offsets = tokens.offsets.to_numpy()
            writer.write(tokens.flatten().to_numpy(), np.diff(offsets))
