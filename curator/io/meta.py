"""The `meta` column: every unmapped input field of a row as one JSON object, written by Arrow kernels.

Flat fields (strings, integers, booleans, nulls) are encoded column by column with Arrow string kernels,
byte for byte as polars' `struct.json_encode` writes them (keys in column order, `null` for a missing
value, serde_json escapes: `\\"`, `\\\\`, `\\b \\f \\n \\r \\t`, `\\u00XX` for other control characters, everything
else as raw UTF-8). Other types (floats, lists, structs...) go to polars, imported only then.
Memory: a few string columns the size of the batch's meta fields.
"""

from __future__ import annotations

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from curator.text.bytes import string_bytes

_SHORT_ESCAPES = {8: "\\b", 9: "\\t", 10: "\\n", 12: "\\f", 13: "\\r"}
_STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())


def json_escape(text: str) -> str:
    """`text` as the body of a JSON string (no quotes), escaped like serde_json (and so polars)."""
    text = text.replace("\\", "\\\\").replace('"', '\\"')
    for code in sorted({ord(c) for c in text if ord(c) < 32}):
        text = text.replace(chr(code), _SHORT_ESCAPES.get(code, f"\\u{code:04x}"))
    return text


def is_flat(t: pa.DataType) -> bool:
    """Strings, integers, booleans and nulls: the types encoded here without polars."""
    if pa.types.is_dictionary(t):
        return t.value_type in _STRING_TYPES
    return t in _STRING_TYPES or pa.types.is_integer(t) or pa.types.is_boolean(t) or pa.types.is_null(t)


def _json_values(arr: pa.Array) -> pa.Array:
    """Each value of a flat column as JSON text (`null` for nulls)."""
    t = arr.type
    if pa.types.is_null(t):
        return pa.repeat(pa.scalar("null"), len(arr))
    if pa.types.is_integer(t) or pa.types.is_boolean(t):
        return pc.fill_null(pc.cast(arr, pa.string()), "null")
    arr = arr.cast(pa.string())
    buf = string_bytes(pc.fill_null(arr, ""))[0]
    special = np.unique(buf[(buf < 32) | (buf == 34) | (buf == 92)])
    if len(special):
        arr = pc.replace_substring(arr, "\\", "\\\\")
        arr = pc.replace_substring(arr, '"', '\\"')
        for code in special[special < 32].tolist():
            arr = pc.replace_substring(arr, chr(code), _SHORT_ESCAPES.get(code, f"\\u{code:04x}"))
    return pc.fill_null(pc.binary_join_element_wise('"', arr, '"', ""), "null")


def encode_meta_columns(sub: pa.RecordBatch) -> pa.Array:
    """The columns of `sub` as one JSON object per row (pa.string())."""
    if all(is_flat(field.type) for field in sub.schema):
        parts: list[pa.Array | str] = []
        for k, field in enumerate(sub.schema):
            parts.append(("{" if k == 0 else ",") + f'"{json_escape(field.name)}":')
            parts.append(_json_values(sub.column(k)))
        return pc.binary_join_element_wise(*parts, "}", "")
    try:
        import polars as pl

        frame = pl.from_arrow(pa.Table.from_batches([sub]))
        encoded = frame.select(pl.struct(pl.all()).struct.json_encode().alias("meta")).to_arrow()
        return encoded.column("meta").combine_chunks().cast(pa.string())
    except Exception:  # types polars cannot take (e.g. extension types): encode row by row
        return pa.array([orjson.dumps(r, default=str).decode() for r in sub.to_pylist()], pa.string())
