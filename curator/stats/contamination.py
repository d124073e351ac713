"""`curator contamination`: word n-gram overlap (13-grams by default) of a run's documents with a benchmark.

The benchmark's n-grams (lowercased `\\w` words, punctuation ignored; see curator.text.wordgrams) are held
as one sorted uint64 array; the run's output shards are streamed in batches and every document n-gram is
looked up by binary search. A document is contaminated when at least `min_matches` of its n-grams occur in
the benchmark. Benchmark items with fewer than n words have no n-gram and are counted as too short.

Memory: the benchmark's grams (8 B + 8 B each) + one output batch + the rows with any match.
Writes `<run>/contamination/<name>.parquet` (CONTAMINATION_SCHEMA; the `contamination` view of
`curator sql`); with `mark`, `ids/<name>.parquet` lists the contaminated ids for the `drop_listed` step.
"""

from __future__ import annotations

import glob
import re
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from curator.errors import ConfigError, RunError
from curator.io.atomic import AtomicParquetWriter
from curator.pipeline.config import InputConfig
from curator.pipeline.run_folder import require_run_folder
from curator.pipeline.side_input import side_input_batches
from curator.stats.markdown import markdown_table
from curator.text.wordgrams import ngram_overlap, word_ngrams

CONTAMINATION_SCHEMA = pa.schema(
    [
        pa.field("source", pa.string(), nullable=False),
        pa.field("id", pa.string(), nullable=False),
        pa.field("shard", pa.string(), nullable=False),  # output file holding the document
        pa.field("ngrams", pa.int64(), nullable=False),  # the document's n-grams
        pa.field("matched", pa.int64(), nullable=False),  # of those, found in the benchmark
        pa.field("overlap", pa.float64(), nullable=False),  # matched / ngrams
        pa.field("benchmark_item", pa.string()),  # id of the benchmark item of the first matched n-gram
        pa.field("contaminated", pa.bool_(), nullable=False),  # matched >= min_matches
    ],
    metadata={"curator.table": "contamination", "curator.schema_version": "1"},
)
IDS_SCHEMA = pa.schema([pa.field("source", pa.string()), pa.field("id", pa.string(), nullable=False)])
BATCH_ROWS = 4096


@dataclass
class Benchmark:
    """A benchmark's distinct n-grams (sorted) and, for each, the item it was first seen in."""

    name: str
    n: int
    grams: np.ndarray  # uint64, sorted, unique
    item_of_gram: np.ndarray  # int64 index into item_ids
    item_ids: pa.Array  # string
    too_short: int  # items with fewer than n words


def load_benchmark(path: str | Path, n: int = 13, text_field: str = "text", id_field: str = "id") -> Benchmark:
    """Read a JSONL / Parquet / HF save_to_disk benchmark and hash its n-grams. Memory: O(benchmark grams)."""
    if n < 1:
        raise ConfigError("--ngram must be >= 1")
    if not Path(path).exists() and not glob.glob(str(path)):
        raise ConfigError(f"benchmark '{path}' does not exist")
    spec = InputConfig(path=str(path), text_field=text_field, id_field=id_field)
    chunks, owners, id_chunks, n_items, too_short = [], [], [], 0, 0
    try:
        for batch in side_input_batches(spec):
            grams, owner, words = word_ngrams(batch.column("text"), n)
            chunks.append(grams)
            owners.append(owner + n_items)
            too_short += int(np.sum(words < n))
            id_chunks.append(batch.column("id").cast(pa.string()))
            n_items += batch.num_rows
    except RunError as exc:
        raise ConfigError(f"benchmark '{path}': {exc}") from None
    if not n_items:
        raise ConfigError(f"benchmark '{path}' holds no readable item (text field '{text_field}')")
    grams = np.concatenate(chunks) if chunks else np.empty(0, np.uint64)
    owner = np.concatenate(owners) if owners else np.empty(0, np.int64)
    if len(grams) == 0:
        raise ConfigError(f"benchmark '{path}': none of its {n_items:,} items has {n} words; use a smaller --ngram")
    order = np.argsort(grams, kind="stable")  # the first item in file order wins a shared gram
    grams, owner = grams[order], owner[order]
    first = np.concatenate([[True], grams[1:] != grams[:-1]])
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", Path(str(path).rstrip("/")).name.split(".")[0]) or "benchmark"
    ids = pa.concat_arrays(id_chunks)
    return Benchmark(name, n, grams[first], owner[first], ids, too_short)


def _output_shards(run_dir: Path) -> list[Path]:
    require_run_folder(run_dir)
    shards = sorted((run_dir / "output").glob("*.parquet"))
    if not shards:
        raise RunError(f"'{run_dir}' has no output shards (output/*.parquet): did the run finish?")
    return shards


