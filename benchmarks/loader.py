"""Loader benchmark: curator's MixtureLoader vs MosaicML streaming, HF datasets, torchdata.nodes and litdata.

Data: three domains of synthetic pre-tokenised documents (EOS-terminated, uint16, each domain in its own token
band so a sample's domain can be read back from its tokens), generated once from a fixed seed. Domain d's
token stream is cut into samples of 2,049 tokens (2,048 inputs + the next token for the labels): curator
stores the stream (TokenShardWriter + store.json) and reads window w as tokens [w*2048, w*2048 + 2049); every
peer stores exactly those windows as rows in its native format:
  streaming  MDSWriter shards, column `tokens: ndarray:uint16:2049`; StreamingDataset over three `Stream`s
             with proportions 0.5/0.3/0.2, shuffle, epoch_size = the samples measured; torch DataLoader
  hf         datasets.Dataset.from_dict per domain, save_to_disk / load_from_disk, each shuffled, then
             interleave_datasets(probabilities, stopping_strategy="all_exhausted"), numpy format, .iter(batch)
  torchdata  per-domain .npy (memory-mapped map-style datasets); torchdata.nodes: a RandomSampler per domain
             -> MultiNodeWeightedSampler (CYCLE_FOREVER) -> ParallelMapper(method="thread", 2 workers) reading
             rows -> Batcher -> collate -> Loader
  litdata    optimize() per domain (TokensLoader chunks, the litgpt path); StreamingDataset(TokensLoader
             block_size=2049, shuffle) x3 -> CombinedStreamingDataset(weights, iterate_over_all=False) ->
             StreamingDataLoader
Every tool yields batches of 32 with `input_ids` and `labels` (32, 2048) int64 tensors (curator also gives
segment_ids, domain_id, sample_id). Weights 0.5/0.3/0.2; the `mix` column is the domain shares actually seen.

Each (tool, setting) runs in its own child process, one process unless stated (2 reader threads where the
setting says so), for up to --samples samples or --seconds seconds. Columns:
  samples/s    steady state: samples after the first batch / wall time after the first batch
  first ms     wall time from constructing the loader (opening the data included, imports excluded) to the
               first batch
  peak RSS MB  ru_maxrss of the child from os.wait4 (for curator's process backend: the largest process);
               memory-mapped file pages the loader touched count in RSS, so `anon MB` (RssAnon at the end
               of the run) is shown too
  vs curator   the tool's samples/s / curator's best in-process setting
Medians of --repeats runs. curator's state_dict() time (median of 100 calls after the run) and its peak RSS on
a store 4x larger (memory flat in corpus size) are printed below the table. Machine load (other processes on
the same cores) moves every number: run it on an idle machine and compare ratios rather than absolutes.

    python benchmarks/loader.py [--quick] [--only curator,hf] [--repeats 3]
(peers: `pip install -e '.[bench]'` and, see the Makefile, mosaicml-streaming with --no-deps)
"""

from __future__ import annotations

import argparse
import gc
import importlib.metadata
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import traceback
from pathlib import Path

import numpy as np

SEQ, BATCH, EOS, BAND = 2048, 32, 0, 10_000
WEIGHTS = {"web": 0.5, "code": 0.3, "books": 0.2}
PEERS = ["streaming", "hf", "torchdata", "litdata"]
DISTS = {
    "curator": "curator",
    "streaming": "mosaicml-streaming",
    "hf": "datasets",
    "torchdata": "torchdata",
    "litdata": "litdata",
}


# -- data --------------------------------------------------------------------------------------------------


