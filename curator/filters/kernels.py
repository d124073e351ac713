"""The compiled batch kernels behind `curator.filters.metrics` (definitions of words, lines... are there).

Each kernel walks the UTF-8 bytes of a whole batch once and fills one output row per document. Memory: the
outputs plus, per document being measured, a few 8-byte values per word or line of that document.
Over 300 lines on purpose: the compiled kernels and the byte-level helpers and char classes they all call
per byte belong together; `metrics.py` holds the Python side (definitions, tables, the cache).
"""

from __future__ import annotations

import numpy as np
from numba import njit

from curator.text.hashing import FNV_OFFSET, FNV_PRIME, MIX_PRIME, fmix64, utf8_decode

# columns of the line/word kernel's output
WORDS, CONTENT_WORDS, CONTENT_WORD_CHARS, ALPHA_WORDS, HASHES, ELLIPSES = range(6)
LINES, BULLET_LINES, ELLIPSIS_LINES, PUNCT_LINES, SHORT_LINES, NEWLINES = range(6, 12)
STOP_WORDS, MAX_WORD_CHARS, SENTENCES, CHARS, CHARS_NO_NEWLINE = range(12, 17)
N_WORD_STATS = 17

# columns of the repetition kernel's output
REP_LINES, DUP_LINES, DUP_LINE_CHARS, REP_PARAS, DUP_PARAS, DUP_PARA_CHARS = range(6)
N_REP_STATS = 6

# char classes of `metrics.char_flags()`, one bit each
F_WORD, F_ALPHA, F_SPACE, F_BULLET, F_LINE_END, F_SENTENCE_END, F_CLOSER = (np.uint8(1 << k) for k in range(7))


@njit(cache=True)
def _word_line_stats(data, offsets, flags, lower, stop_hashes, short_line_chars, out):
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
                f = flags[cp]
                if f & F_WORD:
                    if not content:
                        h = FNV_OFFSET
                        content = True
                    h = (h ^ np.uint64(lower[cp])) * FNV_PRIME
                    core = h
                elif content:
                    h = (h ^ np.uint64(lower[cp])) * FNV_PRIME
                if f & F_ALPHA:
                    alpha = True
            elif word_chars > 0:
                out[d, WORDS] += 1
                if word_chars > out[d, MAX_WORD_CHARS]:
                    out[d, MAX_WORD_CHARS] = word_chars
                if content:
                    out[d, CONTENT_WORDS] += 1
                    out[d, CONTENT_WORD_CHARS] += word_chars
                    key = fmix64(core)
                    k = np.searchsorted(stop_hashes, key)
                    if k < len(stop_hashes) and stop_hashes[k] == key:
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
            fc = flags[cp]
            if at_end or fc & F_SPACE:
                if after_terminal:
                    out[d, SENTENCES] += 1
                after_terminal = False
            elif fc & F_SENTENCE_END:
                after_terminal = True
            elif not fc & F_CLOSER:
                after_terminal = False
            # lines
            if cp == 10:
                if first_ns >= 0:
                    out[d, LINES] += 1
                    if last_ns - first_ns + 1 <= short_line_chars:
                        out[d, SHORT_LINES] += 1
                    if flags[first_cp] & F_BULLET:
                        out[d, BULLET_LINES] += 1
                    if last1 == 0x2026 or (last1 == 46 and last2 == 46 and last3 == 46):
                        out[d, ELLIPSIS_LINES] += 1
                    if flags[last1] & F_LINE_END:
                        out[d, PUNCT_LINES] += 1
                if not at_end:
                    out[d, NEWLINES] += 1
                line_pos = 0
                first_ns = -1
                last_ns = -1
                last1 = last2 = last3 = prev1 = prev2 = np.uint32(0)
            else:
                if not fc & F_SPACE:
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
def _repetition_stats(data, offsets, flags, out):
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
                blank = flags[cp] & F_SPACE
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
    """n runs from 1 up: n-gram hashes extend the (n-1)-gram ones in place, and only positions in a
    repeated (n-1)-gram can start a repeated n-gram, so each n sorts just those candidates."""
    max_n = max(top_ns.max() if len(top_ns) else 1, dup_ns.max() if len(dup_ns) else 1)
    max_words = 1
    for d in range(len(offsets) - 1):
        max_words = max(max_words, (offsets[d + 1] - offsets[d]) // 2 + 1)
    word_h = np.empty(max_words, np.uint64)
    word_n = np.empty(max_words + 1, np.int64)  # prefix sums of word chars
    acc = np.empty(max_words, np.uint64)  # unfinished hash of the n words from each position
    cand = np.empty(max_words, np.int64)  # positions that may start a repeated n-gram, ascending
    keys = np.empty(max_words, np.uint64)
    survivors = np.empty(max_words, np.int64)
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
        top_out[d, :] = 0.0
        dup_out[d, :] = 0.0
        for s in range(n_words):
            acc[s] = FNV_OFFSET
            cand[s] = s
        n_cand = n_words
        for n in range(1, max_n + 1):
            m = n_words - n + 1
            if m < 1 or total == 0:
                break
            for s in range(m):
                acc[s] = (acc[s] ^ word_h[s + n - 1]) * MIX_PRIME
            while n_cand > 0 and cand[n_cand - 1] >= m:  # candidates too close to the end drop out
                n_cand -= 1
            for c in range(n_cand):
                keys[c] = fmix64(acc[cand[c]])
            order = np.argsort(keys[:n_cand], kind="mergesort")  # ties stay in position order
            want_top = -1
            for t in range(len(top_ns)):
                if top_ns[t] == n:
                    want_top = t
            want_dup = -1
            for t in range(len(dup_ns)):
                if dup_ns[t] == n:
                    want_dup = t
            if want_dup >= 0:
                covered[:n_words] = False
            best_count = 1
            best_chars = 0
            n_next = 0
            j = 0
            while j < n_cand:
                k = j + 1
                while k < n_cand and keys[order[k]] == keys[order[j]]:
                    k += 1
                if k - j >= 2:  # a repeated n-gram; its positions stay candidates for n + 1
                    first = cand[order[j]]
                    gram_chars = word_n[first + n] - word_n[first]
                    if k - j > best_count or (k - j == best_count and gram_chars > best_chars):
                        best_count = k - j
                        best_chars = gram_chars
                    for q in range(j, k):
                        p = cand[order[q]]
                        survivors[n_next] = p
                        n_next += 1
                        if want_dup >= 0 and q > j:  # every occurrence after the first
                            covered[p : p + n] = True
                j = k
            if want_top >= 0:
                if best_count == 1:  # nothing repeats: the longest n-gram, once
                    for s in range(m):
                        best_chars = max(best_chars, word_n[s + n] - word_n[s])
                top_out[d, want_top] = min(1.0, best_count * best_chars / total)
            if want_dup >= 0 and m >= 2:
                dup_chars = 0
                for w in range(n_words):
                    if covered[w]:
                        dup_chars += word_n[w + 1] - word_n[w]
                dup_out[d, want_dup] = dup_chars / total
            cand[:n_next] = np.sort(survivors[:n_next])
            n_cand = n_next
