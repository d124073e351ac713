"""c4_quality: the document-level rules of C4's cleaning (Raffel et al. 2020), as scores and drops."""

from __future__ import annotations

from typing import ClassVar

import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curator.filters import metrics as m
from curator.filters.rules import Rule, RuleFilter
from curator.pipeline.step import register_step


@register_step
class C4Quality(RuleFilter):
    """Score sentences, the longest word, 'lorem ipsum' and '{'; drop pages C4 would drop.

    C4 also *removes lines* (no terminal punctuation, 'javascript', cookie policies); curator keeps text
    as read and scores lines instead (`fineweb_quality.line_punct_frac`). `{` drops code: turn
    `drop_curly_bracket` off for corpora with code. Memory: one batch.
    """

    name = "c4_quality"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {
        "n_sentences": pa.int64(),
        "longest_word_chars": pa.int64(),
        "has_lorem_ipsum": pa.bool_(),
        "has_curly_bracket": pa.bool_(),
    }
    rules: ClassVar[tuple[Rule, ...]] = (
        Rule("drop_lorem_ipsum", "has_lorem_ipsum", "flag", "c4_lorem_ipsum"),
        Rule("drop_curly_bracket", "has_curly_bracket", "flag", "c4_curly_bracket"),
        Rule("min_sentences", "n_sentences", "min", "c4_few_sentences"),
        Rule("max_word_chars", "longest_word_chars", "max", "c4_long_word"),
    )

    min_sentences: int | None = Field(5, ge=0)
    max_word_chars: int | None = Field(1000, ge=1)
    drop_lorem_ipsum: bool = True
    drop_curly_bracket: bool = True

    def score(self, batch: pa.RecordBatch) -> dict[str, pa.Array]:
        texts = batch.column("text")
        s = m.word_line_stats(texts)
        return {
            "n_sentences": pa.array(s[:, m.SENTENCES]),
            "longest_word_chars": pa.array(s[:, m.MAX_WORD_CHARS]),
            "has_lorem_ipsum": pc.match_substring(texts, "lorem ipsum", ignore_case=True),
            "has_curly_bracket": pc.match_substring(texts, "{"),
        }
