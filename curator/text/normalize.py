"""normalize_text: Unicode NFC, control characters, line endings and whitespace, vectorised per batch."""

from __future__ import annotations

from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import Field

from curator.pipeline.step import Step, register_step
from curator.text.bytes import any_per_row, string_bytes

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


def rows_needing_work(texts: pa.Array, collapse_spaces: bool, max_blank_lines: int | None) -> np.ndarray:
    """Rows that normalize_array could change, found by scanning bytes (a superset; cheap for ASCII text)."""
    buf, offsets = string_bytes(texts)
    n = len(offsets) - 1
    if collapse_spaces:
        return np.ones(n, dtype=bool)
    special = ((buf < 32) & (buf != 10)) | (buf >= 127)  # controls, CR, tab, DEL, any non-ASCII
    if len(buf) > 1:
        ws = (buf == 32) | (buf == 9)
        special[:-1] |= ws[:-1] & (buf[1:] == 10)  # trailing space before a newline
        k = 2 if max_blank_lines is None else max_blank_lines + 2
        if len(buf) >= k:
            run = buf[: len(buf) - k + 1] == 10
            for j in range(1, k):
                run &= buf[j : len(buf) - k + 1 + j] == 10
            special[: len(run)] |= run
    flags = any_per_row(special, offsets)
    nonempty = offsets[1:] > offsets[:-1]
    if nonempty.any():
        first = buf[offsets[:-1][nonempty]]
        last = buf[offsets[1:][nonempty] - 1]
        edge = np.zeros(n, dtype=bool)
        edge[nonempty] = np.isin(first, (9, 10, 11, 12, 13, 32)) | np.isin(last, (9, 10, 11, 12, 13, 32))
        flags |= edge
    return flags


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
        flags = rows_needing_work(texts, self.collapse_spaces, self.max_blank_lines)
        if not flags.any():
            return batch
        mask = pa.array(flags)
        fixed = normalize_array(pc.filter(texts, mask), **self.model_dump())
        return batch.set_column(idx, "text", pc.replace_with_mask(texts, mask, fixed))
