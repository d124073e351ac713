"""The DSIR target, read once by the dsir steps' prepare pass: its hashed n-gram stream, the held-out split
(an exact share, by a fixed hash of the id) and the bucket counts of the rest (state/NN-name/target*).
Memory: one batch while reading, then one chunk of the stream at a time."""

from __future__ import annotations

import logging
import math
from typing import TYPE_CHECKING

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.dedup.state import save_npz, write_json
from curator.errors import ConfigError, RunError
from curator.pipeline.plan import shards_for_input
from curator.pipeline.side_input import side_input_batches
from curator.select.chunks import chunk_stream
from curator.select.estimator import HeldoutTarget
from curator.select.features import GramStream, GramStreamWriter, bucket_counts
from curator.text.hashing import seeded_uniform

if TYPE_CHECKING:
    from curator.select.dsir import DsirFit

log_run = logging.getLogger("curator.run")
HELDOUT_SALT = 0x7A26E7  # the held-out split depends on the target ids only: a new seed re-draws, never re-fits


def prepare_target(step: DsirFit) -> None:
    """Read the target once: features, the held-out split (exact share, by a fixed hash of the id), counts."""
    if (step.state / "target.npz").exists():
        return
    hasher = step.hasher()
    folder = step.state / "target"
    try:
        shards_for_input(step.target)
    except ConfigError as exc:
        raise ConfigError(f"{step.name} target: {exc}") from None
    writer = GramStreamWriter(folder / "stream", hasher.dtype)
    draws, other_sources = [], 0
    try:
        for batch in side_input_batches(step.target, rejects_dir=folder / "rejects", warn=log_run.warning):
            if step.target_sources is not None:
                mine = pc.fill_null(pc.is_in(batch.column("source"), pa.array(step.target_sources)), False)
                kept = batch.filter(mine)
                other_sources += batch.num_rows - kept.num_rows
                batch = kept
            flat, offsets = hasher.buckets(batch.column("text"))
            writer.write(flat, offsets)
            draws.append(seeded_uniform(batch.column("id"), HELDOUT_SALT))
        writer.close()
    except BaseException:
        writer.abort()
        raise
    stream = GramStream(folder / "stream", hasher.dtype)
    nonempty = np.diff(stream.offsets) > 0
    n_docs, n_nonempty = stream.docs, int(nonempty.sum())
    rejected = sum(pq.ParquetFile(p).metadata.num_rows for p in sorted((folder / "rejects").glob("*.parquet")))
    where = f"target '{step.target.path}'"
    if step.target_sources is not None:
        where += f" (sources {step.target_sources}; {other_sources} other documents skipped)"
    if n_nonempty < step.min_target_docs:
        raise RunError(
            f"{step.name}: {where} has {n_nonempty} document(s) with at least one token ({n_docs} read, "
            f"{rejected} rejected); at least min_target_docs={step.min_target_docs} are needed for a target "
            "distribution; give more target text or lower min_target_docs"
        )
    n_held = math.ceil(step.heldout_fraction * n_nonempty) if step.heldout_fraction > 0 else 0
    if n_nonempty - n_held < 1:
        raise RunError(f"{step.name}: {where}: nothing left to fit after holding out {n_held} documents")
    held = np.zeros(n_docs, bool)
    if n_held:
        u = np.concatenate(draws) if draws else np.zeros(0)
        candidates = np.flatnonzero(nonempty)
        held[candidates[np.lexsort((candidates, u[candidates]))[:n_held]]] = True
    fit = nonempty & ~held
    counts = np.zeros(step.num_buckets, np.float64)
    heldout, heldout_chunks = HeldoutTarget(step.num_buckets), HeldoutTarget(step.num_buckets)
    for d, e, buckets, offsets in stream.chunks():
        counts += bucket_counts(buckets, offsets, fit[d:e], step.num_buckets)
        if held[d:e].any():
            sub_b, sub_o = _subset(buckets, offsets, held[d:e])
            heldout.add(sub_b, sub_o)
            heldout_chunks.add(*chunk_stream(sub_b, sub_o, step.ngrams, step.chunk_words)[:2])
    facts = {"docs": n_docs, "nonempty": n_nonempty, "rejected": rejected, "fit_docs": int(fit.sum())}
    facts |= {"heldout_docs": n_held, "heldout_chunks": heldout_chunks.docs, "fit_grams": int(counts.sum())}
    if step.target_sources is not None:
        facts |= {"sources": step.target_sources, "other_sources_skipped": other_sources}
    write_json(folder / "facts.json", facts)
    save_npz(step.state / "target.npz", counts=counts, **heldout.state(), **heldout_chunks.state("chunk_"))


def _subset(buckets: np.ndarray, offsets: np.ndarray, keep: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The stream of the kept documents only."""
    lengths = np.diff(offsets)
    return buckets[np.repeat(keep, lengths)], np.concatenate([[0], np.cumsum(lengths[keep])])
