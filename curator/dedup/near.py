"""Near-duplicate dedup: MinHash signatures -> LSH band buckets -> verified pairs -> star (or transitive) clusters."""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
from pydantic import Field, model_validator

from curator.dedup.base import DUP_COLUMNS, DedupStep
from curator.dedup.clusters import write_clusters
from curator.dedup.minhash import MinHashScheme, estimated_jaccard, s_curve_table
from curator.dedup.star import star_clusters
from curator.dedup.state import (
    DocIndexWriter,
    Numbering,
    first_of_runs,
    gather_doc_index,
    read_json,
    save_npy,
    task_file,
    tmp_of,
    write_json,
)
from curator.dedup.unionfind import connected_components
from curator.errors import RunError
from curator.pipeline.config import ByteSize
from curator.pipeline.step import register_step

EDGE_BYTES = 16  # one candidate pair: two int64 document numbers


@register_step
class MinHashDedup(DedupStep):
    """Drop near-duplicates: MinHash LSH candidates, each verified by estimated Jaccard, clustered globally.

    `clustering: star` (default) drops a document only when its estimated Jaccard with the representative it
    is attributed to (`dup_of`) is >= `threshold` (see `curator.dedup.star`); `transitive` drops whole
    connected components of verified pairs, which chain unlike documents through shared boilerplate.

    State under the run's `state/NN-minhash_dedup/`: `sig/` (n x num_perm uint32 per task, loadable into
    datasketch), `bands/` (band keys, band-major blocks), `buckets/` (candidate pairs per band), `pairs.npy`
    (verified pairs), `clusters/`. Memory bound: one band's keys for the whole corpus (24 B per document
    while sorting), the union-find arrays (24 B per clustered document) and `memory_budget` of candidate
    pairs, plus the clustering of the verified pairs (~80 B per pair at its peak, CSR included); signatures are read
    from disk, never held for the corpus. About 0.1 GB per million documents.
    """

    name: ClassVar[str] = "minhash_dedup"
    reason: ClassVar[str] = "near_dup"
    stats_columns: ClassVar[dict[str, pa.DataType]] = dict(DUP_COLUMNS)

    num_perm: int = Field(128, ge=1, le=1024)
    ngram: int = Field(5, ge=1, description="words per shingle; shorter documents are one shingle")
    bands: int = Field(42, ge=1, description="LSH bands; 42 x 3 uses 126 of 128 permutations, 50% point J~0.29")
    rows: int = Field(3, ge=1)
    seed: int = Field(1, ge=0, description="permutation seed (datasketch's `seed`)")
    threshold: float = Field(0.35, ge=0.0, le=1.0, description="verified pairs need estimated Jaccard >= this")
    verify: bool = Field(True, description="check every candidate pair's estimated Jaccard before clustering")
    memory_budget: ByteSize = Field(256 << 20, description="candidate pairs held at once while verifying")
    clustering: Literal["star", "transitive"] = Field(
        "star",
        description="star: drop only documents with estimated J >= threshold to their kept representative; "
        "transitive: drop every connected component of verified pairs but its representative",
    )

    @model_validator(mode="after")
    def _valid_scheme(self):
        MinHashScheme(self.num_perm, self.ngram, self.seed, self.bands, self.rows)  # bands x rows <= num_perm
        return self

    @property
    def scheme(self) -> MinHashScheme:
        return MinHashScheme(self.num_perm, self.ngram, self.seed, self.bands, self.rows)

    def describe(self) -> str:
        return s_curve_table(self.bands, self.rows)

    # -- index pass: signatures and band keys ----------------------------------------------------------

    def index(self, batches: Iterator[pa.RecordBatch], task: int) -> dict:
        state = self.state
        scheme = self.scheme
        sig_path = task_file(state, "sig", task, ".u32")
        band_path = task_file(state, "bands", task, ".u64")
        for p in (sig_path, band_path):
            p.parent.mkdir(parents=True, exist_ok=True)
        docs = DocIndexWriter(state, task)
        blocks: list[int] = []
        no_words = 0
        try:
            with open(tmp_of(sig_path), "wb") as sig_out, open(tmp_of(band_path), "wb") as band_out:
                for batch in batches:
                    sig, n_words = scheme.signatures(batch.column("text"))
                    sig_out.write(sig.tobytes())
                    band_out.write(np.ascontiguousarray(scheme.band_keys(sig, n_words).T).tobytes())
                    docs.write(batch.column("id"), self.priority(batch), self.weight(batch))
                    blocks.append(batch.num_rows)
                    no_words += int((n_words == 0).sum())
                for fh in (sig_out, band_out):
                    fh.flush()
                    os.fsync(fh.fileno())
            os.replace(tmp_of(sig_path), sig_path)
            os.replace(tmp_of(band_path), band_path)
            docs.close()
        except BaseException:
            docs.abort()
            raise
        return {"blocks": blocks, "no_words": no_words}

    def prepare(self) -> None:
        """Signatures of different schemes never mix: the state records its scheme and refuses another."""
        state, scheme = self.state, self.scheme
        path = state / "scheme.json"
        recorded = read_json(path)
        if recorded is None:
            write_json(path, scheme.describe())
        elif recorded != scheme.describe():
            raise RunError(
                f"{state} holds signatures of another MinHash scheme ({recorded}); they cannot be mixed with "
                f"{scheme.describe()}: use a new run folder or --overwrite"
            )

    # -- global passes ----------------------------------------------------------------------------------

    def resolve(self, markers: list[dict], log: logging.Logger) -> dict:
        state = self.state
        done = read_json(state / "clusters.json")
        if done is not None:
            return done
        numbering = Numbering([m["docs"] for m in markers])
        log.info("%s: %s", self.name, self.describe().replace("\n", " | "))
        for band in range(self.bands):
            path = state / "buckets" / f"band-{band:03d}.npy"
            if not path.exists():
                save_npy(path, self._band_candidates(state, markers, numbering, band))
        pairs = read_json(state / "pairs.json")
        if pairs is None:
            pairs = self._verified_pairs(state, numbering)
            write_json(state / "pairs.json", pairs)
        facts = {
            "docs": numbering.total,
            "no_words": sum(m.get("no_words", 0) for m in markers),
            **pairs,
            **self._clusters(state, numbering),
        }
        write_json(state / "clusters.json", facts)
        return facts

    def _clusters(self, state: Path, numbering: Numbering) -> dict:
        """Cluster the verified pairs (star or transitive) and write `clusters/`; returns the clustering facts."""
        edges = np.load(state / "pairs.npy")
        nodes = np.unique(edges)
        a, b = np.searchsorted(nodes, edges[0]), np.searchsorted(nodes, edges[1])
        del edges
        components = connected_components(a, b, len(nodes))
        transitive_duplicates = len(nodes) - int(np.count_nonzero(components == np.arange(len(nodes))))
        if self.clustering == "transitive":
            return {"clustering": "transitive", **write_clusters(state, numbering, nodes, nodes[components])}
        del components
        priority = gather_doc_index(state, numbering, nodes).column("priority").to_numpy()
        rank = np.empty(len(nodes), np.int64)
        rank[np.lexsort((nodes, -priority))] = np.arange(len(nodes))  # the representative rule, best first
        store = SignatureStore(state, numbering, self.num_perm)
        label, hops = star_clusters(  # without verify the edges are raw LSH candidates: no second-hop checks
            a, b, rank, lambda x, r: store.jaccard(nodes[x], nodes[r]), self.threshold, 8 if self.verify else 0
        )
        member = label != np.arange(len(nodes))
        clustered = member | (np.bincount(label[member], minlength=len(nodes)) > 0)  # singletons stay out
        facts = write_clusters(state, numbering, nodes[clustered], nodes[label[clustered]])
        return {
            "clustering": "star",
            **facts,
            **hops,
            "transitive_duplicates": transitive_duplicates,
            "kept_vs_transitive": transitive_duplicates - facts["duplicates"],
        }

    def _band_candidates(self, state: Path, markers: list[dict], numbering: Numbering, band: int) -> np.ndarray:
        """(2, k) int64 star edges (first document of each bucket -> each other one) for one band, sorted."""
        keys, numbers = [], []
        for t, marker in enumerate(markers):
            offset = 0
            path = task_file(state, "bands", t, ".u64")
            for n in marker["blocks"]:
                start = (offset * self.bands + band * n) * 8
                keys.append(np.fromfile(path, dtype=np.uint64, count=n, offset=start))
                numbers.append(np.arange(numbering.offsets[t] + offset, numbering.offsets[t] + offset + n))
                offset += n
        if not keys:
            return np.empty((2, 0), np.int64)
        key = np.concatenate(keys)
        g = np.concatenate(numbers)
        candidate = key != 0  # 0 = document without words
        key, g = key[candidate], g[candidate]
        order = np.argsort(key, kind="stable")  # stable: within a bucket, input order
        key, g = key[order], g[order]
        start = np.ones(len(key), dtype=bool)
        start[1:] = key[1:] != key[:-1]
        first = first_of_runs(start, g)
        edges = np.stack([first[~start], g[~start]])
        return edges[:, np.lexsort((edges[1], edges[0]))]

    def _verified_pairs(self, state: Path, numbering: Numbering) -> dict:
        """Unique candidate pairs across bands, each kept only if its estimated Jaccard >= threshold.

        Pairs are processed in ranges of their first document so that at most `memory_budget` of pairs
        is held at once; signatures of the pairs' documents are read from the per-task files.
        """
        bands = [np.load(state / "buckets" / f"band-{b:03d}.npy", mmap_mode="r") for b in range(self.bands)]
        total = sum(b.shape[1] for b in bands)
        ranges = max(1, math.ceil(total * EDGE_BYTES / self.memory_budget))
        cuts = [numbering.total * k // ranges for k in range(ranges + 1)]
        store = SignatureStore(state, numbering, self.num_perm)
        kept, candidates = [], 0
        for lo, hi in zip(cuts[:-1], cuts[1:], strict=True):
            parts = []
            for b in bands:
                i, j = np.searchsorted(b[0], [lo, hi])
                parts.append(np.array(b[:, i:j]))
            if not parts:
                continue
            edges = np.concatenate(parts, axis=1)
            if edges.shape[1] == 0:
                continue
            edges = edges[:, np.lexsort((edges[1], edges[0]))]
            fresh = np.ones(edges.shape[1], dtype=bool)
            fresh[1:] = (edges[0, 1:] != edges[0, :-1]) | (edges[1, 1:] != edges[1, :-1])
            edges = edges[:, fresh]
            candidates += edges.shape[1]
            if self.verify:
                edges = edges[:, store.jaccard(edges[0], edges[1]) >= self.threshold]
            kept.append(edges)
        del bands
        verified = np.concatenate(kept, axis=1) if kept else np.empty((2, 0), np.int64)
        save_npy(state / "pairs.npy", verified)
        return {"candidate_pairs": candidates, "verified_pairs": int(verified.shape[1]), "pair_ranges": ranges}


class SignatureStore:
    """Reads signature rows of global document numbers from the per-task `sig/` files (memory-mapped per
    call, unmapped after, so resident memory stays at the rows asked for)."""

    def __init__(self, state: Path, numbering: Numbering, num_perm: int, chunk: int = 1 << 16):
        self.state, self.numbering, self.num_perm, self.chunk = state, numbering, num_perm, chunk

    def rows(self, g: np.ndarray) -> np.ndarray:
        order = np.argsort(g, kind="stable")
        out = np.empty((len(g), self.num_perm), np.uint32)
        g_sorted = g[order]
        for t, sl in self.numbering.by_task(g_sorted):
            n = int(self.numbering.counts[t])
            path = task_file(self.state, "sig", t, ".u32")
            sig = np.memmap(path, dtype=np.uint32, mode="r", shape=(n, self.num_perm))
            out[order[sl]] = sig[g_sorted[sl] - self.numbering.offsets[t]]
            del sig
        return out

    def jaccard(self, a: np.ndarray, b: np.ndarray) -> np.ndarray:
        est = np.empty(len(a), np.float64)
        for s in range(0, len(a), self.chunk):
            e = slice(s, s + self.chunk)
            est[e] = estimated_jaccard(self.rows(a[e]), self.rows(b[e]))
        return est
