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

Memory: the batch's text (zero-copy views) plus, per document being measured, a few 8-byte values per
word or line of that document; never more than one batch.
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
from numba import njit

from curator.text.bytes import string_bytes
from curator.text.hashing import FNV_OFFSET, FNV_PRIME, MIX_PRIME, fmix64, fmix64_array, utf8_decode
from curator.text.unicode import alpha_table, unicode_tables

GOPHER_STOP_WORDS = ("the", "be", "to", "of", "and", "that", "have", "with")
BULLETS = "•‣◦●▪-*·–"  # a line starting with one of these (after whitespace) is a bullet line
LINE_END_PUNCTUATION = ".!?\"'”’»…。！？｡．؟।॥።"  # a line ending with one of these ends in punctuation
SENTENCE_END = ".!?…。！？｡؟।॥።"
CLOSERS = "\"'”’»)]"  # may follow a sentence end before the whitespace

# columns of the line/word kernel's output
WORDS, CONTENT_WORDS, CONTENT_WORD_CHARS, ALPHA_WORDS, HASHES, ELLIPSES = range(6)
LINES, BULLET_LINES, ELLIPSIS_LINES, PUNCT_LINES, SHORT_LINES, NEWLINES = range(6, 12)
STOP_WORDS, MAX_WORD_CHARS, SENTENCES, CHARS, CHARS_NO_NEWLINE = range(12, 17)
N_WORD_STATS = 17

# columns of the repetition kernel's output
REP_LINES, DUP_LINES, DUP_LINE_CHARS, REP_PARAS, DUP_PARAS, DUP_PARA_CHARS = range(6)
N_REP_STATS = 6


def _code_point_table(chars: str) -> np.ndarray:
    return np.array(sorted({ord(c) for c in chars}), dtype=np.uint32)


@njit(cache=True, inline="always")
def _member(sorted_values, value):
    k = np.searchsorted(sorted_values, value)
    return k < len(sorted_values) and sorted_values[k] == value


@njit(cache=True)
def _word_line_stats(data, offsets, is_word, is_alpha, is_space, lower, stop_hashes, bullets, line_end,
                     sentence_end, closers, short_line_chars, out):  # fmt: skip
    for d in range(len(offsets) - 1):
        i = offsets[d]
        end = offsets[d + 1]
        word_chars = 0
        content = False
        alpha = False
        h = FNV_OFFSET
        core = FNV_OFFSET
        stop_mask = np.uint64(0)
        line_pos = 0
        first_ns = -1
        last_ns = -1
        first_cp = np.uint32(0)
        last1 = np.uint32(0)
        last2 = np.uint32(0)
        last3 = np.uint32(0)
        prev1 = np.uint32(0)
        prev2 = np.uint32(0)
        dots = 0
        after_terminal = False
        while i <= end:
            at_end = i == end
            if at_end:
                cp = np.uint32(10)
                i += 1
            else:
                cp, size = utf8_decode(data, i)
                i += size
                out[d, CHARS] += 1
                if cp != 10:
                    out[d, CHARS_NO_NEWLINE] += 1
            # words
            if cp > 32:
                word_chars += 1
                if is_word[cp]:
                    if not content:
                        h = FNV_OFFSET
                        content = True
                    h = (h ^ np.uint64(lower[cp])) * FNV_PRIME
                    core = h
                elif content:
                    h = (h ^ np.uint64(lower[cp])) * FNV_PRIME
                if is_alpha[cp]:
                    alpha = True
            elif word_chars > 0:
                out[d, WORDS] += 1
                if word_chars > out[d, MAX_WORD_CHARS]:
                    out[d, MAX_WORD_CHARS] = word_chars
                if content:
                    out[d, CONTENT_WORDS] += 1
                    out[d, CONTENT_WORD_CHARS] += word_chars
                    k = np.searchsorted(stop_hashes, fmix64(core))
                    if k < len(stop_hashes) and stop_hashes[k] == fmix64(core):
                        stop_mask |= np.uint64(1) << np.uint64(k)
                if alpha:
                    out[d, ALPHA_WORDS] += 1
                word_chars = 0
                content = False
                alpha = False
            # symbols
            if cp == 35:
                out[d, HASHES] += 1
            if cp == 46:
                dots += 1
            else:
                out[d, ELLIPSES] += dots // 3
                dots = 0
                if cp == 0x2026:
                    out[d, ELLIPSES] += 1
            # sentences
            if at_end or cp <= 32 or is_space[cp]:
                if after_terminal:
                    out[d, SENTENCES] += 1
                after_terminal = False
            elif _member(sentence_end, cp):
                after_terminal = True
            elif not _member(closers, cp):
                after_terminal = False
            # lines
            if cp == 10:
                if first_ns >= 0:
                    out[d, LINES] += 1
                    if last_ns - first_ns + 1 <= short_line_chars:
                        out[d, SHORT_LINES] += 1
                    if _member(bullets, first_cp):
                        out[d, BULLET_LINES] += 1
                    if last1 == 0x2026 or (last1 == 46 and last2 == 46 and last3 == 46):
                        out[d, ELLIPSIS_LINES] += 1
                    if _member(line_end, last1):
                        out[d, PUNCT_LINES] += 1
                if not at_end:
                    out[d, NEWLINES] += 1
                line_pos = 0
                first_ns = -1
                last_ns = -1
                last1 = last2 = last3 = prev1 = prev2 = np.uint32(0)
            else:
                if cp > 32 and not is_space[cp]:
                    if first_ns < 0:
                        first_ns = line_pos
                        first_cp = cp
                    last_ns = line_pos
                    last3 = prev2  # the line's last three chars, once stripped
                    last2 = prev1
                    last1 = cp
                prev2 = prev1
                prev1 = cp
                line_pos += 1
        count = 0
        while stop_mask:
            count += 1
            stop_mask &= stop_mask - np.uint64(1)
        out[d, STOP_WORDS] = count


