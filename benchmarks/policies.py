"""Policy update cost: median host time of `observe` (K domains, 1,000 calls) and of `domain_means` from
per-sample losses, on one thread. Goal: <= 0.1 ms per update (design notes, section 6)."""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from curator.loader.policies import ODM, DoReMi, Schedule, Static, domain_means


def _median_us(fn, calls: int) -> float:
    times = np.empty(calls)
    for i in range(calls):
        t0 = time.perf_counter()
        fn(i)
        times[i] = time.perf_counter() - t0
    return float(np.median(times) * 1e6)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--domains", type=int, default=20)
    parser.add_argument("--calls", type=int, default=1000)
    parser.add_argument("--samples", type=int, default=512, help="per-sample losses per step for domain_means")
    args = parser.parse_args()
    torch.set_num_threads(1)
    k, n = args.domains, args.calls
    names = [f"d{i}" for i in range(k)]
    start = np.full(k, 1.0 / k)
    rng = np.random.default_rng(0)
    counts = rng.integers(0, 4, (n, k)).astype(np.float64)
    losses = np.where(counts > 0, rng.uniform(1.0, 6.0, (n, k)), np.nan)
    policies = {
        "static": Static(names, start),
        "schedule": Schedule(names, start, [(s, start) for s in range(0, n, 100)]),
        "odm": ODM(names, start, warmup=0),
        "doremi": DoReMi(names, start, dict(zip(names, rng.uniform(1.0, 4.0, k), strict=True))),
    }
    print(f"K = {k}, median of {n} calls, one thread")
    for name, policy in policies.items():
        us = _median_us(lambda i, p=policy: p.observe(losses[i], counts[i], i), n)
        print(f"  {name:9s} observe        {us:7.1f} us")
    per_loss = rng.uniform(1.0, 6.0, args.samples)
    ids = rng.integers(0, k, args.samples)
    numpy_us = _median_us(lambda i: domain_means(per_loss, ids, k), n)
    print(f"  domain_means numpy ({args.samples} samples) {numpy_us:7.1f} us")
    t_loss, t_ids = torch.from_numpy(per_loss).float(), torch.from_numpy(ids)
    torch_us = _median_us(lambda i: domain_means(t_loss, t_ids, k), n)
    print(f"  domain_means torch ({args.samples} samples) {torch_us:7.1f} us")


if __name__ == "__main__":
    main()
