"""gopher_quality and gopher_repetition: the document rules of Gopher (Rae et al. 2021, appendix A)."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, field_validator

from curator.filters import metrics as m
from curator.filters.rules import Rule, RuleFilter, ratio
from curator.pipeline.step import register_step


@register_step
class GopherQuality(RuleFilter):
    """Score word counts and shapes, symbol ratios, bullet/ellipsis lines and stop words; drop by Gopher's rules.

    Words and lines are defined in `curator.filters.metrics`. Defaults are Gopher's. Memory: one batch.
    """

    name = "gopher_quality"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "content_words": pa.int64(),  # words with at least one \w char
        "mean_word_chars": pa.float64(),  # over content words
        "hash_ratio": pa.float64(),  # '#' per word
        "ellipsis_ratio": pa.float64(),  # '...' or '…' per word
        "bullet_line_frac": pa.float64(),  # of non-blank lines
        "ellipsis_line_frac": pa.float64(),
        "alpha_word_frac": pa.float64(),  # words with a letter / words
        "stop_words": pa.int64(),  # distinct stop words present
    }
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("min_words", "content_words", "min", "gopher_few_words"),
        Rule("max_words", "content_words", "max", "gopher_many_words"),
        Rule("min_mean_word_chars", "mean_word_chars", "min", "gopher_short_words"),
        Rule("max_mean_word_chars", "mean_word_chars", "max", "gopher_long_words"),
        Rule("max_hash_ratio", "hash_ratio", "max", "gopher_hashes"),
        Rule("max_ellipsis_ratio", "ellipsis_ratio", "max", "gopher_ellipses"),
        Rule("max_bullet_line_frac", "bullet_line_frac", "max", "gopher_bullet_lines"),
        Rule("max_ellipsis_line_frac", "ellipsis_line_frac", "max", "gopher_ellipsis_lines"),
        Rule("min_alpha_word_frac", "alpha_word_frac", "min", "gopher_alpha_words"),
        Rule("min_stop_words", "stop_words", "min", "gopher_stop_words"),
    )

    min_words: int | None = Field(50, ge=0)
    max_words: int | None = Field(100_000, ge=1)
    min_mean_word_chars: float | None = Field(3.0, ge=0)
    max_mean_word_chars: float | None = Field(10.0, ge=0)
    max_hash_ratio: float | None = Field(0.1, ge=0)
    max_ellipsis_ratio: float | None = Field(0.1, ge=0)
    max_bullet_line_frac: float | None = Field(0.9, ge=0, le=1)
    max_ellipsis_line_frac: float | None = Field(0.3, ge=0, le=1)
    min_alpha_word_frac: float | None = Field(0.8, ge=0, le=1)
    min_stop_words: int | None = Field(2, ge=0)
    stop_words: list[str] = Field(default_factory=lambda: list(m.GOPHER_STOP_WORDS), min_length=1, max_length=64)

    @field_validator("stop_words")
    @classmethod
    def _has_word_chars(cls, words: list[str]) -> list[str]:
        m.stop_word_hashes(words)  # raises with the offending word
        return words

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        s = m.word_line_stats(batch.column("text"), tuple(self.stop_words))
        words, lines = s[:, m.WORDS], s[:, m.LINES]
        return {
            "content_words": pa.array(s[:, m.CONTENT_WORDS]),
            "mean_word_chars": ratio(s[:, m.CONTENT_WORD_CHARS], s[:, m.CONTENT_WORDS]),
            "hash_ratio": ratio(s[:, m.HASHES], words),
            "ellipsis_ratio": ratio(s[:, m.ELLIPSES], words),
            "bullet_line_frac": ratio(s[:, m.BULLET_LINES], lines),
            "ellipsis_line_frac": ratio(s[:, m.ELLIPSIS_LINES], lines),
            "alpha_word_frac": ratio(s[:, m.ALPHA_WORDS], words),
            "stop_words": pa.array(s[:, m.STOP_WORDS]),
        }


TOP_NGRAMS = (2, 3, 4)
DUP_NGRAMS = (5, 6, 7, 8, 9, 10)


def _top(n: int) -> str:
    return f"top_{n}gram_char_frac"


def _dup(n: int) -> str:
    return f"dup_{n}gram_char_frac"


@register_step
class GopherRepetition(RuleFilter):
    """Score repeated lines, paragraphs and word n-grams; drop by Gopher's repetition rules.

    Fractions of lines/paragraphs count every copy after the first; char fractions are over the text's
    chars without newlines (lines, paragraphs) or over its word chars (n-grams). Defaults are Gopher's.
    Memory: one batch plus a few 8-byte values per word of the longest document.
    """

    name = "gopher_repetition"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "dup_line_frac": pa.float64(),
        "dup_para_frac": pa.float64(),
        "dup_line_char_frac": pa.float64(),
        "dup_para_char_frac": pa.float64(),
        **{_top(n): pa.float64() for n in TOP_NGRAMS},
        **{_dup(n): pa.float64() for n in DUP_NGRAMS},
    }
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("max_dup_line_frac", "dup_line_frac", "max", "gopher_dup_lines"),
        Rule("max_dup_para_frac", "dup_para_frac", "max", "gopher_dup_paragraphs"),
        Rule("max_dup_line_char_frac", "dup_line_char_frac", "max", "gopher_dup_line_chars"),
        Rule("max_dup_para_char_frac", "dup_para_char_frac", "max", "gopher_dup_paragraph_chars"),
        *(Rule(f"max_{_top(n)}", _top(n), "max", f"gopher_top_{n}gram") for n in TOP_NGRAMS),
        *(Rule(f"max_{_dup(n)}", _dup(n), "max", f"gopher_dup_{n}gram") for n in DUP_NGRAMS),
    )

    max_dup_line_frac: float | None = Field(0.30, ge=0, le=1)
    max_dup_para_frac: float | None = Field(0.30, ge=0, le=1)
    max_dup_line_char_frac: float | None = Field(0.20, ge=0, le=1)
    max_dup_para_char_frac: float | None = Field(0.20, ge=0, le=1)
    max_top_2gram_char_frac: float | None = Field(0.20, ge=0, le=1)
    max_top_3gram_char_frac: float | None = Field(0.18, ge=0, le=1)
    max_top_4gram_char_frac: float | None = Field(0.16, ge=0, le=1)
    max_dup_5gram_char_frac: float | None = Field(0.15, ge=0, le=1)
    max_dup_6gram_char_frac: float | None = Field(0.14, ge=0, le=1)
    max_dup_7gram_char_frac: float | None = Field(0.13, ge=0, le=1)
    max_dup_8gram_char_frac: float | None = Field(0.12, ge=0, le=1)
    max_dup_9gram_char_frac: float | None = Field(0.11, ge=0, le=1)
    max_dup_10gram_char_frac: float | None = Field(0.10, ge=0, le=1)

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        texts = batch.column("text")
        rep = m.repetition_stats(texts)
        chars = pc.subtract(pc.utf8_length(texts), pc.count_substring(texts, "\n")).to_numpy()
        top, dup = m.ngram_stats(texts, list(TOP_NGRAMS), list(DUP_NGRAMS))
        columns = {
            "dup_line_frac": ratio(rep[:, m.DUP_LINES], rep[:, m.REP_LINES]),
            "dup_para_frac": ratio(rep[:, m.DUP_PARAS], rep[:, m.REP_PARAS]),
            "dup_line_char_frac": ratio(rep[:, m.DUP_LINE_CHARS], chars),
            "dup_para_char_frac": ratio(rep[:, m.DUP_PARA_CHARS], chars),
        }
        columns.update({_top(n): pa.array(top[:, t]) for t, n in enumerate(TOP_NGRAMS)})
        columns.update({_dup(n): pa.array(dup[:, t]) for t, n in enumerate(DUP_NGRAMS)})
        return columns
