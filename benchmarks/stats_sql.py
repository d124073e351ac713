"""Stats SQL benchmark: the canned corpus queries over a generated one-million-document run, DuckDB through
`curator sql`'s views next to the same queries in Polars (lazy scans of the same Parquet files).

The run folder is generated (no pipeline run): stats/docs.parquet with the quickstart pipeline's columns
(source, id, kept, drop reason/step, file, row, n_bytes, lengths, exact/near dup columns, lang, lang_score,
Gopher scores) for --docs documents, and output/ shards holding the kept documents' text (~600 B each), so
"never reads the text" can be checked: every query's DuckDB plan lists the columns its scans read.

Timings: wall milliseconds, median of --repeats after one warm-up run (the first, cold run is shown too).
Target (issue 7): each canned query under 200 ms on 1M documents.

    python benchmarks/stats_sql.py [--docs 1000000] [--repeats 5]
"""

from __future__ import annotations

import argparse
import json
import re
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import yaml

from curator.pipeline.config import parse_pipeline
from curator.pipeline.stats import docs_schema
from curator.stats.views import connect

PIPELINE = {
    "name": "generated",
    "inputs": [{"path": "data/*.jsonl"}],
    "steps": [
        {"normalize_text": {}},
        {"length_filter": {"min_words": 20}},
        "exact_dedup",
        {"minhash_dedup": {"bands": 42, "rows": 3}},
        "language_id",
        {"gopher_quality": {"score_only": True}},
    ],
}
SOURCES = np.array(["web", "code", "wiki", "books", "arxiv", "forum"])
LANGS = np.array(["en", "de", "fr", "es", "zh", "ja", "ru", "pt"])


