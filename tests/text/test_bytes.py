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
    # the alphabet's only separators are ASCII whitespace, where both definitions agree
    assert list(word_counts(sliced)) == expected


def test_control_bytes_separate_words():
    assert list(word_counts(pa.array(["a\x00b\x1fc", "\x01"], pa.string()))) == [3, 0]


def test_empty_strings_and_empty_array():
    assert list(word_counts(pa.array(["", "a", ""], pa.string()))) == [0, 1, 0]
    assert list(word_counts(pa.array([], pa.string()))) == []


@settings(max_examples=200, deadline=None)
@given(st.lists(st.text(max_size=8), min_size=1, max_size=30), st.data())
def test_replace_rows_matches_python(values, data):
    import numpy as np

    from curator.text.bytes import replace_rows

    n = len(values)
    rows_a = sorted(data.draw(st.sets(st.integers(0, n - 1))))
    rows_b = sorted(data.draw(st.sets(st.integers(0, n - 1))) - set(rows_a))
    new_a = [v[::-1] + "!" for v in (values[r] for r in rows_a)]
    new_b = ["" for _ in rows_b]
    arr = pa.array(["pad"] + values, pa.string()).slice(1)
    got = replace_rows(
        arr,
        [
            (np.array(rows_a, dtype=np.int64), pa.array(new_a, pa.string())),
            (np.array(rows_b, dtype=np.int64), pa.array(new_b, pa.string())),
        ],
    )
    expected = list(values)
    for r, v in zip(rows_a, new_a, strict=True):
        expected[r] = v
    for r in rows_b:
        expected[r] = ""
    got.validate(full=True)
    assert got.to_pylist() == expected
