"""Training feedback, measured: plain mean vs LinUpper / Quadratic sample reweighting vs ODM / DoReMi domain
policies, at equal steps and tokens, on the sample mixture (pipelines/mixture.yaml, pipelines/train.yaml).

Each method trains the recipe's tiny GPT for --steps optimizer steps per seed; the final per-domain eval loss
(64 fixed windows per domain from the documents the store held out of training) gives the mean over domains
and the worst domain. DoReMi runs twice, both with the plain run of the same seed as its reference (a model
trained on the initial mixture, as in the paper): `doremi table` takes that run's final per-domain eval losses
as constant reference losses; `doremi model` runs the plain run's final checkpoint beside the proxy and feeds
the per-token clipped excess (the paper's signal). Reported: mean and standard deviation over seeds, and
tokens/s. The papers' gains are the hypothesis, not the expected output.

    python benchmarks/feedback.py [--steps 200] [--seeds 0 1 2] [--out data/bench/feedback]

Needs the mixture store: `make demo` builds it (or `curator mixture build pipelines/mixture.yaml`).
"""

from __future__ import annotations

import argparse
import json
import shutil
import statistics
import time
from pathlib import Path

import yaml

from curator.train.trainer import train


def methods(steps: int) -> dict[str, dict]:
    warm = max(1, steps // 10)
    return {
        "plain mean": {},
        "linupper r=1": {"reweight": {"strategy": "linupper", "temperature": 1.0, "warmup_steps": warm}},
        "quadratic r=1": {"reweight": {"strategy": "quadratic", "temperature": 1.0, "warmup_steps": warm}},
        "odm": {"policy": {"name": "odm", "params": {"warmup": warm}}},
        "doremi table": {},  # the reference is filled in per seed
        "doremi model": {},
    }


def run(base: dict, extra: dict, seed: int, steps: int, out: Path) -> dict:
    config = {**base, **extra, "seed": seed, "steps": steps, "eval_every": steps, "eval_samples": 64}
    config["warmup_steps"] = min(config.get("warmup_steps", 0), steps // 10)
    config.update(checkpoint_every=steps, log_every=10)
    shutil.rmtree(out, ignore_errors=True)
    started = time.perf_counter()
    summary = train(config, out, resume=False, quiet=True)
    losses = summary.eval_domain_loss
    return {
        "mean": statistics.fmean(losses.values()),
        "worst": max(losses.values()),
        "domains": losses,
        "tokens_per_s": summary.tokens_per_s,
        "seconds": time.perf_counter() - started,
        "out": str(out),
    }


def spread(values: list[float]) -> str:
    sd = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{statistics.fmean(values):.4f} ± {sd:.4f}"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    ap.add_argument("--train", type=Path, default=Path("pipelines/train.yaml"))
    ap.add_argument("--out", type=Path, default=Path("data/bench/feedback"))
    args = ap.parse_args()
    base = yaml.safe_load(args.train.read_text())
    results: dict[str, list[dict]] = {}
    for seed in args.seeds:
        for name, extra in methods(args.steps).items():
            if name.startswith("doremi"):
                plain = results["plain mean"][-1]
                reference = plain["domains"] if name == "doremi table" else plain["out"]
                extra = {"policy": {"name": "doremi", "params": {"reference": reference}}}
            out = args.out / f"{name.replace(' ', '-').replace('=', '')}-seed{seed}"
            results.setdefault(name, []).append(run(base, extra, seed, args.steps, out))
            r = results[name][-1]
            print(f"seed {seed} {name:<14} mean {r['mean']:.4f} worst {r['worst']:.4f} ({r['seconds']:.0f} s)")
    tokens = args.steps * base.get("grad_accum", 1) * yaml.safe_load(Path(base["mixture"]).read_text())["global_batch"]
    print(f"\n{args.steps} steps x {tokens // args.steps:,} samples per step, seeds {args.seeds}; eval loss per domain")
    print(f"{'method':<15}{'mean over domains':>22}{'worst domain':>22}{'tokens/s':>10}")
    for name, rs in results.items():
        rate = statistics.fmean(r["tokens_per_s"] for r in rs)
        print(f"{name:<15}{spread([r['mean'] for r in rs]):>22}{spread([r['worst'] for r in rs]):>22}{rate:>10,.0f}")
    (args.out / "results.json").write_text(json.dumps(results, indent=1))


if __name__ == "__main__":
    main()
