"""Token stores: per-domain streams of EOS-terminated documents as little-endian uint16/uint32 shard files.

Layout of a store folder (written by `curator mixture build`):
  store.json                           written last (atomically): a store without it is unfinished
  domains/NAME/                        a curator run folder: the domain's build run (config, stats, rejects...);
                                       for a `buckets:` source only tokens/ (copied from the DD run)
  domains/NAME.ids.parquet             a run source's selected (task, id) list, read by the keep_listed step
  domains/NAME/tokens/task-TTTTT.u16   one shard per task: its documents' tokens back to back, each ending in EOS
  domains/NAME/tokens/task-TTTTT.docs.npy   int64 end offset (exclusive) of each document in that shard
  domains/NAME/tokens/heldout/...      the same for the domain's held-out (validation) documents
A domain's token stream is its shards concatenated in task order. store.json holds the tokenizer (path,
SHA-256, vocabulary size, EOS id), the token dtype, and per domain its shards (file, tokens, docs) and the
source it was built from (run folders + SQL, globs, or a buckets run), and `heldout` (shards, tokens, docs)
when the mixture holds documents out.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curator.errors import ConfigError, RunError
from curator.io.atomic import TMP_PREFIX
from curator.loader.holdout import HELDOUT_DIR

STORE_FORMAT = 1
STORE_META = "store.json"
SUFFIX = {np.dtype("<u2"): "u16", np.dtype("<u4"): "u32"}
DTYPE_OF = {"uint16": np.dtype("<u2"), "uint32": np.dtype("<u4")}


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while chunk := fh.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def shard_name(task: int, dtype: np.dtype) -> str:
    return f"task-{task:05d}.{SUFFIX[np.dtype(dtype).newbyteorder('<')]}"


class TokenShardWriter:
    """Appends documents' tokens (each already ending in EOS) to one shard under a temporary name; `close`
    publishes the shard and its document offsets. Memory: the offsets of the shard's documents (8 B each)."""

    def __init__(self, folder: str | Path, task: int, dtype: np.dtype):
        self.dtype = np.dtype(dtype).newbyteorder("<")
        self.path = Path(folder) / shard_name(task, self.dtype)
        self.docs_path = self.path.with_name(self.path.name.rsplit(".", 1)[0] + ".docs.npy")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._tmp = self.path.with_name(TMP_PREFIX + self.path.name)
        self._fh = open(self._tmp, "wb")  # noqa: SIM115 - closed in close()/abort()
        self._ends: list[np.ndarray] = []
        self.tokens = 0

    def write(self, flat: np.ndarray, lengths: np.ndarray) -> None:
        """`flat`: the tokens of several documents back to back; `lengths`: tokens per document (EOS included)."""
        flat = np.ascontiguousarray(flat, dtype=self.dtype)
        self._fh.write(flat.tobytes())
        self._ends.append(self.tokens + np.cumsum(np.asarray(lengths, np.int64)))
        self.tokens += len(flat)

    @property
    def docs(self) -> int:
        return sum(len(e) for e in self._ends)

    def close(self) -> dict:
        self._fh.flush()
        os.fsync(self._fh.fileno())
        self._fh.close()
        ends = np.concatenate(self._ends) if self._ends else np.empty(0, np.int64)
        tmp_docs = self.docs_path.with_name(TMP_PREFIX + self.docs_path.name)
        with open(tmp_docs, "wb") as fh:
            np.save(fh, ends)
        os.replace(tmp_docs, self.docs_path)
        os.replace(self._tmp, self.path)
        return {"file": self.path.name, "tokens": int(self.tokens), "docs": int(len(ends))}

    def abort(self) -> None:
        if not self._fh.closed:
            self._fh.close()
        self._tmp.unlink(missing_ok=True)


@dataclass
class DomainTokens:
    """One domain's token stream over its shard memmaps; `read(start, n)` may span shards."""

    name: str
    shards: list[np.memmap]
    starts: np.ndarray  # first global token of each shard, plus the total at the end
    docs: int
    doc_files: list[Path] | None = None  # each shard's .docs.npy (document end offsets in that shard)

    def doc_ends(self) -> np.ndarray:
        """End offset (exclusive) of every document in the domain's stream, int64: 8 B per document."""
        parts = [np.load(f) + self.starts[k] for k, f in enumerate(self.doc_files or [])]
        ends = np.concatenate(parts) if parts else np.empty(0, np.int64)
        if len(ends) != self.docs:
            raise RunError(f"domain '{self.name}': the shards list {len(ends):,} documents, store.json {self.docs:,}")
        return ends

    @property
    def tokens(self) -> int:
        return int(self.starts[-1])

    def gather(self, starts: np.ndarray, n: int, out: np.ndarray, rows: np.ndarray) -> None:
        """out[rows[k]] = tokens [starts[k], starts[k] + n) for every k (converted to out's dtype): a row copy
        from a plain view of the shard, `read` for the few windows that cross a shard end."""
        starts = np.asarray(starts, np.int64)
        shard = np.searchsorted(self.starts, starts, side="right") - 1
        inside = starts + n <= self.starts[shard + 1]
        where = zip(rows.tolist(), shard.tolist(), (starts - self.starts[shard]).tolist(), inside.tolist(), strict=True)
        for k, (row, s, at, ok) in enumerate(where):  # row copies (memcpy + widening) beat a fancy-index gather
            out[row] = self.shards[s][at : at + n] if ok else self.read(int(starts[k]), n)

    def read(self, start: int, n: int) -> np.ndarray:
        s = int(np.searchsorted(self.starts, start, side="right")) - 1
        local = start - int(self.starts[s])
        piece = self.shards[s][local : local + n]
        if len(piece) == n or s + 1 >= len(self.shards):
            return np.asarray(piece)
        parts = [np.asarray(piece)]
        got = len(piece)
        while got < n and s + 1 < len(self.shards):
            s += 1
            part = self.shards[s][: n - got]
            parts.append(np.asarray(part))
            got += len(part)
        return np.concatenate(parts)


