"""A buckets-source domain: a Dataset Decomposition run's sequences copied into token store shards."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import numpy as np
import yaml

from curator.buckets.shards import BUCKETS_DIR
from curator.errors import ConfigError, RunError
from curator.io.atomic import TMP_PREFIX
from curator.loader.holdout import HELDOUT_DIR, heldout_sequences
from curator.loader.store import TokenShardWriter, file_sha256, shard_name
from curator.pipeline.run_folder import RunFolder, require_run_folder

CHUNK_TOKENS = 1 << 22  # tokens copied per write (8-16 MiB)
_FILE = re.compile(r"D(\d\d)\.(u16|u32)$")


def _check_tokenizer(domain: str, root: Path, tokenizer: dict) -> None:
    """The DD run must have tokenised with the mixture's tokenizer (same file content)."""
    config = yaml.safe_load((root / "config.yaml").read_text()) or {}
    used = [s["tokenize"].get("tokenizer") for s in config.get("steps", []) if "tokenize" in s]
    if not used:
        raise ConfigError(f"domain '{domain}': {root} has no `tokenize` step; give a dataset_decomposition run")
    path = Path(used[0])
    if not path.is_file():
        raise ConfigError(
            f"domain '{domain}': the tokenizer {path} of {root} is gone, so the run cannot be checked against the "
            f"mixture's {tokenizer['path']}"
        )
    if file_sha256(path) != tokenizer["sha256"]:
        raise ConfigError(
            f"domain '{domain}': {root} was tokenised with {path}, not the mixture's tokenizer {tokenizer['path']}; "
            "re-run it with that tokenizer or take the domain from its documents ({run: ..., where: ...})"
        )


def copy_buckets(
    domain: str, root: Path, folder: Path, tokenizer: dict, holdout: float = 0.0
) -> tuple[list[dict], list[dict]]:
    """Write each finished task of the DD run `root` as one shard in FOLDER/tokens/, in task order; returns
    (shards, held-out shards). With `holdout` > 0 a hashed share of the sequences goes to tokens/heldout/.

    Within a task, sequences go bucket by bucket (shortest first), each in its row order; every sequence counts
    as one "document" (its end is a document boundary; the EOS tokens inside are the real document ends, and
    the tokens DD dropped from short tails are not in the run). A shard already there with the right size is
    kept, so a re-run rewrites nothing. Memory: CHUNK_TOKENS tokens at a time.
    """
    try:
        require_run_folder(root)
    except ConfigError as exc:
        raise ConfigError(f"domain '{domain}': buckets run {exc}") from None
    run = RunFolder(root)
    if not (run.root / BUCKETS_DIR).is_dir():
        raise ConfigError(f"domain '{domain}': {root} has no buckets/; give a run ending with dataset_decomposition")
    _check_tokenizer(domain, root, tokenizer)
    dtype = np.dtype(tokenizer["dtype"]).newbyteorder("<")
    out = folder / "tokens"
    shards, held, expected = [], [], set()
    for task_dir in sorted((run.root / BUCKETS_DIR).glob("task-*")):
        task = int(task_dir.name.split("-")[1])
        if not run.is_done(task):
            continue
        files = []
        for f in sorted(task_dir.iterdir()):
            m = _FILE.match(f.name)
            if m:
                if np.dtype(np.uint16 if m.group(2) == "u16" else np.uint32).itemsize != dtype.itemsize:
                    raise RunError(f"{f}: token width differs from the store's {dtype.name}")
                files.append((int(m.group(1)), f))
        train, heldout = _copy_task(out, task, files, dtype, holdout)
        shards.append(train)
        expected |= {train["file"], train["file"].rsplit(".", 1)[0] + ".docs.npy"}
        if heldout is not None:
            held.append(heldout)
    if not shards:
        raise ConfigError(f"domain '{domain}': {root} has no finished tasks with buckets")
    for stale in out.iterdir():  # shards of tasks the DD run no longer has
        if stale.is_file() and stale.name not in expected and not stale.name.startswith(TMP_PREFIX):
            stale.unlink()
    if not holdout:
        shutil.rmtree(out / HELDOUT_DIR, ignore_errors=True)
    return shards, held


def _copy_task(
    out: Path, task: int, files: list[tuple[int, Path]], dtype: np.dtype, holdout: float
) -> tuple[dict, dict | None]:
    """One task's sequences into its training shard (and held-out shard when `holdout` > 0); an existing shard
    of the right size and document count is kept."""
    plan = []  # (bucket length, file, sequences, held-out mask)
    for bucket, f in files:
        n = f.stat().st_size // dtype.itemsize >> bucket
        plan.append((1 << bucket, f, n, heldout_sequences(task, bucket, 0, n, holdout)))
    held_docs = sum(int(m.sum()) for *_, m in plan)
    expect = {
        False: (sum(length * int((~m).sum()) for length, _, _, m in plan), sum(n for _, _, n, _ in plan) - held_docs),
        True: (sum(length * int(m.sum()) for length, _, _, m in plan), held_docs),
    }
    folders = {False: out, True: out / HELDOUT_DIR}
    sides = (False, True) if holdout else (False,)
    if all(_published(folders[h], task, dtype, *expect[h]) for h in sides):
        infos = [_info(folders[h], task, dtype, *expect[h]) for h in sides]
        return infos[0], (infos[1] if holdout else None)
    writers = {h: TokenShardWriter(folders[h], task, dtype) for h in sides}
    try:
        for length, f, n, mask in plan:
            data = np.memmap(f, dtype=dtype, mode="r") if n else np.empty(0, dtype)
            per = max(CHUNK_TOKENS // length, 1)
            for lo in range(0, n, per):
                piece = np.asarray(data[lo * length : (lo + per) * length]).reshape(-1, length)
                held = mask[lo : lo + len(piece)]
                for h in sides:
                    rows = piece[held] if h else piece[~held]
                    if len(rows):
                        writers[h].write(rows.reshape(-1), np.full(len(rows), length, np.int64))
        infos = [writers[h].close() for h in sides]
    except BaseException:
        for w in writers.values():
            w.abort()
        raise
    return infos[0], (infos[1] if holdout else None)


def _published(folder: Path, task: int, dtype: np.dtype, tokens: int, docs: int) -> bool:
    path = folder / shard_name(task, dtype)
    docs_path = path.with_name(path.name.rsplit(".", 1)[0] + ".docs.npy")
    if not (path.is_file() and docs_path.is_file() and path.stat().st_size == tokens * dtype.itemsize):
        return False
    return len(np.load(docs_path, mmap_mode="r")) == docs


def _info(folder: Path, task: int, dtype: np.dtype, tokens: int, docs: int) -> dict:
    return {"file": shard_name(task, dtype), "tokens": int(tokens), "docs": int(docs)}
