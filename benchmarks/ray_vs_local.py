"""Ray vs local executor: the quickstart pipeline on this machine's process pool and on a local Ray cluster.

Corpus: the sample corpus (`curator sample`) at two sizes. Pipeline: the quickstart's steps (normalize, length
filter, exact and MinHash dedup, language id, Gopher scores). Each run is a child process; the parent samples
the child's whole process tree (Ray's GCS, raylet, agents and worker actors included) every 0.1 s with psutil:
CPU-s is the sum of each process's last seen user+sys time, peak MB the largest summed RSS. For Ray the child
first starts a private cluster (`ray.init(num_cpus=2)`) and times it as "start-up"; the run that follows
(worker actors, every pass) is "run". Ray runs in both modes: `data` (per-batch steps as Ray Data map_batches
stages, language id in an actor pool, then each task finished from its spill files) and `tasks` (whole tasks
on worker actors). All use 2 workers; outputs are checked byte-identical.

    python benchmarks/ray_vs_local.py [--sizes 8 32] [--repeats 2]     (needs `pip install -e '.[ray]'`)
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

STEPS = [
    {"normalize_text": {"form": "NFC", "max_blank_lines": 1}},
    {"length_filter": {"min_words": 20, "max_chars": 200000}},
    "exact_dedup",
    {"minhash_dedup": {"bands": 42, "rows": 3, "threshold": 0.35}},
    "language_id",
    {"gopher_quality": {"score_only": True}},
]


VARIANTS = {"local": {"kind": "local"}, "ray-tasks": {"kind": "ray", "mode": "tasks"}, "ray-data": {"kind": "ray"}}


def child(kind: str, corpus: Path, out: Path, report: Path) -> None:
    """Run the pipeline once with executor variant `kind`; write {startup, run} seconds to `report`."""
    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.executor import run_pipeline

    startup = 0.0
    executor = VARIANTS[kind]
    if executor["kind"] == "ray":
        import ray

        os.environ.setdefault("RAY_BACKEND_LOG_LEVEL", "fatal")  # as curator's own ray.init does
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
        startup = time.perf_counter() - t0
    config = parse_pipeline({"inputs": [{"path": f"{corpus}/*.jsonl.zst"}], "steps": STEPS, "executor": executor})
    t0 = time.perf_counter()
    run_pipeline(config, out, workers=2, quiet=True)
    report.write_text(json.dumps({"startup": startup, "run": time.perf_counter() - t0}))


def measure(kind: str, corpus: Path) -> dict:
    """One child run: wall, start-up and run seconds, tree CPU-s, tree peak RSS MB and an output digest."""
    import psutil

    work = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    try:
        report = work / "report.json"
        t0 = time.perf_counter()
        proc = subprocess.Popen(
            [sys.executable, __file__, "--child", kind, str(corpus), str(work / "run"), str(report)],
            env={**os.environ, "CI": "true"},
        )
        root = psutil.Process(proc.pid)
        cpu: dict[int, float] = {}
        peak = 0
        while proc.poll() is None:
            rss = 0
            try:
                procs = [root, *root.children(recursive=True)]
            except psutil.NoSuchProcess:
                break
            for p in procs:
                try:
                    times = p.cpu_times()
                    cpu[p.pid] = times.user + times.system
                    rss += p.memory_info().rss
                except psutil.NoSuchProcess:
                    continue
            peak = max(peak, rss)
            time.sleep(0.1)
        wall = time.perf_counter() - t0
        if proc.wait() != 0:
            raise SystemExit(f"{kind} child failed")
        timing = json.loads(report.read_text())
        files = sorted((work / "run" / "output").glob("*.parquet")) + [work / "run" / "stats" / "docs.parquet"]
        digest = hashlib.sha256(b"".join(hashlib.sha256(p.read_bytes()).digest() for p in files)).hexdigest()
        return {"wall": wall, **timing, "cpu": sum(cpu.values()), "peak_mb": peak / 1e6, "digest": digest}
    finally:
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=float, nargs="+", default=[8, 32], help="corpus sizes in MB of text")
    ap.add_argument("--repeats", type=int, default=2)
    ap.add_argument("--workdir", type=Path, default=Path("data/bench"))
    ap.add_argument("--child", nargs=4, metavar=("VARIANT", "CORPUS", "OUT", "REPORT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, corpus, out, report = args.child
        child(kind, Path(corpus), Path(out), Path(report))
        return

    from curator.sample import build_sample

    print(f"{'corpus':>10} {'docs':>7} | {'executor':<9} {'start-up s':>10} {'run s':>7} {'wall s':>7} "
          f"{'CPU-s':>7} {'peak MB':>8} | {'run / local':>11}")  # fmt: skip
    for size in args.sizes:
        corpus = args.workdir / f"sample-{size:g}mb"
        manifest = build_sample(corpus, max_docs=10_000_000, max_mb=size, shard_docs=2000)
        result = {}
        for kind in VARIANTS:
            runs = [measure(kind, corpus) for _ in range(args.repeats)]
            if len({r["digest"] for r in runs}) != 1:
                raise SystemExit(f"{kind}: outputs differ between repeats")
            result[kind] = {k: statistics.median(r[k] for r in runs) for k in ("wall", "startup", "run", "cpu")}
            result[kind]["peak_mb"] = max(r["peak_mb"] for r in runs)
            result[kind]["digest"] = runs[0]["digest"]
        same = len({r["digest"] for r in result.values()}) == 1
        for kind, r in result.items():
            extra = f"{r['run'] / result['local']['run']:>10.2f}x" if kind != "local" else ""
            print(f"{f'{size:g} MB':>10} {manifest['docs']:>7,} | {kind:<9} {r['startup']:>10.2f} {r['run']:>7.2f} "
                  f"{r['wall']:>7.2f} {r['cpu']:>7.2f} {r['peak_mb']:>8.0f} | {extra}")  # fmt: skip
        print(f"{'':>10} output and docs stats identical: {same}")
    print(
        f"\nmedians of {args.repeats} runs; 2 workers each; wall includes interpreter start; CPU-s and peak MB over "
        "the whole process tree (Ray's own processes included)"
    )


if __name__ == "__main__":
    main()
