"""Stream JSONL files (plain, gzip or zstd) into document batches; every bad line becomes a reject.

Over 300 lines on purpose: the line splitter, the decoders' truncation handling and the per-line error
locations share one buffer state; split apart, each would need the others' internals.
"""

from __future__ import annotations

import io
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np
import orjson
import pyarrow as pa
import pyarrow.json as pj

from curator.io.decompress import GZIP_MAGIC, ZSTD_MAGIC, DecompressedStream, TruncatedStream
from curator.io.documents import SchemaMismatch, arrow_to_documents, build_documents, row_range
from curator.io.meta import is_flat
from curator.io.rejects import Reject, RejectSink
from curator.io.sources import ReadLimits, Shard

TRUNCATION_ERRORS = (OSError, EOFError, TruncatedStream)
_MISSING = object()
_BLANK = b" \t\n\r\x0b\x0c"  # what bytes.strip() removes: a line of only these is blank, not a record
SCAN_CHUNK = 16 << 20  # bytes read at a time when a file is scanned whole (blank check)


def compression_of(path: str | Path) -> str | None:
    """'gzip' or 'zstd' by the file's magic bytes (not its name); None for a plain file."""
    with open(path, "rb") as fh:
        head = fh.read(4)
    if head[:2] == GZIP_MAGIC:
        return "gzip"
    if head == ZSTD_MAGIC:
        return "zstd"
    return None


def open_decompressed(path: str | Path) -> BinaryIO:
    """Open a file for binary reading, decompressing gzip or zstd by magic bytes (not by name).

    Concatenated members/frames are read; a truncated or corrupt stream yields every byte decoded before the
    break, then raises TruncatedStream (see curator.io.decompress).
    """
    kind = compression_of(path)
    if kind is not None:
        return DecompressedStream(path, kind)
    return open(path, "rb")  # noqa: SIM115 - the caller closes it


class ByteRange:
    """A binary reader over bytes [start, stop) of a plain file (stop None: to its end)."""

    def __init__(self, path: str | Path, start: int, stop: int | None):
        self._fh = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._fh.seek(start)
        self._left = None if stop is None else max(0, stop - start)

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes of the range (all that is left when n < 0); b"" at its end."""
        if self._left is None:
            return self._fh.read(n)
        data = self._fh.read(self._left if n < 0 else min(n, self._left))
        self._left -= len(data)
        return data

    def close(self) -> None:
        self._fh.close()

    def __enter__(self) -> ByteRange:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def open_shard(shard: Shard) -> BinaryIO | ByteRange:
    """The shard's bytes: its byte range of a plain file, or the whole file, decompressed if need be."""
    if shard.is_byte_range:
        return ByteRange(shard.path, shard.byte_start, shard.byte_stop)
    return open_decompressed(shard.path)


def blank_from(path: str | Path, offset: int) -> bool:
    """True when the plain file holds nothing but blank lines from `offset` on (memory: one 16 MiB chunk)."""
    with open(path, "rb") as fh:
        fh.seek(offset)
        while chunk := fh.read(SCAN_CHUNK):
            if chunk.translate(None, _BLANK):
                return False
    return True


def _meta_is_exact(table: pa.Table, fields) -> bool:
    """Whether the `meta` JSON encoded from Arrow's parse equals each line's own unmapped fields. Not when a
    field is missing from some lines (Arrow fills in nulls), is a float (Arrow turns 1 into 1.0 when a float
    shares its column) or nested (a struct gains the keys other lines have): such blocks go line by line."""
    mapped = fields.mapped()
    return all(
        is_flat(fl.type) and not pa.types.is_null(fl.type) and table.column(fl.name).null_count == 0
        for fl in table.schema
        if fl.name not in mapped
    )


