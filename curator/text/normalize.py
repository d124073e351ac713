"""normalize_text: Unicode NFC, control characters, line endings and whitespace, vectorised per batch."""

from __future__ import annotations

import unicodedata
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curator.pipeline.step import Step, register_step
from curator.text.bytes import count_per_row, replace_rows, string_bytes

CONTROL = r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\x{80}-\x{9f}\x{feff}]"
UNICODE_SPACES = r"[\x{a0}\x{1680}\x{2000}-\x{200a}\x{202f}\x{205f}\x{3000}]"


def normalize_array(
    texts: pa.Array,
    form: str | None = "NFC",
    remove_control: bool = True,
    unicode_spaces: bool = True,
    collapse_spaces: bool = False,
    strip_trailing: bool = True,
    max_blank_lines: int | None = 1,
    strip: bool = True,
) -> pa.Array:
    """Normalise every string of `texts` (the reference path: no short-cuts)."""
    out = pc.replace_substring_regex(texts, r"\r\n?", "\n")
    if remove_control:
        out = pc.replace_substring_regex(out, CONTROL, "")
    if form:
        out = pc.utf8_normalize(out, form=form)
    if unicode_spaces:
        out = pc.replace_substring_regex(out, UNICODE_SPACES, " ")
    if collapse_spaces:
        out = pc.replace_substring_regex(out, r"[ \t]{2,}|\t", " ")
    if strip_trailing:
        out = pc.replace_substring_regex(out, r"[ \t]+\n", "\n")
    if max_blank_lines is not None:
        out = pc.replace_substring_regex(out, f"\n{{{max_blank_lines + 2},}}", "\n" * (max_blank_lines + 1))
    if strip:
        out = pc.utf8_trim_whitespace(out)
    return out


def _follows(buf: np.ndarray, lead: np.ndarray, *nexts) -> np.ndarray:
    """Positions in `lead` whose following bytes are in the given sets, one set per following byte."""
    ok = np.ones(len(lead), dtype=bool)
    for k, allowed in enumerate(nexts, start=1):
        idx = lead + k
        inside = idx < len(buf)
        ok &= inside
        ok[inside] &= np.isin(buf[idx[inside]], allowed)
    return lead[ok]


C1_SECOND = np.arange(0x80, 0xA1)  # C2 80..9F are C1 controls, C2 A0 is NBSP


