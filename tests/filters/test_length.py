"""length_filter: scores, reasons in rule order, thresholds validated."""

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curator.filters.length import LengthFilter
from curator.pipeline.step import StepContext


def test_scores_and_drop_reasons():
    texts = ["", "tiny", "one two three four five", "w " * 50, "x" * 300]
    batch = pa.RecordBatch.from_pydict({"text": texts, "id": [str(i) for i in range(5)]})
    step = LengthFilter(min_chars=3, min_words=3, max_chars=200)
    ctx = StepContext()
    step.setup(ctx)
    kept = step.process(batch)
    assert kept.column("text").to_pylist() == ["one two three four five", "w " * 50]
    assert kept.column("n_words").to_pylist() == [5, 50]
    assert ctx.dropped["length_filter"] == {"empty": 1, "too_few_words": 1, "too_many_chars": 1}


def test_dropped_rows_reach_the_sink_with_reasons_and_scores():
    seen = []
    ctx = StepContext(
        on_drop=lambda step, b, r, index: seen.append((step, b.column("n_chars").to_pylist(), r.to_pylist()))
    )
    step = LengthFilter(min_chars=5)
    step.setup(ctx)
    step.process(pa.RecordBatch.from_pydict({"text": ["abc", "abcdef"]}))
    assert seen == [("length_filter", [3], ["too_few_chars"])]


def test_bad_thresholds():
    with pytest.raises(ValidationError, match="below min_chars"):
        LengthFilter(min_chars=10, max_chars=5)
    with pytest.raises(ValidationError):
        LengthFilter(min_chars=-1)