@njit(cache=True, inline="always")
def _count_repeats(hashes, lengths, n):
    """(repeated items, their chars) among hashes[:n]: every occurrence after the first counts."""
    if n < 2:
        return 0, 0
    order = np.argsort(hashes[:n])
    dups = 0
    chars = 0
    for j in range(1, n):
        if hashes[order[j]] == hashes[order[j - 1]]:
            dups += 1
            chars += lengths[order[j]]
    return dups, chars


@njit(cache=True)
def _repetition_stats(data, offsets, is_space, out):
    max_len = 1
    for d in range(len(offsets) - 1):
        max_len = max(max_len, offsets[d + 1] - offsets[d] + 1)
    line_h = np.empty(max_len, np.uint64)
    line_n = np.empty(max_len, np.int64)
    para_h = np.empty(max_len, np.uint64)
    para_n = np.empty(max_len, np.int64)
    for d in range(len(offsets) - 1):
        i = offsets[d]
        end = offsets[d + 1]
        n_lines = 0
        n_paras = 0
        h = FNV_OFFSET
        h_at_last = FNV_OFFSET
        pos = 0
        first_ns = -1
        last_ns = -1
        ph = FNV_OFFSET
        p_lines = 0
        p_chars = 0
        while i <= end:
            at_end = i == end
            if at_end:
                cp = np.uint32(10)
                i += 1
            else:
                cp, size = utf8_decode(data, i)
                i += size
            if cp == 10:
                if first_ns >= 0:  # a non-blank line: hash of its stripped text
                    lh = fmix64(h_at_last)
                    line_h[n_lines] = lh
                    line_n[n_lines] = last_ns - first_ns + 1
                    ph = (ph ^ lh) * MIX_PRIME
                    p_chars += last_ns - first_ns + 1
                    p_lines += 1
                    n_lines += 1
                if (first_ns < 0 or at_end) and p_lines:  # a blank line or the end closes a paragraph
                    para_h[n_paras] = fmix64(ph ^ np.uint64(p_lines))
                    para_n[n_paras] = p_chars
                    n_paras += 1
                    ph = FNV_OFFSET
                    p_lines = 0
                    p_chars = 0
                h = FNV_OFFSET
                h_at_last = FNV_OFFSET
                pos = 0
                first_ns = -1
                last_ns = -1
            else:
                blank = cp <= 32 or is_space[cp]
                if not blank and first_ns < 0:
                    first_ns = pos
                if first_ns >= 0:
                    h = (h ^ np.uint64(cp)) * FNV_PRIME
                    if not blank:
                        last_ns = pos
                        h_at_last = h
                pos += 1
        out[d, REP_LINES] = n_lines
        out[d, DUP_LINES], out[d, DUP_LINE_CHARS] = _count_repeats(line_h, line_n, n_lines)
        out[d, REP_PARAS] = n_paras
        out[d, DUP_PARAS], out[d, DUP_PARA_CHARS] = _count_repeats(para_h, para_n, n_paras)


