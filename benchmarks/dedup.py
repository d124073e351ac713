"""Dedup benchmark: curator vs datasketch (MinHash + MinHashLSH) vs datatrove's MinHash stages.

Corpus: the sample corpus cut into 80-400-word documents, cleaned of its own near-duplicates (curator at a
permissive 64x2 / J>=0.2 setting, so the bases are distinct for every tool), then injected with exact copies,
case/whitespace variants, near copies at 1-15% word edits and 3-copy chains (`curator.dedup.inject`), so the
ground truth is known. All tools use word 5-grams, 128 permutations and 42 bands x 3 rows (curator
also verifies each candidate pair at estimated J >= 0.35, its default, then clusters star (default) or
transitive).

Every measurement runs in its own child process. "docs/CPU-s" of signatures is the signature kernel alone,
on texts already in memory (process_time around it); end-to-end rows use the child's user+sys CPU
(os.wait4) and peak RSS. Precision/recall are per family (a base and its injected copies): a dropped
document is correct while its family still has another member kept.

    python benchmarks/dedup.py [--docs 30000] [--repeats 3]       (needs `pip install -e '.[bench]'`)
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

NGRAM, NUM_PERM, BANDS, ROWS = 5, 128, 42, 3


# -- corpus ------------------------------------------------------------------------------------------------


def load_jsonl(folder: Path) -> list[dict]:
    import orjson
    import zstandard

    docs = []
    for f in sorted(folder.glob("*.jsonl*")):
        raw = f.read_bytes()
        if f.suffix == ".zst":
            raw = zstandard.ZstdDecompressor().stream_reader(raw).read()
        for line in raw.splitlines():
            try:
                d = orjson.loads(line)
            except orjson.JSONDecodeError:
                continue
            if isinstance(d, dict) and isinstance(d.get("text"), str):
                docs.append(d)
    return docs


def cut_documents(docs: list[dict], seed: int) -> list[dict]:
    """Whole lines gathered into documents of 80-400 words (web-page sized)."""
    rng = random.Random(seed)
    out = []
    for d in docs:
        lines, words, target = [], 0, rng.randint(80, 400)
        for line in d["text"].splitlines():
            lines.append(line)
            words += len(line.split())
            if words >= target:
                out.append({"id": f"b{len(out):07d}", "text": "\n".join(lines)})
                lines, words, target = [], 0, rng.randint(80, 400)
        if words >= 80:
            out.append({"id": f"b{len(out):07d}", "text": "\n".join(lines)})
    return out


def build_corpus(workdir: Path, n_docs: int) -> Path:
    from curator.dedup.inject import InjectionPlan, inject_duplicates
    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.executor import run_pipeline
    from curator.sample import build_sample
    from tests.conftest import write_jsonl

    corpus = workdir / f"corpus-{n_docs}"
    if (corpus / "truth.json").exists():
        return corpus
    sample = workdir / "sample"
    build_sample(sample, max_docs=10_000_000, max_mb=150, shard_docs=2000)
    pieces = cut_documents(load_jsonl(sample), seed=0)
    random.Random(1).shuffle(pieces)
    pieces = pieces[: int(n_docs * 1.3)]
    raw = workdir / f"raw-{n_docs}"
    write_jsonl(raw / "part-0.jsonl", pieces)
    clean = parse_pipeline(
        {
            "inputs": [{"path": str(raw)}],
            "steps": ["exact_dedup", {"minhash_dedup": {"bands": 64, "rows": 2, "threshold": 0.2}}],
        }
    )
    run_pipeline(clean, workdir / f"clean-{n_docs}", overwrite=True, quiet=True)
    import pyarrow.parquet as pq

    kept = set(pq.read_table(workdir / f"clean-{n_docs}" / "output", columns=["id"]).column("id").to_pylist())
    bases = [d for d in pieces if d["id"] in kept][:n_docs]
    injected = inject_duplicates(bases, InjectionPlan(), seed=2)
    for k in range(0, len(injected.docs), 1000):  # fixed-size shards: batch memory does not grow with the corpus
        write_jsonl(corpus / f"part-{k // 1000:04d}.jsonl", injected.docs[k : k + 1000])
    (corpus / "truth.json").write_text(json.dumps({"truth": injected.truth, "kind": injected.kind}))
    shutil.rmtree(raw)
    shutil.rmtree(workdir / f"clean-{n_docs}")
    return corpus


def score(dropped: set[str], corpus: Path, all_ids: list[str]) -> dict:
    """Per-family precision/recall: each family of k members needs k-1 removals."""
    truth = json.loads((corpus / "truth.json").read_text())["truth"]
    fam = {i: truth.get(i, i) for i in all_ids}
    size: dict[str, int] = {}
    for f in fam.values():
        size[f] = size.get(f, 0) + 1
    removed: dict[str, int] = {}
    for i in dropped:
        removed[fam[i]] = removed.get(fam[i], 0) + 1
    tp = sum(min(n, size[f] - 1) for f, n in removed.items())
    needed = sum(s - 1 for s in size.values())
    p = tp / len(dropped) if dropped else 1.0
    r = tp / needed if needed else 1.0
    return {"dropped": len(dropped), "needed": needed, "precision": p, "recall": r, "f1": 2 * p * r / (p + r or 1)}


# -- children: each writes a JSON result -------------------------------------------------------------------


_WORD = __import__("re").compile(r"\w+")


def words(text: str) -> list[str]:
    """The peers' tokenizer: lowercase, then \\w+ runs (what curator's kernel computes, in plain Python)."""
    return _WORD.findall(text.lower())


def child_sig_curator(corpus: Path, out: Path) -> dict:
    import pyarrow as pa

    from curator.dedup.minhash import MinHashScheme

    texts = [d["text"] for d in load_jsonl(corpus)]
    scheme = MinHashScheme(NUM_PERM, NGRAM, 1, BANDS, ROWS)
    scheme.signatures(pa.array(texts[:10]))  # compile/load outside the timing
    arrays = [pa.array(texts[i : i + 8192]) for i in range(0, len(texts), 8192)]
    t = time.process_time()
    for arr in arrays:
        scheme.signatures(arr)
    return {"docs": len(texts), "cpu": time.process_time() - t, "mb": sum(len(x.encode()) for x in texts) / 1e6}


def child_sig_datasketch(corpus: Path, out: Path) -> dict:
    from datasketch import MinHash

    texts = [d["text"] for d in load_jsonl(corpus)]
    t = time.process_time()
    for text in texts:
        w = words(text)
        shingles = {" ".join(w[i : i + NGRAM]).encode() for i in range(max(1, len(w) - NGRAM + 1))}
        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch(shingles)
    return {"docs": len(texts), "cpu": time.process_time() - t, "mb": sum(len(x.encode()) for x in texts) / 1e6}


def _datatrove_config():
    from datatrove.pipeline.dedup.minhash import MinhashConfig

    return MinhashConfig(n_grams=NGRAM, num_buckets=BANDS, hashes_per_bucket=ROWS)


def _regex_tokenizer():
    from datatrove.utils.word_tokenizers import WordTokenizer

    class RegexWords(WordTokenizer):  # nltk's punkt cannot be downloaded offline; same words as curator
        def word_tokenize(self, text):
            return words(text)

        def sent_tokenize(self, text):
            return [text]

        def span_tokenize(self, text):
            return [(0, len(text))]

    return RegexWords()


def child_sig_datatrove(corpus: Path, out: Path) -> dict:
    from datatrove.data import Document
    from datatrove.pipeline.dedup.minhash import MinhashDedupSignature

    docs = load_jsonl(corpus)
    step = MinhashDedupSignature(str(out / "sigs"), config=_datatrove_config(), language=_regex_tokenizer())
    t = time.process_time()
    for d in docs:
        step.get_signature(step.get_shingles(Document(text=d["text"], id=d["id"]).text))
    return {"docs": len(docs), "cpu": time.process_time() - t, "mb": sum(len(d["text"].encode()) for d in docs) / 1e6}


def child_dedup_datasketch(corpus: Path, out: Path) -> dict:
    """Typical datasketch use: MinHash per document, then query-then-insert into MinHashLSH (keep first)."""
    from datasketch import MinHash, MinHashLSH

    docs = load_jsonl(corpus)
    lsh = MinHashLSH(num_perm=NUM_PERM, params=(BANDS, ROWS))
    dropped = set()
    for d in docs:
        w = words(d["text"])
        m = MinHash(num_perm=NUM_PERM, seed=1)
        m.update_batch({" ".join(w[i : i + NGRAM]).encode() for i in range(max(1, len(w) - NGRAM + 1))})
        if lsh.query(m):
            dropped.add(d["id"])
        else:
            lsh.insert(d["id"], m)
    return score(dropped, corpus, [d["id"] for d in docs])


def child_dedup_datatrove(corpus: Path, out: Path) -> dict:
    from datatrove.executor import LocalPipelineExecutor
    from datatrove.pipeline.dedup.minhash import (
        MinhashDedupBuckets,
        MinhashDedupCluster,
        MinhashDedupFilter,
        MinhashDedupSignature,
    )
    from datatrove.pipeline.readers import JsonlReader
    from datatrove.pipeline.writers import JsonlWriter

    cfg = _datatrove_config()
    tok = _regex_tokenizer()

    def reader():
        return JsonlReader(str(corpus), glob_pattern="*.jsonl", id_key="id")

    stages = [
        [reader(), MinhashDedupSignature(str(out / "sigs"), config=cfg, language=tok)],
        [MinhashDedupBuckets(str(out / "sigs"), str(out / "buckets"), config=cfg)],
        [MinhashDedupCluster(str(out / "buckets"), str(out / "remove"), config=cfg)],
        [
            reader(),
            MinhashDedupFilter(
                str(out / "remove"), exclusion_writer=JsonlWriter(str(out / "removed"), compression=None)
            ),
        ],
    ]
    tasks = {0: 1, 1: BANDS, 2: 1, 3: 1}
    for i, pipeline in enumerate(stages):
        LocalPipelineExecutor(pipeline, tasks=tasks[i], workers=1, logging_dir=str(out / f"logs{i}")).run()
    dropped = {d["id"] for d in load_jsonl(out / "removed")}
    return score(dropped, corpus, [d["id"] for d in load_jsonl(corpus)])


def _curator_run(corpus: Path, out: Path, steps: list) -> dict:
    import pyarrow.parquet as pq

    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.executor import run_pipeline

    config = parse_pipeline({"inputs": [{"path": str(corpus), "format": "jsonl"}], "steps": steps})
    run_pipeline(config, out / "run", workers=1, quiet=True)
    stats = pq.read_table(out / "run" / "stats" / "docs.parquet", columns=["id", "kept"]).to_pylist()
    dropped = {r["id"] for r in stats if not r["kept"]}
    return score(dropped, corpus, [r["id"] for r in stats])


def child_dedup_curator(corpus: Path, out: Path) -> dict:
    return _curator_run(corpus, out, [{"minhash_dedup": {"bands": BANDS, "rows": ROWS}}])


def child_dedup_curator_transitive(corpus: Path, out: Path) -> dict:
    step = {"minhash_dedup": {"bands": BANDS, "rows": ROWS, "clustering": "transitive"}}
    return _curator_run(corpus, out, [step])


def child_dedup_curator_full(corpus: Path, out: Path) -> dict:
    return _curator_run(corpus, out, ["exact_dedup", {"minhash_dedup": {"bands": BANDS, "rows": ROWS}}])


def _exact_result(texts: list[str], cpu: float, dups: int) -> dict:
    return {"docs": len(texts), "cpu": cpu, "mb": sum(len(x.encode()) for x in texts) / 1e6, "dups": dups}


def child_exact_curator(corpus: Path, out: Path) -> dict:
    """Exact-dedup kernel on in-memory Arrow text: NFKC (non-ASCII rows) + 128-bit key + global grouping."""
    import numpy as np
    import pyarrow as pa

    from curator.dedup.exact import ExactDedup

    texts = [d["text"] for d in load_jsonl(corpus)]
    arrays = [pa.array(texts[i : i + 8192]) for i in range(0, len(texts), 8192)]
    step = ExactDedup()
    step.hashes(arrays[0].slice(0, 5))
    t = time.process_time()
    keys = [step.hashes(a) for a in arrays]
    h1 = np.concatenate([k[0] for k in keys])
    h2 = np.concatenate([k[1] for k in keys])
    order = np.lexsort((np.arange(len(h1)), h2, h1))
    first = np.ones(len(h1), bool)
    first[1:] = (h1[order][1:] != h1[order][:-1]) | (h2[order][1:] != h2[order][:-1])
    return _exact_result(texts, time.process_time() - t, int((~first).sum()))


def child_exact_polars(corpus: Path, out: Path) -> dict:
    import polars as pl

    texts = [d["text"] for d in load_jsonl(corpus)]
    s = pl.Series("text", texts)
    t = time.process_time()
    key = s.str.to_lowercase().str.replace_all(r"\s+", " ").str.strip_chars().hash()
    first = key.is_first_distinct()
    return _exact_result(texts, time.process_time() - t, int((~first).sum()))


def peak_rss_mb() -> float:
    """This process's own high-water RSS (VmHWM): unlike ru_maxrss it does not carry the parent's size from
    before exec."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


