"""MinHash signatures: datasketch equality, tokenisation, estimated Jaccard, and the LSH S-curve as spec."""

from __future__ import annotations

import random

import numpy as np
import pyarrow as pa
import pytest
from datasketch import MinHash, MinHashLSH
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.dedup.minhash import MinHashScheme, estimated_jaccard, s_curve, s_curve_table, to_datasketch
from curator.text.unicode import reference_words

texts = st.text(
    alphabet=st.characters(blacklist_categories=("Cs",)),
    max_size=300,
)


@settings(max_examples=60, deadline=None)
@given(st.lists(texts, min_size=1, max_size=8), st.integers(1, 6), st.integers(0, 2**31))
def test_signatures_equal_datasketch_fed_the_same_shingles(batch, ngram, seed):
    scheme = MinHashScheme(num_perm=64, ngram=ngram, seed=seed, bands=16, rows=4)
    sig, n_words = scheme.signatures(pa.array(batch))
    for i, text in enumerate(batch):
        words = reference_words(text)
        assert n_words[i] == len(words)
        shingles = scheme.shingle_values(text)
        assert len(shingles) == (0 if not words else max(1, len(words) - ngram + 1))
        m = MinHash(num_perm=64, seed=seed, hashfunc=lambda x: x)
        m.update_batch(shingles.tolist())
        assert np.array_equal(m.hashvalues, sig[i])


@settings(max_examples=60, deadline=None)
@given(texts)
def test_only_the_words_matter(text):
    """Punctuation, spacing and case never change a signature: it is a function of the word sequence."""
    scheme = MinHashScheme(num_perm=32, bands=8, rows=4)
    rebuilt = " ".join(reference_words(text)).upper().lower()
    sig, _ = scheme.signatures(pa.array([text, " ".join(reference_words(text)), rebuilt]))
    assert np.array_equal(sig[0], sig[1])


def _pair_with_jaccard(rng: random.Random, j: float, n_shingles: int = 400, ngram: int = 1):
    """Two unigram 'documents' whose shingle (word) sets have Jaccard exactly `j` (rounded)."""
    shared = round(2 * j * n_shingles / (1 + j))
    own = n_shingles - shared
    vocab = [f"w{rng.getrandbits(48):x}" for _ in range(shared + 2 * own)]
    a = vocab[:shared] + vocab[shared : shared + own]
    b = vocab[:shared] + vocab[shared + own :]
    rng.shuffle(a)
    rng.shuffle(b)
    return " ".join(a), " ".join(b), shared / (shared + 2 * own)


@settings(max_examples=40, deadline=None)
@given(st.floats(0.0, 1.0), st.integers(0, 2**32 - 1))
def test_estimated_jaccard_is_within_tolerance_of_the_true_jaccard(j, seed):
    rng = random.Random(seed)
    a, b, true_j = _pair_with_jaccard(rng, j)
    scheme = MinHashScheme(num_perm=256, ngram=1, seed=seed % 1000, bands=64, rows=4)
    sig, _ = scheme.signatures(pa.array([a, b]))
    est = estimated_jaccard(sig[0], sig[1])
    sigma = np.sqrt(true_j * (1 - true_j) / 256)
    assert abs(est - true_j) <= 5 * sigma + 0.02


@pytest.mark.parametrize("bands,rows", [(32, 4), (16, 8), (25, 5)])
def test_candidate_rate_follows_the_s_curve(bands, rows):
    """The share of pairs that collide in some band matches 1-(1-s^r)^b (binomial 4-sigma band)."""
    rng = random.Random(bands * 100 + rows)
    scheme = MinHashScheme(num_perm=bands * rows, ngram=1, seed=7, bands=bands, rows=rows)
    for j in (0.3, 0.5, 0.7):
        pairs = [_pair_with_jaccard(rng, j, n_shingles=200) for _ in range(300)]
        sig, n_words = scheme.signatures(pa.array([t for a, b, _ in pairs for t in (a, b)]))
        keys = scheme.band_keys(sig, n_words)
        hit = (keys[0::2] == keys[1::2]).any(axis=1).mean()
        expected = float(np.mean([s_curve(tj, bands, rows) for *_, tj in pairs]))
        tolerance = 4 * np.sqrt(expected * (1 - expected) / len(pairs)) + 0.02
        assert abs(hit - expected) <= tolerance, (j, hit, expected)


def test_band_keys_mark_documents_without_words_and_never_use_zero_otherwise():
    scheme = MinHashScheme()
    sig, n_words = scheme.signatures(pa.array(["", "!!! ...", "one", "one two three four five six", "one"]))
    keys = scheme.band_keys(sig, n_words)
    assert (keys[:2] == 0).all()
    assert (keys[2:] != 0).all()
    assert np.array_equal(keys[2], keys[4])  # short documents: one whole-document shingle


def test_scheme_rejects_more_band_slots_than_permutations():
    with pytest.raises(ValueError, match="exceeds num_perm"):
        MinHashScheme(num_perm=128, bands=64, rows=4)


def test_s_curve_table_names_the_setting_and_its_midpoint():
    table = s_curve_table(32, 4)
    assert "32 bands x 4 rows" in table and "50% at J~0.42" in table
    assert s_curve(1.0, 32, 4) == 1.0 and s_curve(0.0, 32, 4) == 0.0


def test_signatures_load_into_datasketch_lsh():
    scheme = MinHashScheme(num_perm=128, bands=32, rows=4)
    base = " ".join(f"word{i}" for i in range(200))
    near = base.replace("word17 ", "changed ").replace("word99 ", "other ")
    sig, _ = scheme.signatures(pa.array([base, near, "completely different text " * 20]))
    lsh = MinHashLSH(num_perm=128, params=(32, 4))
    for i in range(3):
        lsh.insert(f"d{i}", to_datasketch(sig[i], scheme))
    assert set(lsh.query(to_datasketch(sig[0], scheme))) == {"d0", "d1"}
