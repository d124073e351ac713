"""Per-document text measures for the heuristic quality rules, from compiled kernels over a whole batch.

Definitions (shared by every rule; chars are Unicode code points):
  word       a maximal run of bytes above 0x20, so ASCII whitespace and control bytes separate words (the
             same words as `n_words` of `length_filter`); a *content word* holds at least one `\\w` char,
             an *alpha word* at least one letter (`str.isalpha`)
  line       the text between two '\\n'; *blank* when it holds only whitespace (`str.isspace` or a control
             char). Line measures count non-blank lines, with that whitespace stripped from both ends
  paragraph  a maximal run of non-blank lines (blank lines separate paragraphs)
  stop word  a word, lowercased per char, with leading and trailing non-`\\w` chars removed, that is in the
             stop-word list (each listed word counts once however often it occurs)
  sentence   a terminal mark (. ! ? 。 ！ ？ ...) followed, after optional closing quotes or brackets, by
             whitespace, a control char or the end of the text

The kernels (`curator.filters.kernels`) walk a whole batch at once. Memory: the batch's text (zero-copy
views) plus, per document being measured, a few 8-byte values per word or line of that document, and the
results of the word/line and repetition kernels for one batch, shared by every rule that needs them while
the text is unchanged (`curator.text.kernel_cache`); never more than one batch.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import pyarrow as pa

from curator.filters.kernels import (  # noqa: F401 - the output column names are part of this module's API
    ALPHA_WORDS,
    BULLET_LINES,
    CHARS,
    CHARS_NO_NEWLINE,
    CONTENT_WORD_CHARS,
    CONTENT_WORDS,
    DUP_LINE_CHARS,
    DUP_LINES,
    DUP_PARA_CHARS,
    DUP_PARAS,
    ELLIPSES,
    ELLIPSIS_LINES,
    F_ALPHA,
    F_BULLET,
    F_CLOSER,
    F_LINE_END,
    F_SENTENCE_END,
    F_SPACE,
    F_WORD,
    HASHES,
    LINES,
    MAX_WORD_CHARS,
    N_REP_STATS,
    N_WORD_STATS,
    NEWLINES,
    PUNCT_LINES,
    REP_LINES,
    REP_PARAS,
    SENTENCES,
    SHORT_LINES,
    STOP_WORDS,
    WORDS,
    _ngram_stats,
    _repetition_stats,
    _word_line_stats,
)
from curator.text import kernel_cache
from curator.text.bytes import string_bytes
from curator.text.hashing import FNV_OFFSET, FNV_PRIME, fmix64_array
from curator.text.unicode import alpha_table, unicode_tables

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
BULLETS = "•‣◦●▪-*·–"  # a line starting with one of these (after whitespace) is a bullet line
LINE_END_PUNCTUATION = ".!?\"'”’»…。！？｡．؟।॥።"  # a line ending with one of these ends in punctuation
SENTENCE_END = ".!?…。！？｡؟।॥።"
CLOSERS = "\"'”’»)]"  # may follow a sentence end before the whitespace

KERNEL_RUNS: Counter[str] = Counter()  # passes of each batch kernel over text in this process (reused ones excluded)


def _code_point_table(chars: str) -> np.ndarray:
    return np.array(sorted({ord(c) for c in chars}), dtype=np.uint32)


@functools.lru_cache(maxsize=1)
def char_flags() -> np.ndarray:
    """uint8 per code point: the F_* classes above, so the kernel does one lookup per char."""
    tables = unicode_tables()
    flags = tables.is_word * F_WORD | alpha_table() * F_ALPHA | tables.is_space * F_SPACE
    flags[:33] |= F_SPACE  # control chars count as whitespace
    for chars, flag in ((BULLETS, F_BULLET), (LINE_END_PUNCTUATION, F_LINE_END), (SENTENCE_END, F_SENTENCE_END),
                        (CLOSERS, F_CLOSER)):  # fmt: skip
        flags[_code_point_table(chars)] |= flag
    return flags.astype(np.uint8)


def stop_word_hashes(words: tuple[str, ...] | list[str]) -> np.ndarray:
    """Sorted hashes of the stop words as the kernel sees them (lowercased per char, non-`\\w` ends removed)."""
    return _stop_word_hashes(tuple(words))


@functools.lru_cache(maxsize=16)
def _stop_word_hashes(words: tuple[str, ...]) -> np.ndarray:
    if len(words) > 64:
        raise ValueError(f"at most 64 stop words are supported, got {len(words)}")
    tables = unicode_tables()
    hashes = []
    mask = (1 << 64) - 1
    for word in words:
        cps = [ord(c) for c in word]
        while cps and not tables.is_word[cps[0]]:
            cps.pop(0)
        while cps and not tables.is_word[cps[-1]]:
            cps.pop()
        if not cps:
            raise ValueError(f"stop word {word!r} has no word character")
        h = int(FNV_OFFSET)
        for cp in cps:
            h = ((h ^ int(tables.lower[cp])) * int(FNV_PRIME)) & mask
        hashes.append(h)
    return np.unique(fmix64_array(np.array(hashes, dtype=np.uint64)))


def word_line_stats(texts: pa.Array, stop_words=GOPHER_STOP_WORDS, short_line_chars: int = 30) -> np.ndarray:
    """int64 [rows, N_WORD_STATS]: counts of words, lines, symbols, sentences... (columns named above).

    Read-only; computed once per text column and parameters, then shared (`curator.text.kernel_cache`)."""
    stop_words = tuple(stop_words)
    key = ("word_line_stats", stop_words, int(short_line_chars))
    return kernel_cache.cached(key, texts, lambda: _run_word_line_stats(texts, stop_words, short_line_chars))


def _run_word_line_stats(texts: pa.Array, stop_words: tuple[str, ...], short_line_chars: int) -> np.ndarray:
    KERNEL_RUNS["word_line_stats"] += 1
    data, offsets = string_bytes(texts)
    out = np.zeros((len(offsets) - 1, N_WORD_STATS), np.int64)
    lower = unicode_tables().lower
    _word_line_stats(data, offsets, char_flags(), lower, stop_word_hashes(stop_words), short_line_chars, out)
    return out


def repetition_stats(texts: pa.Array) -> np.ndarray:
    """int64 [rows, N_REP_STATS]: non-blank lines and paragraphs, and how many (and chars) repeat an earlier one.

    Read-only; computed once per text column, then shared (`curator.text.kernel_cache`)."""
    return kernel_cache.cached(("repetition_stats",), texts, lambda: _run_repetition_stats(texts))


def _run_repetition_stats(texts: pa.Array) -> np.ndarray:
    KERNEL_RUNS["repetition_stats"] += 1
    data, offsets = string_bytes(texts)
    out = np.zeros((len(offsets) - 1, N_REP_STATS), np.int64)
    _repetition_stats(data, offsets, char_flags(), out)
    return out


def ngram_stats(texts: pa.Array, top_ns: list[int], dup_ns: list[int]) -> tuple[np.ndarray, np.ndarray]:
    """Word n-gram repetition, as fractions of the document's word chars:
    top[:, t]  chars covered by the most frequent `top_ns[t]`-gram (count x its chars; ties: the longer),
    dup[:, t]  chars of words inside any `dup_ns[t]`-gram occurrence that repeats an earlier one.
    Words hash by their exact bytes (case and punctuation kept)."""
    data, offsets = string_bytes(texts)
    n = len(offsets) - 1
    top = np.zeros((n, len(top_ns)), np.float64)
    dup = np.zeros((n, len(dup_ns)), np.float64)
    _ngram_stats(data, offsets, np.array(top_ns, np.int64), np.array(dup_ns, np.int64), top, dup)
    return top, dup
