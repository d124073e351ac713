import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.select.resample import TopK, gumbel_from_uniform, multinomial_by_task, selected_by_threshold


@settings(max_examples=300, deadline=None)
@given(
    st.lists(st.integers(-3, 3), min_size=1, max_size=60),  # few distinct keys: many ties
    st.integers(1, 70),
    st.integers(1, 7),
)
def test_streaming_top_k_equals_a_full_sort(keys, k, n_chunks):
    keys = np.array(keys, np.float64)
    numbers = np.arange(len(keys))
    top = TopK(k)
    for part in np.array_split(np.arange(len(keys)), n_chunks):
        top.add(keys[part], numbers[part])
    chosen = selected_by_threshold(keys, numbers, np.ones(len(keys), bool), top.threshold())
    expected = np.zeros(len(keys), bool)
    expected[np.lexsort((numbers, -keys))[:k]] = True
    assert chosen.tolist() == expected.tolist()


def test_gumbel_top_1_samples_in_proportion_to_the_weights():
    w = np.array([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(0)
    trials = 20_000
    keys = np.log(w)[None, :] + gumbel_from_uniform(rng.random((trials, len(w))))
    freq = np.bincount(keys.argmax(axis=1), minlength=len(w)) / trials
    assert np.abs(freq - w).max() < 0.015


def test_gumbel_noise_is_finite_at_the_ends():
    assert np.isfinite(gumbel_from_uniform(np.array([0.0, 0.5, 1.0 - 2.0**-53]))).all()


@settings(max_examples=100, deadline=None)
@given(st.lists(st.lists(st.floats(-5, 5), max_size=20), min_size=1, max_size=5), st.integers(0, 50))
def test_with_replacement_draws_exactly_k(tasks, k):
    log_w = [np.array(t) for t in tasks]
    copies = multinomial_by_task(log_w, k, np.random.default_rng(1))
    total = sum(int(c.sum()) for c in copies)
    assert total == (k if sum(len(t) for t in tasks) else 0)
    assert [len(c) for c in copies] == [len(t) for t in tasks]


def test_with_replacement_follows_the_weights_and_skips_minus_inf():
    log_w = [np.log(np.array([0.6, 0.0 + 1e-300])), np.array([np.log(0.4), -np.inf])]
    copies = multinomial_by_task(log_w, 100_000, np.random.default_rng(0))
    assert copies[1][1] == 0
    assert abs(copies[0][0] / 100_000 - 0.6) < 0.01
