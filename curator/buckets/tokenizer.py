"""Train and load byte-level BPE tokenizers (Hugging Face `tokenizers`), offline and deterministic.

Training memory is bounded by the trainer's word counts (distinct pre-tokenised words), not the corpus:
texts stream in one reader batch at a time.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa

from curator.errors import ConfigError

EOS_TOKEN = "<|endoftext|>"
HOW_TO_TRAIN = "train one with `curator tokenizer train DATA --out tokenizer.json`"


def train_tokenizer(
    batches: Iterable[pa.RecordBatch],
    out: str | Path,
    vocab_size: int = 8192,
    min_frequency: int = 2,
    special_tokens: tuple[str, ...] = (EOS_TOKEN,),
    max_docs: int | None = None,
) -> dict:
    """Train a byte-level BPE (GPT-2 style: no unknown tokens) on the `text` column; write tokenizer.json."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    if vocab_size < 256 + len(special_tokens):
        raise ConfigError(f"vocab_size {vocab_size} is below the 256 byte symbols + {len(special_tokens)} special")
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=list(special_tokens),
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    seen = {"docs": 0}

    def texts() -> Iterator[list[str]]:
        for batch in batches:
            col = batch.column("text")
            if max_docs is not None:
                col = col.slice(0, max(max_docs - seen["docs"], 0))
            if len(col) == 0:
                return
            seen["docs"] += len(col)
            yield col.to_pylist()

    tok.train_from_iterator(texts(), trainer=trainer)
    if seen["docs"] == 0:
        raise ConfigError("no documents to train the tokenizer on")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(".tmp-" + out.name)
    tok.save(str(tmp))
    tmp.replace(out)
    return {"docs": seen["docs"], "vocab_size": tok.get_vocab_size(), "path": str(out)}


def load_tokenizer(path: str | Path):
    """A `tokenizers.Tokenizer` from a tokenizer.json; a clear error when the file is missing or not one."""
    from tokenizers import Tokenizer

    path = Path(path)
    if not path.is_file():
        raise ConfigError(f"tokenizer file '{path}' not found; {HOW_TO_TRAIN}")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as exc:  # tokenizers raises a bare Exception on a malformed file
        raise ConfigError(f"'{path}' is not a tokenizer.json file: {exc}") from None


def eos_id(tokenizer, eos_token: str | None) -> int:
    """The id of `eos_token` (default: <|endoftext|>, else </s>, else <eos>); an error names the candidates."""
    candidates = [eos_token] if eos_token else [EOS_TOKEN, "</s>", "<eos>"]
    for token in candidates:
        tid = tokenizer.token_to_id(token)
        if tid is not None:
            return tid
    specials = [t.content for t in tokenizer.get_added_tokens_decoder().values()]
    raise ConfigError(f"the tokenizer has no end-of-document token {candidates}; its special tokens: {specials}")


def token_dtype(vocab_size: int) -> np.dtype:
    """uint16 when every id fits (vocab <= 65,536), else uint32."""
    return np.dtype(np.uint16) if vocab_size <= 1 << 16 else np.dtype(np.uint32)
