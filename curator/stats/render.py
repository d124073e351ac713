"""Render the corpus report (curator.stats.report) as Markdown and a PNG of plots; write both with the JSON."""

from __future__ import annotations

import json
from pathlib import Path

from curator.stats.markdown import markdown_table

MB = 1e6


def _pct(x: float) -> str:
    return f"{100 * x:.1f}%"


def markdown(report: dict) -> str:
    t = report["totals"]
    sources = report["sources"]
    lines = [f"# Corpus report: {report['run']}", ""]
    lines += [f"> note: {n}" for n in report["notes"]] + ([""] if report["notes"] else [])
    tokens = f", {t['tokens_kept']:,} tokens" if t["tokens_kept"] is not None else ""
    lines += [
        f"Read {t['read']:,} documents ({t['bytes_read'] / MB:,.1f} MB); kept {t['kept']:,} "
        f"({_pct(t['kept'] / max(t['read'], 1))}, {t['bytes_kept'] / MB:,.1f} MB{tokens}); "
        f"{t['rejected_records']:,} input records rejected. Bytes are as read (before any normalisation).",
        "",
        "## Documents per source after each step",
        "",
    ]
    unit_cols = [("docs", "{:,}", 1), ("bytes", "{:,.1f}", MB)] + (
        [("tokens", "{:,}", 1)] if report["has_tokens"] else []
    )
    header = ["after step"] + [f"{s} {u if u != 'bytes' else 'MB'}" for s in sources for u, _, _ in unit_cols]
    rows = []
    for stage in report["flow"]:
        row = [stage["after"]]
        for s in sources:
            for unit, fmt, scale in unit_cols:
                row.append(fmt.format(stage["sources"][s][unit] / scale if scale != 1 else stage["sources"][s][unit]))
        rows.append(row)
    lines += markdown_table(header, rows) + [""]
    if report["has_tokens"]:
        lines += ["Tokens are counted for documents that reached the `tokenize` step.", ""]

    lines += ["## Drop funnel", ""]
    if report["drops"]:
        lines += markdown_table(
            ["step", "reason", "documents", "% of read", "MB"],
            [
                [
                    d["step"],
                    d["reason"],
                    f"{d['docs']:,}",
                    _pct(d["docs"] / max(t["read"], 1)),
                    f"{d['bytes'] / MB:,.2f}",
                ]
                for d in report["drops"]
            ],  # fmt: skip
            right={2, 3, 4},
        )
    else:
        lines += ["No document was dropped."]
    if report["rejects"]:
        lines += ["", "Rejected input records (never became documents):", ""]
        lines += markdown_table(
            ["reason", "records", "documents"],
            [[r["reason"], f"{r['records']:,}", r["docs"]] for r in report["rejects"]],
        )
    lines += [""]

    if report["dedup"]:
        lines += ["## Duplicates", ""]
        header = ["step", "kind", "entering", "duplicates", "rate", "clusters", "largest"] + [
            f"{s} rate" for s in sources
        ]
        rows = []
        for d in report["dedup"]:
            counts = [f"{d['entering']:,}", f"{d['duplicates']:,}", _pct(d["rate"]), d.get("clusters", 0)]
            rates = [_pct(d["per_source"][s]["rate"]) if s in d["per_source"] else "-" for s in sources]
            rows.append([d["step"], d["kind"], *counts, d.get("largest", "-"), *rates])
        lines += markdown_table(header, rows, right=set(range(2, len(header)))) + [""]

    for unit, hist in report["histograms"].items():
        lines += [f"## Length histogram ({unit}, log2 bins: documents read / kept)", ""]
        bins = sorted({b for h in hist.values() for b in h})
        header = [f"{unit}"] + list(hist)
        rows = [
            [f"[2^{b}, 2^{b + 1})"] + [f"{h[b]['docs']:,} / {h[b]['kept']:,}" if b in h else "" for h in hist.values()]
            for b in bins
        ]
        lines += markdown_table(header, rows) + [""]

    if report["languages"]:
        lines += ["## Language mix (documents that reached language_id: share, kept)", ""]
        rows = []
        for s, langs in report["languages"].items():
            total = sum(v["docs"] for v in langs.values())
            top = list(langs.items())[:6]
            rest = total - sum(v["docs"] for _, v in top)
            cells = [f"{lang} {_pct(v['docs'] / total)} ({v['kept']:,})" for lang, v in top]
            rows.append([s, f"{total:,}", ", ".join(cells) + (f", other {_pct(rest / total)}" if rest else "")])
        lines += markdown_table(["source", "documents", "languages"], rows, right={1}) + [""]

    if report["scores"]:
        lines += ["## Score distributions (documents that have the score)", ""]
        qnames = list(next(iter(report["scores"].values()))["quantiles"])
        header = ["column", "n", "mean"] + qnames + [f"{s} median" for s in sources]
        rows = []
        for col, sc in report["scores"].items():
            rows.append(
                [col, f"{sc['n']:,}", f"{sc['mean']:.4g}"]
                + [f"{sc['quantiles'][q]:.4g}" for q in qnames]
                + [f"{sc['median_by_source'][s]:.4g}" if s in sc["median_by_source"] else "-" for s in sources]
            )
        lines += markdown_table(header, rows) + [""]

    lines += ["## Shortest and longest documents", ""]
    for key, title in (("shortest_kept", "shortest kept"), ("longest_kept", "longest kept"),
                       ("shortest_read", "shortest read"), ("longest_read", "longest read")):  # fmt: skip
        lines += [f"**{title}**", ""]
        rows = [[r["source"], r["id"], f"{r['n_bytes']:,}", "kept" if r["kept"] else r["drop_reason"],
                 f"{r['file']} row {r['row']}", r["output"] or "-"] for r in report["extremes"][key]]  # fmt: skip
        lines += markdown_table(["source", "id", "bytes", "status", "input", "output shard"], rows, right={2}) + [""]
    lines += [
        'Query the same tables yourself: `curator sql RUN_DIR "SELECT ... FROM docs"` '
        "(views: docs, steps, rejects, clusters, text, ...).",
    ]
    return "\n".join(lines) + "\n"


