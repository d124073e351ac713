"""The offline-loss experiment: subsets chosen by a proxy LM's loss vs a uniform subset of the same size, each
used to train the tiny GPT for the same steps; per-domain validation loss on held-out documents, several seeds.

  python benchmarks/loss_selection.py [--docs 6000] [--steps 200] [--seeds 0 1]   (work folder runs/loss-exp)

1. pool: the sample corpus, normalised, length-filtered and exact-deduplicated (sources code, prose, docs, man);
   a BPE tokenizer trained on it.
2. proxy: a mixture store of the pool (equal domain weights, `holdout` share H held out by id hash) and the
   recipe model trained on it: the proxy never sees the held-out documents.
3. arms, each a pipeline over the pool (tokenize, model_loss with the proxy, then a selection step with
   `holdout: H`, so the held-out documents are kept by every arm and selected by none):
     filter    loss_filter max_quantile 0.5 within source (perplexity filtering: the lower-loss half)
     linupper  loss_reweight linupper r=1 within source, Gumbel top-k, k = the filter arm's training documents
     uniform   loss_reweight uniform within source (a seeded uniform sample), the same k
4. each arm's kept documents -> a mixture store with the same holdout share (so its held-out split is exactly the
   pool's held-out documents) -> `curator.train.train()` for the same steps per seed -> per-domain eval loss.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import pyarrow.parquet as pq

ROOT = Path("runs/loss-exp")
DOMAINS = ("code", "prose", "docs", "man")
HOLDOUT = 0.1


def mixture(name: str, run: Path, tokenizer: Path) -> dict:
    """Equal weights over the four sources of `run`, the shared holdout share."""
    return {
        "name": name,
        "store": str(ROOT / f"store-{name}"),
        "tokenizer": str(tokenizer),
        "seq_len": 256,
        "global_batch": 8,
        "holdout": HOLDOUT,
        "seed": 0,
        "domains": [
            {"name": d, "weight": 0.25, "from": {"run": str(run), "where": f"source = '{d}'"}} for d in DOMAINS
        ],
    }


def train_config(mixture_path: Path, steps: int, seed: int) -> dict:
    """pipelines/train.yaml's model and schedule, evaluated once at the end on held-out documents."""
    return {
        "mixture": str(mixture_path),
        "model": {"d_model": 64, "n_layers": 2, "n_heads": 4},
        "steps": steps,
        "lr": 3e-3,
        "warmup_steps": 20,
        "seed": seed,
        "eval_every": steps,
        "eval_samples": 64,
        "checkpoint_every": steps,
        "threads": 2,
    }


def store_for(name: str, run: Path, tokenizer: Path) -> Path:
    import yaml

    from curator.loader.build import build_store
    from curator.loader.mixture import parse_mixture

    data = mixture(name, run, tokenizer)
    path = ROOT / f"mixture-{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    if not (Path(data["store"]) / "store.json").exists():
        build_store(parse_mixture(data), workers=2, quiet=True)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--docs", type=int, default=6000)
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--proxy-steps", type=int, default=200)
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1])
    args = parser.parse_args()

    from curator.buckets.tokenizer import train_tokenizer
    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.executor import run_pipeline
    from curator.pipeline.side_input import side_input_batches
    from curator.sample import build_sample
    from curator.train import train

    t0 = time.perf_counter()
    ROOT.mkdir(parents=True, exist_ok=True)
    sample = ROOT / "sample"
    build_sample(sample, max_docs=args.docs, max_mb=args.docs / 1000, shard_docs=500)
    pool = ROOT / "pool"
    if not (pool / "stats" / "summary.json").exists():
        steps = [{"normalize_text": {}}, {"length_filter": {"min_words": 20, "max_chars": 200000}}, "exact_dedup"]
        cfg = {"name": "loss-exp-pool", "inputs": [{"path": str(sample / "*.jsonl.zst")}], "steps": steps}
        run_pipeline(parse_pipeline(cfg), pool, workers=2, quiet=True)
    tokenizer = ROOT / "tokenizer.json"
    if not tokenizer.exists():
        train_tokenizer(side_input_batches(str(pool / "output" / "*.parquet")), tokenizer, vocab_size=4096)
    proxy = ROOT / "proxy"
    if not (proxy / "stats" / "train_summary.json").exists():
        cfg = train_config(store_for("proxy", pool, tokenizer), args.proxy_steps, seed=100)
        train(cfg | {"eval_every": 0}, proxy)
    print(f"pool, tokenizer and proxy ready ({time.perf_counter() - t0:.0f} s)", flush=True)

    def select(name: str, rule: dict) -> Path:
        out = ROOT / f"arm-{name}"
        if not (out / "stats" / "summary.json").exists():
            steps = [{"tokenize": {"tokenizer": str(tokenizer)}},
                     {"model_loss": {"checkpoint": str(proxy), "threads": 1}}, rule]  # fmt: skip
            cfg = {"name": f"loss-exp-{name}", "inputs": [{"path": str(pool / "output" / "*.parquet")}], "steps": steps}
            run_pipeline(parse_pipeline(cfg), out, workers=2, quiet=True)
        return out

    from curator.loader.holdout import heldout_mask

    arms = {"filter": select("filter", {"loss_filter": {"max_quantile": 0.5, "group": "source", "holdout": HOLDOUT}})}
    docs = pq.read_table(arms["filter"] / "stats" / "docs.parquet", columns=["id", "kept"])
    held = heldout_mask(docs.column("id").combine_chunks(), HOLDOUT)
    kept = docs.column("kept").to_numpy(zero_copy_only=False)
    k = int((kept & ~held).sum())
    print(f"pool {len(held):,} docs, held out {int(held.sum()):,}; every arm trains on k = {k:,} documents", flush=True)
    for name, strategy in (("linupper", "linupper"), ("uniform", "uniform")):
        rule = {"loss_reweight": {"strategy": strategy, "k": k, "group": "source", "holdout": HOLDOUT, "seed": 0}}
        arms[name] = select(name, rule)

    results: dict[str, list[dict]] = {}
    for name, run in arms.items():
        mix = store_for(name, run, tokenizer)
        for seed in args.seeds:
            out = ROOT / f"train-{name}-s{seed}"
            summary = train(train_config(mix, args.steps, seed), out)
            results.setdefault(name, []).append(summary.eval_domain_loss | {"mean": summary.eval_loss})
            print(
                f"{name} seed {seed}: {json.dumps(summary.eval_domain_loss)} mean {summary.eval_loss:.4f}", flush=True
            )
    (ROOT / "results.json").write_text(json.dumps(results, indent=1))

    cols = ["mean", *DOMAINS]
    print(f"\n| subset (k = {k:,} docs, {args.steps} steps, seeds {args.seeds}) | " + " | ".join(cols) + " |")
    print("|---" * (len(cols) + 1) + "|")
    for name, rows in results.items():
        cells = []
        for c in cols:
            v = [r[c] for r in rows if r.get(c) is not None]
            sd = statistics.stdev(v) if len(v) > 1 else 0.0
            cells.append(f"{statistics.mean(v):.4f} ± {sd:.4f}" if v else "-")
        print(f"| {name} | " + " | ".join(cells) + " |")
    print(f"\n({time.perf_counter() - t0:.0f} s in all; eval = held-out documents no arm selected or trained on)")


if __name__ == "__main__":
    main()
