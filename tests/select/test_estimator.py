import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.select.estimator import EPS, HeldoutTarget, distribution, effective_sample_size, log_ratio
from curator.select.features import bucket_counts, per_document_sums


def _stream(docs: list[list[int]]):
    buckets = np.array([b for d in docs for b in d], np.int64)
    offsets = np.concatenate([[0], np.cumsum([len(d) for d in docs])]).astype(np.int64)
    return buckets, offsets


DOCS = st.lists(st.lists(st.integers(0, 9), max_size=12), min_size=1, max_size=8)


@settings(max_examples=200, deadline=None)
@given(DOCS, st.lists(st.floats(0.0, 5.0), min_size=10, max_size=10))
def test_mean_kl_is_the_per_document_definition(docs, q_raw):
    q = np.array(q_raw) + 0.01
    q /= q.sum()
    h = HeldoutTarget(10)
    h.add(*_stream(docs))
    kls = []
    for d in docs:
        if not d:
            continue
        p = np.bincount(d, minlength=10) / len(d)
        kls.append(float(np.sum(p * (np.log(p + EPS) - np.log(q + EPS)))))
    assert h.docs == len(kls)
    if kls:
        assert h.mean_kl(q) == pytest.approx(np.mean(kls), rel=1e-9, abs=1e-12)
    else:
        assert np.isnan(h.mean_kl(q))


@settings(max_examples=200, deadline=None)
@given(DOCS)
def test_per_document_sums_and_counts(docs):
    buckets, offsets = _stream(docs)
    values = np.arange(10, dtype=np.float64) * 1.5 - 3
    sums = per_document_sums(values[buckets], offsets)
    assert sums.tolist() == pytest.approx([float(values[d].sum()) if d else 0.0 for d in docs])
    copies = np.arange(len(docs)) % 3
    expected = sum((c * np.bincount(d, minlength=10) for d, c in zip(docs, copies, strict=True)), np.zeros(10))
    assert bucket_counts(buckets, offsets, copies, 10).tolist() == expected.tolist()


def test_weight_is_data_selection_dot_product():
    """log w = log_diff . counts with log_diff = log(p_t + 1e-8) - log(p_r + 1e-8) (data-selection 1.0.3)."""
    t, r = distribution(np.array([3, 0, 1, 0])), distribution(np.array([1, 1, 1, 1]))
    counts = np.array([2, 1, 0, 5])
    expected = float(np.dot(np.log(t + 1e-8) - np.log(r + 1e-8), counts))
    buckets, offsets = _stream([[0, 0, 1, 3, 3, 3, 3, 3]])
    assert per_document_sums(log_ratio(t, r)[buckets], offsets)[0] == pytest.approx(expected)


def test_laplace_smoothing_and_empty_counts():
    assert distribution(np.array([0, 2]), laplace=1.0).tolist() == [0.25, 0.75]
    with pytest.raises(ValueError, match="no n-grams"):
        distribution(np.zeros(3))


def test_effective_sample_size():
    assert effective_sample_size(np.zeros(7)) == pytest.approx(7.0)
    assert effective_sample_size(np.array([0.0, -1000.0, -1000.0])) == pytest.approx(1.0)
    log_w = np.log(np.array([1.0, 2.0, 3.0]))
    assert effective_sample_size(log_w) == pytest.approx(36 / 14)
    assert effective_sample_size(np.array([800.0, 800.0])) == pytest.approx(2.0)  # no overflow
