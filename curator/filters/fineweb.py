"""fineweb_quality: FineWeb's line-level document rules (Penedo et al. 2024)."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
from pydantic import Field

from curator.filters import metrics as m
from curator.filters.rules import Rule, RuleFilter, ratio
from curator.pipeline.step import register_step


@register_step
class FineWebQuality(RuleFilter):
    """Score lines ending in punctuation, short lines, chars in repeated lines and newlines per word; drop by
    FineWeb's thresholds. Lines are the non-blank, stripped lines of `curator.filters.metrics`; a document
    without one scores 0 everywhere (and so fails `min_line_punct_frac`). Memory: one batch.
    """

    name = "fineweb_quality"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "line_punct_frac": pa.float64(),  # lines ending in . ! ? " ' ” ’ » … and CJK/Indic/Arabic marks
        "short_line_frac": pa.float64(),  # lines of at most short_line_chars chars
        "fineweb_dup_line_char_frac": pa.float64(),  # chars of repeated lines / chars without newlines (gopher's
        # dup_line_char_frac divides by all chars)
        "newline_word_ratio": pa.float64(),  # '\n' per word: list-like pages score high
    }
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("min_line_punct_frac", "line_punct_frac", "min", "fineweb_line_punct"),
        Rule("max_short_line_frac", "short_line_frac", "max", "fineweb_short_lines"),
        Rule("max_dup_line_char_frac", "fineweb_dup_line_char_frac", "max", "fineweb_dup_line_chars"),
        Rule("max_newline_word_ratio", "newline_word_ratio", "max", "fineweb_list_like"),
    )

    min_line_punct_frac: float | None = Field(0.12, ge=0, le=1)
    max_short_line_frac: float | None = Field(0.67, ge=0, le=1)
    short_line_chars: int = Field(30, ge=1)
    max_dup_line_char_frac: float | None = Field(0.01, ge=0, le=1)
    max_newline_word_ratio: float | None = Field(0.3, ge=0)

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        texts = batch.column("text")
        s = m.word_line_stats(texts, short_line_chars=self.short_line_chars)
        rep = m.repetition_stats(texts)
        return {
            "line_punct_frac": ratio(s[:, m.PUNCT_LINES], s[:, m.LINES]),
            "short_line_frac": ratio(s[:, m.SHORT_LINES], s[:, m.LINES]),
            "fineweb_dup_line_char_frac": ratio(rep[:, m.DUP_LINE_CHARS], s[:, m.CHARS_NO_NEWLINE]),
            "newline_word_ratio": ratio(s[:, m.NEWLINES], s[:, m.WORDS]),
        }