def scan_run(run_dir: str | Path, bench: Benchmark, min_matches: int = 1, mark: bool = False) -> dict:
    """Overlap of every output document with the benchmark; writes the tables; returns the report."""
    if min_matches < 1:
        raise ConfigError("--min-matches must be >= 1")
    run_dir = Path(run_dir)
    shards = _output_shards(run_dir)
    hit = np.zeros(len(bench.grams), dtype=bool)
    per_source: dict[str, dict[str, int]] = {}
    out_dir = run_dir / "contamination"
    table_path = out_dir / f"{bench.name}.parquet"
    writer = AtomicParquetWriter(table_path, CONTAMINATION_SCHEMA)
    ids_path = out_dir / "ids" / f"{bench.name}.parquet"
    ids_writer = AtomicParquetWriter(ids_path, IDS_SCHEMA) if mark else None
    if not mark:
        ids_path.unlink(missing_ok=True)  # a list from an earlier --mark run would no longer match this report
    try:
        for shard in shards:
            for batch in pq.ParquetFile(shard).iter_batches(batch_size=BATCH_ROWS, columns=["id", "source", "text"]):
                grams, matched, first = ngram_overlap(batch.column("text"), bench.n, bench.grams, hit)
                bad = matched >= min_matches
                _count(per_source, batch.column("source"), grams, matched, bad)
                rows = np.flatnonzero(matched > 0)
                if len(rows) == 0:
                    continue
                items = bench.item_ids.take(pa.array(bench.item_of_gram[first[rows]]))
                found = pa.table(
                    {
                        "source": batch.column("source").take(rows),
                        "id": batch.column("id").take(rows),
                        "shard": pa.array([shard.name] * len(rows)),
                        "ngrams": grams[rows],
                        "matched": matched[rows],
                        "overlap": matched[rows] / np.maximum(grams[rows], 1),
                        "benchmark_item": items,
                        "contaminated": bad[rows],
                    },
                    schema=CONTAMINATION_SCHEMA,
                )
                writer.write(found)
                if ids_writer is not None:
                    flagged = found.filter(found.column("contaminated"))
                    ids_writer.write(flagged.select(["source", "id"]).cast(IDS_SCHEMA))
    except BaseException:
        writer.abort()
        if ids_writer is not None:
            ids_writer.abort()
        raise
    writer.close()
    if ids_writer is not None:
        ids_writer.close()
    items_hit = np.unique(bench.item_of_gram[hit])
    totals = {k: sum(v[k] for v in per_source.values()) for k in ("docs", "contaminated", "ngrams", "matched")}
    return {
        "run": str(run_dir),
        "benchmark": bench.name,
        "ngram": bench.n,
        "min_matches": min_matches,
        "benchmark_items": len(bench.item_ids),
        "benchmark_items_too_short": bench.too_short,
        "benchmark_ngrams": len(bench.grams),
        "benchmark_items_seen": len(items_hit),
        "benchmark_ngrams_seen": int(hit.sum()),
        "per_source": per_source,
        "all": totals,
        "table": str(table_path),
        "ids": str(ids_path) if mark else None,
    }


def _count(per_source: dict, sources: pa.Array, grams: np.ndarray, matched: np.ndarray, bad: np.ndarray) -> None:
    """Add one batch's documents, contaminated documents, n-grams and matches per source."""
    encoded = pc.dictionary_encode(sources)
    codes = encoded.indices.to_numpy(zero_copy_only=False)
    for code, name in enumerate(encoded.dictionary.to_pylist()):
        sel = codes == code
        acc = per_source.setdefault(name, {"docs": 0, "contaminated": 0, "ngrams": 0, "matched": 0})
        acc["docs"] += int(sel.sum())
        acc["contaminated"] += int(bad[sel].sum())
        acc["ngrams"] += int(grams[sel].sum())
        acc["matched"] += int(matched[sel].sum())


def markdown(report: dict) -> str:
    r = report
    lines = [
        f"# Contamination: {r['run']} vs {r['benchmark']} ({r['ngram']}-grams, >= {r['min_matches']} match)",
        "",
        f"Benchmark: {r['benchmark_items']:,} items ({r['benchmark_items_too_short']:,} shorter than "
        f"{r['ngram']} words, not checkable), {r['benchmark_ngrams']:,} distinct n-grams; "
        f"{r['benchmark_items_seen']:,} items ({100 * r['benchmark_items_seen'] / max(r['benchmark_items'], 1):.1f}%) "
        f"have an n-gram in the corpus.",
        "",
    ]
    rows = []
    for name, v in [*sorted(r["per_source"].items()), ("all", r["all"])]:
        pct = 100 * v["contaminated"] / max(v["docs"], 1)
        counts = [f"{v[k]:,}" for k in ("docs", "contaminated")] + [f"{pct:.2f}%"]
        rows.append([name, *counts, f"{v['ngrams']:,}", f"{v['matched']:,}"])
    lines += markdown_table(["source", "documents", "contaminated", "%", "n-grams", "matched"], rows)
    lines += ["", f"Documents with any match: {r['table']} (view `contamination` in `curator sql`)."]
    if r["ids"]:
        lines.append(
            f"Contaminated ids: {r['ids']}; remove them with the step "
            f"`drop_listed: {{ids: {r['ids']}, reason: contaminated}}` in a pipeline that reads this run's output."
        )
    return "\n".join(lines) + "\n"
