"""model_loss scoring speed: tokens per CPU-second and padding waste, curator's length-sorted micro-batches vs a
naive per-document loop, batches in input order, and Hugging Face `transformers`-style batched scoring.

  python benchmarks/model_loss.py [--checkpoint runs/loss-exp/proxy] [--docs 1500] [--repeats 3]

Defaults use the experiment's files (python benchmarks/loss_selection.py makes them): its proxy checkpoint (the
recipe GPT: d_model 64, 2 layers, seq_len 256), tokenizer and pool. One torch thread; CPU time = user + sys of
this process (time.process_time); the documents are tokenised once, outside the timed part, for every method.
HF: `PreTrainedTokenizerFast.pad` (padding="longest") over fixed batches of documents in input order, each
document truncated to seq_len + 1 tokens as HF scoring does (`truncation=True, max_length`), the same torch
model, labels -100 on padding; its tokens scored are therefore fewer (only each document's first window).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

ROOT = Path("runs/loss-exp")


def naive(model, docs: list[np.ndarray]) -> tuple[int, int]:
    """One forward pass per window of each document, no padding."""
    seq = model.config.seq_len
    real = 0
    with torch.inference_mode():
        for ids in docs:
            for a in range(0, len(ids) - 1, seq):
                piece = torch.from_numpy(ids[a : a + seq + 1])
                F.cross_entropy(model(piece[None, :-1])[0], piece[1:], reduction="sum")
                real += len(piece) - 1
    return real, real


def curator_scoring(sort: bool, batch_tokens: int):
    from curator.score.scorer import score_tokens

    def run(model, docs):
        r = score_tokens(model, docs, batch_tokens=batch_tokens, sort=sort)
        return r.real_tokens, r.padded_tokens

    return run


def hf_scoring(tokenizer_file: Path, batch_docs: int):
    """transformers' padding over input-order batches, truncated to one window per document."""
    from transformers import PreTrainedTokenizerFast

    tok = PreTrainedTokenizerFast(tokenizer_file=str(tokenizer_file), pad_token="<|endoftext|>")

    def run(model, docs):
        seq = model.config.seq_len
        real = padded = 0
        with torch.inference_mode():
            for b in range(0, len(docs), batch_docs):
                ids = [d[: seq + 1].tolist() for d in docs[b : b + batch_docs] if len(d) >= 2]
                enc = tok.pad({"input_ids": ids}, padding="longest", return_tensors="pt")
                x, mask = enc["input_ids"], enc["attention_mask"]
                labels = x[:, 1:].masked_fill(mask[:, 1:] == 0, -100)
                logits = model(x[:, :-1])
                F.cross_entropy(logits.flatten(0, 1), labels.flatten(), ignore_index=-100, reduction="none")
                real += int((labels != -100).sum())
                padded += labels.numel()
        return real, padded

    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--checkpoint", default=str(ROOT / "proxy"))
    parser.add_argument("--tokenizer", default=str(ROOT / "tokenizer.json"))
    parser.add_argument("--input", default=str(ROOT / "pool" / "output" / "*.parquet"))
    parser.add_argument("--docs", type=int, default=1500)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--batch-tokens", type=int, default=1024)
    args = parser.parse_args()

    from curator.buckets.tokenizer import load_tokenizer
    from curator.pipeline.side_input import side_input_batches
    from curator.score.scorer import load_model

    torch.set_num_threads(1)
    model, info = load_model(args.checkpoint)
    tok = load_tokenizer(args.tokenizer)
    eos = tok.token_to_id("<|endoftext|>")
    texts: list[str] = []
    for batch in side_input_batches(args.input):
        texts += batch.column("text").to_pylist()
        if len(texts) >= args.docs:
            break
    docs = [np.array(e.ids + [eos], np.int64) for e in tok.encode_batch(texts[: args.docs], add_special_tokens=False)]
    n_tok = sum(len(d) for d in docs)
    print(
        f"{len(docs):,} documents, {n_tok:,} tokens (median {int(np.median([len(d) for d in docs]))}); model "
        f"{model.num_parameters():,} parameters, seq_len {info.model.seq_len}, vocab {info.model.vocab_size}; 1 thread"
    )
    methods = {
        "naive per-document loop": naive,
        "batches in input order": curator_scoring(False, args.batch_tokens),
        "curator (length-sorted)": curator_scoring(True, args.batch_tokens),
    }
    try:
        import transformers

        methods[f"HF transformers {transformers.__version__} pad, 16 docs/batch"] = hf_scoring(Path(args.tokenizer), 16)
    except ImportError as exc:
        print(f"HF transformers not installed ({exc}): pip install transformers -c constraints.txt")
    rows = {}
    for name, fn in methods.items():
        speeds = []
        for _ in range(args.repeats):
            c0 = time.process_time()
            real, padded = fn(model, docs)
            speeds.append(real / (time.process_time() - c0))
        rows[name] = (real, padded, statistics.median(speeds))
    ours = rows["curator (length-sorted)"][2]
    print(
        f"\n| method | tokens scored | positions computed | padding waste | tokens/CPU-s (median of {args.repeats}) "
        "| vs curator |"
    )
    print("|---|---:|---:|---:|---:|---:|")
    for name, (real, padded, speed) in rows.items():
        print(f"| {name} | {real:,} | {padded:,} | {1 - real / padded:.1%} | {speed:,.0f} | {speed / ours:.2f}x |")


if __name__ == "__main__":
    main()
