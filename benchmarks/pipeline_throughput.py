"""Pipeline throughput: read -> normalize_text -> length_filter -> write, next to a bare pyarrow read+write.

Both run on the same sample-corpus shards (JSONL + zstd), each in its own child process so that CPU time
(user + sys) and peak RSS are that process's alone. Reports MB of uncompressed JSONL per CPU-second,
the ratio curator / bare, and peak memory, at two corpus sizes (peak memory must not grow with size).

A child's CPU time is a fixed start-up cost (interpreter, imports, first use of pyarrow and the run folder)
plus a cost per MB. The start-up cost is measured on a one-document corpus; the last columns give the CPU
time per MB beyond it ("marginal") and the curator/bare ratio of those, next to the whole-run ratio.

    python benchmarks/pipeline_throughput.py [--sizes 8 32] [--repeats 3]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

KINDS = ("bare", "curator")


def child_curator(corpus: Path, out: Path) -> None:
    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.executor import run_pipeline

    config = parse_pipeline(
        {
            "inputs": [{"path": f"{corpus}/*.jsonl.zst"}],
            "steps": [{"normalize_text": {}}, {"length_filter": {"min_words": 20, "max_chars": 200000}}],
            "output": {"max_shard_bytes": "64MiB"},
        }
    )
    run_pipeline(config, out, workers=1, quiet=True)


def child_bare(corpus: Path, out: Path) -> None:
    import pyarrow as pa
    import pyarrow.json as pj
    import pyarrow.parquet as pq

    out.mkdir(parents=True, exist_ok=True)
    for f in sorted(corpus.glob("*.jsonl.zst")):
        table = pj.read_json(pa.input_stream(str(f), compression="zstd"))
        pq.write_table(table, out / (f.name.split(".")[0] + ".parquet"), compression="zstd", compression_level=3)


def measure(kind: str, corpus: Path) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of one child process doing `kind` on `corpus`."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    try:
        proc = subprocess.Popen([sys.executable, __file__, "--child", kind, str(corpus), str(out / "run")])
        _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            raise SystemExit(f"{kind} child failed")
        return usage.ru_utime + usage.ru_stime, usage.ru_maxrss / 1024
    finally:
        shutil.rmtree(out, ignore_errors=True)


def startup_corpus(corpus: Path, folder: Path) -> Path:
    """A corpus of one document (the first of `corpus`), for the fixed start-up cost."""
    import zstandard

    first = sorted(corpus.glob("*.jsonl.zst"))[0]
    with first.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as r:
        line = r.read().split(b"\n", 1)[0] + b"\n"
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "part-0000.jsonl.zst").write_bytes(zstandard.ZstdCompressor().compress(line))
    return folder


def median_cpu(kind: str, corpus: Path, repeats: int) -> tuple[float, float]:
    """(median CPU seconds, max peak RSS in MB) of `repeats` children."""
    runs = [measure(kind, corpus) for _ in range(repeats)]
    return statistics.median(r[0] for r in runs), max(r[1] for r in runs)


def jsonl_mb(corpus: Path) -> float:
    import zstandard

    total = 0
    for f in corpus.glob("*.jsonl.zst"):
        with f.open("rb") as fh, zstandard.ZstdDecompressor().stream_reader(fh) as r:
            while chunk := r.read(1 << 24):
                total += len(chunk)
    return total / 1e6


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--sizes", type=float, nargs="+", default=[8, 32], help="corpus sizes in MB of text")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("data/bench"))
    ap.add_argument("--child", nargs=3, metavar=("KIND", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, corpus, out = args.child
        (child_curator if kind == "curator" else child_bare)(Path(corpus), Path(out))
        return

    from curator.sample import build_sample

    rows = []
    for size in args.sizes:
        corpus = args.workdir / f"sample-{size:g}mb"
        manifest = build_sample(corpus, max_docs=10_000_000, max_mb=size, shard_docs=2000)
        mb = jsonl_mb(corpus)
        rows.append((size, manifest["docs"], mb, {kind: median_cpu(kind, corpus, args.repeats) for kind in KINDS}))
    tiny = startup_corpus(args.workdir / f"sample-{args.sizes[0]:g}mb", args.workdir / "startup-1doc")
    startup = {kind: median_cpu(kind, tiny, args.repeats)[0] for kind in KINDS}

    print(
        f"\n{'corpus':>10} {'docs':>8} {'JSONL MB':>9} | {'tool':<8} {'CPU-s':>7} {'MB/CPU-s':>9} "
        f"{'peak RSS MB':>11} | {'curator/bare CPU':>16} | {'start-up CPU-s':>14} {'CPU-ms/MB':>9} "
        f"{'curator/bare per MB':>19}"
    )
    for size, docs, mb, result in rows:
        ratio = result["curator"][0] / result["bare"][0]
        per_mb = {kind: (result[kind][0] - startup[kind]) / mb for kind in KINDS}
        marginal = per_mb["curator"] / per_mb["bare"] if per_mb["bare"] > 0 else float("nan")
        for kind in KINDS:
            cpu, rss = result[kind]
            label = f"{size:g} MB text"
            extra = f"{ratio:>16.2f}x" if kind == "curator" else " " * 17
            extra2 = f"{marginal:>18.2f}x" if kind == "curator" else ""
            print(
                f"{label:>10} {docs:>8,} {mb:>9.1f} | {kind:<8} {cpu:>7.2f} {mb / cpu:>9.1f} {rss:>11.0f} | {extra} | "
                f"{startup[kind]:>14.2f} {per_mb[kind] * 1000:>9.1f} {extra2}"
            )
    print(
        f"\nmedians of {args.repeats} runs; CPU-s = user+sys of the child process; target: curator/bare <= 1.5x\n"
        "start-up CPU-s: the same child on a one-document corpus; CPU-ms/MB: (CPU-s - start-up) per MB of JSONL"
    )


if __name__ == "__main__":
    main()
