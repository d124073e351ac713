import numpy as np
import pyarrow as pa
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.text.ngrams import NgramHasher, reference_ngram_buckets


def _buckets(hasher, texts):
    flat, offsets = hasher.buckets(pa.array(texts, pa.string()))
    return [flat[offsets[i] : offsets[i + 1]].tolist() for i in range(len(texts))]


def test_data_selection_test_vectors():
    """The vectors from the DSIR notes: sha256 % 10,000 of the lowercased grams."""
    h = NgramHasher()
    assert _buckets(h, ["alice"]) == [[6720]]
    assert _buckets(h, ["Alice went"])[0][-1] == 114
    assert len(_buckets(h, ["Alice went to the store"])[0]) == 9  # 5 unigrams + 4 bigrams


# Text that exercises the tokeniser's classes: ASCII words and punctuation, Unicode letters and digits,
# combining marks (not \w in Python), final sigma and dotted I (context-dependent lowercasing), whitespace
# of several kinds, emoji, underscores, CJK.
ALPHABET = st.sampled_from(
    list("abcXYZ019_ .,!?-'\"\t\n\r") + ["Σ", "σ", "ς", "İ", "ß", "ẞ", "é", "e\u0301", "\u00a0", "\u2003", "中", "文",
                                         "😀", "Ⅻ", "½", "Ǆ", "K", "ﬁ", "\u0307", "٣", "Ⱥ"]
)  # fmt: skip
TEXTS = st.lists(ALPHABET, max_size=60).map("".join)


@settings(max_examples=400, deadline=None)
@given(st.lists(TEXTS, min_size=1, max_size=6), st.sampled_from([1, 2, 3]), st.sampled_from([10_000, 97, 70_000]))
def test_matches_reference_featurizer(texts, ngrams, m):
    """Bit-compatible with data-selection's featurizer (written out in pure Python) on mixed Unicode."""
    h = NgramHasher(m, ngrams, cache_slots=64)  # a tiny cache: exercises the full-table path too
    assert _buckets(h, texts) == [reference_ngram_buckets(t, m, ngrams) for t in texts]


@settings(max_examples=100, deadline=None)
@given(st.text(max_size=200))
def test_matches_reference_on_any_text(text):
    h = NgramHasher()
    assert _buckets(h, [text]) == [reference_ngram_buckets(text)]


def test_cache_does_not_change_results():
    texts = ["The cat sat on the mat. " * 30, "Ελληνικά ΣΟΦΙΑΣ σοφίας", "", "   ", "x"]
    small, large = NgramHasher(cache_slots=16), NgramHasher(cache_slots=1 << 16)
    for _ in range(2):
        assert _buckets(small, texts) == _buckets(large, texts)


def test_empty_and_null_texts():
    h = NgramHasher()
    flat, offsets = h.buckets(pa.array(["", None, "   \n"], pa.string()))
    assert len(flat) == 0 and offsets.tolist() == [0, 0, 0, 0]
    assert h.token_lengths(offsets).tolist() == [0, 0, 0]


def test_token_lengths_follow_data_selection():
    h = NgramHasher()
    _, offsets = h.buckets(pa.array(["a b c d", "one", "hello, world!"]))
    assert h.token_lengths(offsets).tolist() == [4, 1, 4]


def test_dtype_and_counts():
    assert NgramHasher(65_536).dtype == np.uint16
    assert NgramHasher(65_537).dtype == np.uint32
    h = NgramHasher(50)
    counts = h.counts(pa.array(["a a a", "b"]))
    assert counts.sum() == 3 + 2 + 1 and len(counts) == 50


def test_invalid_settings():
    with pytest.raises(ValueError, match="num_buckets"):
        NgramHasher(0)
    with pytest.raises(ValueError, match="ngrams"):
        NgramHasher(10, ngrams=0)
