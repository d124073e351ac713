"""Turn input columns into document batches: type checks, stable ids, source labels, row rejects."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.compute as pc

from curator.io.meta import encode_meta_columns
from curator.io.rejects import Reject, RejectSink
from curator.io.sources import FieldMap, ReadLimits, Shard
from curator.schema import FLOW_SCHEMA, stable_ids
from curator.text.bytes import byte_lengths

STRING_TYPES = (pa.string(), pa.large_string(), pa.string_view())


class SchemaMismatch(Exception):
    """The input's columns cannot give documents (missing or wrongly typed text column, ...)."""


def _is_stringlike(t: pa.DataType) -> bool:
    return t in STRING_TYPES or (pa.types.is_dictionary(t) and t.value_type in STRING_TYPES)


def as_string(arr: pa.Array, name: str, allow_integers: bool = False) -> pa.Array:
    """Cast a string-like (or, for ids, integer) column to pa.string(); anything else is a SchemaMismatch."""
    t = arr.type
    if t == pa.string():
        return arr
    if _is_stringlike(t) or pa.types.is_null(t) or (allow_integers and pa.types.is_integer(t)):
        return arr.cast(pa.string())
    raise SchemaMismatch(f"column '{name}' has type {t}, expected string")


def encode_meta(table: pa.Table | pa.RecordBatch, fields: FieldMap) -> pa.Array:
    """Every column that is not a mapped field, as one JSON object per row (null when there are none)."""
    rest = [n for n in table.schema.names if n not in fields.mapped()]
    if not rest:
        return pa.nulls(table.num_rows, pa.string())
    sub = table.select(rest)
    if isinstance(sub, pa.Table):
        sub = pa.RecordBatch.from_arrays([c.combine_chunks() for c in sub.columns], schema=sub.schema)
    return encode_meta_columns(sub)


def _parse_created(values: list, reject: Callable[[int, str, str], None]) -> pa.Array:
    """ISO-8601 strings or epoch seconds to UTC timestamps; naive values are taken as UTC."""
    out = []
    for i, v in enumerate(values):
        if v is None:
            out.append(None)
            continue
        try:
            if isinstance(v, (int, float)) and not isinstance(v, bool):
                ts = datetime.fromtimestamp(v, tz=timezone.utc)
            elif isinstance(v, datetime):
                ts = v if v.tzinfo else v.replace(tzinfo=timezone.utc)
            else:
                ts = datetime.fromisoformat(str(v).replace("Z", "+00:00"))
                ts = ts if ts.tzinfo else ts.replace(tzinfo=timezone.utc)
            out.append(ts)
        except (ValueError, TypeError, OverflowError, OSError) as exc:
            reject(i, "bad_value:created", f"cannot parse created value {v!r}: {exc}")
            out.append(None)
    return pa.array(out, pa.timestamp("us", tz="UTC"))


def _constant(value: str, n: int) -> pa.Array:
    return pa.DictionaryArray.from_arrays(np.zeros(n, np.int32), pa.array([value])).cast(pa.string())


def build_documents(
    columns: dict[str, pa.Array],
    meta: pa.Array,
    rows: np.ndarray,
    shard: Shard,
    limits: ReadLimits,
    rejects: RejectSink,
    raw_of: Callable[[int], bytes | str | None],
    lines: np.ndarray | None = None,
    already_bad: np.ndarray | None = None,
) -> pa.RecordBatch | None:
    """Assemble a FLOW_SCHEMA batch from mapped input columns; bad rows go to `rejects`.

    `columns` maps document column names (text; optionally id, source, url, created) to input arrays;
    `rows` holds each row's record index in its file and `lines` (JSONL) its 1-based line number;
    `already_bad` marks rows the caller has rejected. Returns None when no row survives.
    """
    n = len(rows)
    f = shard.fields
    text = as_string(columns["text"], f.text)
    if shard.force_source is not None:
        source = _constant(shard.force_source, n)
    elif "source" in columns:
        source = pc.fill_null(as_string(columns["source"], f.source), shard.default_source)
    else:
        source = _constant(shard.default_source, n)
    rows_arr = pa.array(rows, pa.int64())
    ids = as_string(columns["id"], f.id, allow_integers=True) if "id" in columns else pa.nulls(n, pa.string())
    if ids.null_count:
        ids = pc.if_else(pc.is_null(ids), stable_ids(source, shard.file_key, rows_arr), ids)
    url = as_string(columns["url"], f.url) if "url" in columns else pa.nulls(n, pa.string())
    bad = np.zeros(n, dtype=bool) if already_bad is None else already_bad.copy()

    def reject(i: int, reason: str, detail: str) -> None:
        """Reject row i once: its first problem is the reason (a row must never count twice)."""
        if bad[i]:
            return
        bad[i] = True
        rejects.add(
            Reject(
                file=shard.file_key,
                line=None if lines is None else int(lines[i]),
                row=int(rows[i]),
                source=source[i].as_py(),
                id=ids[i].as_py(),
                reason=reason,
                detail=detail,
                raw=raw_of(i),
            )
        )

    if text.null_count:
        for i in np.flatnonzero(pc.is_null(text).to_numpy(zero_copy_only=False)):
            reject(int(i), f"missing_field:{f.text}", f"field '{f.text}' is missing or null")
        text = pc.fill_null(text, "")
    n_bytes = byte_lengths(text)
    for i in np.flatnonzero(n_bytes > limits.max_doc_bytes):
        reject(
            int(i),
            "document_too_large",
            f"text has {int(n_bytes[i]):,} bytes, over max_doc_bytes={limits.max_doc_bytes:,}",
        )
    created = pa.nulls(n, pa.timestamp("us", tz="UTC"))
    if "created" in columns:
        given = columns["created"]
        if pa.types.is_timestamp(given.type):
            created = given.cast(pa.timestamp("us", tz=given.type.tz or "UTC")).cast(pa.timestamp("us", tz="UTC"))
        elif given.null_count < n:
            created = _parse_created(given.to_pylist(), reject)

    file_col = _constant(shard.file_key, n)
    batch = pa.RecordBatch.from_arrays(
        [ids, source, text, meta, url, created, file_col, rows_arr, pa.array(n_bytes, pa.int64())],
        schema=FLOW_SCHEMA,
    )
    if bad.any():
        batch = batch.filter(pa.array(~bad))
    return batch if batch.num_rows else None