def domain_stream(d: int, windows: int) -> np.ndarray:
    """Domain d's tokens: documents of 50..3000 tokens in the band [1 + d*BAND, (d+1)*BAND), each ending in EOS;
    windows*SEQ + 1 tokens, so exactly `windows` samples of SEQ + 1 tokens."""
    rng = np.random.default_rng(1000 + d)
    n = windows * SEQ + 1
    flat = rng.integers(1 + d * BAND, (d + 1) * BAND, n, dtype=np.uint16)
    ends = np.cumsum(rng.integers(50, 3000, n // 50 + 2))
    flat[ends[ends < n] - 1] = EOS
    flat[-1] = EOS
    return flat


def sample_rows(flat: np.ndarray) -> np.ndarray:
    """(windows, SEQ + 1) view: row w = tokens [w*SEQ, w*SEQ + SEQ + 1), curator's window w."""
    windows = (len(flat) - 1) // SEQ
    return np.lib.stride_tricks.as_strided(flat, (windows, SEQ + 1), (SEQ * flat.itemsize, flat.itemsize))


def write_curator(root: Path, streams: dict[str, np.ndarray], shard_windows: int = 2000) -> None:
    from curator.loader.store import TokenShardWriter, write_store_meta

    meta = {}
    for name, flat in streams.items():
        shards = []
        cuts = list(range(0, len(flat), shard_windows * SEQ)) + [len(flat)]
        for task, (a, b) in enumerate(zip(cuts[:-1], cuts[1:], strict=True)):
            piece = flat[a:b]
            ends = np.union1d(np.flatnonzero(piece == EOS) + 1, [len(piece)])  # a shard may cut a document
            lengths = np.diff(ends, prepend=0)
            writer = TokenShardWriter(root / "domains" / name / "tokens", task, np.uint16)
            writer.write(piece, lengths.astype(np.int64))
            shards.append(writer.close())
        docs = sum(s["docs"] for s in shards)
        meta[name] = {"shards": shards, "tokens": len(flat), "docs": docs, "source": {"paths": ["synthetic"]}}
    tokenizer = {"path": "synthetic", "sha256": "b" * 64, "vocab_size": len(WEIGHTS) * BAND, "eos_id": EOS}
    write_store_meta(root, {"tokenizer": tokenizer, "dtype": "uint16", "domains": meta, "mixture": "bench"})


def write_mixture(path: Path, store: Path, horizon: int) -> Path:
    import yaml

    domains = [{"name": n, "weight": w} for n, w in WEIGHTS.items()]
    data = {"store": str(store), "seq_len": SEQ, "global_batch": BATCH, "horizon": horizon, "seed": 0}
    path.write_text(yaml.safe_dump({**data, "domains": domains}))
    return path


def write_streaming(root: Path, rows: dict[str, np.ndarray]) -> None:
    streaming = import_streaming()
    for name, r in rows.items():
        with streaming.MDSWriter(out=str(root / name), columns={"tokens": f"ndarray:uint16:{SEQ + 1}"}) as out:
            for row in r:
                out.write({"tokens": np.ascontiguousarray(row)})


def write_hf(root: Path, rows: dict[str, np.ndarray]) -> None:
    import datasets

    datasets.disable_progress_bars()
    features = datasets.Features({"tokens": datasets.Sequence(datasets.Value("uint16"), length=SEQ + 1)})
    for name, r in rows.items():
        ds = datasets.Dataset.from_dict({"tokens": np.ascontiguousarray(r)}, features=features)
        ds.save_to_disk(str(root / name))


def write_torchdata(root: Path, rows: dict[str, np.ndarray]) -> None:
    root.mkdir(parents=True, exist_ok=True)
    for name, r in rows.items():
        np.save(root / f"{name}.npy", np.ascontiguousarray(r))


def _litdata_rows(arg):
    path, start, stop = arg
    rows = np.load(path, mmap_mode="r")
    import torch

    for i in range(start, stop):
        yield torch.from_numpy(np.array(rows[i]))


def write_litdata(root: Path, npy_root: Path, rows: dict[str, np.ndarray]) -> None:
    import litdata
    from litdata.streaming.item_loader import TokensLoader

    for name, r in rows.items():
        path = str(npy_root / f"{name}.npy")
        step = max(1, len(r) // 4)
        inputs = [(path, a, min(len(r), a + step)) for a in range(0, len(r), step)]
        litdata.optimize(fn=_litdata_rows, inputs=inputs, output_dir=str(root / name), chunk_size=(SEQ + 1) * 512,
                         item_loader=TokensLoader(), num_workers=1, verbose=False, start_method="fork")  # fmt: skip


def build(work: Path, windows: list[int], tools: list[str], big: int) -> dict:
    """Every format from the same token arrays; the 4x store for curator only. Returns {format: error}."""
    streams = {n: domain_stream(d, w) for d, (n, w) in enumerate(zip(WEIGHTS, windows, strict=True))}
    rows = {n: sample_rows(f) for n, f in streams.items()}
    write_curator(work / "curator", streams)
    if big:
        bigger = {n: domain_stream(d, w * big) for d, (n, w) in enumerate(zip(WEIGHTS, windows, strict=True))}
        write_curator(work / "curator_big", bigger)
    errors = {}
    writers = {
        "streaming": lambda: write_streaming(work / "streaming", rows),
        "hf": lambda: write_hf(work / "hf", rows),
        "litdata": lambda: write_litdata(work / "litdata", work / "torchdata", rows),
    }
    if "torchdata" in tools or "litdata" in tools:
        write_torchdata(work / "torchdata", rows)
    for tool in tools:
        if tool in writers:
            try:
                writers[tool]()
            except Exception as exc:  # a peer that cannot write its format is reported, not dropped
                errors[tool] = f"{type(exc).__name__}: {exc}".splitlines()[0][:200]
    return errors


# -- peers' loaders ----------------------------------------------------------------------------------------

STREAMING_NOTE = ""


def import_streaming():
    """`import streaming` imports its vision datasets, hence torchvision; when torchvision cannot load (here:
    the only torchvision 0.28.0 wheel is the CUDA build, whose _C.so needs libc10_cuda.so next to torch+cpu),
    the vision subpackage, unused here, is replaced by an empty module and the note says so."""
    global STREAMING_NOTE
    try:
        import streaming
    except Exception as exc:
        if "torchvision" not in "".join(traceback.format_exception(exc)):
            raise
        import types

        for name in [m for m in sys.modules if m == "streaming" or m.startswith("streaming.")]:
            del sys.modules[name]
        sys.modules["streaming.vision"] = types.ModuleType("streaming.vision")
        import streaming

        STREAMING_NOTE = f"streaming.vision stubbed: importing torchvision fails ({str(exc)[:60]})"
    return streaming


def to_batch(tokens) -> dict:
    """(B, SEQ + 1) uint16/int tokens -> input_ids, labels (B, SEQ) int64 tensors."""
    import torch

    t = torch.as_tensor(np.asarray(tokens)).to(torch.int64)
    return {"input_ids": t[:, :-1].contiguous(), "labels": t[:, 1:].contiguous()}


def collate_rows(rows: list) -> dict:
    return to_batch(np.stack([np.asarray(r) for r in rows]))


def collate_mds(samples: list[dict]) -> dict:
    return to_batch(np.stack([s["tokens"] for s in samples]))


def loader_streaming(work: Path, setting: str, samples: int):
    import torch

    streaming = import_streaming()
    streaming.base.util.clean_stale_shared_memory()
    streams = [streaming.Stream(local=str(work / "streaming" / n), proportion=w) for n, w in WEIGHTS.items()]
    ds = streaming.StreamingDataset(streams=streams, batch_size=BATCH, shuffle=True, shuffle_seed=0,
                                    epoch_size=samples + 4 * BATCH)  # fmt: skip
    return torch.utils.data.DataLoader(ds, batch_size=BATCH, num_workers=0, collate_fn=collate_mds)


class HfLoader:
    def __init__(self, work: Path):
        import datasets

        parts = [datasets.load_from_disk(str(work / "hf" / n)).shuffle(seed=d) for d, n in enumerate(WEIGHTS)]
        mixed = datasets.interleave_datasets(parts, probabilities=list(WEIGHTS.values()), seed=0,
                                             stopping_strategy="all_exhausted")  # fmt: skip
        self.ds = mixed.with_format("numpy")

    def __iter__(self):
        for batch in self.ds.iter(batch_size=BATCH, drop_last_batch=True):
            yield to_batch(batch["tokens"])


def loader_hf(work: Path, setting: str, samples: int):
    return HfLoader(work)


def loader_torchdata(work: Path, setting: str, samples: int):
    import torch
    import torchdata.nodes as tn

    arrays = [np.load(work / "torchdata" / f"{n}.npy", mmap_mode="r") for n in WEIGHTS]
    sources = {}
    for d, name in enumerate(WEIGHTS):
        sampler = torch.utils.data.RandomSampler(range(len(arrays[d])), generator=torch.Generator().manual_seed(d))
        sources[name] = tn.Mapper(tn.SamplerWrapper(sampler), lambda i, d=d: (d, i))
    mixed = tn.MultiNodeWeightedSampler(sources, dict(WEIGHTS), stop_criteria="CYCLE_FOREVER", seed=0)
    rows = tn.ParallelMapper(mixed, lambda di: np.array(arrays[di[0]][di[1]]), num_workers=2, method="thread")
    return tn.Loader(tn.Mapper(tn.Batcher(rows, BATCH), collate_rows))


def loader_litdata(work: Path, setting: str, samples: int):
    import litdata
    from litdata.streaming.item_loader import TokensLoader

    parts = [litdata.StreamingDataset(str(work / "litdata" / n), item_loader=TokensLoader(block_size=SEQ + 1),
                                      shuffle=True, seed=d) for d, n in enumerate(WEIGHTS)]  # fmt: skip
    mixed = litdata.CombinedStreamingDataset(parts, seed=0, weights=list(WEIGHTS.values()), iterate_over_all=False)
    return litdata.StreamingDataLoader(mixed, batch_size=BATCH, num_workers=0, collate_fn=to_batch_stack,
                                       drop_last=True)  # fmt: skip


def to_batch_stack(items: list) -> dict:
    import torch

    return to_batch(torch.stack(items))


# -- curator -----------------------------------------------------------------------------------------------

CURATOR_SETTINGS = {
    "in-loop": {"num_workers": 0},
    "thread x2": {"num_workers": 2, "backend": "thread", "prefetch": 2},
    "process x2": {"num_workers": 2, "backend": "process", "prefetch": 2},
}


def loader_curator(work: Path, setting: str, samples: int):
    from curator.loader.dataset import MixtureLoader

    store = work / ("curator_big" if setting.endswith("4x store") else "curator")
    kwargs = CURATOR_SETTINGS[setting.removesuffix(", 4x store")]
    in_flight = kwargs.get("num_workers", 0) * kwargs.get("prefetch", 2) if kwargs.get("backend") else 2
    mixture = write_mixture(work / f"mixture-{os.getpid()}.yaml", store, horizon=in_flight + 1)
    return MixtureLoader(mixture, **kwargs)


LOADERS = {"curator": loader_curator, "streaming": loader_streaming, "hf": loader_hf,
           "torchdata": loader_torchdata, "litdata": loader_litdata}  # fmt: skip
SETTINGS = {"curator": list(CURATOR_SETTINGS), "streaming": ["1 process"], "hf": ["1 process"],
            "torchdata": ["2 threads"], "litdata": ["1 process"]}  # fmt: skip


# -- child -------------------------------------------------------------------------------------------------


def rss_anon_mb() -> float:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("RssAnon:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def child(tool: str, setting: str, work: Path, samples: int, seconds: float, out: Path) -> None:
    import torch  # noqa: F401 - imports are not timed

    make = LOADERS[tool]
    if tool == "streaming":
        import_streaming()
    elif tool == "hf":
        import datasets  # noqa: F401
    elif tool == "litdata":
        import litdata  # noqa: F401
    elif tool == "torchdata":
        import torchdata.nodes  # noqa: F401
    else:
        import curator.loader.dataset  # noqa: F401
    counts = np.zeros(len(WEIGHTS), np.int64)
    t0 = time.perf_counter()
    loader = make(work, setting, samples)
    seen, first, t_first, deadline = 0, None, None, None
    while seen < samples:
        before = seen
        for batch in loader:
            ids = batch["input_ids"]
            if len(ids) < BATCH:
                continue  # an epoch's last, partial batch (litdata's combined loader gives one despite drop_last)
            assert ids.shape == (BATCH, SEQ) and str(ids.dtype) == "torch.int64", (ids.shape, ids.dtype)
            assert batch["labels"].shape == (BATCH, SEQ)
            # a sample's domain from its tokens (each domain has its own band; EOS = 0 is below every band)
            counts += np.bincount((ids[:, :8].numpy().max(axis=1) - 1) // BAND, minlength=len(WEIGHTS))
            seen += len(ids)
            if first is None:
                t_first = time.perf_counter()
                first, deadline = t_first - t0, t_first + seconds
            if seen >= samples or time.perf_counter() > deadline:
                break
        if seen == before or time.perf_counter() > deadline:
            break  # an empty pass, or out of time
    elapsed = time.perf_counter() - t_first
    result = {
        "samples": seen,
        "rate": (seen - BATCH) / elapsed if elapsed > 0 else float("nan"),
        "first_ms": first * 1000,
        "mix": (counts / counts.sum()).tolist(),
        "anon_mb": rss_anon_mb(),
        "note": STREAMING_NOTE if tool == "streaming" else "",
    }
    if tool == "curator":
        # the same again in this process: what the first batch costs once one-off process set-up is paid
        t = time.perf_counter()
        next(iter(make(work, setting, samples)))
        result["first_again_ms"] = (time.perf_counter() - t) * 1000
        times = []
        for _ in range(100):
            t = time.perf_counter()
            loader.state_dict()
            times.append(time.perf_counter() - t)
        result["state_dict_us"] = statistics.median(times) * 1e6
    out.write_text(json.dumps(result))
    # stop readers before the interpreter exits (torchdata's ParallelMapper threads, left running after the
    # `break`, abort the process at exit: "terminate called without an active exception")
    del loader
    gc.collect()


def run_child(tool: str, setting: str, work: Path, samples: int, seconds: float) -> dict:
    out = work / f"result-{tool}.json"
    out.unlink(missing_ok=True)
    args = [sys.executable, __file__, "--child", tool, setting, str(work), str(samples), str(seconds), str(out)]
    with open(work / "child.log", "wb") as log:
        proc = subprocess.Popen(args, stdout=log, stderr=log)
        _, status, usage = os.wait4(proc.pid, 0)
    if os.waitstatus_to_exitcode(status) != 0 or not out.exists():
        lines = [line for line in (work / "child.log").read_text().splitlines() if line.strip()]
        raise RuntimeError(lines[-1][:200] if lines else f"exit status {os.waitstatus_to_exitcode(status)}")
    return {**json.loads(out.read_text()), "rss_mb": usage.ru_maxrss / 1024}


def build_child(work: Path, windows: list[int], tools: list[str], big: int) -> None:
    errors = build(work, windows, tools, big)
    # warm numba's on-disk cache of the scheduler's kernel, so no measured run pays the compilation
    from curator.loader.dataset import MixtureLoader

    next(iter(MixtureLoader(write_mixture(work / "warm.yaml", work / "curator", 3))))
    (work / "build.json").write_text(json.dumps(errors))


# -- parent ------------------------------------------------------------------------------------------------


def version(tool: str) -> str:
    try:
        return importlib.metadata.version(DISTS[tool])
    except importlib.metadata.PackageNotFoundError:
        return "not installed"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small data, short runs, 1 repeat (a smoke test)")
    parser.add_argument("--only", default="", help="comma-separated tools: curator," + ",".join(PEERS))
    parser.add_argument("--repeats", type=int, default=None)
    parser.add_argument("--samples", type=int, default=None, help="samples per measurement (default 20,000)")
    parser.add_argument("--seconds", type=float, default=None, help="time cap per measurement (default 6)")
    parser.add_argument("--windows", default=None, help="samples per domain, e.g. 4000,2400,1600")
    parser.add_argument("--child", nargs=6, help=argparse.SUPPRESS)
    parser.add_argument("--build", nargs=4, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        tool, setting, work, samples, seconds, out = args.child
        child(tool, setting, Path(work), int(samples), float(seconds), Path(out))
        return
    if args.build:
        work, windows, tools, big = args.build
        build_child(Path(work), [int(x) for x in windows.split(",")], tools.split(","), int(big))
        return

    tools = [t.strip() for t in args.only.split(",") if t.strip()] or ["curator", *PEERS]
    unknown = sorted(set(tools) - set(LOADERS))
    if unknown:
        parser.error(f"unknown tool(s) {', '.join(unknown)}; choose from curator, {', '.join(PEERS)}")
    if "curator" not in tools:
        tools.insert(0, "curator")  # the ratios are against curator
    quick = args.quick
    repeats = args.repeats or (1 if quick else 3)
    samples = args.samples or (2_000 if quick else 20_000)
    seconds = args.seconds or (2.0 if quick else 6.0)
    windows = [int(x) for x in (args.windows or ("400,240,160" if quick else "4000,2400,1600")).split(",")]
    big = 4

    work = Path(tempfile.mkdtemp(prefix="bench-loader-"))
    failed: dict[str, str] = {}
    try:
        t = time.perf_counter()
        build_args = [sys.executable, __file__, "--build", str(work), ",".join(map(str, windows)), ",".join(tools)]
        subprocess.run([*build_args, str(big)], check=True)
        failed.update(json.loads((work / "build.json").read_text()))
        print(f"data: 3 domains x {','.join(f'{w:,}' for w in windows)} samples of {SEQ + 1:,} tokens "
              f"({sum(windows) * SEQ / 1e6:.1f}M tokens, uint16), weights {'/'.join(map(str, WEIGHTS.values()))}, "
              f"batch {BATCH}; every format written in {time.perf_counter() - t:.0f} s")  # fmt: skip
        print(f"each run: up to {samples:,} samples or {seconds:g} s; median of {repeats}; "
              f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f} at start")  # fmt: skip
        runs = [(t, s) for t in tools for s in SETTINGS[t]]
        runs.append(("curator", "in-loop, 4x store"))
        results: dict[tuple[str, str], dict] = {}
        for tool, setting in runs:
            if tool in failed:
                continue
            got = []
            try:
                for _ in range(repeats):
                    got.append(run_child(tool, setting, work, samples, seconds))
            except Exception as exc:
                failed[tool if tool != "curator" else f"curator {setting}"] = str(exc)
                continue
            med = {k: statistics.median(r[k] for r in got) for k in ("rate", "first_ms", "rss_mb", "anon_mb")}
            for key in ("state_dict_us", "first_again_ms"):
                if key in got[0]:
                    med[key] = statistics.median(r[key] for r in got)
            med["mix"] = got[0]["mix"]
            med["note"] = got[0]["note"]
            results[(tool, setting)] = med
        report(results, failed, tools)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def report(results: dict, failed: dict, tools: list[str]) -> None:
    in_process = [r["rate"] for (t, s), r in results.items() if t == "curator" and "process" not in s and "4x" not in s]
    base = max(in_process) if in_process else float("nan")
    print(f"\n{'tool':<11}{'version':<10}{'setting':<19}{'samples/s':>10}{'first ms':>10}{'peak RSS MB':>12}"
          f"{'anon MB':>9}{'vs curator':>11}  mix")  # fmt: skip
    for (tool, setting), r in results.items():
        mix = "/".join(f"{100 * x:.0f}" for x in r["mix"])
        print(f"{tool:<11}{version(tool):<10}{setting:<19}{r['rate']:>10,.0f}{r['first_ms']:>10.1f}{r['rss_mb']:>12.0f}"
              f"{r['anon_mb']:>9.0f}{r['rate'] / base:>10.2f}x  {mix}")  # fmt: skip
    for tool, why in failed.items():
        print(f"{tool:<11}{version(tool.split()[0]):<10}FAILED: {why}")
    notes = [r["note"] for r in results.values() if r.get("note")]
    for note in dict.fromkeys(notes):
        print(f"note: {note}")
    peers = {t: r["rate"] for (t, _), r in results.items() if t != "curator"}
    print()
    if peers:
        best = max(peers, key=peers.get)
        ratio = base / peers[best]
        print(f"curator (best in one process) / best peer ({best}) = {ratio:.1f}x samples/s  [goal >= 3x: "
              f"{'met' if ratio >= 3 else 'NOT met'}]")  # fmt: skip
    print(f"curator samples/s: {base:,.0f}  [goal >= 20,000: {'met' if base >= 20_000 else 'NOT met'}]")
    firsts = {s: r["first_ms"] for (t, s), r in results.items() if t == "curator"}
    worst = max(firsts.values()) if firsts else float("nan")
    shown = ", ".join(f"{s} {v:.1f}" for s, v in firsts.items())
    print(f"curator first batch ms: {shown}  [goal < 50 ms: {'met' if worst < 50 else 'NOT met'}]")
    again = ", ".join(f"{s} {r['first_again_ms']:.1f}" for (t, s), r in results.items() if "first_again_ms" in r)
    print(f"  a second loader in the same process, construction to first batch, ms: {again}")
    sd = [r["state_dict_us"] for (t, _), r in results.items() if "state_dict_us" in r]
    if sd:
        print(f"curator state_dict(): median of 100 calls, median over settings {statistics.median(sd):.1f} us  "
              f"[goal < 1 ms: {'met' if max(sd) < 1000 else 'NOT met'}]")  # fmt: skip
    small, large = results.get(("curator", "in-loop")), results.get(("curator", "in-loop, 4x store"))
    if small and large:
        print(f"curator memory, 1x -> 4x store (in-loop): peak RSS {small['rss_mb']:.0f} -> {large['rss_mb']:.0f} MB, "
              f"anonymous {small['anon_mb']:.0f} -> {large['anon_mb']:.0f} MB")  # fmt: skip


if __name__ == "__main__":
    main()
