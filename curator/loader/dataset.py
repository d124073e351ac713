"""MixtureDataset reads samples by (domain, window); MixtureLoader feeds it the scheduler's batches and checkpoints.

The scheduler runs in the training process only. DataLoader workers (processes) or a thread pool receive a
batch descriptor (domains, windows, sample ids, step) and read token windows from the store's memmaps, so
what is sampled never depends on the number of workers, on threads vs processes, or on timing. The loader
counts a batch as consumed when the training loop receives it (prefetched batches are not consumed), so
`state_dict()` resumes exactly after the last batch the loop saw.

Over 300 lines on purpose: the dataset, the loader and its consumed-batch bookkeeping share the resume
contract; the scheduler (scheduler.py) and the store (store.py) are already separate.
"""

from __future__ import annotations

import collections
import hashlib
import json
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Literal

import numpy as np
import torch

from curator.errors import ConfigError
from curator.loader.bucket_scheduler import BucketMixtureScheduler
from curator.loader.mixture import MixtureConfig, load_mixture
from curator.loader.scheduler import GlobalBatch, MixtureScheduler
from curator.loader.store import TokenStore
from curator.stats.mixture_log import MixtureLogWriter


class MixtureDataset(torch.utils.data.Dataset):
    """Reads the samples the scheduler chose. Packed: window w of a domain is its tokens [w*L, w*L + L + 1),
    labels are the inputs shifted by one. Buckets: sample = a whole 2^i-token document (sequence), the last
    label -100. `segment_ids` count documents inside a sample (they step after each EOS) so a trainer can mask
    attention across documents. Memory: one batch of tokens (plus 8 B per sequence for buckets); the store
    stays memory-mapped.
    """

    def __init__(self, store: str | Path, domains: list[str], seq_len: int, packing: str = "packed"):
        self.store_root = str(store)
        self.domain_names = list(domains)
        self.seq_len = int(seq_len)
        self.packing = packing
        self._store: TokenStore | None = None
        self._domains = None
        self._doc_starts: list[np.ndarray] | None = None

    def _open(self) -> None:
        self._store = TokenStore(self.store_root)
        self._domains = [self._store.domain(n) for n in self.domain_names]
        if self.packing == "buckets":  # 8 B per sequence
            self._doc_starts = [np.concatenate([[0], d.doc_ends()[:-1]]) for d in self._domains]

    def __getstate__(self) -> dict:  # memmaps are reopened in each worker, never pickled
        state = dict(self.__dict__)
        state["_store"] = state["_domains"] = state["_doc_starts"] = None
        return state

    def sequences(self) -> list[dict[int, np.ndarray]]:
        """Buckets packing: per domain, {i: document numbers of exactly 2^i tokens}; every document must be one."""
        if self._domains is None:
            self._open()
        out = []
        for dom in self._domains:
            lengths = np.diff(dom.doc_ends(), prepend=0)
            exps = np.log2(np.maximum(lengths, 1)).astype(np.int64)
            bad = (lengths < 1) | ((1 << exps) != lengths) | (lengths > self.seq_len)
            if bad.any():
                k = int(np.flatnonzero(bad)[0])
                raise ConfigError(
                    f"domain '{dom.name}': document {k} has {int(lengths[k]):,} tokens; buckets packing needs every "
                    f"document to be one 2^i-token sequence of at most seq_len ({self.seq_len}) tokens: build the "
                    "domain from a Dataset Decomposition run (from: {buckets: RUN}) or use packing: packed"
                )
            out.append({int(i): np.flatnonzero(exps == i) for i in np.unique(exps)})
        return out

    def windows(self) -> list[int]:
        """Full samples per domain: (tokens - 1) // seq_len (a sample needs one more token for its labels)."""
        if self._domains is None:
            self._open()
        return [max(0, (d.tokens - 1) // self.seq_len) for d in self._domains]

    def __len__(self) -> int:
        return sum(self.windows())

    def __getitem__(self, index):
        raise TypeError("MixtureDataset is read in batches chosen by the scheduler; use MixtureLoader")

    def __getitems__(self, batch: GlobalBatch) -> dict:
        if self._domains is None:
            self._open()
        if batch.bucket >= 0:
            return self._sequences(batch)
        n, length = len(batch.domains), self.seq_len
        tokens = np.empty((n, length + 1), np.int64)
        for d in np.unique(batch.domains):
            rows = np.flatnonzero(batch.domains == d)
            self._domains[d].gather(batch.windows[rows] * length, length + 1, tokens, rows)
        inputs = tokens[:, :-1]
        is_eos = inputs == self._store.eos_id
        segments = np.cumsum(is_eos, axis=1, dtype=np.int32) - is_eos
        return {  # input_ids and labels are views of one buffer (strided tensors, no copies)
            "input_ids": torch.from_numpy(inputs),
            "labels": torch.from_numpy(tokens[:, 1:]),
            "segment_ids": torch.from_numpy(segments),
            "domain_id": torch.from_numpy(batch.domains.astype(np.int64)),
            "sample_id": torch.from_numpy(batch.sample_ids),
            "n_tokens": torch.full((n,), length, dtype=torch.int64),
            "step": batch.step,
        }

    def _sequences(self, batch: GlobalBatch) -> dict:
        """Buckets packing: whole 2^i-token sequences; the label of the last position is -100 (ignored)."""
        n, length = len(batch.domains), 1 << batch.bucket
        tokens = np.empty((n, length), np.int64)
        for d in np.unique(batch.domains):
            rows = np.flatnonzero(batch.domains == d)
            self._domains[d].gather(self._doc_starts[d][batch.windows[rows]], length, tokens, rows)
        labels = np.full_like(tokens, -100)
        labels[:, :-1] = tokens[:, 1:]
        is_eos = tokens == self._store.eos_id
        segments = np.cumsum(is_eos, axis=1, dtype=np.int32) - is_eos
        return {
            "input_ids": torch.from_numpy(tokens),
            "labels": torch.from_numpy(labels),
            "segment_ids": torch.from_numpy(segments),
            "domain_id": torch.from_numpy(batch.domains.astype(np.int64)),
            "sample_id": torch.from_numpy(batch.sample_ids),
            "n_tokens": torch.full((n,), length, dtype=torch.int64),
            "step": batch.step,
        }


def _identity(batch):
    return batch


class _Descriptors:
    """The batch sampler a DataLoader iterates: each item is this rank's part of the next global batch."""

    def __init__(self, loader: MixtureLoader):
        self.loader = loader

    def __iter__(self):
        return self.loader._descriptors()


class MixtureLoader:
    """Iterate it in the training loop: batches of this rank's samples, weights changeable at any step,
    `state_dict()` for checkpoints.

    backend: "thread" (a thread pool reads ahead; the fastest on few cores) or "process" (torch DataLoader
    workers); num_workers 0 reads in the loop's thread. The horizon of the mixture must exceed the batches in
    flight (num_workers x prefetch for processes, prefetch for threads), else a weight change could land in a
    batch already handed out: that is refused at construction with the horizon needed.
    """

    def __init__(
        self,
        mixture: MixtureConfig | str | Path,
        rank: int | None = None,
        world_size: int | None = None,
        num_workers: int = 0,
        backend: Literal["thread", "process"] = "thread",
        prefetch: int = 2,
        log_dir: str | Path | None = None,
        log_every: int = 100,
        policy: str = "static",
    ):
        self.config = mixture if isinstance(mixture, MixtureConfig) else load_mixture(mixture)
        cfg = self.config
        if rank is None or world_size is None:
            dist = torch.distributed
            ready = dist.is_available() and dist.is_initialized()
            rank, world_size = (dist.get_rank(), dist.get_world_size()) if ready else (0, 1)
        if cfg.global_batch % world_size:
            raise ConfigError(f"global_batch {cfg.global_batch} does not split over {world_size} ranks")
        if backend not in ("thread", "process"):
            raise ConfigError(f"backend must be 'thread' or 'process', got {backend!r}")
        self.rank, self.world_size = int(rank), int(world_size)
        self.num_workers, self.backend, self.prefetch = int(num_workers), backend, max(1, int(prefetch))
        in_flight = (
            0 if self.num_workers == 0 else self.num_workers * self.prefetch if backend == "process" else self.prefetch
        )
        if cfg.horizon < in_flight + 1:
            raise ConfigError(
                f"horizon {cfg.horizon} is too short: {in_flight} batch(es) can be in flight ({backend} backend, "
                f"num_workers={self.num_workers}, prefetch={self.prefetch}); set horizon >= {in_flight + 1} in the "
                "mixture file"
            )
        store = TokenStore(cfg.store)
        if cfg.tokenizer:
            store.check_tokenizer(cfg.tokenizer)
        self.dataset = MixtureDataset(cfg.store, cfg.names, cfg.seq_len, cfg.packing)
        caps = [d.max_epochs for d in cfg.domains]
        if cfg.packing == "buckets":
            sequences = self.dataset.sequences()
            windows = [sum(len(v) for v in per.values()) for per in sequences]
            self.scheduler = BucketMixtureScheduler(
                sequences, cfg.weights, cfg.global_batch, cfg.seq_len, cfg.seed, cfg.horizon, caps, cfg.names
            )
        else:
            windows = self.dataset.windows()
            self.scheduler = MixtureScheduler(
                windows, cfg.weights, cfg.global_batch, cfg.seed, cfg.horizon, caps, cfg.names
            )
        self.fingerprint = _fingerprint(cfg, windows, store)
        self.consumed_step = -1  # the last step the training loop received
        self._snapshots: dict[int, dict] = {}  # scheduler state after each handed-out, not yet consumed step
        self._initial = self.scheduler.state_dict()
        self.log_every = max(1, int(log_every))
        self._log = MixtureLogWriter(log_dir, policy) if log_dir is not None else None

    # -- iteration ---------------------------------------------------------------------------------------

    def _descriptors(self):
        self._snapshots = {}
        while True:
            batch = self.scheduler.next_batch()
            if batch is None:
                return
            self._snapshots[batch.step] = self.scheduler.state_dict()
            yield batch.for_rank(self.rank, self.world_size)

    def _batches(self):
        if self.num_workers == 0:
            for desc in self._descriptors():
                yield self.dataset.__getitems__(desc)
        elif self.backend == "thread":
            with ThreadPoolExecutor(self.num_workers, thread_name_prefix="curator-loader") as pool:
                pending = collections.deque()
                for desc in self._descriptors():
                    pending.append(pool.submit(self.dataset.__getitems__, desc))
                    if len(pending) > self.prefetch:
                        yield pending.popleft().result()
                while pending:
                    yield pending.popleft().result()
        else:
            yield from torch.utils.data.DataLoader(
                self.dataset,
                batch_sampler=_Descriptors(self),
                collate_fn=_identity,
                num_workers=self.num_workers,
                prefetch_factor=self.prefetch,
            )

    def __iter__(self):
        """Batches from where the loader stands (the start, or the step after the last consumed one)."""
        self.scheduler.load_state_dict(self._resume_state())  # undo what an earlier iteration prefetched
        try:
            for batch in self._batches():
                self.consumed_step = batch["step"]
                for s in [s for s in self._snapshots if s < self.consumed_step]:
                    del self._snapshots[s]
                self.scheduler.compact(self.consumed_step)  # no step before it is asked for again (resume: after it)
                if self._log is not None and self.consumed_step % self.log_every == 0:
                    self._log_weights(self.consumed_step, self.consumed_step)
                yield batch
        finally:
            self.close()  # the stream ended, or the loop broke off: the log keeps what was consumed

    def close(self) -> None:
        """Flush the mixture log (also done by `state_dict()` and at the end of the stream)."""
        if self._log is not None:
            self._log.flush()

    # -- weights -----------------------------------------------------------------------------------------

    def set_weights(
        self, weights: dict[str, float] | list[float], step: int | None = None, losses: dict[str, float] | None = None
    ) -> int:
        """New domain weights decided at optimizer `step` (default: the last step received); they apply from
        step + horizon, identically after a resume. Returns that step."""
        if isinstance(weights, dict):
            unknown = sorted(set(weights) - set(self.config.names))
            missing = [n for n in self.config.names if n not in weights]
            if missing and not unknown:
                raise ConfigError(
                    f"set_weights: give every domain a weight (0 to stop one); missing: {', '.join(missing)}"
                )
            if unknown:
                raise ConfigError(
                    f"unknown domain(s) {', '.join(unknown)}; the mixture has {', '.join(self.config.names)}"
                )
            weights = [float(weights.get(n, 0.0)) for n in self.config.names]
        step = self.consumed_step if step is None else int(step)
        if step < self.consumed_step:
            raise ConfigError(
                f"set_weights(step={step}): the loop already received step {self.consumed_step}; a change can only "
                "come from the current step (leave step out)"
            )
        start = self.scheduler.set_weights(weights, step)
        if self._log is not None:
            self._log_weights(step, start, losses)
        return start

    def _log_weights(self, step: int, start: int, losses: dict[str, float] | None = None) -> None:
        """One mixture-log row per domain: the weights active from `start`, and the tokens each domain had
        served up to the last consumed step (realised mixture = their differences over steps)."""
        names = self.config.names
        cursors = self._resume_state()["cursors"]
        self._log.log(
            step,
            start * self.config.global_batch,
            dict(zip(names, self.scheduler.weights_at(start), strict=True)),
            losses=losses,
            tokens={n: int(c) * self.config.seq_len for n, c in zip(names, cursors, strict=True)},
        )

    # -- state -------------------------------------------------------------------------------------------

    def _resume_state(self) -> dict:
        """Scheduler state right after the last consumed step, with every weight change made so far."""
        state = dict(self._snapshots.get(self.consumed_step, self._initial))
        state["weight_log"] = [[s, list(w)] for s, w in self.scheduler.weight_log]
        return state

    def state_dict(self) -> dict:
        if self._log is not None:
            self._log.flush()  # the log holds every row up to this checkpoint
        return {"fingerprint": self.fingerprint, "consumed_step": self.consumed_step, "scheduler": self._resume_state()}

    def load_state_dict(self, state: dict) -> None:
        theirs, ours = state.get("fingerprint", {}), self.fingerprint
        diff = [k for k in ours if theirs.get(k) != ours[k]]
        if diff:
            shown = "; ".join(f"{k}: state {theirs.get(k)!r}, loader {ours[k]!r}" for k in diff)
            raise ConfigError(
                f"this state belongs to another mixture or store ({shown}); to change weights in a resumed run, "
                "load the state with the original mixture file and call set_weights"
            )
        self.scheduler.load_state_dict(state["scheduler"])
        self.consumed_step = int(state["consumed_step"])
        if self._log is not None:  # rows a crashed attempt wrote after this checkpoint are replayed, not kept twice
            self._log.drop_after(self.consumed_step)
        self._snapshots = {}
        self._initial = self.scheduler.state_dict()


def _fingerprint(cfg: MixtureConfig, windows: list[int], store: TokenStore) -> dict:
    """What a state must match to resume: domains and their sizes, sample shape, batch, seed, tokenizer."""
    return {
        "domains": list(cfg.names),
        "windows": [int(w) for w in windows],
        "seq_len": cfg.seq_len,
        "packing": cfg.packing,
        "global_batch": cfg.global_batch,
        "seed": cfg.seed,
        "weights": [round(w, 12) for w in cfg.weights],  # the file's initial weights; later ones are in the state
        "max_epochs": [d.max_epochs for d in cfg.domains],
        "horizon": cfg.horizon,
        "tokenizer_sha256": store.tokenizer.get("sha256"),
        "store": hashlib.sha256(json.dumps(store.meta.get("domains", {}), sort_keys=True).encode()).hexdigest()[:16],
    }
