"""`curator mixture build`: one resumable curator run per domain that writes its token shards, then store.json."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import numpy as np
import yaml

from curator.buckets.tokenizer import eos_id, load_tokenizer, token_dtype
from curator.errors import ConfigError, RunError
from curator.loader.from_buckets import copy_buckets
from curator.loader.holdout import HELDOUT_DIR
from curator.loader.mixture import BucketsSource, DomainConfig, MixtureConfig, PathSource, RunSource
from curator.loader.select_ids import count_selected, ids_digest, select_ids, write_ids
from curator.loader.store import STORE_META, TokenStore, file_sha256, shard_name, write_store_meta
from curator.loader.token_step import TOKENS_DIR
from curator.pipeline.config import PipelineConfig, parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.plan import plan_tasks
from curator.pipeline.run_folder import require_run_folder
from curator.stats.views import run_names

DROP_REASON = "not_in_domain"


def tokenizer_info(mixture: MixtureConfig) -> dict:
    """path, sha256, vocab_size, eos_id and the store dtype of the mixture's tokenizer."""
    if not mixture.tokenizer:
        raise ConfigError(
            f"mixture '{mixture.name}' names no tokenizer; add `tokenizer: PATH/tokenizer.json` to build its store"
        )
    path = os.path.abspath(mixture.tokenizer)
    tok = load_tokenizer(path)
    vocab = tok.get_vocab_size(with_added_tokens=True)
    return {
        "path": path,
        "sha256": file_sha256(path),
        "vocab_size": int(vocab),
        "eos_id": int(eos_id(tok, None)),
        "dtype": token_dtype(vocab).name,
    }


def build_store(
    mixture: MixtureConfig, out: Path | None = None, workers: int | None = None, overwrite: bool = False,
    quiet: bool = False,
) -> dict:  # fmt: skip
    """Build (or resume) the token store of `mixture` in `out` (default `mixture.store`); returns store.json.

    Each domain is a curator run folder STORE/domains/NAME/ (tasks, markers, resume, accounting), so a re-run
    skips what is finished and the shards are byte-identical whatever the worker count. Relative paths in the
    mixture are read from the current directory. Memory: that of the domain runs (one batch per worker) plus,
    for run sources, the selected ids.
    """
    missing = [d.name for d in mixture.domains if d.source is None]
    if missing:
        raise ConfigError(
            f"domain(s) {', '.join(missing)} have no `from:`; `curator mixture build` needs one of: "
            "{run: RUN_DIR, where: SQL}, {paths: [GLOB, ...]}, {buckets: RUN_DIR}"
        )
    store = Path(out if out is not None else mixture.store)
    tokenizer = tokenizer_info(mixture)
    for domain in mixture.domains:  # every predicate is checked before any domain is built
        if isinstance(domain.source, RunSource):
            count_selected(domain.name, [_run_root(domain, r) for r in domain.source.runs()], domain.source.where)
    _claim(store, tokenizer, overwrite)
    domains = {}
    for domain in mixture.domains:
        domains[domain.name] = _build_domain(store, domain, mixture, tokenizer, workers, overwrite, quiet)
    dtype = tokenizer.pop("dtype")
    meta = {"mixture": mixture.name, "tokenizer": tokenizer, "dtype": dtype, "holdout": mixture.holdout}
    meta["domains"] = domains
    write_store_meta(store, meta)
    return TokenStore(store).meta  # read back: the shards are checked against what was just recorded


