"""Duplicate clusters -> representatives -> per-task decisions, and the filter that applies them.

Shared by exact and near-duplicate dedup: both end with (member, cluster label) pairs for the documents
that have at least one duplicate; everything else is a singleton and is kept.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from curator.dedup.state import Numbering, gather_doc_index, task_file
from curator.errors import RunError
from curator.io.atomic import AtomicParquetWriter
from curator.io.parquet import read_parquet_file
from curator.pipeline.global_step import STATE_CHANGED

CLUSTERS_SCHEMA = pa.schema(
    [
        pa.field("ordinal", pa.int64(), nullable=False),  # position in the task's stream at this step
        pa.field("id", pa.string(), nullable=False),  # checked in the filter pass
        pa.field("dup_cluster", pa.string(), nullable=False),  # id of the cluster's representative
        pa.field("dup_cluster_size", pa.int64(), nullable=False),  # input documents the cluster stands for
        pa.field("dup_of", pa.string()),  # the representative's id; null for the representative itself
    ],
    metadata={"curator.table": "clusters", "curator.schema_version": "1"},
)


def write_clusters(state: Path, numbering: Numbering, members: np.ndarray, labels: np.ndarray) -> dict:
    """Choose each cluster's representative (highest priority, then the first in input order) and write
    `clusters/task-N.parquet` for every task that has clustered documents. Memory: O(clustered documents)."""
    members = np.asarray(members, np.int64)
    labels = np.asarray(labels, np.int64)
    (state / "clusters").mkdir(parents=True, exist_ok=True)
    if len(members) == 0:
        return {"clusters": 0, "clustered_docs": 0, "duplicates": 0}
    by_member = np.argsort(members, kind="stable")
    members, labels = members[by_member], labels[by_member]
    index = gather_doc_index(state, numbering, members)
    ids = index.column("id")
    weight = index.column("weight").to_numpy()
    order = np.lexsort((members, -index.column("priority").to_numpy(), labels))  # by cluster, best first
    labels, weight = labels[order], weight[order]
    starts = np.flatnonzero(np.concatenate([[True], labels[1:] != labels[:-1]]))
    is_start = np.zeros(len(labels), dtype=bool)
    is_start[starts] = True
    group = np.cumsum(is_start) - 1
    back = np.empty_like(order)  # from cluster order back to member order
    back[order] = np.arange(len(order))
    rep = members[order][starts][group][back]
    size = np.add.reduceat(weight, starts)[group][back]
    rep_ids = ids.take(pa.array(np.searchsorted(members, rep)))  # representatives are members too
    is_rep = members == rep
    dup_of = pc.if_else(pa.array(is_rep), pa.nulls(len(members), pa.string()), rep_ids)
    for t, sl in numbering.by_task(members):
        table = pa.table(
            [
                pa.array(members[sl] - numbering.offsets[t]),
                ids[sl],
                rep_ids[sl],
                pa.array(size[sl]),
                dup_of[sl],
            ],
            schema=CLUSTERS_SCHEMA,
        )
        writer = AtomicParquetWriter(task_file(state, "clusters", t, ".parquet"), CLUSTERS_SCHEMA)
        writer.write(table)
        writer.close()
    return {"clusters": len(starts), "clustered_docs": len(members), "duplicates": int((~is_rep).sum())}


class ClusterFilter:
    """Applies one task's decisions to its stream: the cluster columns and the non-representatives' reasons.

    Memory: the task's clustered rows. Checks the ids at the clustered positions (the step's base checks
    the whole stream against its index pass).
    """

    def __init__(self, state: Path, task: int, step: str):
        self.step = step
        self.task = task
        path = task_file(state, "clusters", task, ".parquet")
        table = read_parquet_file(path) if path.exists() else CLUSTERS_SCHEMA.empty_table()
        self.ordinal = table.column("ordinal").to_numpy()
        self.table = table

    def apply(self, batch: pa.RecordBatch, start: int, reason: str) -> tuple[dict, pa.Array | None]:
        """(cluster columns, drop reasons or None when nothing is dropped) of the batch at ordinal `start`."""
        n = batch.num_rows
        lo, hi = np.searchsorted(self.ordinal, [start, start + n])
        local = self.ordinal[lo:hi] - start
        rows = self.table.slice(lo, hi - lo)
        ids = batch.column("id")
        if hi > lo and not pc.all(pc.equal(ids.take(pa.array(local)), rows.column("id"))).as_py():
            raise RunError(
                f"{self.step}, task {self.task}: the documents differ from the indexed ones; {STATE_CHANGED}"
            )
        mask = np.zeros(n, dtype=bool)
        mask[local] = True
        pmask = pa.array(mask)
        names = batch.schema.names
        base_cluster = batch.column("dup_cluster") if "dup_cluster" in names else ids
        base_cluster = pc.coalesce(base_cluster.cast(pa.string()), ids.cast(pa.string()))
        base_size = batch.column("dup_cluster_size") if "dup_cluster_size" in names else pa.repeat(1, n)
        base_size = pc.coalesce(base_size.cast(pa.int64()), pa.scalar(1, pa.int64()))
        if hi > lo:
            cluster = pc.replace_with_mask(base_cluster, pmask, rows.column("dup_cluster").combine_chunks())
            size = pc.replace_with_mask(base_size, pmask, rows.column("dup_cluster_size").combine_chunks())
            dup_of = pc.replace_with_mask(pa.nulls(n, pa.string()), pmask, rows.column("dup_of").combine_chunks())
        else:
            cluster, size, dup_of = base_cluster, base_size, pa.nulls(n, pa.string())
        columns = {"dup_cluster": cluster, "dup_cluster_size": size, "dup_of": dup_of}
        reasons = None
        if dup_of.null_count < n:
            reasons = pc.if_else(pc.is_valid(dup_of), pa.scalar(reason), pa.scalar(None, pa.string()))
        return columns, reasons
