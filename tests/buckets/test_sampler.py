"""The bucket batch sampler: constant tokens per step, one bucket per step, curricula, ranks, exact resume
(also through a prefetching multi-worker DataLoader)."""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.buckets.curriculum import CURRICULA, bucket_order, curriculum_odds
from curator.buckets.dataset import BucketDataset
from curator.buckets.sampler import BucketBatchSampler, ResumableLoader, split_key
from curator.buckets.shards import BucketStore

COUNTS = {8: 700, 9: 333, 10: 150, 11: 70, 12: 20, 13: 9}


def steps(sampler):
    return [split_key(np.array(keys)) for keys in sampler]


@pytest.mark.parametrize("curriculum", CURRICULA)
def test_constant_tokens_one_bucket_each_sequence_once(curriculum):
    s = BucketBatchSampler(COUNTS, batch_size=2, curriculum=curriculum, seed=3)
    seen = set()
    out = steps(s)
    assert len(out) == len(s) == sum(COUNTS[b] // (2 << (13 - b)) for b in COUNTS)
    for buckets, indices in out:
        assert len(set(buckets.tolist())) == 1
        assert len(indices) << int(buckets[0]) == s.tokens_per_step == 2 << 13
        seen.update(zip(buckets.tolist(), indices.tolist(), strict=True))
    assert len(seen) == sum(len(i) for _, i in out)  # no sequence twice in an epoch
    assert s.epoch == 1 and s.step == 0


@settings(max_examples=40, deadline=None)
@given(st.sampled_from(CURRICULA), st.integers(0, 2**31), st.integers(0, 60), st.integers(1, 3))
def test_resume_gives_the_identical_remaining_order(curriculum, seed, stop, epochs):
    full = BucketBatchSampler(COUNTS, 1, curriculum=curriculum, seed=seed)
    reference = [k for _ in range(epochs) for k in full]
    first = BucketBatchSampler(COUNTS, 1, curriculum=curriculum, seed=seed)
    taken = []
    it = iter(first)
    for _ in range(min(stop, len(first))):
        taken.append(next(it))
    state = first.state_dict()
    resumed = BucketBatchSampler(COUNTS, 1, curriculum=curriculum, seed=seed)
    resumed.load_state_dict(state)
    rest = list(resumed) + [k for _ in range(epochs - 1) for k in resumed]
    assert taken + rest == reference


def test_epochs_reshuffle_and_seeds_differ():
    s = BucketBatchSampler(COUNTS, 1, seed=0)
    e0, e1 = list(s), list(s)
    assert e0 != e1 and sorted(map(tuple, e0)) != [] and len(e0) == len(e1)
    assert list(BucketBatchSampler(COUNTS, 1, seed=1)) != e0


def test_ranks_split_the_same_global_batch():
    ranks = [list(BucketBatchSampler(COUNTS, 4, seed=5, rank=r, world_size=4)) for r in range(4)]
    whole = list(BucketBatchSampler(COUNTS, 4, seed=5))
    for step, keys in enumerate(whole):
        parts = [ranks[r][step] for r in range(4)]
        assert sum(parts, []) == keys and all(len(p) == len(keys) // 4 for p in parts)


def test_grow_p2_odds_match_olmo_core():
    odds = curriculum_odds("grow_p2", 6)
    assert odds[0].tolist() == [32, 16, 8, 4, 2, 1]  # D8 over sub-cycles 0..5
    assert odds[1].tolist() == [16, 32, 8, 4, 2, 1]  # D9
    assert odds[5].tolist() == [1, 2, 4, 8, 16, 32]  # D13
    assert np.all(odds.sum(axis=1) == 63)


def test_grow_p2_puts_short_buckets_early_in_each_cycle():
    batches = np.array([6300, 6300, 6300])  # equal batches: shares follow the odds exactly
    order = bucket_order(batches, "grow_p2", np.random.default_rng(0), num_cycles=2)
    assert np.bincount(order).tolist() == batches.tolist()
    cycle = order[: len(order) // 2]
    first, last = cycle[: len(cycle) // 3], cycle[-len(cycle) // 3 :]
    assert (first == 0).mean() > 0.5 and (last == 2).mean() > 0.5


def test_uniform_and_natural_odds():
    batches = np.array([1000, 100])
    natural = bucket_order(batches, "natural", np.random.default_rng(0))
    uniform = bucket_order(batches, "uniform", np.random.default_rng(0))
    assert np.bincount(natural).tolist() == np.bincount(uniform).tolist() == [1000, 100]
    assert 0.05 < (natural[:200] == 1).mean() < 0.15  # odds follow the remaining batches
    assert (uniform[:200] == 1).mean() == 0.5  # one of each per round while both last


def test_balanced_and_longest_first():
    s = BucketBatchSampler(COUNTS, 1, balanced=True, longest_first=True, seed=2)
    out = steps(s)
    assert len(set(s.batches.values())) == 1
    assert int(out[0][0][0]) == 13


def test_bad_arguments_and_foreign_state():
    with pytest.raises(ValueError, match="does not split over 3 ranks"):
        BucketBatchSampler(COUNTS, 4, world_size=3)
    with pytest.raises(ValueError, match="no bucket holds a whole batch"):
        BucketBatchSampler({8: 3, 13: 0}, 1, max_bucket=13)
    with pytest.raises(ValueError, match="curriculum must be one of"):
        BucketBatchSampler(COUNTS, 1, curriculum="grow")
    state = BucketBatchSampler(COUNTS, 1, seed=1).state_dict()
    with pytest.raises(ValueError, match="seed"):
        BucketBatchSampler(COUNTS, 1, seed=2).load_state_dict(state)
    with pytest.raises(ValueError, match="different bucket counts"):
        BucketBatchSampler({**COUNTS, 8: 701}, 1, seed=1).load_state_dict(state)


def test_keys_carry_their_step_and_consumed_state_resumes_right_after_it():
    s = BucketBatchSampler(COUNTS, 1, seed=4)
    first = list(s)
    assert [(k.epoch, k.step) for k in first] == [(0, i) for i in range(len(s))]
    assert s.state_dict(consumed=(0, 4))["step"] == 5
    assert (s.state_dict(consumed=(0, len(s) - 1))["epoch"], s.state_dict(consumed=(0, len(s) - 1))["step"]) == (1, 0)
    resumed = BucketBatchSampler(COUNTS, 1, seed=4)
    resumed.load_state_dict(s.state_dict(consumed=(0, 4)))
    assert list(resumed) == first[5:]
    with pytest.raises(ValueError, match="outside this sampler's epoch"):
        s.state_dict(consumed=(0, len(s)))


# -- through a real multi-worker DataLoader over a real bucket store (tests/buckets/conftest.py) ----------------


def _sampler(run) -> BucketBatchSampler:
    return BucketBatchSampler(BucketStore(run).counts(), batch_size=2, curriculum="grow_p2", seed=7)


def _loader(run, sampler: BucketBatchSampler) -> torch.utils.data.DataLoader:
    return torch.utils.data.DataLoader(BucketDataset(run), batch_sampler=sampler, collate_fn=BucketDataset.collate,
                                       num_workers=2, prefetch_factor=2)  # fmt: skip


def _same_batches(got: list[dict], expected: list[dict]) -> bool:
    fields = ("epoch", "step", "bucket")
    return len(got) == len(expected) and all(
        [a[f] for f in fields] == [b[f] for f in fields] and torch.equal(a["keys"], b["keys"])
        and torch.equal(a["input_ids"], b["input_ids"])
        for a, b in zip(got, expected, strict=True)
    )  # fmt: skip


@pytest.fixture(scope="module")
def reference(run) -> list[dict]:
    """One uninterrupted epoch through the same kind of loader."""
    batches = list(_loader(run, _sampler(run)))
    assert [(b["epoch"], b["step"]) for b in batches] == [(0, i) for i in range(len(_sampler(run)))]
    return batches


def test_checkpoint_through_a_prefetching_dataloader_resumes_after_the_consumed_batches(run, reference):

    sampler = _sampler(run)
    loader = ResumableLoader(_loader(run, sampler), sampler)
    taken = list(itertools.islice(loader, 5))
    assert _same_batches(taken, reference[:5])
    assert sampler.state_dict()["step"] > 5  # the workers prefetched ahead: the sampler's own count overshoots
    state = loader.state_dict()
    assert (state["epoch"], state["step"]) == (0, 5)

    resumed_sampler = _sampler(run)
    resumed = ResumableLoader(_loader(run, resumed_sampler), resumed_sampler)
    resumed.load_state_dict(state)
    assert _same_batches(list(resumed), reference[5:])
    state = resumed.state_dict()
    assert (state["epoch"], state["step"]) == (1, 0)  # the whole epoch consumed: the next one starts


def test_breaking_off_and_iterating_again_neither_repeats_nor_skips(run, reference):
    sampler = _sampler(run)
    loader = ResumableLoader(_loader(run, sampler), sampler)
    seen = []
    for chunk in (3, 4):
        for i, batch in enumerate(loader, 1):
            seen.append(batch)
            if i == chunk:
                break  # the prefetched batches are dropped with the iterator
    seen += list(loader)
    assert _same_batches(seen, reference)
