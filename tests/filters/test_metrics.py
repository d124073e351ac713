"""The compiled text measures equal plain-Python definitions of the same measures (hypothesis)."""

from __future__ import annotations

import re
from collections import Counter

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.filters import metrics as m

WORD_SPLIT = re.compile(r"[\x00-\x20]+")


def ref_words(text: str) -> list[str]:
    return [w for w in WORD_SPLIT.split(text) if w]


def blank(c: str) -> bool:
    return c <= " " or c.isspace()


def strip(line: str) -> str:
    start, end = 0, len(line)
    while start < end and blank(line[start]):
        start += 1
    while end > start and blank(line[end - 1]):
        end -= 1
    return line[start:end]


def ref_lines(text: str) -> list[str]:
    return [strip(line) for line in text.split("\n") if strip(line)]


def ref_paragraphs(text: str) -> list[str]:
    paras, current = [], []
    for line in text.split("\n"):
        if strip(line):
            current.append(strip(line))
        elif current:
            paras.append("\n".join(current))
            current = []
    if current:
        paras.append("\n".join(current))
    return paras


def ref_core(word: str) -> str:
    lowered = "".join(c.lower()[0] if c != "\u0130" else "i" for c in word)
    return re.sub(r"^\W+|\W+$", "", lowered)


def ref_sentences(text: str) -> int:
    return len(re.findall(r"[.!?…。！？｡؟।॥።][\"'”’»)\]]*(?=[\x00-\x20]|\s|$)", text))


def ref_word_line_stats(text: str, stop_words=m.GOPHER_STOP_WORDS, short=30) -> dict[str, int]:
    words = ref_words(text)
    lines = ref_lines(text)
    content = [w for w in words if re.search(r"\w", w)]
    return {
        "WORDS": len(words),
        "CONTENT_WORDS": len(content),
        "CONTENT_WORD_CHARS": sum(map(len, content)),
        "ALPHA_WORDS": sum(any(c.isalpha() for c in w) for w in words),
        "HASHES": text.count("#"),
        "ELLIPSES": text.count("...") + text.count("…"),
        "LINES": len(lines),
        "BULLET_LINES": sum(line[0] in m.BULLETS for line in lines),
        "ELLIPSIS_LINES": sum(line.endswith(("...", "…")) for line in lines),
        "PUNCT_LINES": sum(line[-1] in m.LINE_END_PUNCTUATION for line in lines),
        "SHORT_LINES": sum(len(line) <= short for line in lines),
        "NEWLINES": text.count("\n"),
        "STOP_WORDS": len({ref_core(w) for w in words} & set(stop_words)),
        "MAX_WORD_CHARS": max(map(len, words), default=0),
        "SENTENCES": ref_sentences(text),
        "CHARS": len(text),
        "CHARS_NO_NEWLINE": len(text) - text.count("\n"),
    }


def ref_repeats(items: list[str], length=len) -> tuple[int, int]:
    seen, dups, chars = set(), 0, 0
    for item in items:
        if item in seen:
            dups += 1
            chars += length(item)
        seen.add(item)
    return dups, chars


def ref_ngram_stats(text: str, top_ns, dup_ns):
    words = ref_words(text)
    total = sum(map(len, words))
    top, dup = [], []
    for n in top_ns:
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        if not grams or not total:
            top.append(0.0)
            continue
        counts = Counter(grams)
        best = max(counts.items(), key=lambda kv: (kv[1], sum(map(len, kv[0]))))
        top.append(min(1.0, best[1] * sum(map(len, best[0])) / total))
    for n in dup_ns:
        grams = [tuple(words[i : i + n]) for i in range(len(words) - n + 1)]
        covered, seen = [False] * len(words), set()
        for i, g in enumerate(grams):
            if g in seen:
                covered[i : i + n] = [True] * n
            seen.add(g)
        dup_chars = sum(len(w) for w, c in zip(words, covered, strict=True) if c)
        dup.append(dup_chars / total if total and len(grams) > 1 else 0.0)
    return top, dup


# small alphabets so that repeats, bullets and ellipses actually happen
PIECES = ["the", "The", "of", "and", "cat", "naïve", "日本語", "x1", "#", "...", "…", "-", "•", ".", "!", "?", '"',
          "”", "{", "a.", "b!", " ", " ", "  ", "\t", "\n", "\n", "\n\n", " \n", "\u00a0", "\x00", "\x01"]  # fmt: skip
texts = st.lists(st.sampled_from(PIECES), max_size=60).map("".join)


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=5))
def test_word_line_stats_match_the_definitions(batch):
    out = m.word_line_stats(pa.array(batch, pa.string()))
    for row, text in zip(out, batch, strict=True):
        expected = ref_word_line_stats(text)
        got = {name: int(row[getattr(m, name)]) for name in expected}
        assert got == expected, repr(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=5))
def test_repetition_stats_match_the_definitions(batch):
    out = m.repetition_stats(pa.array(batch, pa.string()))
    for row, text in zip(out, batch, strict=True):
        lines, paras = ref_lines(text), ref_paragraphs(text)
        para_chars = lambda p: len(p) - p.count("\n")  # noqa: E731
        assert list(row) == [len(lines), *ref_repeats(lines), len(paras), *ref_repeats(paras, para_chars)], repr(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(texts, min_size=1, max_size=5))
def test_ngram_stats_match_the_definitions(batch):
    top, dup = m.ngram_stats(pa.array(batch, pa.string()), [1, 2, 3], [2, 5])
    for t, d, text in zip(top, dup, batch, strict=True):
        ref_top, ref_dup = ref_ngram_stats(text, [1, 2, 3], [2, 5])
        np.testing.assert_allclose(t, ref_top, err_msg=repr(text))
        np.testing.assert_allclose(d, ref_dup, err_msg=repr(text))


def test_stop_words_need_a_word_character():
    import pytest

    with pytest.raises(ValueError, match="no word character"):
        m.stop_word_hashes(["the", "--"])