def _claim(store: Path, tokenizer: dict, overwrite: bool) -> None:
    """Refuse a folder that is not a store, or a store built with another tokenizer (unless overwrite)."""
    if store.exists() and not store.is_dir():
        raise ConfigError(f"token store '{store}' is a file; choose a folder for the store")
    meta_path = store / STORE_META
    if store.is_dir() and not meta_path.exists() and not (store / "domains").exists():
        other = sorted(p.name for p in store.iterdir() if not p.name.startswith("."))
        if other:
            raise ConfigError(
                f"token store '{store}' is not empty and is not a token store (it holds {', '.join(other[:5])}); "
                "choose another --out"
            )
    if meta_path.exists():
        try:
            built = TokenStore(store).tokenizer
        except (ConfigError, RunError, KeyError, ValueError) as exc:
            why = f"cannot read {STORE_META} ({exc})"
            raise RunError(f"token store '{store}': {why}; rebuild it with --overwrite") from None
        if built.get("sha256") != tokenizer["sha256"] and not overwrite:
            raise ConfigError(
                f"token store '{store}' was built with tokenizer {built.get('path')} (sha256 "
                f"{str(built.get('sha256'))[:12]}...), not {tokenizer['path']} (sha256 {tokenizer['sha256'][:12]}...); "
                "rebuild it with --overwrite or choose another --out"
            )
        if overwrite:
            meta_path.unlink()
    (store / "domains").mkdir(parents=True, exist_ok=True)


def _build_domain(
    store: Path, domain: DomainConfig, mixture: MixtureConfig, tokenizer: dict, workers: int | None,
    overwrite: bool, quiet: bool,
) -> dict:  # fmt: skip
    folder = store / "domains" / domain.name
    source = domain.source
    info: dict = {"source": source.model_dump(mode="json")}
    if isinstance(source, BucketsSource):
        if overwrite:
            shutil.rmtree(folder / "tokens", ignore_errors=True)
        shards, held = copy_buckets(
            domain.name, Path(os.path.abspath(source.buckets)), folder, tokenizer, mixture.holdout
        )
        return {**_nonempty(domain, _totals(shards), folder), **_heldout_info(held), **info}
    store_step = {"dtype": tokenizer["dtype"], **({"holdout": mixture.holdout} if mixture.holdout else {})}
    steps = [{"tokenize": {"tokenizer": tokenizer["path"]}}, {"token_store": store_step}]
    about = f"mixture '{mixture.name}' domain '{domain.name}'; tokenizer sha256 {tokenizer['sha256']}"
    if isinstance(source, PathSource):
        inputs = [
            {"path": os.path.abspath(p), "text_field": source.text_field, "id_field": source.id_field}
            for p in source.paths
        ]
        config = _pipeline(domain, about, inputs, steps)
        _check_same_build(folder, config, domain, overwrite)
    else:
        assert isinstance(source, RunSource)
        config = _run_source_pipeline(store, folder, domain, source, about, steps, overwrite)
        info["sql"] = source.where
    summary = run_pipeline(config, folder, workers=workers, overwrite=overwrite, quiet=quiet)
    dtype = np.dtype(tokenizer["dtype"])
    totals = _totals(_published_shards(folder, summary.tasks, dtype))
    held = _published_shards(folder, summary.tasks, dtype, HELDOUT_DIR) if mixture.holdout else []
    held_docs = sum(s["docs"] for s in held)
    if totals["docs"] + held_docs != summary.kept:
        raise RunError(
            f"domain '{domain.name}': the token shards hold {totals['docs'] + held_docs:,} documents but the run "
            f"kept {summary.kept:,}; rebuild it with --overwrite"
        )
    return {**_nonempty(domain, totals, folder), **_heldout_info(held), **info}


def _heldout_info(held: list[dict]) -> dict:
    """store.json's `heldout` entry of a domain (absent when nothing is held out)."""
    return {"heldout": _totals(held)} if held else {}


def _nonempty(domain: DomainConfig, totals: dict, folder: Path) -> dict:
    if totals["docs"] == 0:
        raise ConfigError(
            f"domain '{domain.name}': its source gave no documents (see {folder}: stats/, rejects/); "
            "check the `from:` paths and field names"
        )
    return totals


