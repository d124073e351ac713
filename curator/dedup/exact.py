"""Exact dedup on a hash of normalised text (NFKC, lowercase, collapsed whitespace; digits kept)."""

from __future__ import annotations

import logging
import math
from collections.abc import Iterator
from pathlib import Path
from typing import ClassVar, Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field, PrivateAttr

from curator.dedup.base import DUP_COLUMNS, DedupStep
from curator.dedup.clusters import write_clusters
from curator.dedup.state import (
    DocIndexWriter,
    Numbering,
    first_of_runs,
    read_json,
    save_npy,
    task_file,
    write_json,
)
from curator.pipeline.config import ByteSize
from curator.pipeline.step import StepContext, register_step
from curator.text.hashing import normalized_text_hashes

KEY_DTYPE = np.dtype([("h1", "<u8"), ("h2", "<u8"), ("ordinal", "<i8")])


class KeyedDedup(DedupStep):
    """Base of the dedup steps that group documents by an exact 128-bit key (`key_hashes`).

    Index: per task, (hash, ordinal) sorted by hash (24 B per document, in memory for one task, then on
    disk). Resolve: the hash space is cut into partitions of at most `memory_budget` of keys, each sorted
    alone across all tasks, so memory is bounded by the budget, not by the corpus.
    """

    memory_budget: ByteSize = Field(256 << 20, description="keys held at once while grouping")

    def key_hashes(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        raise NotImplementedError

    # -- index pass -------------------------------------------------------------------------------------

    def index(self, batches: Iterator[pa.RecordBatch], task: int) -> dict:
        state = self.state
        docs = DocIndexWriter(state, task)
        parts = []
        n = 0
        try:
            for batch in batches:
                h1, h2 = self.key_hashes(batch)
                keys = np.empty(batch.num_rows, KEY_DTYPE)
                keys["h1"], keys["h2"], keys["ordinal"] = h1, h2, np.arange(n, n + batch.num_rows)
                parts.append(keys)
                docs.write(batch.column("id"), self.priority(batch), self.weight(batch))
                n += batch.num_rows
            keys = np.concatenate(parts) if parts else np.empty(0, KEY_DTYPE)
            keys = keys[np.lexsort((keys["ordinal"], keys["h2"], keys["h1"]))]
            save_npy(task_file(state, "keys", task, ".npy"), keys)
            docs.close()
        except BaseException:
            docs.abort()
            raise
        return {}

    # -- global passes ----------------------------------------------------------------------------------

    def resolve(self, markers: list[dict], log: logging.Logger) -> dict:
        state = self.state
        done = read_json(state / "clusters.json")
        if done is not None:
            return done
        numbering = Numbering([m["docs"] for m in markers])
        plan = read_json(state / "groups" / "plan.json")
        if plan is None:
            plan = {"partitions": max(1, math.ceil(numbering.total * KEY_DTYPE.itemsize / self.memory_budget))}
            write_json(state / "groups" / "plan.json", plan)
        partitions = plan["partitions"]
        bounds = [min(k * (1 << 64) // partitions, (1 << 64) - 1) for k in range(partitions)] + [None]
        for p in range(partitions):
            path = state / "groups" / f"part-{p:04d}.npy"
            if not path.exists():
                save_npy(path, self._group_partition(state, numbering, bounds[p], bounds[p + 1]))
        log.info("%s: grouped %d documents in %d partition(s)", self.name, numbering.total, partitions)
        groups = [np.load(state / "groups" / f"part-{p:04d}.npy") for p in range(partitions)]
        members = np.concatenate([g[0] for g in groups]) if groups else np.empty(0, np.int64)
        labels = np.concatenate([g[1] for g in groups]) if groups else np.empty(0, np.int64)
        facts = {"docs": numbering.total, "partitions": partitions, **write_clusters(state, numbering, members, labels)}
        write_json(state / "clusters.json", facts)
        return facts

    @staticmethod
    def _group_partition(state: Path, numbering: Numbering, lo: int, hi: int | None) -> np.ndarray:
        """(2, k) int64: members of multi-document hash groups in h1 in [lo, hi), and each group's first."""
        parts = []
        for t in range(len(numbering.counts)):
            if numbering.counts[t] == 0:
                continue
            keys = np.load(task_file(state, "keys", t, ".npy"), mmap_mode="r")
            a = np.searchsorted(keys["h1"], np.uint64(lo), side="left")
            b = len(keys) if hi is None else np.searchsorted(keys["h1"], np.uint64(hi), side="left")
            chunk = np.array(keys[a:b])
            g = chunk["ordinal"] + numbering.offsets[t]
            parts.append((chunk["h1"], chunk["h2"], g))
            del keys
        if not parts:
            return np.empty((2, 0), np.int64)
        h1 = np.concatenate([p[0] for p in parts])
        h2 = np.concatenate([p[1] for p in parts])
        g = np.concatenate([p[2] for p in parts])
        order = np.lexsort((g, h2, h1))
        h1, h2, g = h1[order], h2[order], g[order]
        start = np.ones(len(g), dtype=bool)
        start[1:] = (h1[1:] != h1[:-1]) | (h2[1:] != h2[:-1])
        first = first_of_runs(start, g)
        end = np.ones(len(g), dtype=bool)
        end[:-1] = start[1:]
        single = start & end
        return np.stack([g[~single], first[~single]])


@register_step
class ExactDedup(KeyedDedup):
    """Drop documents whose normalised text equals an earlier one's (128-bit hash; one representative kept)."""

    name: ClassVar[str] = "exact_dedup"
    reason: ClassVar[str] = "exact_dup"
    stats_columns: ClassVar[dict[str, pa.DataType]] = {"exact_hash": pa.uint64(), **DUP_COLUMNS}

    unicode_form: Literal["NFKC", "NFC", "none"] = Field("NFKC", description="Unicode normalisation before hashing")
    lowercase: bool = True
    collapse_whitespace: bool = Field(True, description="runs of Unicode whitespace -> one space, ends trimmed")
    _hash_by_ordinal: np.ndarray | None = PrivateAttr(default=None)

    def key_hashes(self, batch: pa.RecordBatch) -> tuple[np.ndarray, np.ndarray]:
        return self.hashes(batch.column("text"))

    def hashes(self, texts: pa.Array) -> tuple[np.ndarray, np.ndarray]:
        """128-bit key of each text (two uint64), after the configured normalisation. Vectorised/compiled."""
        if self.unicode_form != "none":
            non_ascii = pc.invert(pc.string_is_ascii(texts))
            if pc.any(non_ascii).as_py():  # ASCII text is already in every normal form
                normalized = pc.utf8_normalize(texts.filter(non_ascii), self.unicode_form)
                texts = pc.replace_with_mask(texts, non_ascii, normalized)
        return normalized_text_hashes(texts, self.lowercase, self.collapse_whitespace)

    def setup(self, ctx: StepContext) -> None:
        """Filter pass: the task's keys come back from the index pass (8 B per document), not re-hashed."""
        super().setup(ctx)
        self._hash_by_ordinal = None
        if self._state is not None and task_file(self.state, "keys", ctx.task, ".npy").exists():
            keys = np.load(task_file(self.state, "keys", ctx.task, ".npy"))
            self._hash_by_ordinal = np.empty(len(keys), np.uint64)
            self._hash_by_ordinal[keys["ordinal"]] = keys["h1"]

    def extra_columns(self, batch: pa.RecordBatch, start: int) -> dict[str, pa.Array]:
        if self._hash_by_ordinal is None:
            return {"exact_hash": pa.array(self.hashes(batch.column("text"))[0], pa.uint64())}
        return {"exact_hash": pa.array(self._hash_by_ordinal[start : start + batch.num_rows], pa.uint64())}