def mapped_columns(batch: pa.RecordBatch, fields: FieldMap) -> dict[str, pa.Array]:
    """The input columns that hold document fields, keyed by document column name."""
    names = batch.schema.names
    pairs = (
        ("text", fields.text),
        ("id", fields.id),
        ("source", fields.source),
        ("url", fields.url),
        ("created", fields.created),
    )
    return {key: batch.column(name) for key, name in pairs if name in names}


def arrow_to_documents(
    batch: pa.RecordBatch,
    rows: np.ndarray,
    shard: Shard,
    limits: ReadLimits,
    rejects: RejectSink,
    lines: np.ndarray | None = None,
    raw_of: Callable[[int], bytes | str | None] | None = None,
) -> pa.RecordBatch | None:
    """Map a columnar batch (Parquet, Hugging Face, a parsed JSONL block) to documents.

    `rows` are the record indices in the file, `lines` (JSONL) the line numbers, `raw_of(i)` the raw record
    for a reject (default: the row as JSON). Raises SchemaMismatch, before any reject is recorded, when the
    columns cannot give documents (no text column, a text/source/url/id column of the wrong type).
    """
    f = shard.fields
    columns = mapped_columns(batch, f)
    if "text" not in columns:
        raise SchemaMismatch(f"no column '{f.text}' (columns: {', '.join(batch.schema.names[:12])})")
    already_bad = None
    ttype = columns["text"].type
    if pa.types.is_binary(ttype) or pa.types.is_large_binary(ttype):
        columns["text"], already_bad = _decode_binary(columns["text"], rows, shard, rejects)
    elif not _is_stringlike(ttype):
        raise SchemaMismatch(f"column '{f.text}' has type {ttype}, expected string")
    if raw_of is None:

        def raw_of(i: int) -> str:
            return orjson.dumps(batch.slice(i, 1).to_pylist()[0], default=str).decode()

    return build_documents(
        columns, encode_meta(batch, f), rows, shard, limits, rejects, raw_of, lines=lines, already_bad=already_bad
    )


def row_range(first_row: int, n: int) -> np.ndarray:
    return np.arange(first_row, first_row + n, dtype=np.int64)


def _decode_binary(arr: pa.Array, rows: np.ndarray, shard: Shard, rejects: RejectSink):
    """Decode a binary text column; rows that are not valid UTF-8 are rejected as invalid_utf8."""
    bad = np.zeros(len(arr), dtype=bool)
    try:
        return arr.cast(pa.string()), bad
    except pa.ArrowInvalid:
        pass
    out = []
    for i, v in enumerate(arr.to_pylist()):
        try:
            out.append(None if v is None else v.decode("utf-8"))
        except UnicodeDecodeError as exc:
            bad[i] = True
            out.append("")
            rejects.add(
                Reject(
                    file=shard.file_key,
                    row=int(rows[i]),
                    reason="invalid_utf8",
                    detail=f"text is not valid UTF-8: {exc}",
                    raw=v,
                )
            )
    return pa.array(out, pa.string()), bad