def _pipeline(domain: DomainConfig, about: str, inputs: list[dict], steps: list[dict]) -> PipelineConfig:
    data = {"name": f"mixture-{domain.name}", "description": about, "inputs": inputs, "steps": steps}
    return parse_pipeline(data, f"domain '{domain.name}'")


def _run_source_pipeline(
    store: Path, folder: Path, domain: DomainConfig, source: RunSource, about: str, steps: list[dict], overwrite: bool
) -> PipelineConfig:
    """The pipeline over the runs' output/ keeping the selected ids; writes STORE/domains/NAME.ids.parquet
    (after checking that an existing domain folder was built from the same selection)."""
    roots = [_run_root(domain, run) for run in source.runs()]
    names = run_names(roots)
    inputs = [{"path": str(root / "output"), "name": name} for root, name in zip(roots, names, strict=True)]
    ids_path = store / "domains" / f"{domain.name}.ids.parquet"
    keep = {"keep_listed": {"ids": [str(ids_path.resolve())], "reason": DROP_REASON}}
    draft = _pipeline(domain, about, inputs, [keep, *steps])
    ids, matched = select_ids(domain.name, roots, source.where, plan_tasks(draft))
    if matched == 0:
        raise ConfigError(
            f"domain '{domain.name}': `{source.where}` matched 0 kept documents of {', '.join(map(str, roots))}; "
            'check the predicate with `curator sql RUN "SELECT ... FROM docs WHERE kept AND (...)"`'
        )
    about += f"; runs {', '.join(map(str, roots))} where {source.where}; ids sha256 {ids_digest(ids)}"
    config = _pipeline(domain, about, inputs, [keep, *steps])
    _check_same_build(folder, config, domain, overwrite)
    write_ids(ids, ids_path)
    return config


def _run_root(domain: DomainConfig, run: str) -> Path:
    try:
        return require_run_folder(Path(os.path.abspath(run)))
    except ConfigError as exc:
        raise ConfigError(f"domain '{domain.name}': run {exc}") from None


def _check_same_build(folder: Path, config: PipelineConfig, domain: DomainConfig, overwrite: bool) -> None:
    """A domain folder built from another source, SQL, id list or tokenizer is not resumed into."""
    previous = folder / "config.yaml"
    if overwrite or not previous.is_file():
        return
    if yaml.safe_load(previous.read_text()) != config.resolved():
        raise ConfigError(
            f"domain '{domain.name}': {folder} was built from a different source, SQL, tokenizer, holdout share or "
            "source run contents; rebuild the store with --overwrite (or choose another --out)"
        )


def _published_shards(folder: Path, tasks: int, dtype: np.dtype, sub: str | None = None) -> list[dict]:
    """The shards of a finished domain run in task order (file, tokens, docs), checked against their offsets;
    `sub`: those of a subfolder of tokens/ (heldout)."""
    root = folder / TOKENS_DIR
    shards = []
    for task in range(tasks):
        path = (root / sub if sub else root) / shard_name(task, dtype)
        docs_path = path.with_name(path.name.rsplit(".", 1)[0] + ".docs.npy")
        if not path.is_file() or not docs_path.is_file():
            raise RunError(f"{folder}: task {task} is marked done but its token shard {path.name} is missing; "
                           "rebuild the store with --overwrite")  # fmt: skip
        tokens = path.stat().st_size // dtype.itemsize
        ends = np.load(docs_path, mmap_mode="r")
        if (int(ends[-1]) if len(ends) else 0) != tokens:
            raise RunError(f"{path}: {tokens:,} tokens but its documents end at {int(ends[-1]) if len(ends) else 0:,}; "
                           "rebuild the store with --overwrite")  # fmt: skip
        shards.append({"file": path.name, "tokens": int(tokens), "docs": int(len(ends))})
    return shards


def _totals(shards: list[dict]) -> dict:
    return {
        "shards": shards,
        "tokens": int(sum(s["tokens"] for s in shards)),
        "docs": int(sum(s["docs"] for s in shards)),
    }