class JsonlReader:
    """Yields FLOW_SCHEMA batches from one JSONL file.

    Memory: at most `limits.batch_bytes + limits.max_doc_bytes` bytes of input plus one batch; a longer
    line is skipped while streaming and rejected as document_too_large. Record `row` = 0-based line index
    in the file, so stable ids do not depend on which lines were rejected, nor on how the file was cut into
    byte ranges (a range's first line is `shard.row_start`; its reads end where a whole-file read's do, at
    multiples of `batch_bytes`, so only the blocks that straddle a range boundary are grouped differently).
    """

    def __init__(self, shard: Shard, limits: ReadLimits, rejects: RejectSink):
        self.shard = shard
        self.limits = limits
        self.rejects = rejects
        self.records = 0  # non-blank lines seen

    def __iter__(self) -> Iterator[pa.RecordBatch]:
        try:
            stream = open_shard(self.shard)
        except OSError as exc:
            self._file_reject("unreadable_file", f"cannot open: {exc}", None)
            return
        with stream:
            for block, first_line, newlines in self._blocks(stream):
                batch = self._parse_fast(block, first_line, newlines)
                if batch is None:
                    batch = self._parse_slow(block, first_line)
                if batch is None:
                    continue
                for start in range(0, batch.num_rows, self.limits.batch_rows):
                    yield batch.slice(start, self.limits.batch_rows)
        if self.records == 0 and self.rejects.count == 0 and self._whole_file_blank():
            self._file_reject("empty_file", "file holds no JSON records", 0, line=None)

    def _whole_file_blank(self) -> bool:
        """Given that this shard held no record: whether the file holds none (only a file's first range says)."""
        if not self.shard.is_byte_range:
            return True
        if self.shard.byte_start > 0:
            return False
        try:
            return blank_from(self.shard.path, self.shard.byte_stop)
        except OSError:
            return False

    # -- blocks of whole lines -------------------------------------------------------------------------

    def _blocks(self, stream: BinaryIO) -> Iterator[tuple[bytes, int, np.ndarray]]:
        """(block of whole lines, its first line number, the positions of its newlines)."""
        limits = self.limits
        buf = b""
        line_no = self.shard.row_start + 1  # line number of buf[0]
        want = limits.batch_bytes - self.shard.byte_start % limits.batch_bytes  # end reads where a whole read does
        while True:
            try:
                chunk = stream.read(want)
            except TRUNCATION_ERRORS as exc:
                yield from self._truncated(buf, line_no, exc)
                return
            want = limits.batch_bytes
            if not chunk:
                if buf.strip():
                    yield buf, line_no, newline_positions(buf)
                return
            buf += chunk
            cut = buf.rfind(b"\n")
            if cut == -1:
                if len(buf) > limits.max_doc_bytes:
                    skipped = self._skip_long_line(stream, buf, line_no)
                    if skipped is None:
                        return
                    buf = skipped
                    line_no += 1
                continue
            block, buf = buf[: cut + 1], buf[cut + 1 :]
            newlines = newline_positions(block)
            yield block, line_no, newlines
            line_no += len(newlines)

    def _truncated(self, buf: bytes, line_no: int, exc: Exception) -> Iterator[tuple[bytes, int, np.ndarray]]:
        """Keep every complete line before the break; the cut-off line (if any) is the reject."""
        cut = buf.rfind(b"\n")
        if cut != -1:
            block, buf = buf[: cut + 1], buf[cut + 1 :]
            newlines = newline_positions(block)
            yield block, line_no, newlines
            line_no += len(newlines)
        partial = bool(buf.strip())
        self.records += partial
        where = f"in line {line_no} (cut off after {len(buf):,} bytes)" if partial else f"after line {line_no - 1}"
        self._file_reject(
            "truncated_file",
            f"{exc}: the file ends {where}; every complete line before it was read, anything after is lost",
            int(partial),
            line=line_no,
            row=line_no - 1,
            raw=buf if partial else None,
        )

    def _skip_long_line(self, stream: BinaryIO, head: bytes, line_no: int) -> bytes | None:
        """Discard the rest of an over-long line; return the bytes after it (None at end of file)."""
        size = len(head)
        rest = None
        broken = None
        while rest is None:
            try:
                chunk = stream.read(self.limits.batch_bytes)
            except TRUNCATION_ERRORS as exc:
                chunk, broken = b"", exc
            if not chunk:
                break
            nl = chunk.find(b"\n")
            if nl == -1:
                size += len(chunk)
            else:
                size += nl
                rest = chunk[nl + 1 :]
        self.records += 1
        self._reject(
            line_no,
            "document_too_large",
            f"line has {size:,}+ bytes, over max_doc_bytes={self.limits.max_doc_bytes:,}",
            head,
        )
        if broken is not None:
            self._file_reject("truncated_file", f"{broken}: the file ends in that line", 0, line=line_no + 1)
        return rest

    # -- parsing ---------------------------------------------------------------------------------------

    def _parse_fast(self, block: bytes, first_line: int, newlines: np.ndarray) -> pa.RecordBatch | None:
        """Parse a clean block with Arrow's JSON reader; None means 'use the line-by-line path'.

        `newlines` (the positions of the block's newlines) answer, without another pass over the bytes,
        whether a line is blank or longer than max_doc_bytes: both go line by line."""
        line_bytes = np.diff(newlines, prepend=-1)  # each line's length + 1, but the unterminated last one
        if len(newlines) and (line_bytes.min() == 1 or line_bytes.max() > self.limits.max_doc_bytes):
            return None
        n_lines = len(newlines) + (0 if block.endswith(b"\n") else 1)
        opts = pj.ReadOptions(use_threads=False, block_size=len(block) + 64)
        try:
            table = pj.read_json(io.BytesIO(block), read_options=opts)
            if table.num_rows != n_lines:
                return None
            table.validate(full=True)  # Arrow's JSON parser does not check UTF-8; this does
            f = self.shard.fields
            inferred_ts = [fl.name for fl in table.schema if fl.name != f.created and _has_timestamp(fl.type)]
            if inferred_ts:  # keep date-like strings as the strings they were
                if any(not pa.types.is_timestamp(table.schema.field(c).type) for c in inferred_ts):
                    return None
                schema = pa.schema([(c, pa.string()) for c in inferred_ts])
                table = pj.read_json(
                    io.BytesIO(block), read_options=opts, parse_options=pj.ParseOptions(explicit_schema=schema)
                )
        except (pa.ArrowInvalid, UnicodeDecodeError, ValueError):
            return None
        if table.num_rows == 0 or not _meta_is_exact(table, self.shard.fields):
            return None
        batch = table.combine_chunks().to_batches()[0]
        rows = row_range(first_line - 1, batch.num_rows)
        try:
            docs = arrow_to_documents(
                batch,
                rows,
                self.shard,
                self.limits,
                self.rejects,
                lines=rows + 1,
                raw_of=lambda i: block.split(b"\n")[i],
            )
        except SchemaMismatch:  # e.g. a non-string text in some line: find it line by line
            return None
        self.records += batch.num_rows
        return docs

    def _parse_slow(self, block: bytes, first_line: int) -> pa.RecordBatch | None:
        """Parse line by line with orjson, so each bad line is rejected with its exact line number."""
        f = self.shard.fields
        cols: dict[str, list] = {"text": [], "id": [], "source": [], "url": [], "created": []}
        meta: list[str | None] = []
        rows: list[int] = []
        raws: list[bytes] = []
        lines = block.split(b"\n")
        if block.endswith(b"\n"):
            lines.pop()
        for k, line in enumerate(lines):
            line_no = first_line + k
            if not line.strip():
                continue
            self.records += 1
            if len(line) > self.limits.max_doc_bytes:
                self._reject(
                    line_no,
                    "document_too_large",
                    f"line has {len(line):,} bytes, over max_doc_bytes={self.limits.max_doc_bytes:,}",
                    line,
                )
                continue
            try:
                obj = orjson.loads(line)
            except orjson.JSONDecodeError as exc:
                try:
                    line.decode("utf-8")
                    self._reject(line_no, "malformed_json", f"not valid JSON: {exc}", line)
                except UnicodeDecodeError as uexc:
                    self._reject(line_no, "invalid_utf8", f"line is not valid UTF-8: {uexc}", line)
                continue
            if not isinstance(obj, dict):
                self._reject(line_no, "not_an_object", f"expected a JSON object, got {type(obj).__name__}", line)
                continue
            problem = _pop_mapped(obj, f, cols)
            if problem is not None:
                for values in cols.values():  # undo the partial append
                    del values[len(rows) :]
                self._reject(line_no, problem[0], problem[1], line)
                continue
            meta.append(orjson.dumps(obj).decode() if obj else None)
            rows.append(line_no - 1)
            raws.append(line)
        if not rows:
            return None
        columns = {"text": pa.array(cols["text"], pa.string())}
        for key in ("id", "source", "url"):
            if any(v is not None for v in cols[key]):
                columns[key] = pa.array(cols[key], pa.string())
        if any(v is not None for v in cols["created"]):
            columns["created"] = pa.array([None if v is None else str(v) for v in cols["created"]], pa.string())
        rows_np = np.asarray(rows, dtype=np.int64)
        return build_documents(
            columns,
            pa.array(meta, pa.string()),
            rows_np,
            self.shard,
            self.limits,
            self.rejects,
            raw_of=lambda i: raws[i],
            lines=rows_np + 1,
        )

    # -- rejects ---------------------------------------------------------------------------------------

    def _reject(self, line_no: int, reason: str, detail: str, raw: bytes | None) -> None:
        self.rejects.add(
            Reject(
                file=self.shard.file_key,
                line=line_no,
                row=line_no - 1,
                reason=reason,
                detail=detail,
                raw=raw,
                source=self.shard.force_source,
            )
        )

    def _file_reject(self, reason: str, detail: str, n_docs: int | None, **where) -> None:
        self.rejects.add(Reject.for_file(self.shard, reason, detail, n_docs, **where))


