"""`curator stats RUN_DIR`: the canned corpus report (Markdown + JSON + PNG) from a run's stats tables.

Every number is a DuckDB aggregate over the narrow stats views (`docs`, `steps`, `rejects`, `clusters`);
the document text is never read (the pointers to the shortest/longest documents read only the output's `id`
column). Memory: DuckDB's streaming aggregates plus O(steps x sources + histogram bins) Python objects.
"""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import yaml

from curator.dedup.base import DedupStep
from curator.errors import RunError
from curator.pipeline.config import parse_pipeline
from curator.stats.views import connect

SCORE_TYPES = (pa.float16(), pa.float32(), pa.float64(), pa.int32(), pa.int64())
# integer stats columns that are lengths or bookkeeping (the histograms and dedup sections cover them)
NOT_SCORES = {"n_chars", "n_words", "n_tokens", "dup_cluster_size", "dsir_length", "dsir_copies"}
NOT_SCORES |= {"dd_tokens", "dd_dropped_tokens", "dd_pieces", "dd_buckets"}
QUANTILES = (0.01, 0.1, 0.5, 0.9, 0.99)
EXTREMES = 5  # shortest / longest documents listed
TOP_LANGUAGES = 6


def _rows(con, sql: str, params: list | None = None) -> list[dict]:
    rel = con.execute(sql, params or [])
    names = [d[0] for d in rel.description]
    return [dict(zip(names, row, strict=True)) for row in rel.fetchall()]


def _pipeline_steps(run_dir: Path) -> list:
    config = yaml.safe_load((run_dir / "config.yaml").read_text())
    return parse_pipeline(config, origin=str(run_dir / "config.yaml")).build_steps()


def step_labels(step_names: list[str]) -> list[str]:
    """Display names of the steps by position: the name, or 'name (N)' when the name appears twice."""
    return [n if step_names.count(n) == 1 else f"{n} ({i})" for i, n in enumerate(step_names, start=1)]


def _position_sql(columns: set[str], step_names: list[str]) -> str:
    """SQL for the 1-based position of the step that dropped a document (0 when kept): `drop_step_index`, or
    for runs written before it existed, the first position of `drop_step`'s name."""
    if "drop_step_index" in columns:
        return "coalesce(drop_step_index, 0)"
    cases = " ".join(f"WHEN '{n}' THEN {step_names.index(n) + 1}" for n in dict.fromkeys(step_names))
    return f"CASE drop_step {cases} ELSE 0 END" if cases else "0"


def _flow(con, step_names: list[str], has_tokens: bool, position: str) -> tuple[list[str], list[dict]]:
    """Documents / bytes / tokens per source entering the pipeline and remaining after each step (by position,
    so a step that appears twice is counted at each place)."""
    tokens = ", sum(n_tokens) AS tokens" if has_tokens else ", NULL AS tokens"
    rows = _rows(
        con,
        f"SELECT source, {position} AS pos, count(*) AS docs, sum(n_bytes) AS bytes{tokens} FROM docs GROUP BY ALL",
    )
    sources = sorted({r["source"] for r in rows})
    remaining = {s: {"docs": 0, "bytes": 0, "tokens": 0} for s in sources}
    for r in rows:
        for key in ("docs", "bytes", "tokens"):
            remaining[r["source"]][key] += int(r[key] or 0)
    flow = [{"after": "read", "sources": {s: dict(v) for s, v in remaining.items()}}]
    for i, label in enumerate(step_labels(step_names), start=1):
        for r in rows:
            if r["pos"] == i:
                for key in ("docs", "bytes", "tokens"):
                    remaining[r["source"]][key] -= int(r[key] or 0)
        flow.append({"after": label, "sources": {s: dict(v) for s, v in remaining.items()}})
    return sources, flow


def _histograms(con, has_tokens: bool) -> dict:
    """log2 bins (bin i = [2^i, 2^(i+1))) of bytes (and tokens) per source, all documents and kept ones."""
    out = {}
    for unit, column in (("bytes", "n_bytes"), ("tokens", "n_tokens")):
        if unit == "tokens" and not has_tokens:
            continue
        rows = _rows(
            con,
            f"SELECT source, CAST(floor(log2(greatest({column}, 1))) AS INTEGER) AS bin, count(*) AS docs, "
            f"count(*) FILTER (WHERE kept) AS kept FROM docs WHERE {column} IS NOT NULL GROUP BY ALL ORDER BY ALL",
        )
        hist: dict = {}
        for r in rows:
            hist.setdefault(r["source"], {})[int(r["bin"])] = {"docs": r["docs"], "kept": r["kept"]}
        out[unit] = hist
    return out


