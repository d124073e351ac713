"""The `tokenize` step: token ids (with EOS) as a list column for later steps, and `n_tokens` for the stats."""

from __future__ import annotations

from itertools import chain
from typing import ClassVar

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr

from curator.buckets.tokenizer import eos_id, load_tokenizer, token_dtype
from curator.pipeline.step import Step, StepContext, register_step, with_columns

TOKENS_COLUMN = "tokens"


def tokens_array(ids_per_doc: list[list[int]], eos: int | None, dtype: np.dtype) -> pa.ListArray:
    """One list<uint16|uint32> row per document, EOS appended when `eos` is given. Vectorised assembly."""
    n = len(ids_per_doc)
    lengths = np.fromiter((len(ids) for ids in ids_per_doc), np.int64, count=n)
    total = int(lengths.sum())
    flat = np.fromiter(chain.from_iterable(ids_per_doc), dtype, count=total)
    if eos is not None:
        lengths = lengths + 1
        ends = np.cumsum(lengths)
        values = np.empty(int(ends[-1]) if n else 0, dtype)
        is_eos = np.zeros(len(values), bool)
        is_eos[ends - 1] = True
        values[is_eos] = eos
        values[~is_eos] = flat
        flat = values
    offsets = np.zeros(n + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return pa.LargeListArray.from_arrays(pa.array(offsets), pa.array(flat))


@register_step
class Tokenize(Step):
    """Tokenise `text` with a tokenizer.json; adds the `tokens` column (ids + EOS) and `n_tokens`.

    Memory: one batch of token ids (2 or 4 bytes per token by vocabulary size). The `tokens` column travels
    with the batch to later steps (dataset_decomposition writes it to bucket shards); it is not written to
    output/ or to the stats table.
    """

    name: ClassVar[str] = "tokenize"
    packages: ClassVar[dict[str, str]] = {"tokenizers": "tokenizers"}
    stats_columns: ClassVar[dict[str, pa.DataType]] = {"n_tokens": pa.int64()}  # ids incl. the EOS token
    provides_columns: ClassVar[frozenset[str]] = frozenset([TOKENS_COLUMN])

    tokenizer: str = Field(description="path to a tokenizer.json (`curator tokenizer train` makes one)")
    add_eos: bool = Field(True, description="append the end-of-document token to every document")
    eos_token: str | None = Field(None, description="default: <|endoftext|>, </s> or <eos>, the first that exists")
    _tok = PrivateAttr(default=None)
    _eos: int | None = PrivateAttr(default=None)
    _dtype = PrivateAttr(default=None)

    def preflight(self) -> None:
        tok = load_tokenizer(self.tokenizer)  # a missing or broken file fails here, before any task
        if self.add_eos:
            eos_id(tok, self.eos_token)

    def setup(self, ctx: StepContext) -> None:
        super().setup(ctx)
        self._tok = load_tokenizer(self.tokenizer)
        self._eos = eos_id(self._tok, self.eos_token) if self.add_eos else None
        self._dtype = token_dtype(self._tok.get_vocab_size(with_added_tokens=True))

    def describe(self) -> str:
        return f"{self.tokenizer}, EOS {'appended' if self.add_eos else 'not appended'}"

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        encodings = self._tok.encode_batch_fast(batch.column("text").to_pylist(), add_special_tokens=False)
        tokens = tokens_array([e.ids for e in encodings], self._eos, self._dtype)
        n_tokens = pc.list_value_length(tokens).cast(pa.int64())
        return with_columns(batch, {TOKENS_COLUMN: tokens, "n_tokens": n_tokens})


class TokenSink(Step):
    """Base of the terminal steps that write the `tokens` column into the run folder (dataset_decomposition,
    token_store): after `tokenize`, last in the pipeline, and a failed task's partial files aborted."""

    writes: ClassVar[str] = "its files"  # what the step writes, for the position message
    _writer = PrivateAttr(default=None)  # an open shard writer while a task runs (close() publishes it)

    def required_columns(self) -> set[str]:
        return {TOKENS_COLUMN}

    @classmethod
    def position_problem(cls, index: int, names: list[str]) -> str | None:
        if index != len(names) - 1:
            return f"must be the last step (later steps would drop documents already written to {cls.writes})"
        return None

    def teardown(self) -> None:
        if self._writer is not None:  # the task failed or was interrupted: leave nothing behind
            self._writer.abort()
            self._writer = None