def _unicode_specials(buf: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Byte positions starting a C1 control, a BOM, or a Unicode space or line separator in UTF-8.

    `high` holds the positions of all bytes >= 0x80.
    """
    lead = high[buf[high] >= 0xC2]
    if len(lead) == 0:
        return lead
    b = buf[lead]
    found = [
        _follows(buf, lead[b == 0xC2], C1_SECOND),
        _follows(buf, lead[b == 0xE1], [0x9A], [0x80]),
        _follows(buf, lead[b == 0xE2], [0x80], list(range(0x80, 0x8B)) + [0xA8, 0xA9, 0xAF]),
        _follows(buf, lead[b == 0xE2], [0x81], [0x9F]),
        _follows(buf, lead[b == 0xE3], [0x80], [0x80]),
        _follows(buf, lead[b == 0xEF], [0xBB], [0xBF]),
    ]
    return np.concatenate(found)


def _any(positions: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    return count_per_row(np.sort(positions), offsets, positions=True) > 0


def classify_rows(
    texts: pa.Array, collapse_spaces: bool, max_blank_lines: int | None, form: str | None = "NFC"
) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Per row, from its bytes: (heavy, trailing, blank_run, edge) flags, each a superset of the truth.

    heavy: CR, control characters, Unicode spaces/BOM, or not in normal form -> needs the whole chain;
    trailing: a space or tab before a newline; blank_run: too many newlines in a row; edge: whitespace
    at either end. Rows with no flag are left exactly as they are by normalize_array. Works on the
    positions of newlines, control and non-ASCII bytes, so ASCII prose costs a few passes over the bytes.
    """
    buf, offsets = string_bytes(texts)
    n = len(offsets) - 1
    if collapse_spaces:
        everything = np.ones(n, dtype=bool)
        return everything, everything, everything, everything
    low = np.flatnonzero(buf < 32)
    low_bytes = buf[low]
    newlines = low[low_bytes == 10]
    controls = low[(low_bytes != 10) & (low_bytes != 9)]
    high = np.flatnonzero(buf >= 127)
    heavy = _any(np.concatenate([controls, high[buf[high] == 127], _unicode_specials(buf, high)]), offsets)
    after = newlines[newlines > 0]
    before = buf[after - 1]
    trailing = _any(after[(before == 32) | (before == 9)], offsets)
    k = 2 if max_blank_lines is None else max_blank_lines + 2  # newlines in a row that need collapsing
    m = len(newlines) - k + 1
    runs = newlines[:m][newlines[k - 1 :] - newlines[:m] == k - 1] if m > 0 else newlines[:0]
    blank = _any(runs, offsets)
    edge = np.zeros(n, dtype=bool)
    nonempty = offsets[1:] > offsets[:-1]
    if nonempty.any():
        first = buf[offsets[:-1][nonempty]]
        last = buf[offsets[1:][nonempty] - 1]
        edge[nonempty] = np.isin(first, (9, 10, 11, 12, 13, 32)) | np.isin(last, (9, 10, 11, 12, 13, 32))
    if form and len(high):  # a non-ASCII row needs work only if it is not in normal form (C quick check)
        # Under NFC nothing below U+0300 ever changes (checked exhaustively for pairs); such code points
        # start with a byte < 0xCC, so only rows holding a byte >= 0xCC need the per-row check.
        candidates = high[buf[high] >= 0xCC] if form == "NFC" else high
        for i in np.flatnonzero(_any(candidates, offsets) & ~heavy):
            if not unicodedata.is_normalized(form, texts[int(i)].as_py()):
                heavy[i] = True
    return heavy, trailing, blank, edge


@register_step
class NormalizeText(Step):
    """Normalise text: NFC, drop control characters, \\r\\n -> \\n, trailing spaces, blank-line runs, ends.

    Indentation is kept unless `collapse_spaces` is set, so code stays code. Only rows whose bytes show
    something to fix go through the regex chain. Memory: one batch.
    """

    name = "normalize_text"

    form: Literal["NFC", "NFKC", "NFD", "NFKD"] | None = "NFC"
    remove_control: bool = True
    unicode_spaces: bool = Field(True, description="map NBSP and other Unicode spaces to ' '")
    collapse_spaces: bool = Field(False, description="collapse runs of spaces/tabs to one space")
    strip_trailing: bool = True
    max_blank_lines: int | None = Field(1, ge=0)
    strip: bool = True

    def process(self, batch: pa.RecordBatch) -> pa.RecordBatch:
        idx = batch.schema.get_field_index("text")
        texts = batch.column(idx)
        heavy, trailing, blank, edge = classify_rows(texts, self.collapse_spaces, self.max_blank_lines, self.form)
        params = self.model_dump()
        light = dict.fromkeys(("remove_control", "unicode_spaces", "collapse_spaces"), False) | {"form": None}
        # Rows without CR, controls, Unicode spaces or denormalised text: the heavy stages are identities,
        # so a shorter chain gives the same result (the property tests hold this to normalize_array).
        groups = [
            (heavy, params),
            (~heavy & trailing, params | light),
            (~heavy & ~trailing & blank, params | light | {"strip_trailing": False}),
            (~heavy & ~trailing & ~blank & edge, params | light | {"strip_trailing": False, "max_blank_lines": None}),
        ]
        fixed = []
        for rows, kwargs in groups:
            where = np.flatnonzero(rows)
            if len(where):
                fixed.append((where, normalize_array(texts.take(pa.array(where)), **kwargs)))
        if not fixed:
            return batch
        return batch.set_column(idx, "text", replace_rows(texts, fixed))