CHILDREN = {name[len("child_") :]: fn for name, fn in globals().items() if name.startswith("child_")}


def measure(kind: str, corpus: Path) -> dict:
    """Run one child; its result plus the process's CPU-s (user+sys) and peak RSS in MB."""
    out = Path(tempfile.mkdtemp(prefix=f"bench-{kind}-"))
    try:
        with open(out / "child.log", "wb") as log:
            proc = subprocess.Popen(
                [sys.executable, __file__, "--child", kind, str(corpus), str(out)], stdout=log, stderr=log
            )
            _, status, usage = os.wait4(proc.pid, 0)
        if os.waitstatus_to_exitcode(status) != 0:
            sys.stderr.write((out / "child.log").read_text()[-4000:])
            raise SystemExit(f"{kind} child failed")
        result = json.loads((out / "result.json").read_text())
        result["process_cpu"] = usage.ru_utime + usage.ru_stime
        result["rss_mb"] = result.get("peak_rss_mb", usage.ru_maxrss / 1024)
        return result
    finally:
        shutil.rmtree(out, ignore_errors=True)


def median_of(kind: str, corpus: Path, repeats: int, key: str) -> dict:
    runs = [measure(kind, corpus) for _ in range(repeats)]
    runs.sort(key=lambda r: r[key])
    return runs[len(runs) // 2]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--docs", type=int, default=30_000, help="distinct base documents before injection")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workdir", type=Path, default=Path("data/bench-dedup"))
    ap.add_argument("--skip", nargs="*", default=[], help="children to skip, e.g. dedup_datatrove")
    ap.add_argument("--child", nargs=3, metavar=("KIND", "CORPUS", "OUT"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        kind, corpus, out = args.child
        result = CHILDREN[kind](Path(corpus), Path(out))
        result["peak_rss_mb"] = peak_rss_mb()
        (Path(out) / "result.json").write_text(json.dumps(result))
        return
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    small = build_corpus(args.workdir, args.docs // 3)
    corpus = build_corpus(args.workdir, args.docs)
    n_all = len(load_jsonl(corpus))
    n_injected = len(json.loads((corpus / "truth.json").read_text())["truth"])
    print(f"corpus: {n_all - n_injected:,} distinct bases + {n_injected:,} injected copies = {n_all:,} documents")

    print(f"\nMinHash signatures ({NUM_PERM} perms, word {NGRAM}-grams), kernel only, median of {args.repeats}")
    sig = {}
    for tool in ("curator", "datasketch", "datatrove"):
        if f"sig_{tool}" in args.skip:
            continue
        r = median_of(f"sig_{tool}", corpus, args.repeats, "cpu")
        sig[tool] = r["docs"] / r["cpu"]
        print(f"  {tool:<11} {r['docs'] / r['cpu']:>10,.0f} docs/CPU-s {r['mb'] / r['cpu']:>8.1f} MB/CPU-s")
    for tool in ("datasketch", "datatrove"):
        if tool in sig and "curator" in sig:
            print(f"  curator / {tool}: {sig['curator'] / sig[tool]:.1f}x (target >= 5x)")

    print(f"\nNear-dedup end to end ({BANDS} bands x {ROWS} rows), one process each")
    print(f"  {'tool':<28} {'CPU-s':>7} {'docs/CPU-s':>10} {'peak MB':>8} {'dropped':>8} {'P':>7} {'R':>7} {'F1':>7}")
    labels = {
        "dedup_curator": "curator minhash (star)",
        "dedup_curator_transitive": "curator minhash (transitive)",
        "dedup_curator_full": "curator exact + minhash",
        "dedup_datasketch": "datasketch MinHashLSH",
        "dedup_datatrove": "datatrove 4 stages",
    }
    needed = 0
    for kind, label in labels.items():
        if kind in args.skip:
            continue
        r = measure(kind, corpus)
        print(
            f"  {label:<28} {r['process_cpu']:>7.1f} {n_all / r['process_cpu']:>10,.0f} {r['rss_mb']:>8.0f} "
            f"{r['dropped']:>8,} {r['precision']:>7.4f} {r['recall']:>7.4f} {r['f1']:>7.4f}"
        )
        needed = r["needed"]
    if labels.keys() - set(args.skip):
        print(f"  (documents to remove per the ground truth: {needed:,})")

    print("\nPeak memory of curator exact + minhash at two sizes (one process, whole run)")
    points = []
    for c in (small, corpus):
        n = len(load_jsonl(c))
        r = measure("dedup_curator_full", c)
        points.append((n, r["rss_mb"]))
        print(f"  {n:>9,} docs: {r['rss_mb']:>7.0f} MB")
    (n1, m1), (n2, m2) = points
    slope = (m2 - m1) / (n2 - n1) * 1e6 / 1024
    print(f"  marginal: {slope:.2f} GB per million documents (target <= 0.7)")

    print(f"\nExact dedup kernel (normalise + hash + group), median of {args.repeats}")
    for kind in ("exact_curator", "exact_polars"):
        r = median_of(kind, corpus, args.repeats, "cpu")
        print(f"  {kind:<15} {r['mb'] / r['cpu']:>8.1f} MB/CPU-s  {r['dups']:>6,} duplicates found")
    print("  target: curator >= 50 MB/CPU-s")


if __name__ == "__main__":
    main()