class TokenStore:
    """A finished token store, opened read-only with every shard checked against store.json (sizes)."""

    def __init__(self, root: str | Path):
        self.root = Path(root)
        meta_path = self.root / STORE_META
        if not meta_path.is_file():
            why = "does not exist" if not self.root.exists() else f"has no {STORE_META} (unfinished or not a store)"
            raise ConfigError(f"token store '{self.root}' {why}; build it with `curator mixture build MIXTURE.yaml`")
        self.meta = json.loads(meta_path.read_text())
        if self.meta.get("format") != STORE_FORMAT:
            raise RunError(f"{meta_path}: store format {self.meta.get('format')!r}, this curator reads {STORE_FORMAT}")
        self.dtype = DTYPE_OF[self.meta["dtype"]]
        self.tokenizer = self.meta["tokenizer"]
        self.eos_id = int(self.tokenizer["eos_id"])
        self._domains: dict[str, DomainTokens] = {}

    @property
    def domain_names(self) -> list[str]:
        return list(self.meta["domains"])

    def domain(self, name: str) -> DomainTokens:
        if name not in self.meta["domains"]:
            have = ", ".join(self.meta["domains"])
            raise ConfigError(f"token store '{self.root}' has no domain '{name}'; it has: {have}")
        if name not in self._domains:
            self._domains[name] = self._open(name)
        return self._domains[name]

    def heldout(self, name: str) -> DomainTokens | None:
        """The domain's held-out (validation) documents, or None when the store was built without any."""
        self.domain(name)  # checks the name
        info = self.meta["domains"][name].get("heldout")
        if not info or not info.get("docs"):
            return None
        key = f"{name}/{HELDOUT_DIR}"
        if key not in self._domains:
            folder = self.root / "domains" / name / "tokens" / HELDOUT_DIR
            self._domains[key] = self._open(name, info, folder)
        return self._domains[key]

    def _open(self, name: str, info: dict | None = None, folder: Path | None = None) -> DomainTokens:
        info = info if info is not None else self.meta["domains"][name]
        folder = folder if folder is not None else self.root / "domains" / name / "tokens"
        shards, sizes, doc_files = [], [], []
        for shard in info["shards"]:
            path = folder / shard["file"]
            if not path.is_file():
                raise RunError(f"token store '{self.root}': shard {path} is missing; rebuild the store")
            size = path.stat().st_size
            if size != shard["tokens"] * self.dtype.itemsize:
                raise RunError(
                    f"token store '{self.root}': shard {path} holds {size:,} bytes but store.json says "
                    f"{shard['tokens']:,} tokens ({shard['tokens'] * self.dtype.itemsize:,} bytes): truncated or "
                    "changed; rebuild the store"
                )
            if shard["tokens"]:
                shards.append(np.asarray(np.memmap(path, dtype=self.dtype, mode="r")))  # plain view: cheaper slices
                sizes.append(shard["tokens"])
                doc_files.append(path.with_name(path.name.rsplit(".", 1)[0] + ".docs.npy"))
        starts = np.zeros(len(sizes) + 1, np.int64)
        np.cumsum(sizes, out=starts[1:])
        return DomainTokens(name, shards, starts, int(info["docs"]), doc_files)

    def check_tokenizer(self, path: str | Path) -> None:
        """Refuse a tokenizer other than the one the store was built with (by content hash)."""
        digest = file_sha256(path)
        if digest != self.tokenizer["sha256"]:
            raise ConfigError(
                f"token store '{self.root}' was built with tokenizer {self.tokenizer['path']} "
                f"(sha256 {self.tokenizer['sha256'][:12]}...), not {path} (sha256 {digest[:12]}...); "
                "rebuild the store or use that tokenizer"
            )


def write_store_meta(root: str | Path, meta: dict) -> Path:
    """Publish store.json atomically (the last file a build writes)."""
    path = Path(root) / STORE_META
    tmp = path.with_name(TMP_PREFIX + path.name)
    tmp.write_text(json.dumps({"format": STORE_FORMAT, **meta}, indent=1))
    os.replace(tmp, path)
    return path
