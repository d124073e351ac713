# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # curator walkthrough: build a mixture, query it with SQL, plot it
#
# Everything here reads local data only: a small sample corpus is built from files already on this
# machine (man pages, Python sources and docs), run through the quickstart steps, and then queried with
# DuckDB over the run's stats tables. Open it with `jupytext --to notebook notebooks/walkthrough.py`, or
# run it as a plain script: `python notebooks/walkthrough.py`. CI executes it (tests/test_notebooks.py).
#
# Set `CURATOR_WALKTHROUGH_DIR` to choose where the corpus and the run folder go (default: runs/walkthrough).

# %%
import os
import shutil
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

from curator.pipeline.config import parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.sample import build_sample
from curator.stats.render import markdown
from curator.stats.report import corpus_report
from curator.stats.views import connect

WORK = Path(os.environ.get("CURATOR_WALKTHROUGH_DIR", "runs/walkthrough"))
shutil.rmtree(WORK, ignore_errors=True)
corpus = WORK / "sample"
build_sample(corpus, max_docs=1200, max_mb=1.5, shard_docs=200)
sorted(p.name for p in corpus.iterdir())

# %% [markdown]
# ## 1. Build a mixture
# The same steps as `pipelines/quickstart.yaml`: normalise, length-filter, exact and MinHash
# near-duplicate removal, language id and Gopher quality scores (scores only: thresholds are chosen
# afterwards with SQL, without re-running).

# %%
pipeline = parse_pipeline(
    {
        "name": "walkthrough",
        "inputs": [{"path": str(corpus / "*.jsonl.zst")}],
        "steps": [
            {"normalize_text": {"form": "NFC"}},
            {"length_filter": {"min_words": 20}},
            "exact_dedup",
            {"minhash_dedup": {"bands": 42, "rows": 3, "threshold": 0.35}},
            "language_id",
            {"gopher_quality": {"score_only": True}},
        ],
    }
)
run = WORK / "run"
summary = run_pipeline(pipeline, run, workers=1, quiet=True)
print(f"read {summary.records:,}, kept {summary.kept:,}, dropped {summary.dropped_by_reason}")

# %% [markdown]
# ## 2. Query it with SQL
# `connect` is what `curator sql` uses: DuckDB views over the run's Parquet tables. `docs` has one row per
# document read (kept or dropped, with the reason); the text lives apart in `text`, so these queries never
# read it.

# %%
con, notes, views = connect([run])
print("views:", ", ".join(views))
per_source = con.sql(
    "SELECT source, count(*) AS docs, sum(kept::INT) AS kept, round(sum(n_bytes) / 1e6, 2) AS mb "
    "FROM docs GROUP BY source ORDER BY source"
).pl()
per_source

# %%
funnel = con.sql(
    "SELECT drop_step, drop_reason, count(*) AS docs FROM docs WHERE NOT kept GROUP BY ALL ORDER BY docs DESC"
).pl()
funnel

# %% [markdown]
# Re-thresholding is a query, not a re-run: how many kept English documents would survive a stricter
# Gopher alphabetic-word rule?

# %%
rethreshold = con.sql(
    "SELECT source, count(*) AS kept_now, count(*) FILTER (WHERE alpha_word_frac >= 0.8) AS with_rule "
    "FROM docs WHERE kept AND lang = 'en' GROUP BY source ORDER BY source"
).pl()
assert (rethreshold["with_rule"] <= rethreshold["kept_now"]).all()
rethreshold

# %% [markdown]
# Duplicate clusters: which kept documents stand for the most copies?

# %%
con.sql(
    "SELECT step, dup_cluster, max(dup_cluster_size) AS copies FROM clusters GROUP BY ALL "
    "ORDER BY copies DESC, dup_cluster LIMIT 5"
).pl()

# %% [markdown]
# ## 3. Plot it

# %%
lengths = con.sql(
    "SELECT source, floor(log2(greatest(n_bytes, 1)))::INT AS bin, count(*) AS docs FROM docs GROUP BY ALL ORDER BY ALL"
).pl()
fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4))
for source in lengths["source"].unique().sort():
    part = lengths.filter(lengths["source"] == source)
    ax1.plot([2**b for b in part["bin"]], part["docs"], marker="o", label=source)
ax1.set(xscale="log", xlabel="document bytes (log2 bins)", ylabel="documents", title="length histogram")
ax1.legend()
labels = [f"{s}: {r}" for s, r in zip(funnel["drop_step"], funnel["drop_reason"], strict=True)]
ax2.barh(labels, funnel["docs"], color="tab:red")
ax2.set(xlabel="documents dropped", title="drop funnel")
fig.tight_layout()
fig.savefig(WORK / "walkthrough.png")

# %% [markdown]
# ## 4. The canned report
# `curator stats RUN_DIR` prints this and writes it with plots to RUN_DIR/reports/.

# %%
report = corpus_report(run)
assert report["totals"]["kept"] == summary.kept
print(markdown(report)[:1500])