def _dedup(con, steps: list, flow: list[dict], views: list[str], where: str) -> list[dict]:
    """Per dedup step and source: documents entering, duplicates dropped, rate; clusters from `clusters`."""
    out = []
    labels = step_labels([s.name for s in steps])
    for position, step in enumerate(steps):
        if not isinstance(step, DedupStep):
            continue
        entering = flow[position]["sources"]  # flow[0] is 'read', so flow[position] is before this step
        dropped = {
            r["source"]: r["n"]
            for r in _rows(
                con,
                f"SELECT source, count(*) AS n FROM docs WHERE {where} = ? AND drop_reason = ? GROUP BY ALL",
                [position + 1, step.reason],
            )
        }
        per_source = {
            s: {"entering": v["docs"], "duplicates": dropped.get(s, 0), "rate": dropped.get(s, 0) / max(v["docs"], 1)}
            for s, v in entering.items()
        }
        total_in = sum(v["entering"] for v in per_source.values())
        total_dup = sum(v["duplicates"] for v in per_source.values())
        clusters = {}
        if "clusters" in views:
            found = _rows(
                con,
                "SELECT count(DISTINCT dup_cluster) AS clusters, count(*) AS clustered_docs, "
                "max(dup_cluster_size) AS largest FROM clusters WHERE step = ?",
                [step.name],
            )
            clusters = found[0] if found and found[0]["clustered_docs"] else {}
        out.append(
            {
                "step": labels[position],
                "position": position + 1,
                "kind": "exact" if step.reason == "exact_dup" else "near",
                "entering": total_in,
                "duplicates": total_dup,
                "rate": total_dup / max(total_in, 1),
                "per_source": per_source,
                **clusters,
            }
        )
    return out


def _languages(con) -> dict:
    rows = _rows(
        con,
        "SELECT source, lang, count(*) AS docs, count(*) FILTER (WHERE kept) AS kept FROM docs "
        "WHERE lang IS NOT NULL GROUP BY ALL ORDER BY source, docs DESC, lang",
    )
    out: dict = {}
    for r in rows:
        out.setdefault(r["source"], {})[r["lang"]] = {"docs": r["docs"], "kept": r["kept"]}
    return out


def _scores(con, columns: list[str], sources: list[str]) -> dict:
    """Quantiles per score column (all documents that have it) and its median per source; 30-bin histograms."""
    out = {}
    for col in columns:
        q = ", ".join(str(x) for x in QUANTILES)
        overall = _rows(
            con,
            f'SELECT count("{col}") AS n, avg("{col}") AS mean, min("{col}") AS lo, max("{col}") AS hi, '
            f'quantile_cont("{col}", [{q}]) AS qs FROM docs WHERE isfinite("{col}")',
        )[0]
        if not overall["n"]:
            continue
        medians = {
            r["source"]: r["median"]
            for r in _rows(
                con,
                f'SELECT source, median("{col}") AS median FROM docs WHERE isfinite("{col}") GROUP BY ALL ORDER BY ALL',
            )
        }
        lo, hi = float(overall["lo"]), float(overall["hi"])
        width = (hi - lo) / 30 or 1.0
        bins = _rows(
            con,
            f'SELECT source, least(CAST(floor(("{col}" - ?) / ?) AS INTEGER), 29) AS bin, count(*) AS n '
            f'FROM docs WHERE isfinite("{col}") GROUP BY ALL ORDER BY ALL',
            [lo, width],
        )
        hist = {s: [0] * 30 for s in sources}
        for r in bins:
            hist[r["source"]][int(r["bin"])] = r["n"]
        out[col] = {
            "n": overall["n"],
            "mean": overall["mean"],
            "quantiles": dict(zip((f"p{int(x * 100)}" for x in QUANTILES), overall["qs"], strict=True)),
            "median_by_source": medians,
            "histogram": {"lo": lo, "width": width, "counts": hist},
        }
    return out


