"""Per-code-point lookup tables (word character, lowercase, whitespace) for the compiled text kernels."""

from __future__ import annotations

import functools
import re
import unicodedata
from dataclasses import dataclass

import numpy as np

N_CODE_POINTS = 0x110000


@dataclass(frozen=True)
class UnicodeTables:
    """`is_word[c]`: c matches Python's `\\w`; `lower[c]`: c lowercased alone (first code point of the
    mapping, so U+0130 maps to 'i'); `is_space[c]`: `str.isspace()`. Built from this Python's Unicode data."""

    is_word: np.ndarray  # uint8, 0x110000
    lower: np.ndarray  # uint32, 0x110000
    is_space: np.ndarray  # uint8, 0x110000
    version: str  # unicodedata.unidata_version: recorded in dedup schemes, since tokens depend on it


def _all_code_points() -> str:
    return "".join(map(chr, range(N_CODE_POINTS)))


def _as_code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


@functools.lru_cache(maxsize=1)
def unicode_tables() -> UnicodeTables:
    """Build the tables once per process (about 0.3 s), with C-speed string operations, not a Python loop."""
    chars = _all_code_points()
    is_word = (_as_code_points(re.sub(r"\W", "\0", chars)) != 0).astype(np.uint8)
    is_space = (_as_code_points(re.sub(r"\S", "\0", chars)) != 0).astype(np.uint8)
    is_space[0] = 0
    # Lowercase each code point on its own: separated by spaces so no context rule (final sigma) applies;
    # U+0130 is the one code point whose lowercase is two code points, so it is mapped by hand.
    spaced = " ".join(chars.replace("\u0130", "i")).lower()
    lower = _as_code_points(spaced)[::2].copy()
    if len(lower) != N_CODE_POINTS:  # a future Unicode version with another expanding lowercase
        lower = np.array([ord(c.lower()[0]) for c in chars], dtype=np.uint32)
    return UnicodeTables(is_word, lower, is_space, unicodedata.unidata_version)


def reference_words(text: str) -> list[str]:
    """The words the kernels see, in pure Python: lowercase each code point, then `\\w+` runs (for tests)."""
    lowered = "".join(c.lower()[0] if c != "\u0130" else "i" for c in text)
    return re.findall(r"\w+", lowered)


@functools.lru_cache(maxsize=1)
def alpha_table() -> np.ndarray:
    """`is_alpha[c]`: `str.isalpha()` (Unicode letters), uint8 over all code points; built once (about 0.2 s)."""
    return np.frombuffer(bytes(map(str.isalpha, _all_code_points())), dtype=np.uint8).copy()