def plot(report: dict, path: Path) -> Path:
    """Remaining documents per step, drops by reason, length histograms, language mix, score histograms."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    scores = list(report["scores"].items())[:4]
    panels = 3 + bool(report["languages"]) + len(scores)
    cols = 3
    rows = (panels + cols - 1) // cols
    fig, axes = plt.subplots(rows, cols, figsize=(5.2 * cols, 3.9 * rows), squeeze=False)
    axes = list(axes.flat)
    sources = report["sources"]

    ax = axes.pop(0)
    steps = [f["after"] for f in report["flow"]]
    for s in sources:
        ax.plot(range(len(steps)), [f["sources"][s]["docs"] for f in report["flow"]], marker="o", label=s)
    ax.set_xticks(range(len(steps)), steps, rotation=30, ha="right", fontsize=8)
    ax.set(ylabel="documents remaining", title="documents after each step")
    ax.legend(fontsize=8)

    ax = axes.pop(0)
    drops = report["drops"]
    if drops:
        labels = [f"{d['step']}: {d['reason']}" for d in drops]
        ax.barh(range(len(drops)), [d["docs"] for d in drops], color="tab:red")
        ax.set_yticks(range(len(drops)), labels, fontsize=8)
        ax.invert_yaxis()
        if max(d["docs"] for d in drops) > 50 * min(d["docs"] for d in drops):
            ax.set_xscale("log")
    ax.set(xlabel="documents dropped", title="drop funnel by reason")

    ax = axes.pop(0)
    hist = report["histograms"]["bytes"]
    for s in sources:
        h = hist.get(s, {})
        bins = sorted(h)
        total = sum(v["docs"] for v in h.values()) or 1
        ax.plot([2**b for b in bins], [100 * h[b]["docs"] / total for b in bins], marker="o", label=s)
    ax.set(xscale="log", xlabel="document bytes (log2 bins)", ylabel="% of the source's documents",
           title="length histogram")  # fmt: skip
    ax.legend(fontsize=8)

    if report["languages"]:
        ax = axes.pop(0)
        langs = report["languages"]
        totals: dict[str, int] = {}
        for per in langs.values():
            for lang, v in per.items():
                totals[lang] = totals.get(lang, 0) + v["docs"]
        top = sorted(totals, key=lambda k: (-totals[k], k))[:6]
        names = list(langs)
        bottom = [0.0] * len(names)
        for lang in top + ["other"]:
            shares = []
            for s in names:
                n = sum(v["docs"] for v in langs[s].values()) or 1
                docs = (
                    langs[s].get(lang, {}).get("docs", 0)
                    if lang != "other"
                    else sum(v["docs"] for k, v in langs[s].items() if k not in top)
                )
                shares.append(100 * docs / n)
            ax.bar(names, shares, bottom=bottom, label=lang)
            bottom = [b + x for b, x in zip(bottom, shares, strict=True)]
        ax.set(ylabel="% of documents", title="language mix", ylim=(0, 130))
        ax.legend(fontsize=7, ncol=4, loc="upper center")

    for col, sc in scores:
        ax = axes.pop(0)
        h = sc["histogram"]
        centers = [h["lo"] + (i + 0.5) * h["width"] for i in range(30)]
        for s, counts in h["counts"].items():
            total = sum(counts)
            if total:
                ax.plot(centers, [100 * c / total for c in counts], label=s)
        ax.set(xlabel=col, ylabel="% of the source's documents", title=f"{col} distribution")
        ax.legend(fontsize=8)

    for ax in axes:
        ax.axis("off")
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=90)
    plt.close(fig)
    return path


def write_report(report: dict, out_dir: Path, with_plot: bool = True) -> dict[str, Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"markdown": out_dir / "stats.md", "json": out_dir / "stats.json"}
    paths["markdown"].write_text(markdown(report))
    paths["json"].write_text(json.dumps(report, indent=1, default=str))
    if with_plot:
        paths["plot"] = plot(report, out_dir / "stats.png")
    return paths