def _extremes(con, run_dir: Path) -> dict:
    """The shortest and longest documents (kept, and dropped) with their input file/row and output shard."""
    base = "SELECT source, id, kept, drop_reason, file, row, n_bytes FROM docs"
    out = {
        "shortest_kept": _rows(con, f"{base} WHERE kept ORDER BY n_bytes, source, id LIMIT {EXTREMES}"),
        "longest_kept": _rows(con, f"{base} WHERE kept ORDER BY n_bytes DESC, source, id LIMIT {EXTREMES}"),
        "shortest_read": _rows(con, f"{base} ORDER BY n_bytes, source, id LIMIT {EXTREMES}"),
        "longest_read": _rows(con, f"{base} ORDER BY n_bytes DESC, source, id LIMIT {EXTREMES}"),
    }
    wanted = sorted({r["id"] for rows in out.values() for r in rows if r["kept"]})
    shards = sorted((run_dir / "output").glob("*.parquet"))
    where = {}
    if wanted and shards:
        paths = "[" + ", ".join("'" + str(p).replace("'", "''") + "'" for p in shards) + "]"
        found = con.execute(
            f"SELECT id, filename FROM read_parquet({paths}, filename = true) WHERE list_contains(?, id)", [wanted]
        ).fetchall()
        where = {i: Path(f).name for i, f in found}
    for rows in out.values():
        for r in rows:
            r["output"] = f"output/{where[r['id']]}" if r["id"] in where else None
    return out


def corpus_report(run_dir: str | Path) -> dict:
    """The report as a JSON-able dict (see module docstring)."""
    run_dir = Path(run_dir)
    con, notes, views = connect([run_dir])
    if "docs" not in views:
        raise RunError(f"{run_dir}: no docs table (stats/docs.parquet or stats/parts/docs-*) to report on")
    steps = _pipeline_steps(run_dir)
    columns = {d[0] for d in con.execute("SELECT * FROM docs LIMIT 0").description}
    has_tokens = "n_tokens" in columns
    names = [s.name for s in steps]
    position = _position_sql(columns, names)
    sources, flow = _flow(con, names, has_tokens, position)
    declared = {name: dtype for s in steps for name, dtype in s.stats_columns.items()}
    score_columns = [c for c, t in declared.items() if t in SCORE_TYPES and c in columns and c not in NOT_SCORES]
    drops = _rows(
        con,
        f"SELECT {position} AS pos, drop_step AS step, drop_reason AS reason, count(*) AS docs, "
        "sum(n_bytes) AS bytes FROM docs WHERE NOT kept GROUP BY ALL",
    )
    labels = step_labels(names)
    for r in drops:
        pos = r.pop("pos")
        r["step"] = labels[pos - 1] if 0 < pos <= len(labels) else r["step"]
        r["position"] = pos
    drops.sort(key=lambda r: (r["position"] or len(labels) + 1, -r["docs"], r["reason"] or ""))
    rejects = (
        _rows(
            con,
            "SELECT reason, count(*) AS records, sum(coalesce(n_docs, 1)) AS docs FROM rejects GROUP BY ALL "
            "ORDER BY records DESC, reason",
        )
        if "rejects" in views
        else []
    )
    step_totals = (
        _rows(
            con,
            "SELECT step_index, step, sum(rows_in) AS rows_in, sum(rows_out) AS rows_out, sum(bytes_in) AS bytes_in, "
            "sum(bytes_out) AS bytes_out, sum(seconds) AS seconds FROM steps GROUP BY ALL ORDER BY step_index",
        )
        if "steps" in views
        else []
    )
    read = flow[0]["sources"]
    final = flow[-1]["sources"]
    return {
        "run": str(run_dir),
        "notes": notes,
        "sources": sources,
        "totals": {
            "read": sum(v["docs"] for v in read.values()),
            "kept": sum(v["docs"] for v in final.values()),
            "bytes_read": sum(v["bytes"] for v in read.values()),
            "bytes_kept": sum(v["bytes"] for v in final.values()),
            "tokens_kept": sum(v["tokens"] for v in final.values()) if has_tokens else None,
            "rejected_records": sum(r["records"] for r in rejects),
            "rejected_docs": sum(int(r["docs"] or 0) for r in rejects),
        },
        "has_tokens": has_tokens,
        "flow": flow,
        "step_totals": [
            {k: (int(v) if k not in ("step", "seconds") else v) for k, v in r.items()} for r in step_totals
        ],
        "drops": drops,
        "rejects": rejects,
        "histograms": _histograms(con, has_tokens),
        "dedup": _dedup(con, steps, flow, views, position),
        "languages": _languages(con) if "lang" in columns else {},
        "scores": _scores(con, score_columns, sources),
        "extremes": _extremes(con, run_dir),
    }
