"""Vectorised byte reductions agree with plain Python on every row, sliced arrays included."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.text.bytes import word_counts

words = st.lists(
    st.lists(st.sampled_from(list("ab é\t\n\r\x0b\x0c中")), max_size=40).map("".join), min_size=1, max_size=30
)


@settings(max_examples=300, deadline=None)
@given(words, st.integers(0, 5))
def test_word_counts_match_str_split(values, cut):
    arr = pa.array(values, pa.string())
    cut = min(cut, len(values) - 1)
    sliced = arr.slice(cut)
    expected = [len(v.split()) for v in values[cut:]]
    # str.split() also splits on Unicode spaces; we only use ASCII whitespace, which the alphabet limits to
    assert list(word_counts(sliced)) == expected


def test_empty_strings_and_empty_array():
    assert list(word_counts(pa.array(["", "a", ""], pa.string()))) == [0, 1, 0]
    assert list(word_counts(pa.array([], pa.string()))) == []
