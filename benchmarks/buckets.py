"""Tokenisation + Dataset Decomposition benchmark, and the packing report at 2,048 and 8,192 on the sample.

Corpus: the sample corpus (`curator sample`, built if missing); tokenizer: a byte-level BPE with 8,192
tokens trained here on it (`curator tokenizer train`). Rows, tokens per CPU-second (process CPU time, all
threads), median of --repeats:

  tokenise   HF tokenizers `encode` per document (the usual script); HF `encode_batch` (the library's
             batch path, ids as Python lists); curator's `tokenize` step on Arrow batches (ids + EOS into
             an Arrow list column: what later steps receive)
  decompose  a per-document Python implementation (binary split, piece slicing, per-bucket lists -> numpy:
             the shape of the reference code); curator's `dataset_decomposition` on the same token column
             (compiled split, vectorised gather, shards written to disk)
  pipeline   `curator run` with tokenize + dataset_decomposition, one worker (child CPU time)

Then, for context 2,048 and 8,192, the report of `curator buckets report` over the run: padding, tokens
dropped, cross-document attention and attention cost relative to causal concat-and-chunk.

    python benchmarks/buckets.py [--repeats 3]
"""

from __future__ import annotations

import argparse
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow as pa

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from dedup import load_jsonl  # noqa: E402

SAMPLE = HERE.parent / "data" / "sample"
MIN_B, MAX_B = 8, 13


def cpu() -> float:
    return time.process_time()


def median_rate(fn, tokens: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t = cpu()
        fn()
        times.append(cpu() - t)
    return tokens / statistics.median(times)


def python_decompose(token_lists: list[list[int]], min_b: int, max_b: int) -> dict[int, np.ndarray]:
    """Per-document reference: full max pieces, then one piece per set bit, largest first; short tail dropped."""
    buckets: dict[int, list[list[int]]] = {i: [] for i in range(min_b, max_b + 1)}
    for ids in token_lists:
        pos, n = 0, len(ids)
        while n - pos >= 1 << max_b:
            buckets[max_b].append(ids[pos : pos + (1 << max_b)])
            pos += 1 << max_b
        rest = n - pos
        for i in range(max_b, min_b - 1, -1):
            if rest & (1 << i):
                buckets[i].append(ids[pos : pos + (1 << i)])
                pos += 1 << i
    return {i: np.array(v, dtype=np.uint16) for i, v in buckets.items() if v}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()

    from curator.buckets.dd_step import DatasetDecomposition
    from curator.buckets.report import bucket_report, markdown
    from curator.buckets.tokenize import Tokenize
    from curator.buckets.tokenizer import load_tokenizer, train_tokenizer
    from curator.pipeline.side_input import side_input_batches
    from curator.pipeline.step import StepContext

    if not (SAMPLE / "MANIFEST.json").exists():
        from curator.sample import build_sample

        build_sample(SAMPLE)
    docs = load_jsonl(SAMPLE)
    texts = [d["text"] for d in docs]
    tmp = Path(tempfile.mkdtemp(prefix="curator-bench-buckets-"))
    tok_path = tmp / "tokenizer.json"
    t = cpu()
    train_tokenizer(side_input_batches(str(SAMPLE / "*.jsonl.zst")), tok_path, vocab_size=8192)
    train_cpu = cpu() - t
    tok = load_tokenizer(tok_path)
    eos = tok.token_to_id("<|endoftext|>")
    token_lists = [e.ids + [eos] for e in tok.encode_batch_fast(texts, add_special_tokens=False)]
    n_tokens = sum(len(x) for x in token_lists)
    mb = sum(len(x.encode()) for x in texts) / 1e6
    print(
        f"corpus: {len(texts):,} documents, {mb:.1f} MB, {n_tokens:,} tokens "
        f"(vocab 8,192; tokenizer trained in {train_cpu:.1f} CPU-s)"
    )

    batch = pa.RecordBatch.from_pydict(
        {
            "id": [d.get("id", str(i)) for i, d in enumerate(docs)],
            "source": [d.get("source", "") for d in docs],
            "text": texts,
        }  # fmt: skip
    )
    step = Tokenize(tokenizer=str(tok_path))
    step.setup(StepContext(run_dir=str(tmp)))
    rows = [
        ("tokenise", "HF tokenizers encode, per document",
         median_rate(lambda: [tok.encode(x, add_special_tokens=False).ids for x in texts], n_tokens, args.repeats)),
        ("tokenise", "HF tokenizers encode_batch",
         median_rate(lambda: [e.ids for e in tok.encode_batch(texts, add_special_tokens=False)], n_tokens,
                     args.repeats)),
        ("tokenise", "curator tokenize step (Arrow)", median_rate(lambda: step.process(batch), n_tokens, args.repeats)),
    ]  # fmt: skip
    tokenised = step.process(batch)

    def curator_dd():
        dd = DatasetDecomposition(min_bucket=MIN_B, max_bucket=MAX_B)
        dd.setup(StepContext(task=0, run_dir=str(tmp / "dd")))
        for _ in dd(iter([tokenised])):
            pass

    rows += [
        ("decompose", "per-document Python (reference shape)",
         median_rate(lambda: python_decompose(token_lists, MIN_B, MAX_B), n_tokens, args.repeats)),
        ("decompose", "curator dataset_decomposition (+ shards)", median_rate(curator_dd, n_tokens, args.repeats)),
    ]  # fmt: skip

    # the whole pipeline in a child process, one worker
    pipeline = tmp / "buckets.yaml"
    pipeline.write_text(
        f"name: bench-buckets\ninputs: [{{path: '{SAMPLE}/*.jsonl.zst'}}]\nsteps:\n"
        f"  - tokenize: {{tokenizer: '{tok_path}'}}\n"
        f"  - dataset_decomposition: {{min_bucket: {MIN_B}, max_bucket: {MAX_B}}}\n"
    )
    run_dir = tmp / "run"
    pipeline_rates = []
    for _ in range(args.repeats):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        subprocess.run([sys.executable, "-m", "curator", "run", str(pipeline), "--out", str(run_dir), "--overwrite",
                        "--workers", "1", "--quiet"], check=True)  # fmt: skip
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        pipeline_rates.append(n_tokens / (after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime))
    rows.append(("pipeline", "curator run: read + tokenize + decompose", statistics.median(pipeline_rates)))

    print(f"\n{'stage':<10} {'implementation':<44} {'tokens/CPU-s':>14} {'ratio':>7}")
    base = {}
    for stage, impl, rate in rows:
        base.setdefault(stage, rate)
        print(f"{stage:<10} {impl:<44} {rate:14,.0f} {rate / base[stage]:6.1f}x")

    report = bucket_report(run_dir, (2048, 8192), MIN_B)
    print("\n" + markdown(report))
    print(f"(run folder and tokenizer in {tmp})")


if __name__ == "__main__":
    main()