def generate(root: Path, n: int, seed: int = 0) -> None:
    """A run folder with a realistic docs table of n rows and the kept documents' text in output/."""
    rng = np.random.default_rng(seed)
    (root / "stats").mkdir(parents=True)
    (root / "output").mkdir()
    (root / "config.yaml").write_text(yaml.safe_dump(PIPELINE, sort_keys=False))
    schema = docs_schema(parse_pipeline(PIPELINE).build_steps())
    source = SOURCES[rng.choice(len(SOURCES), n, p=[0.45, 0.15, 0.15, 0.1, 0.05, 0.1])]
    n_bytes = np.maximum(rng.lognormal(7.5, 1.3, n).astype(np.int64), 1)
    n_words = n_bytes // 6
    ids = np.char.add(np.char.add(source.astype(str), ":"), np.arange(n).astype(str))
    step = np.full(n, None, dtype=object)
    reason = np.full(n, None, dtype=object)
    short = n_words < 20
    exact = ~short & (rng.random(n) < 0.03)
    near = ~short & ~exact & (rng.random(n) < 0.12)
    step[short], reason[short] = "length_filter", "too_few_words"
    step[exact], reason[exact] = "exact_dedup", "exact_dup"
    step[near], reason[near] = "minhash_dedup", "near_dup"
    kept = reason == None  # noqa: E711 - elementwise over an object array
    cluster = np.where(exact | near, ids[rng.integers(0, n, n)], ids)
    after_dedup = kept  # language_id and gopher_quality (score only) see the survivors
    lang_mix = [0.7, 0.06, 0.06, 0.05, 0.05, 0.03, 0.03, 0.02]
    lang = np.where(after_dedup, LANGS[rng.choice(len(LANGS), n, p=lang_mix)], None)
    columns = {
        "source": source,
        "id": ids,
        "kept": kept,
        "drop_reason": reason,
        "drop_step": step,
        "file": np.char.add(np.char.add("part-", (np.arange(n) // 50_000).astype(str)), ".jsonl.zst"),
        "row": np.arange(n) % 50_000,
        "n_bytes": n_bytes,
        "n_chars": n_bytes - n_bytes // 50,
        "n_words": n_words,
        "exact_hash": rng.integers(0, 2**63, n).astype(np.uint64),
        "dup_cluster": np.where(short, None, cluster),
        "dup_cluster_size": np.where(short, None, rng.geometric(0.7, n)),
        "dup_of": np.where(exact | near, cluster, None),
        "lang": lang,
        "lang_score": np.where(after_dedup, rng.beta(8, 2, n), np.nan),
    }
    table_columns = []
    for field in schema:
        if field.name in columns:
            values = columns[field.name]
            if values.dtype.kind == "f":
                arr = pa.array(values, mask=np.isnan(values)).cast(field.type)
            else:
                arr = pa.array(values.tolist() if values.dtype == object else values).cast(field.type)
        elif pa.types.is_floating(field.type):
            arr = pa.array(np.where(after_dedup, rng.beta(5, 2, n), np.nan), mask=~after_dedup).cast(field.type)
        else:
            arr = pa.array(np.where(after_dedup, rng.integers(0, 500, n), 0), mask=~after_dedup).cast(field.type)
        table_columns.append(arr)
    docs = pa.Table.from_arrays(table_columns, schema=schema)
    pq.write_table(docs, root / "stats" / "docs.parquet", compression="zstd", row_group_size=128 * 1024)
    # text of the kept documents: sentences drawn from a pool, ~600 bytes each, in 8 shards
    pool = pa.array([" ".join(f"w{rng.integers(0, 50_000)}" for _ in range(90)) for _ in range(4096)])
    keep_idx = np.flatnonzero(kept)
    for shard, part in enumerate(np.array_split(keep_idx, 8)):
        text = pool.take(pa.array(rng.integers(0, len(pool), len(part))))
        out = pa.table({"id": pa.array(ids[part]), "source": pa.array(source[part]), "text": text})
        pq.write_table(out, root / "output" / f"part-{shard:05d}-0000.parquet", compression="zstd")


QUERIES: dict[str, str] = {
    "kept per source": "SELECT source, count(*) AS docs, sum(kept::INT) AS kept, sum(n_bytes) AS bytes "
    "FROM docs GROUP BY source ORDER BY source",
    "drop funnel": "SELECT drop_step, drop_reason, count(*) AS docs, sum(n_bytes) AS bytes FROM docs "
    "WHERE NOT kept GROUP BY ALL ORDER BY docs DESC",
    "log2 length histogram": "SELECT source, floor(log2(greatest(n_bytes, 1)))::INT AS bin, count(*) AS docs "
    "FROM docs GROUP BY ALL ORDER BY ALL",
    "score quantiles": "SELECT source, quantile_cont(alpha_word_frac, [0.1, 0.5, 0.9]) AS q FROM docs "
    "WHERE alpha_word_frac IS NOT NULL GROUP BY source ORDER BY source",
    "re-threshold": "SELECT source, count(*) AS docs FROM docs WHERE kept AND lang = 'en' AND lang_score > 0.65 "
    "AND alpha_word_frac > 0.8 GROUP BY source ORDER BY source",
    "language mix": "SELECT source, lang, count(*) AS docs FROM docs WHERE lang IS NOT NULL GROUP BY ALL "
    "ORDER BY docs DESC, source, lang LIMIT 20",
    "largest dup clusters": "SELECT dup_cluster, max(dup_cluster_size) AS size FROM docs "
    "WHERE dup_cluster_size > 1 GROUP BY 1 ORDER BY size DESC, dup_cluster LIMIT 10",
    "longest kept (pointers)": "SELECT source, id, file, row, n_bytes FROM docs WHERE kept "
    "ORDER BY n_bytes DESC, id LIMIT 10",
    "output ids of confident en": "SELECT t.source, count(*) AS docs FROM text t SEMI JOIN docs d "
    "ON t.id = d.id AND d.lang = 'en' AND d.lang_score > 0.9 GROUP BY ALL ORDER BY ALL",
}


def polars_queries(root: Path) -> dict:
    import polars as pl

    docs = pl.scan_parquet(root / "stats" / "docs.parquet")
    text = pl.scan_parquet(root / "output" / "*.parquet")
    return {
        "kept per source": lambda: (
            docs.group_by("source")
            .agg(pl.len().alias("docs"), pl.col("kept").sum(), pl.col("n_bytes").sum())
            .sort("source")
            .collect()
        ),
        "drop funnel": lambda: (
            docs.filter(~pl.col("kept"))
            .group_by("drop_step", "drop_reason")
            .agg(pl.len().alias("docs"), pl.col("n_bytes").sum())
            .sort("docs", descending=True)
            .collect()
        ),
        "log2 length histogram": lambda: (
            docs.group_by("source", pl.col("n_bytes").clip(1).log(2).floor().cast(pl.Int32).alias("bin"))
            .agg(pl.len())
            .sort("source", "bin")
            .collect()
        ),
        "score quantiles": lambda: (
            docs.filter(pl.col("alpha_word_frac").is_not_null())
            .group_by("source")
            .agg(*[pl.col("alpha_word_frac").quantile(q, "linear").alias(f"q{q}") for q in (0.1, 0.5, 0.9)])
            .sort("source")
            .collect()
        ),
        "re-threshold": lambda: (
            docs.filter(
                pl.col("kept")
                & (pl.col("lang") == "en")
                & (pl.col("lang_score") > 0.65)
                & (pl.col("alpha_word_frac") > 0.8)
            )
            .group_by("source")
            .agg(pl.len())
            .sort("source")
            .collect()
        ),
        "language mix": lambda: (
            docs.filter(pl.col("lang").is_not_null())
            .group_by("source", "lang")
            .agg(pl.len().alias("docs"))
            .sort(["docs", "source", "lang"], descending=[True, False, False])
            .head(20)
            .collect()
        ),
        "largest dup clusters": lambda: (
            docs.filter(pl.col("dup_cluster_size") > 1)
            .group_by("dup_cluster")
            .agg(pl.col("dup_cluster_size").max().alias("size"))
            .sort(["size", "dup_cluster"], descending=[True, False])
            .head(10)
            .collect()
        ),
        "longest kept (pointers)": lambda: (
            docs.filter(pl.col("kept"))
            .select("source", "id", "file", "row", "n_bytes")
            .sort(["n_bytes", "id"], descending=[True, False])
            .head(10)
            .collect()
        ),
        "output ids of confident en": lambda: (
            text.select("id", "source")
            .join(
                docs.filter((pl.col("lang") == "en") & (pl.col("lang_score") > 0.9)).select("id"), on="id", how="semi"
            )
            .group_by("source")
            .agg(pl.len())
            .sort("source")
            .collect()
        ),
    }


def timed(fn, repeats: int) -> tuple[float, float]:
    """(first run ms, median of `repeats` later runs ms)."""
    t = time.perf_counter()
    fn()
    first = 1000 * (time.perf_counter() - t)
    times = []
    for _ in range(repeats):
        t = time.perf_counter()
        fn()
        times.append(1000 * (time.perf_counter() - t))
    return first, statistics.median(times)


def scanned_columns(con, query: str) -> list[str]:
    """The columns DuckDB's Parquet scans read for `query` (the READ_PARQUET nodes' projections)."""
    plan = json.loads(con.execute("EXPLAIN (FORMAT json) " + query).fetchall()[0][1])
    cols: list[str] = []
    known = {r[0] for view in ("docs", "text") for r in con.execute(f"DESCRIBE {view}").fetchall()}

    def walk(node: dict) -> None:
        info = node.get("extra_info", {})
        if node.get("name") in ("READ_PARQUET", "TABLE_SCAN"):
            projected = info.get("Projections", [])
            names = [projected] if isinstance(projected, str) else list(projected)
            filters = info.get("Filters", "")  # columns only filtered on are read too
            filters = " ".join(filters) if isinstance(filters, list) else filters
            names += [w for w in re.findall(r"[A-Za-z_][A-Za-z0-9_]*", filters) if w in known]
            for c in names:
                if c not in cols:
                    cols.append(c)
        for child in node.get("children", []):
            walk(child)

    for node in plan:
        walk(node)
    return cols


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--docs", type=int, default=1_000_000)
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp) / "run"
        t = time.perf_counter()
        generate(root, args.docs)
        size = sum(p.stat().st_size for p in (root / "stats").glob("*.parquet")) / 1e6
        text = sum(p.stat().st_size for p in (root / "output").glob("*.parquet")) / 1e6
        print(f"generated {args.docs:,} documents in {time.perf_counter() - t:.1f} s: "
              f"stats/docs.parquet {size:.1f} MB, output/ text {text:.1f} MB")  # fmt: skip
        t = time.perf_counter()
        con, _, views = connect([root])
        print(f"curator sql views ({', '.join(views)}) in {1000 * (time.perf_counter() - t):.0f} ms\n")
        pl_queries = polars_queries(root)
        head = f"{'query':<28} {'duckdb ms':>10} {'(first)':>8} {'polars ms':>10} {'(first)':>8} {'ratio':>6}"
        head += "  columns read"
        print(head)
        print("-" * len(head))
        worst = 0.0
        for name, sql in QUERIES.items():
            d_first, d_med = timed(lambda sql=sql: con.execute(sql).fetchall(), args.repeats)
            p_first, p_med = timed(pl_queries[name], args.repeats)
            cols = scanned_columns(con, sql)
            assert "text" not in cols, f"{name} reads the text column"
            worst = max(worst, d_med)
            print(f"{name:<28} {d_med:>10.1f} {d_first:>8.1f} {p_med:>10.1f} {p_first:>8.1f} "
                  f"{p_med / d_med:>5.1f}x  {', '.join(cols)}")  # fmt: skip
        print(f"\nslowest canned query (median): {worst:.1f} ms; target < 200 ms: {'met' if worst < 200 else 'MISSED'}")
        print("ratio = polars / duckdb (> 1: duckdb faster). No query's scan reads the `text` column.")
        from curator.stats.report import corpus_report

        t = time.perf_counter()
        report = corpus_report(root)
        print(f"\ncurator stats (the whole canned report, ~20 queries, no plot): {time.perf_counter() - t:.2f} s "
              f"for {report['totals']['read']:,} documents")  # fmt: skip


if __name__ == "__main__":
    main()
