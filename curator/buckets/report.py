"""`curator buckets report`: padding, drops, cross-document attention and attention cost of each packing
method at each context length, per source, from a run's token lengths (stats/docs.parquet), plus plots.

Reads only the narrow stats columns (source, id, n_tokens, ...); never the text. Memory: O(documents).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow.compute as pc
import pyarrow.parquet as pq
import yaml

from curator.buckets.dd_step import DatasetDecomposition
from curator.buckets.packing import compare_methods
from curator.buckets.shards import BucketStore
from curator.errors import RunError
from curator.pipeline.run_folder import require_run_folder
from curator.stats.markdown import markdown_table
from curator.text.hashing import seeded_hash

COLUMNS = [("method", "method", "{}"), ("pad_pct", "pad %", "{:.2f}"), ("dropped_pct", "dropped %", "{:.2f}"),
           ("cross_doc_pct", "cross-doc %", "{:.1f}"), ("relative_cost", "rel. cost", "{:.3f}"),
           ("fragmented_pct", "frag %", "{:.1f}"), ("sequences", "sequences", "{:,}")]  # fmt: skip


def load_lengths(run_dir: Path):
    """(source, id, n_tokens) of the documents that reached the packing stage, in stats order."""
    table_path = require_run_folder(run_dir) / "stats" / "docs.parquet"
    if not table_path.exists():
        raise RunError(f"{run_dir}: no stats/docs.parquet (is this a finished run folder?)")
    names = pq.read_schema(table_path).names
    if "n_tokens" not in names:
        raise RunError(f"{run_dir}: the stats hold no n_tokens column: the run had no `tokenize` step")
    wanted = ["source", "id", "kept", "drop_step", "n_tokens"] + (
        ["dd_dropped_tokens"] if "dd_dropped_tokens" in names else []
    )
    t = pq.read_table(table_path, columns=wanted)
    reached = pc.or_(t["kept"], pc.fill_null(pc.equal(t["drop_step"], DatasetDecomposition.name), False))
    t = t.filter(pc.and_(reached, pc.is_valid(t["n_tokens"])))
    if t.num_rows == 0:
        raise RunError(f"{run_dir}: no tokenised documents to report on")
    return t


def length_histogram(lengths: np.ndarray) -> dict[int, tuple[int, int]]:
    """log2 bin -> (documents, tokens); bin i holds lengths in [2^i, 2^(i+1))."""
    bins = np.floor(np.log2(np.maximum(lengths, 1))).astype(np.int64)
    return {int(b): (int(np.sum(bins == b)), int(lengths[bins == b].sum())) for b in np.unique(bins)}


def bucket_report(run_dir: str | Path, contexts: tuple[int, ...] = (2048, 8192), min_bucket: int = 8) -> dict:
    """Every method at every context, over all documents and per source; length histograms per source."""
    run_dir = Path(run_dir)
    t = load_lengths(run_dir)
    config = yaml.safe_load((run_dir / "config.yaml").read_text()) if (run_dir / "config.yaml").exists() else {}
    seed = int(config.get("seed", 0))
    lengths = t["n_tokens"].to_numpy().astype(np.int64)
    sources = t["source"].to_numpy(zero_copy_only=False)
    seeds = seeded_hash(t["id"], seed)  # the step's per-document seeds for the random rule
    report = {"run": str(run_dir), "min_bucket": min_bucket, "contexts": {}, "sources": {}, "histogram": {}}
    groups = {"all": np.ones(len(lengths), bool)} | {s: sources == s for s in sorted(set(sources))}
    for name, mask in groups.items():
        ls = lengths[mask]
        report["sources"][name] = {
            "docs": int(mask.sum()),
            "tokens": int(ls.sum()),
            "median_tokens": float(np.median(ls)),
            "below_min_pct": 100.0 * float(np.mean(ls < (1 << min_bucket))),
        }
        report["histogram"][name] = length_histogram(ls)
    if "dd_dropped_tokens" in t.schema.names and (run_dir / "buckets").is_dir():
        report["realised"] = realised_decomposition(run_dir, t, groups)
    for context in contexts:
        report["contexts"][str(context)] = {
            name: compare_methods(lengths[mask], context, min_bucket, seeds[mask]) for name, mask in groups.items()
        }
    return report


def realised_decomposition(run_dir: Path, t, groups: dict[str, np.ndarray]) -> dict:
    """What the run's dataset_decomposition step wrote: sequences and tokens per bucket, drops per source."""
    store = BucketStore(run_dir)
    dropped = t["dd_dropped_tokens"].to_numpy(zero_copy_only=False)
    lengths = t["n_tokens"].to_numpy().astype(np.int64)
    return {
        "buckets": {b: {"sequences": n, "tokens": n << b} for b, n in store.counts().items()},
        "dropped_pct": {
            name: 100.0 * float(np.nansum(dropped[mask])) / max(int(lengths[mask].sum()), 1)
            for name, mask in groups.items()
        },
    }