def newline_positions(block: bytes) -> np.ndarray:
    """Byte offsets of every '\\n' in `block` (one pass; it gives the line count and lengths)."""
    return np.flatnonzero(np.frombuffer(block, dtype=np.uint8) == 10)


def _pop_mapped(obj: dict, f, cols: dict[str, list]) -> tuple[str, str] | None:
    """Move the mapped fields of one record into `cols`; return (reason, detail) if one is unusable."""
    text = obj.pop(f.text, _MISSING)
    if text is _MISSING or text is None:
        return f"missing_field:{f.text}", f"field '{f.text}' is missing or null"
    if not isinstance(text, str):
        return f"wrong_type:{f.text}", f"field '{f.text}' is {type(text).__name__}, expected string"
    cols["text"].append(text)
    doc_id = obj.pop(f.id, None)
    if doc_id is not None and (isinstance(doc_id, bool) or not isinstance(doc_id, (str, int))):
        return f"wrong_type:{f.id}", f"field '{f.id}' is {type(doc_id).__name__}, expected string or integer"
    cols["id"].append(None if doc_id is None else str(doc_id))
    for key, name in (("source", f.source), ("url", f.url)):
        value = obj.pop(name, None)
        if value is not None and not isinstance(value, str):
            return f"wrong_type:{name}", f"field '{name}' is {type(value).__name__}, expected string"
        cols[key].append(value)
    cols["created"].append(obj.pop(f.created, None))
    return None


def _has_timestamp(t: pa.DataType) -> bool:
    if pa.types.is_timestamp(t):
        return True
    if pa.types.is_struct(t):
        return any(_has_timestamp(t.field(i).type) for i in range(t.num_fields))
    if pa.types.is_list(t) or pa.types.is_large_list(t):
        return _has_timestamp(t.value_type)
    return False
