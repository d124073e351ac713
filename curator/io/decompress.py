"""Incremental gzip/zstd decompression that hands over every byte decoded before a truncation or corruption."""

from __future__ import annotations

import zlib
from pathlib import Path

import zstandard

GZIP_MAGIC = b"\x1f\x8b"
ZSTD_MAGIC = b"\x28\xb5\x2f\xfd"
RAW_CHUNK = 1 << 20  # compressed bytes read from the file at a time
FEED_BYTES = 64 << 10  # compressed bytes per decoder call: what a corrupt zstd block can cost at most
SALVAGE_BYTES = 256  # gzip: after an error, the piece is decoded again in steps this small


class TruncatedStream(Exception):  # noqa: N818 - read like "the stream is truncated"
    """The compressed stream ends early or is corrupt; raised only after every byte before that point was read."""

    def __init__(self, detail: str, decoded: int):
        super().__init__(detail)
        self.detail = detail
        self.decoded = decoded  # uncompressed bytes delivered before the stream broke


class DecompressedStream:
    """A binary reader over a gzip (multi-member) or zstd (multi-frame) file.

    Unlike a one-shot decoder, `read(n)` returns the bytes decoded so far even when the next compressed
    bytes are missing or corrupt; only the call after them raises TruncatedStream. Memory: one raw chunk
    (1 MiB) plus at most `n` + one chunk's output of decoded bytes.
    """

    def __init__(self, path: str | Path, kind: str):
        if kind not in ("gzip", "zstd"):
            raise ValueError(f"unknown compression {kind!r}")
        self.kind = kind
        self._raw = open(path, "rb")  # noqa: SIM115 - closed in close()
        self._decoder = self._new_decoder()
        self._pending: list[bytes] = []
        self._pending_bytes = 0
        self._decoded = 0
        self._error: TruncatedStream | None = None
        self._done = False

    def _new_decoder(self):
        if self.kind == "gzip":
            return zlib.decompressobj(16 + zlib.MAX_WBITS)
        return zstandard.ZstdDecompressor().decompressobj()

    def _emit(self, data: bytes) -> None:
        if data:
            self._pending.append(data)
            self._pending_bytes += len(data)
            self._decoded += len(data)

    def _fill(self, want: int) -> None:
        """Decode until `want` bytes are pending, the stream ends, or it breaks (the error is kept for later)."""
        while self._pending_bytes < want and not self._done and self._error is None:
            raw = self._raw.read(RAW_CHUNK)
            if not raw:
                if self._decoder is not None and not self._decoder.eof:
                    self._error = TruncatedStream(
                        f"the {self.kind} stream ends early (after {self._decoded:,} uncompressed bytes)", self._decoded
                    )
                self._done = True
                break
            self._feed(raw)

    def _feed(self, raw: bytes) -> None:
        for start in range(0, len(raw), FEED_BYTES):
            self._feed_piece(raw[start : start + FEED_BYTES])
            if self._error is not None:
                return

    def _feed_piece(self, raw: bytes) -> None:
        while raw and self._error is None:
            if self._decoder is None:  # between members/frames: skip zero padding, then expect a new one
                raw = raw.lstrip(b"\x00")
                if not raw:
                    return
                self._decoder = self._new_decoder()
            backup = self._decoder.copy() if self.kind == "gzip" else None
            try:
                self._emit(self._decoder.decompress(raw))
            except (zlib.error, zstandard.ZstdError) as exc:
                if backup is not None:  # a failed call returns nothing: re-decode the piece in small steps
                    self._decoder = backup
                    self._salvage(raw)
                self._error = TruncatedStream(
                    f"the {self.kind} stream is corrupt after {self._decoded:,} uncompressed bytes: {exc}",
                    self._decoded,
                )
                return
            if not self._decoder.eof:
                return
            raw = self._decoder.unused_data
            self._decoder = None

    def _salvage(self, raw: bytes) -> None:
        """Decode `raw` in small steps up to the first one that fails (gzip only)."""
        for start in range(0, len(raw), SALVAGE_BYTES):
            try:
                self._emit(self._decoder.decompress(raw[start : start + SALVAGE_BYTES]))
            except zlib.error:
                return
            if self._decoder.eof:
                return

    def read(self, n: int = -1) -> bytes:
        """Up to `n` bytes (all that is left when n < 0); b"" at the end; TruncatedStream once the decodable
        bytes are used up and the stream was broken."""
        self._fill(n if n >= 0 else 1 << 62)
        if not self._pending:
            if self._error is not None:
                raise self._error
            return b""
        data = b"".join(self._pending)
        if 0 <= n < len(data):
            data, rest = data[:n], data[n:]
            self._pending, self._pending_bytes = [rest], len(rest)
        else:
            self._pending, self._pending_bytes = [], 0
        return data

    def close(self) -> None:
        self._raw.close()

    def __enter__(self) -> DecompressedStream:
        return self

    def __exit__(self, *exc) -> None:
        self.close()
