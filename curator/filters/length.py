"""length_filter: drop documents that are empty, too short or too long, in characters or words."""

from __future__ import annotations

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, model_validator

from curator.pipeline.step import Filter, first_reason, register_step
from curator.text.bytes import word_counts


@register_step
class LengthFilter(Filter):
    """Score n_chars and n_words (ASCII-whitespace separated), drop outside [min, max].

    Reasons: empty, too_few_chars, too_many_chars, too_few_words, too_many_words (first match wins).
    Memory: one batch.
    """

    name = "length_filter"
    stats_columns = {"n_chars": pa.int64(), "n_words": pa.int64()}

    min_chars: int = Field(1, ge=0)
    max_chars: int | None = Field(None, ge=1)
    min_words: int = Field(0, ge=0)
    max_words: int | None = Field(None, ge=1)

    @model_validator(mode="after")
    def _ordered(self):
        if self.max_chars is not None and self.max_chars < self.min_chars:
            raise ValueError(f"max_chars ({self.max_chars}) is below min_chars ({self.min_chars})")
        if self.max_words is not None and self.max_words < self.min_words:
            raise ValueError(f"max_words ({self.max_words}) is below min_words ({self.min_words})")
        return self

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        texts = batch.column("text")
        return {
            "n_chars": pc.cast(pc.utf8_length(texts), pa.int64()),
            "n_words": pa.array(word_counts(texts), pa.int64()),
        }

    def decide(self, batch: pa.RecordBatch) -> pa.Array:
        chars, words = batch.column("n_chars"), batch.column("n_words")
        rules = [(pc.equal(chars, 0), "empty"), (pc.less(chars, self.min_chars), "too_few_chars")]
        if self.max_chars is not None:
            rules.append((pc.greater(chars, self.max_chars), "too_many_chars"))
        rules.append((pc.less(words, self.min_words), "too_few_words"))
        if self.max_words is not None:
            rules.append((pc.greater(words, self.max_words), "too_many_words"))
        return first_reason(batch.num_rows, rules)
