"""Held-out documents: which documents of a domain `curator mixture build` keeps out of training for validation.

A document is held out when a uniform draw hashed from its id alone falls below the mixture's `holdout`
fraction, so the choice is the same in any batch, task or worker count, and a document keeps its side when
the corpus grows. Sequences of a buckets source (no ids) are hashed from (task, bucket, index) instead.
Held-out tokens go to TOKENS/heldout/ shards beside the training shards, in the same format.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa

HOLDOUT_SEED = 0x686F6C646F7574  # fixed: the held-out set must not move with the mixture's sampling seed
HELDOUT_DIR = "heldout"


def heldout_mask(ids: pa.Array, fraction: float) -> np.ndarray:
    """True for the documents (by id) that are held out at `fraction`."""
    if fraction <= 0 or len(ids) == 0:
        return np.zeros(len(ids), bool)
    from curator.text.hashing import seeded_uniform  # numba kernels: only when documents are held out

    return seeded_uniform(ids, HOLDOUT_SEED) < fraction


def heldout_sequences(task: int, bucket: int, start: int, count: int, fraction: float) -> np.ndarray:
    """True for the held-out sequences `start .. start + count` of one bucket file of one task."""
    if fraction <= 0 or count == 0:
        return np.zeros(count, bool)
    from curator.text.hashing import fmix64_array

    index = np.arange(start, start + count, dtype=np.uint64)
    key = index ^ (np.uint64(task) << np.uint64(40)) ^ (np.uint64(bucket) << np.uint64(34))
    h = fmix64_array(key ^ fmix64_array(np.array([HOLDOUT_SEED], np.uint64))[0])
    return (h >> np.uint64(11)).astype(np.float64) * 2.0**-53 < fraction
