"""DSIR benchmark: curator's dsir_select vs the `data-selection` package (1.0.3) on the same pool and target.

Corpus: the sample corpus (`curator sample`, built if missing) cut into ~1 KB documents at whitespace.
Target = the Python-documentation ('docs') pages with an even index; 90 % of their chunks fit the target
distribution (both tools get the same file), 10 % are held out to score selections. Pool = every other
chunk, shuffled. k = 10 % of the pool, min length 100 tokens, 10,000 buckets, unigrams + bigrams.

Each tool runs in its own process (one core, `num_proc=1` / `workers=1`), at two pool sizes (a quarter and
all of it) to show memory is bounded. Columns:
  weights/CPU-s   documents per CPU-second to featurise the pool and compute every log weight
                  (data-selection: compute_importance_weights; curator: index pass + weight pass, which
                  also counts the raw grams that data-selection counts separately in its fit)
  e2e/CPU-s       fit + weights + resample + writing the selection (curator also writes its stats tables)
  peak MB         the process's peak RSS
  KLR             the same held-out KL reduction for every selection, computed here (1e-8 in both logs)
The parent also checks the two tools' weights agree (max |difference|) and compares selections: overlap of
the Gumbel draws (different noise, so partial) and of the plain top-k by each tool's weights.

    python benchmarks/dsir.py [--repeats 3]     (needs `pip install -e '.[bench]'`: data-selection, nltk<=3.10.2)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from dedup import load_jsonl, peak_rss_mb  # noqa: E402

SAMPLE = HERE.parent / "data" / "sample"
BUCKETS, MIN_LENGTH, FRACTION = 10_000, 100, 0.10


# -- corpus ------------------------------------------------------------------------------------------------


def chunks(text: str, size: int = 1000) -> list[str]:
    out, start = [], 0
    while start < len(text):
        end = min(len(text), start + size)
        if end < len(text):
            space = text.rfind(" ", start + size // 2, end)
            end = space if space > 0 else end
        out.append(text[start:end])
        start = end
    return out


def build_corpus(work: Path) -> dict:
    if not SAMPLE.exists():
        subprocess.run([sys.executable, "-m", "curator", "sample", "--out", str(SAMPLE)], check=True)
    raw, fit, heldout = [], [], []
    rng = random.Random(0)
    for n, doc in enumerate(load_jsonl(SAMPLE)):
        for i, text in enumerate(chunks(doc["text"])):
            row = {"id": f"{doc['id']}#{i}", "text": text, "source": doc["source"]}
            if doc["source"] == "docs" and n % 2 == 0:
                (heldout if rng.random() < 0.1 else fit).append(row)
            else:
                raw.append(row)
    rng.shuffle(raw)
    files = {"target": work / "target_fit.jsonl", "heldout": work / "target_heldout.jsonl"}
    for name, rows in (("target", fit), ("heldout", heldout)):
        files[name].write_text("".join(json.dumps(r) + "\n" for r in rows))
    sizes = {}
    for label, n in (("quarter", len(raw) // 4), ("full", len(raw))):
        path = work / f"raw_{label}.jsonl"
        path.write_text("".join(json.dumps(r) + "\n" for r in raw[:n]))
        sizes[label] = {"path": str(path), "docs": n}
    return {"files": {k: str(v) for k, v in files.items()}, "sizes": sizes, "target_docs": len(fit)}


# -- children ----------------------------------------------------------------------------------------------


def child_curator(raw: str, target: str, k: int, out: Path, compare_model: str | None) -> dict:
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.executor import run_pipeline
    from curator.select.dsir import DsirFit, DsirSelect

    cpu: dict[str, float] = {}

    def timed(cls, name):
        original = getattr(cls, name)

        def wrapper(self, *args, **kwargs):
            t = time.process_time()
            try:
                return original(self, *args, **kwargs)
            finally:
                cpu[name] = cpu.get(name, 0.0) + time.process_time() - t

        setattr(cls, name, wrapper)

    phases = ("prepare", "index", "_compare_scores", "resolve")
    for cls, name in [(DsirFit, p) for p in phases] + [(DsirSelect, "select")]:
        timed(cls, name)
    params = {"target": target, "k": k, "min_length": MIN_LENGTH, "heldout_fraction": 0.0, "seed": 0}
    if compare_model:
        params["compare_model"] = compare_model
    config = parse_pipeline({"name": "bench", "inputs": [{"path": raw}], "steps": [{"dsir_select": params}]}, "b")
    t = time.process_time()
    run_pipeline(config, out / "run", workers=1, quiet=True)
    total = time.process_time() - t
    docs = pq.read_table(out / "run" / "stats" / "docs.parquet")
    selected = docs.filter(pc.field("kept")).column("id").to_pylist()
    weights = dict(zip(docs.column("id").to_pylist(), docs.column("dsir_log_weight").to_pylist(), strict=True))
    extra = {}
    if compare_model:
        eligible = docs.filter(pc.field("dsir_length") >= MIN_LENGTH)
        order = np.lexsort((np.arange(eligible.num_rows), -eligible.column("dsir_fasttext_score").to_numpy()))
        extra["fasttext_selected"] = [eligible.column("id")[int(i)].as_py() for i in order[:k]]
    # the fastText comparison scores are extra work data-selection does not do: not counted as weights
    weights_cpu = cpu["index"] - cpu.get("_compare_scores", 0.0) + cpu["resolve"] - cpu.get("select", 0.0)
    total -= cpu.get("_compare_scores", 0.0)
    return {"weights_cpu": weights_cpu, "total_cpu": total, "phases": cpu, "selected": selected,
            "weights": weights, **extra}  # fmt: skip


def child_data_selection(raw: str, target: str, k: int, out: Path, compare_model: str | None) -> dict:
    from data_selection import HashedNgramDSIR

    ids = [json.loads(line)["id"] for line in Path(raw).read_text().splitlines()]
    t0 = time.process_time()
    dsir = HashedNgramDSIR([raw], [target], cache_dir=str(out / "cache"), num_proc=1,
                           ngrams=2, num_buckets=BUCKETS, min_example_length=MIN_LENGTH)  # fmt: skip
    dsir.fit_importance_estimator(num_tokens_to_fit="auto")
    t1 = time.process_time()
    dsir.compute_importance_weights()
    t2 = time.process_time()
    np.random.seed(0)  # its Gumbel noise comes from the global generator
    dsir.resample(out_dir=str(out / "selected"), num_to_sample=k, cache_dir=str(out / "resample_cache"))
    t3 = time.process_time()
    files = sorted((out / "selected").glob("*.jsonl"))
    selected = [json.loads(line)["id"] for f in files for line in f.read_text().splitlines()]
    log_w = np.load(out / "cache" / "log_importance_weights" / "0.npy")
    phases = {"fit": t1 - t0, "weights": t2 - t1, "resample": t3 - t2}
    weights = dict(zip(ids, log_w.tolist(), strict=True))
    return {"weights_cpu": t2 - t1, "total_cpu": t3 - t0, "phases": phases, "selected": selected, "weights": weights}


CHILDREN = {"curator": child_curator, "data-selection": child_data_selection}


def measure(tool: str, raw: str, target: str, k: int, compare_model: str | None = None) -> dict:
    out = Path(tempfile.mkdtemp(prefix=f"bench-dsir-{tool}-"))
    try:
        args = [sys.executable, __file__, "--child", tool, raw, target, str(k), str(out), compare_model or ""]
        with open(out / "child.log", "wb") as log:
            proc = subprocess.Popen(args, stdout=log, stderr=log)
            _, status, _usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.stderr.write((out / "child.log").read_text()[-4000:])
            raise SystemExit(f"{tool} child failed")
        return json.loads((out / "result.json").read_text())
    finally:
        shutil.rmtree(out, ignore_errors=True)


# -- scoring -----------------------------------------------------------------------------------------------


class KlScorer:
    """The held-out KL reduction of any selection of pool ids, on the hashed n-gram features."""

    def __init__(self, raw: str, heldout: str):
        import pyarrow as pa

        from curator.select.estimator import HeldoutTarget
        from curator.text.ngrams import NgramHasher

        self.hasher = NgramHasher(BUCKETS)
        rows = [json.loads(line) for line in Path(raw).read_text().splitlines()]
        self.index = {r["id"]: i for i, r in enumerate(rows)}
        flat, offsets = self.hasher.buckets(pa.array([r["text"] for r in rows]))
        self.flat, self.offsets = flat, offsets
        self.lengths = self.hasher.token_lengths(offsets)
        self.raw = np.bincount(flat, minlength=BUCKETS).astype(np.float64)
        self.target = HeldoutTarget(BUCKETS)
        held = [json.loads(line)["text"] for line in Path(heldout).read_text().splitlines()]
        self.target.add(*self.hasher.buckets(pa.array(held)))

    def counts(self, ids: list[str]) -> np.ndarray:
        from curator.select.features import bucket_counts

        copies = np.zeros(len(self.index), np.int64)
        for i in ids:
            copies[self.index[i]] += 1
        return bucket_counts(self.flat, self.offsets, copies, BUCKETS)

    def reduction(self, ids: list[str]) -> float:
        from curator.select.estimator import distribution

        base = self.target.mean_kl(distribution(self.raw))
        return base - self.target.mean_kl(distribution(self.counts(ids)))

    def top_k(self, weights: dict[str, float], k: int) -> list[str]:
        ids = [i for i in self.index if self.lengths[self.index[i]] >= MIN_LENGTH]
        w = np.array([weights[i] for i in ids])
        return [ids[j] for j in np.lexsort((np.arange(len(ids)), -w))[:k]]

    def random(self, k: int, seed: int = 0) -> list[str]:
        ids = [i for i in self.index if self.lengths[self.index[i]] >= MIN_LENGTH]
        return random.Random(seed).sample(ids, k)


def overlap(a: list[str], b: list[str]) -> float:
    return len(set(a) & set(b)) / max(len(a), 1)


def train_compare_model(corpus: dict, raw: str, work: Path) -> str:
    from curator.filters.fasttext_train import LabelledInput, TrainSettings, train_classifier

    model = work / "compare.bin"
    inputs = [LabelledInput([corpus["files"]["target"]], "target"), LabelledInput([raw], "raw")]
    train_classifier(inputs, model, TrainSettings(seed=0), positive="target")
    return str(model)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, raw, target, k, out, model = args.child
        result = CHILDREN[tool](raw, target, int(k), Path(out), model or None)
        result["peak_rss_mb"] = peak_rss_mb()
        (Path(out) / "result.json").write_text(json.dumps(result))
        return
    work = Path(tempfile.mkdtemp(prefix="bench-dsir-"))
    corpus = build_corpus(work)
    full = corpus["sizes"]["full"]
    print(f"pool {full['docs']:,} docs (~1 KB), target {corpus['target_docs']:,} fit docs; k = {FRACTION:.0%}")
    model = train_compare_model(corpus, full["path"], work)
    rows, results = [], {}
    for label, size in corpus["sizes"].items():
        k = int(FRACTION * size["docs"])
        for tool in ("data-selection", "curator"):
            runs = [measure(tool, size["path"], corpus["files"]["target"], k) for _ in range(args.repeats)]
            runs.sort(key=lambda r: r["total_cpu"])
            best = runs[len(runs) // 2]
            weights_cpu = statistics.median(r["weights_cpu"] for r in runs)
            total_cpu = statistics.median(r["total_cpu"] for r in runs)
            results[(label, tool)] = best
            rows.append((label, tool, size["docs"], size["docs"] / weights_cpu, size["docs"] / total_cpu,
                         max(r["peak_rss_mb"] for r in runs), best))  # fmt: skip
    k = int(FRACTION * full["docs"])
    with_fasttext = measure("curator", full["path"], corpus["files"]["target"], k, model)  # not timed
    scorer = KlScorer(full["path"], corpus["files"]["heldout"])
    print(f"\n{'size':<9}{'tool':<16}{'docs':>8}{'weights/CPU-s':>15}{'e2e/CPU-s':>11}{'peak MB':>9}{'KLR':>9}")
    for label, tool, docs, w_rate, e2e_rate, rss, best in rows:
        klr = scorer.reduction(best["selected"]) if label == "full" else float("nan")
        print(f"{label:<9}{tool:<16}{docs:>8,}{w_rate:>15,.0f}{e2e_rate:>11,.0f}{rss:>9.0f}{klr:>9.4f}")
    ours, theirs = results[("full", "curator")], results[("full", "data-selection")]
    diff = max(abs(ours["weights"][i] - theirs["weights"][i]) for i in ours["weights"])
    top_ours, top_theirs = scorer.top_k(ours["weights"], k), scorer.top_k(theirs["weights"], k)
    speed = (rows[3][3] / rows[2][3], rows[3][4] / rows[2][4])
    print(f"\nfull pool: curator / data-selection = {speed[0]:.1f}x weights, {speed[1]:.1f}x end to end")
    print(f"weights agree: max |curator - data-selection| = {diff:.2e} nats")
    print(f"selection overlap: Gumbel draws {overlap(ours['selected'], theirs['selected']):.1%} "
          f"(independent noise), top-k by each tool's weights {overlap(top_ours, top_theirs):.1%}")  # fmt: skip
    print("KL reduction at the same k (held-out target, nats):")
    for name, ids in (
        ("curator gumbel", ours["selected"]),
        ("data-selection gumbel", theirs["selected"]),
        ("top-k by weight", top_ours),
        ("fastText top-k (target vs pool)", with_fasttext["fasttext_selected"]),
        ("random eligible", scorer.random(k)),
    ):
        print(f"  {name:<34}{scorer.reduction(ids):>8.4f}")
    base = scorer.target.mean_kl(scorer.raw / scorer.raw.sum())
    print(f"  (KL(held-out target || pool) = {base:.4f} nats per document)")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
