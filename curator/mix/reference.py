"""Reference losses for the DoReMi policy: a `curator train` checkpoint scored on a mixture's token store.

The input is the token store a mixture was built into (`curator mixture build`): its domains are the mixture's
domains, which is what DoReMi weighs, and its documents are already tokenised with the store's tokenizer.
Each document is scored like the `model_loss` step does (curator.score.scorer: n - 1 predicted tokens, seq_len
windows); a domain's `ref_loss` is the token-weighted mean over its scored documents (sum of token losses /
tokens). Training samples are seq_len windows of the packed stream that can span documents, so the reference
is close to, not identical with, what the trainer's per-domain loss measures on the same model.
Output: `--out` (Parquet or CSV): domain, ref_loss, docs, tokens (what `read_reference_table` and
`DoReMi.from_table` read); per document: `<out stem>.docs.parquet`: domain, doc (index in the domain's stream),
loss, loss_tokens (null loss for a document of < 2 tokens).
Memory: the model, one chunk of `chunk_docs` documents' tokens and one micro-batch's logits; 8 B per document
of the largest domain (its end offsets).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from curator.errors import ConfigError
from curator.io.atomic import AtomicParquetWriter
from curator.pipeline.progress import Progress
from curator.score.scorer import load_model, score_tokens

DOCS_SCHEMA = pa.schema(
    [("domain", pa.string()), ("doc", pa.int64()), ("loss", pa.float64()), ("loss_tokens", pa.int64())]
)
TABLE_SCHEMA = pa.schema(
    [("domain", pa.string()), ("ref_loss", pa.float64()), ("docs", pa.int64()), ("tokens", pa.int64())]
)


def docs_path(out: str | Path) -> Path:
    """Where the per-document losses go next to `out`."""
    out = Path(out)
    return out.with_name(out.name.split(".")[0] + ".docs.parquet")


def check_tokenizer(store_tokenizer: dict, info, store_root: Path) -> None:
    """The store's tokenizer must fit the model's vocabulary (and be the one it trained on, when known)."""
    vocab = store_tokenizer.get("vocab_size")
    if vocab is not None and int(vocab) > info.model.vocab_size:
        raise ConfigError(
            f"token store '{store_root}' uses a tokenizer of {int(vocab):,} tokens but checkpoint {info.path} models "
            f"{info.model.vocab_size:,}; score a store built with the checkpoint's tokenizer"
        )
    trained = info.store_tokenizer()
    if trained and trained.get("sha256") and store_tokenizer.get("sha256") not in (None, trained["sha256"]):
        raise ConfigError(
            f"token store '{store_root}' was built with tokenizer {store_tokenizer.get('path')} but checkpoint "
            f"{info.path} trained on {trained.get('path')} (sha256 differs); use a store of the same tokenizer"
        )


def reference_losses(
    store: str | Path,
    checkpoint: str | Path,
    out: str | Path,
    max_docs: int | None = None,
    domains: list[str] | None = None,
    batch_tokens: int = 1024,
    device: str = "cpu",
    chunk_docs: int = 256,
    quiet: bool = False,
) -> dict[str, dict]:
    """Score the store's documents (each domain's first-to-last, or `max_docs` evenly spaced ones) and write
    the per-domain table and the per-document file; returns {domain: {ref_loss, docs, tokens}}."""
    from curator.loader.store import TokenStore

    out = Path(out)
    if out.suffix.lower() not in (".parquet", ".csv"):
        raise ConfigError(f"--out {out}: write a .parquet or .csv file (what the doremi policy reads)")
    if max_docs is not None and max_docs < 1:
        raise ConfigError(f"--max-docs must be >= 1, got {max_docs}")
    tokens_store = TokenStore(store)
    model, info = load_model(checkpoint, device)
    check_tokenizer(tokens_store.tokenizer, info, tokens_store.root)
    names = domains or tokens_store.domain_names
    for name in names:
        tokens_store.domain(name)  # an unknown domain fails before any scoring
    results: dict[str, dict] = {}
    writer = AtomicParquetWriter(docs_path(out), DOCS_SCHEMA)
    plan = []
    for name in names:
        dom = tokens_store.domain(name)
        ends = dom.doc_ends()
        picked = np.arange(len(ends))
        if max_docs is not None and max_docs < len(ends):
            picked = np.unique(np.linspace(0, len(ends) - 1, max_docs).round().astype(np.int64))
        plan.append((name, dom, ends, picked))
    chunks = sum(-(-len(picked) // chunk_docs) for *_, picked in plan)
    progress = Progress(chunks, quiet=quiet, unit="chunk", desc="reference losses")
    done = scored = 0
    try:
        for name, dom, ends, picked in plan:
            starts = np.concatenate([[0], ends[:-1]]).astype(np.int64)
            total_loss, total_tokens = 0.0, 0
            for c in range(0, len(picked), chunk_docs):
                rows = picked[c : c + chunk_docs]
                docs = [dom.read(int(starts[i]), int(ends[i] - starts[i])).astype(np.int64) for i in rows]
                res = score_tokens(model, docs, batch_tokens)
                total_loss += float(res.loss_sum.sum())
                total_tokens += int(res.tokens.sum())
                mean = res.mean_loss
                writer.write(
                    pa.table(
                        [pa.array([name] * len(rows)), pa.array(rows), pa.array(mean, mask=np.isnan(mean)),
                         pa.array(res.tokens)],
                        schema=DOCS_SCHEMA,
                    )
                )  # fmt: skip
                done += 1
                scored += len(rows)
                progress.advance(
                    done,
                    {"domain": name, "docs": f"{scored:,}"},
                    lambda n=name, k=scored: f"reference losses: {k:,} documents scored (now {n})",
                )
            results[name] = {
                "ref_loss": total_loss / total_tokens if total_tokens else float("nan"),
                "docs": int(len(picked)),
                "tokens": total_tokens,
            }
        writer.close()
    except BaseException:
        writer.abort()
        raise
    finally:
        progress.close()
    table = pa.table(
        [pa.array(list(results)), pa.array([r["ref_loss"] for r in results.values()], pa.float64()),
         pa.array([r["docs"] for r in results.values()], pa.int64()),
         pa.array([r["tokens"] for r in results.values()], pa.int64())],
        schema=TABLE_SCHEMA,
    )  # fmt: skip
    if out.suffix.lower() == ".csv":
        import pyarrow.csv as pcsv

        from curator.io.atomic import tmp_path_for

        tmp = tmp_path_for(out)
        out.parent.mkdir(parents=True, exist_ok=True)
        pcsv.write_csv(table, tmp)
        tmp.replace(out)
    else:
        w = AtomicParquetWriter(out, TABLE_SCHEMA)
        w.write(table)
        w.close()
    return results
