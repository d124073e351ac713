"""Per-code-point lookup tables (word character, lowercase, whitespace) for the compiled text kernels."""

from __future__ import annotations

import functools
import os
import re
import sys
import unicodedata
from dataclasses import dataclass
from pathlib import Path

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


def _as_code_points(text: str) -> np.ndarray:
    return np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)


CHUNK = 1 << 16  # tables are built this many code points at a time: a few MB of strings, not 100+


def _code_point_chunks():
    for lo in range(0, N_CODE_POINTS, CHUNK):
        yield "".join(map(chr, range(lo, min(lo + CHUNK, N_CODE_POINTS))))


def _cache_file(name: str) -> Path:
    """Where a table derived from this Python's Unicode data is kept between processes."""
    root = Path(os.environ.get("CURATOR_CACHE_DIR") or Path.home() / ".cache" / "curator")
    version = f"py{sys.version_info[0]}{sys.version_info[1]}-unicode{unicodedata.unidata_version}"
    return root / f"{name}-{version}-v1.npz"


def _cached(name: str, build) -> dict[str, np.ndarray]:
    """Arrays from the cache file, or built and then saved (best effort: a read-only home just rebuilds)."""
    path = _cache_file(name)
    try:
        with np.load(path) as data:
            return {k: data[k] for k in data.files}
    except (OSError, ValueError, KeyError):
        pass
    arrays = build()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
        with open(tmp, "wb") as fh:
            np.savez(fh, **arrays)
        os.replace(tmp, path)
    except OSError:
        pass
    return arrays


@functools.lru_cache(maxsize=1)
def unicode_tables() -> UnicodeTables:
    """The tables, from a per-Python cache file (a few ms) or built (about 0.3 s, C-speed string operations)."""
    t = _cached("unicode-tables", _build_tables)
    return UnicodeTables(t["is_word"], t["lower"], t["is_space"], unicodedata.unidata_version)


def _build_tables() -> dict[str, np.ndarray]:
    is_word, is_space, lower = [], [], []
    for chars in _code_point_chunks():
        is_word.append((_as_code_points(re.sub(r"\W", "\0", chars)) != 0).astype(np.uint8))
        is_space.append((_as_code_points(re.sub(r"\S", "\0", chars)) != 0).astype(np.uint8))
        # Lowercase each code point on its own: separated by spaces so no context rule (final sigma) applies;
        # U+0130 is the one code point whose lowercase is two code points, so it is mapped by hand.
        spaced = _as_code_points(" ".join(chars.replace("\u0130", "i")).lower())
        if len(spaced) != 2 * len(chars) - 1:  # a future Unicode version with another expanding lowercase
            spaced = np.array([x for c in chars for x in (ord(c.lower()[0]), 32)], dtype=np.uint32)
        lower.append(spaced[::2].copy())
    words, spaces = np.concatenate(is_word), np.concatenate(is_space)
    spaces[0] = 0
    return {"is_word": words, "lower": np.concatenate(lower), "is_space": spaces}


def reference_words(text: str) -> list[str]:
    """The words the kernels see, in pure Python: lowercase each code point, then `\\w+` runs (for tests)."""
    lowered = "".join(c.lower()[0] if c != "\u0130" else "i" for c in text)
    return re.findall(r"\w+", lowered)


@functools.lru_cache(maxsize=1)
def alpha_table() -> np.ndarray:
    """`is_alpha[c]`: `str.isalpha()` (Unicode letters), uint8 over all code points; cached like the others."""

    def build():
        chunks = [np.frombuffer(bytes(map(str.isalpha, c)), dtype=np.uint8) for c in _code_point_chunks()]
        return {"is_alpha": np.concatenate(chunks)}

    return _cached("alpha-table", build)["is_alpha"]