def markdown(report: dict) -> str:
    lines = [f"# Packing report: {report['run']}", ""]
    lines += markdown_table(
        ["source", "docs", "tokens", "median tokens", "docs < 2^min %"],
        [[name, f"{s['docs']:,}", f"{s['tokens']:,}", f"{s['median_tokens']:,.0f}", f"{s['below_min_pct']:.1f}"]
         for name, s in report["sources"].items()],
    )  # fmt: skip
    hist = report["histogram"]
    names = [n for n in hist if n != "all"] + ["all"]
    bins = sorted({b for h in hist.values() for b in h})
    lines += ["", "## length histogram (documents per log2 bin of tokens)", ""]
    lines += markdown_table(
        ["tokens", *names],
        [[f"{2**b:,}-{2 ** (b + 1) - 1:,}"] + [f"{hist[n].get(b, (0, 0))[0]:,}" for n in names] for b in bins],
    )
    if "realised" in report:
        r = report["realised"]
        lines += ["", "## this run's buckets", ""]
        lines += markdown_table(
            ["bucket", "sequence tokens", "sequences", "tokens"],
            [[f"D{b}", f"{1 << int(b):,}", f"{v['sequences']:,}", f"{v['tokens']:,}"] for b, v in r["buckets"].items()],
        )
        lines.append("")
        lines.append(
            "tokens dropped below the min bucket: " + ", ".join(f"{k} {v:.1f} %" for k, v in r["dropped_pct"].items())
        )
    for context, groups in report["contexts"].items():
        lines += ["", f"## context {int(context):,}", ""]
        rows = [[name] + [c[2].format(row[c[0]]) for c in COLUMNS] for name, rs in groups.items() for row in rs]
        lines += markdown_table(["source"] + [c[1] for c in COLUMNS], rows)
    lines += ["", "rel. cost: attention cost (sum of L^2 over attention spans) per kept token, relative to causal",
              "concat-and-chunk at the same context. cross-doc %: kept tokens that attend to another document.",
              "frag %: documents cut into more than one sequence."]  # fmt: skip
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> Path:
    """Length histogram per source (share of tokens per log2 bin) and cost vs drops per method and context."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    contexts = list(report["contexts"])
    fig, axes = plt.subplots(1, 1 + len(contexts), figsize=(5.5 * (1 + len(contexts)), 4.2))
    ax = axes[0]
    for name, hist in report["histogram"].items():
        if name == "all":
            continue
        bins = sorted(hist)
        total = sum(tok for _, tok in hist.values()) or 1
        ax.plot([2**b for b in bins], [100 * hist[b][1] / total for b in bins], marker="o", label=name)
    ax.axvline(2 ** report["min_bucket"], color="grey", ls="--", lw=1)
    ax.set(xscale="log", xlabel="document length, tokens (log2 bins)", ylabel="% of the source's tokens",
           title="length histogram")  # fmt: skip
    ax.legend(fontsize=8)
    for ax, context in zip(axes[1:], contexts, strict=True):
        rows = report["contexts"][context]["all"]
        for row in rows:
            ax.scatter(row["dropped_pct"], row["relative_cost"], s=60)
            ax.annotate(row["method"], (row["dropped_pct"], row["relative_cost"]), fontsize=8,
                        xytext=(4, 4), textcoords="offset points")  # fmt: skip
        ax.set(xlabel="tokens dropped %", ylabel="attention cost per token vs concat-and-chunk",
               title=f"context {int(context):,}: cost vs drops")  # fmt: skip
        ax.grid(alpha=0.3)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


def write_report(report: dict, out_dir: Path) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    md = out_dir / "buckets.md"
    md.write_text(markdown(report))
    js = out_dir / "buckets.json"
    js.write_text(json.dumps(report, indent=1, default=str))
    return {"markdown": md, "json": js, "plot": plot(report, out_dir / "buckets.png")}