@njit(cache=True)
def _ngram_stats(data, offsets, top_ns, dup_ns, top_out, dup_out):
    max_words = 1
    for d in range(len(offsets) - 1):
        max_words = max(max_words, (offsets[d + 1] - offsets[d]) // 2 + 1)
    word_h = np.empty(max_words, np.uint64)
    word_n = np.empty(max_words + 1, np.int64)  # prefix sums of word chars
    gram_h = np.empty(max_words, np.uint64)
    covered = np.zeros(max_words, np.bool_)
    for d in range(len(offsets) - 1):
        i = offsets[d]
        end = offsets[d + 1]
        n_words = 0
        chars = 0
        h = FNV_OFFSET
        word_n[0] = 0
        while i <= end:
            b = data[i] if i < end else 32
            if b > 32:
                h = (h ^ np.uint64(b)) * FNV_PRIME
                if b < 0x80 or b >= 0xC0:  # not a continuation byte: one more char
                    chars += 1
            elif chars:
                word_h[n_words] = fmix64(h)
                word_n[n_words + 1] = word_n[n_words] + chars
                n_words += 1
                h = FNV_OFFSET
                chars = 0
            i += 1
        total = word_n[n_words]
        for t in range(len(top_ns)):
            n = top_ns[t]
            m = n_words - n + 1
            top_out[d, t] = 0.0
            if m < 1 or total == 0:
                continue
            for s in range(m):
                g = FNV_OFFSET
                for j in range(n):
                    g = (g ^ word_h[s + j]) * MIX_PRIME
                gram_h[s] = fmix64(g)
            order = np.argsort(gram_h[:m])
            best_count = 0
            best_chars = 0
            run = 1
            for j in range(1, m + 1):
                if j < m and gram_h[order[j]] == gram_h[order[j - 1]]:
                    run += 1
                    continue
                s = order[j - 1]
                gram_chars = word_n[s + n] - word_n[s]
                if run > best_count or (run == best_count and gram_chars > best_chars):
                    best_count = run
                    best_chars = gram_chars
                run = 1
            top_out[d, t] = min(1.0, best_count * best_chars / total)
        for t in range(len(dup_ns)):
            n = dup_ns[t]
            m = n_words - n + 1
            dup_out[d, t] = 0.0
            if m < 2 or total == 0:
                continue
            for s in range(m):
                g = FNV_OFFSET
                for j in range(n):
                    g = (g ^ word_h[s + j]) * MIX_PRIME
                gram_h[s] = fmix64(g)
            order = np.argsort(gram_h[:m], kind="mergesort")  # stable: the first occurrence comes first
            covered[:n_words] = False
            for j in range(1, m):
                if gram_h[order[j]] == gram_h[order[j - 1]]:
                    covered[order[j] : order[j] + n] = True
            dup_chars = 0
            for w in range(n_words):
                if covered[w]:
                    dup_chars += word_n[w + 1] - word_n[w]
            dup_out[d, t] = dup_chars / total


def stop_word_hashes(words: tuple[str, ...] | list[str]) -> np.ndarray:
    """Sorted hashes of the stop words as the kernel sees them (lowercased per char, non-`\\w` ends removed)."""
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
    """int64 [rows, N_WORD_STATS]: counts of words, lines, symbols, sentences... (columns named above)."""
    tables = unicode_tables()
    data, offsets = string_bytes(texts)
    out = np.zeros((len(offsets) - 1, N_WORD_STATS), np.int64)
    _word_line_stats(
        data, offsets, tables.is_word, alpha_table(), tables.is_space, tables.lower, stop_word_hashes(stop_words),
        _code_point_table(BULLETS), _code_point_table(LINE_END_PUNCTUATION), _code_point_table(SENTENCE_END),
        _code_point_table(CLOSERS), short_line_chars, out,
    )  # fmt: skip
    return out


def repetition_stats(texts: pa.Array) -> np.ndarray:
    """int64 [rows, N_REP_STATS]: non-blank lines and paragraphs, and how many (and chars) repeat an earlier one."""
    data, offsets = string_bytes(texts)
    out = np.zeros((len(offsets) - 1, N_REP_STATS), np.int64)
    _repetition_stats(data, offsets, unicode_tables().is_space, out)
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
