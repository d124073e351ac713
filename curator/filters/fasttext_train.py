"""Train a supervised fastText classifier from labelled corpora, with a held-out report (`curator quality train`).

Data flow, bounded in memory: documents stream from JSONL/Parquet/HF inputs; each non-empty one gets a key
hashed from (seed, label, id) that decides held-out or training and its place in the shuffle; training lines
go to SHUFFLE_BUCKETS temp files by key, and each bucket is shuffled in memory on its own (so RAM holds about
1/SHUFFLE_BUCKETS of the training text), then fastText trains on the concatenation with one thread and a
seed: the same data and settings give a byte-identical model. Defaults are DCLM's (lr 0.1, dim 100, ws 5,
epoch 5, minCount 1, wordNgrams 2) except `bucket` (200k, not 2M: an 80 MB `.bin` instead of 838 MB).
The split (labels, held-out, shuffle buckets) is in fasttext_split.py, the held-out report in fasttext_eval.py.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from curator.errors import ConfigError
from curator.filters.fasttext_eval import evaluate
from curator.filters.fasttext_model import quiet_fasttext
from curator.filters.fasttext_split import LabelledInput, SplitWriter, TrainSettings, split_inputs


@dataclass
class TrainReport:
    """What a training used and measured; written next to the model as OUT.json."""

    model: str
    labels: list[str]
    train_docs: dict[str, int]
    valid_docs: dict[str, int]
    skipped: dict[str, int]  # reason -> documents not used (empty text, over max_docs_per_label, no label)
    metrics: dict
    seconds: dict[str, float]
    settings: dict = field(default_factory=dict)
    model_bytes: int = 0


def _train_and_save(train_file: str, settings: TrainSettings, plain: str, quantized: str | None) -> dict:
    """Train (and quantise) in this process and save the model(s); returns seconds per phase.

    Runs in a fresh child process: with fasttext-numpy2 0.10.4, a `multilinePredict` earlier in a process
    changes every later training in it (other weights, often a NaN loss), so training never shares a
    process with prediction.
    """
    fasttext = quiet_fasttext()
    seconds = {}
    t0 = time.perf_counter()
    try:
        model = fasttext.train_supervised(
            input=train_file, lr=settings.lr, dim=settings.dim, ws=settings.ws, epoch=settings.epoch,
            minCount=settings.min_count, wordNgrams=settings.word_ngrams, bucket=settings.bucket,
            seed=settings.seed, thread=settings.threads, verbose=0,
        )  # fmt: skip
    except RuntimeError as exc:
        if "NaN" not in str(exc):
            raise
        raise ConfigError(
            f"fastText training diverged (NaN loss) with lr={settings.lr}, dim={settings.dim}; "
            "a lower --lr (or another --dim) usually trains"
        ) from None
    seconds["train"] = time.perf_counter() - t0
    model.save_model(plain)
    if quantized:
        t0 = time.perf_counter()
        model.quantize(input=train_file, qnorm=True, retrain=True, cutoff=settings.cutoff, thread=settings.threads)
        model.save_model(quantized)
        seconds["quantize"] = time.perf_counter() - t0
    return seconds


def _train_in_child(train_file: Path, settings: TrainSettings, plain: Path, quantized: Path | None) -> dict:
    """`_train_and_save` in a fresh interpreter (`python -m curator.filters.fasttext_train`); its ConfigError
    comes back as a ConfigError with the same message."""
    import subprocess
    import sys

    request = {"train_file": str(train_file), "settings": asdict(settings), "plain": str(plain)}
    request["quantized"] = str(quantized) if quantized else None
    proc = subprocess.run(
        [sys.executable, "-m", "curator.filters.fasttext_train"], input=json.dumps(request), capture_output=True,
        text=True,
    )  # fmt: skip
    if proc.returncode == 3:
        raise ConfigError(proc.stderr.strip())
    if proc.returncode != 0:
        raise RuntimeError(f"fastText training process failed (exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


def _child_main() -> None:
    import sys

    request = json.loads(sys.stdin.read())
    try:
        seconds = _train_and_save(
            request["train_file"], TrainSettings(**request["settings"]), request["plain"], request["quantized"]
        )
    except ConfigError as exc:
        print(exc, file=sys.stderr)
        sys.exit(3)
    print(json.dumps(seconds))


def train_classifier(
    inputs: list[LabelledInput], out: str | os.PathLike, settings: TrainSettings, positive: str | None = None
) -> TrainReport:
    """Train, evaluate on the held-out split, optionally quantise, and write `out` plus `out.json` (the report).

    The model appears under its final name only when complete (written to a temp name, then renamed).
    """
    if not 0.0 <= settings.valid_fraction < 1.0:
        raise ConfigError(f"valid_fraction must be in [0, 1), got {settings.valid_fraction}")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    fasttext = quiet_fasttext()
    seconds: dict[str, float] = {}
    work = Path(tempfile.mkdtemp(prefix=".curator-train-", dir=out.parent))
    writer = SplitWriter(work, settings)
    try:
        t0 = time.perf_counter()
        split_inputs(inputs, writer)
        train_file = writer.finish()
        labels = sorted(set(writer.train_docs) | set(writer.valid_docs))
        if len(labels) < 2:
            raise ConfigError(f"training needs documents of at least two labels, got {labels or 'none'}")
        if positive is not None and positive not in labels:
            raise ConfigError(f"positive label '{positive}' has no documents (labels: {', '.join(labels)})")
        seconds["prepare"] = time.perf_counter() - t0

        plain, quantized = work / "model.bin", (work / "model.ftz" if settings.quantize else None)
        t0 = time.perf_counter()
        seconds.update(_train_in_child(train_file, settings, plain, quantized))
        seconds["train_process"] = time.perf_counter() - t0
        valid_file = work / "valid.txt"
        t0 = time.perf_counter()
        metrics = evaluate(fasttext.load_model(str(plain)), valid_file, labels, positive)
        if quantized is not None:
            quantized_metrics = evaluate(fasttext.load_model(str(quantized)), valid_file, labels, positive)
            metrics = {**quantized_metrics, "before_quantize": metrics}
        seconds["evaluate"] = time.perf_counter() - t0
        tmp = quantized or plain
        os.replace(tmp, out)
    finally:
        writer.close()
        shutil.rmtree(work, ignore_errors=True)
    report = TrainReport(
        model=str(out), labels=labels, train_docs=writer.train_docs, valid_docs=writer.valid_docs,
        skipped=writer.skipped, metrics=metrics, seconds=seconds, settings=asdict(settings),
        model_bytes=out.stat().st_size,
    )  # fmt: skip
    report_path = out.with_name(out.name + ".json")
    report_path.write_text(json.dumps(asdict(report), indent=1, sort_keys=True))
    return report


if __name__ == "__main__":
    _child_main()
