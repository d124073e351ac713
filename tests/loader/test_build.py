"""`curator mixture build` end to end: a real curation run -> token store, checked against the source documents."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import yaml
from typer.testing import CliRunner

from curator.buckets.shards import BucketStore
from curator.buckets.tokenizer import EOS_TOKEN, load_tokenizer, train_tokenizer
from curator.cli import app
from curator.errors import ConfigError, RunError
from curator.loader.build import build_store
from curator.loader.mixture import parse_mixture
from curator.loader.store import TokenStore
from curator.pipeline.config import InputConfig, parse_pipeline
from curator.pipeline.executor import run_pipeline
from curator.pipeline.side_input import side_input_batches
from tests.conftest import synthetic_docs, write_jsonl
from tests.loader.conftest import take

STEPS = [{"normalize_text": {}}, {"length_filter": {"min_words": 8}}, "exact_dedup"]


@pytest.fixture(scope="module")
def world(tmp_path_factory) -> dict:
    """A quickstart-like run over 3 files of two sources (short and duplicate documents dropped), a BPE
    tokenizer trained on it, and a JSONL file with other field names for a paths domain."""
    root = tmp_path_factory.mktemp("mix")
    corpus = root / "corpus"
    for k in range(3):
        docs = synthetic_docs(60, seed=k, source="code") + synthetic_docs(60, seed=10 + k, source="prose")
        docs += [dict(docs[0], id=f"dup-{k}")]  # an exact duplicate: dropped
        docs.sort(key=lambda d: d["score"])  # sources interleaved within each file
        write_jsonl(corpus / f"part-{k}.jsonl", docs)
    config = parse_pipeline({"name": "qs", "inputs": [{"path": str(corpus)}], "steps": STEPS})
    run = root / "runs" / "quickstart"
    run_pipeline(config, run, workers=1, quiet=True)
    tokenizer = root / "tokenizer.json"
    train_tokenizer(side_input_batches(str(corpus)), tokenizer, vocab_size=300)
    extra = root / "extra" / "docs.jsonl"
    write_jsonl(extra, [{"doc_id": f"e{i}", "body": d["text"]} for i, d in enumerate(synthetic_docs(40, seed=99))])
    return {"root": root, "run": run, "tokenizer": tokenizer, "extra": extra}


def mixture_data(world: dict, store: Path, **over) -> dict:
    data = {  # fmt: skip
        "name": "test-mix",
        "store": str(store),
        "tokenizer": str(world["tokenizer"]),
        "seq_len": 16,
        "holdout": 0,
        "domains": [
            {"name": "code", "weight": 0.5, "from": {"run": str(world["run"]), "where": "source = 'code'"}},
            {
                "name": "prose",
                "weight": 0.3,
                "max_epochs": 1,
                "from": {"run": str(world["run"]), "where": "source = 'prose'"},
            },
            {
                "name": "extra",
                "weight": 0.2,
                "from": {"paths": [str(world["extra"])], "text_field": "body", "id_field": "doc_id"},
            },
        ],
    }
    data.update(over)
    return data


def expected_stream(world: dict, texts: list[str]) -> np.ndarray:
    tok = load_tokenizer(world["tokenizer"])
    eos = tok.token_to_id(EOS_TOKEN)
    ids = [e.ids + [eos] for e in tok.encode_batch(texts, add_special_tokens=False)]
    return np.array([t for doc in ids for t in doc], np.int64)


def kept_texts(run: Path, source: str, with_ids: bool = False) -> list:
    """The run's kept documents of `source`, in output order (files in task order, rows in order): texts, or
    (id, text) pairs."""
    out = []
    for f in sorted((run / "output").glob("part-*.parquet")):
        t = pq.read_table(f, columns=["id", "source", "text"]).to_pylist()
        out += [(r["id"], r["text"]) if with_ids else r["text"] for r in t if r["source"] == source]
    return out


def shard_digests(store: Path) -> dict[str, str]:
    return {
        str(p.relative_to(store)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted((store / "domains").glob("*/tokens/**/*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def built(world) -> Path:
    store = world["root"] / "store1"
    build_store(parse_mixture(mixture_data(world, store)), workers=1, quiet=True)
    return store


def test_store_streams_equal_the_selected_documents(world, built):
    store = TokenStore(built)
    assert store.domain_names == ["code", "prose", "extra"]
    for name in ("code", "prose"):
        texts = kept_texts(world["run"], name)
        assert texts, name
        dom = store.domain(name)
        assert dom.docs == len(texts)
        np.testing.assert_array_equal(dom.read(0, dom.tokens).astype(np.int64), expected_stream(world, texts))
    extra = [json.loads(line)["body"] for line in world["extra"].read_text().splitlines()]
    dom = store.domain("extra")
    np.testing.assert_array_equal(dom.read(0, dom.tokens).astype(np.int64), expected_stream(world, extra))


def test_store_json_adds_up(world, built):
    meta = json.loads((built / "store.json").read_text())
    assert meta["dtype"] == "uint16" and meta["mixture"] == "test-mix"
    tok = meta["tokenizer"]
    assert tok["vocab_size"] == 300 and tok["eos_id"] == load_tokenizer(world["tokenizer"]).token_to_id(EOS_TOKEN)
    for name, info in meta["domains"].items():
        assert info["tokens"] == sum(s["tokens"] for s in info["shards"]), name
        assert info["docs"] == sum(s["docs"] for s in info["shards"]), name
        assert [s["file"] for s in info["shards"]] == sorted(s["file"] for s in info["shards"])
    assert meta["domains"]["code"]["sql"] == "source = 'code'"
    assert meta["domains"]["code"]["source"] == {"run": str(world["run"]), "where": "source = 'code'"}
    assert len(meta["domains"]["code"]["shards"]) == 3  # one per output file of the run
    # documents of another domain are dropped with a reason, so the domain run's accounting holds
    summary = json.loads((built / "domains" / "code" / "stats" / "summary.json").read_text())
    assert summary["kept"] == meta["domains"]["code"]["docs"]
    assert set(summary["dropped_by_reason"]) == {"not_in_domain"}
    assert (built / "domains" / "code.ids.parquet").is_file()


def test_same_bytes_with_two_workers_and_after_resume(world, built):
    store = world["root"] / "store2"
    build_store(parse_mixture(mixture_data(world, store)), workers=2, quiet=True)
    assert shard_digests(store) == shard_digests(built)
    # interrupt: one task of `code` lost its marker and shard, `extra` lost its store.json entry
    (store / "domains" / "code" / "completions" / "task-00001.json").unlink()
    (store / "domains" / "code" / "tokens" / "task-00001.u16").unlink()
    (store / "store.json").unlink()
    meta = build_store(parse_mixture(mixture_data(world, store)), workers=1, quiet=True)
    assert shard_digests(store) == shard_digests(built)
    assert meta["domains"] == json.loads((built / "store.json").read_text())["domains"] | {
        "extra": meta["domains"]["extra"]
    }
    # a finished store builds again without redoing anything
    again = build_store(parse_mixture(mixture_data(world, store)), workers=1, quiet=True)
    assert again == meta


def test_two_runs_sharing_ids_are_matched_per_run(world, tmp_path):
    other = tmp_path / "runs" / "quickstart"  # same folder name: the `run` column holds the paths
    shutil.copytree(world["run"], other)
    data = mixture_data(world, tmp_path / "store")
    data["domains"] = [
        {"name": "both", "weight": 1.0, "from": {"run": [str(world["run"]), str(other)],
                                                 "where": f"source = 'code' AND run = '{other}'"}},
    ]  # fmt: skip
    meta = build_store(parse_mixture(data), workers=1, quiet=True)
    # only the copy's documents: its ids are also in the first run, which contributes none
    assert meta["domains"]["both"]["docs"] == len(kept_texts(other, "code"))
    assert [s["docs"] for s in meta["domains"]["both"]["shards"]][:3] == [0, 0, 0]


def test_bad_sql_and_empty_selection(world, tmp_path):
    data = mixture_data(world, tmp_path / "store")
    data["domains"][0]["from"]["where"] = "source = 'nothing'"
    with pytest.raises(ConfigError, match=r"domain 'code': `source = 'nothing'` matched 0 kept documents"):
        build_store(parse_mixture(data), quiet=True)
    data["domains"][0]["from"]["where"] = "no_such_column = 1"
    with pytest.raises(ConfigError, match=r"domain 'code': the SQL predicate `no_such_column = 1` failed.*no_such"):
        build_store(parse_mixture(data), quiet=True)


def test_missing_run_tokenizer_and_source(world, tmp_path):
    data = mixture_data(world, tmp_path / "store")
    data["domains"][0]["from"]["run"] = str(tmp_path / "nope")
    with pytest.raises(ConfigError, match=r"domain 'code': run .*nope' does not exist"):
        build_store(parse_mixture(data), quiet=True)
    with pytest.raises(ConfigError, match="names no tokenizer"):
        build_store(parse_mixture(mixture_data(world, tmp_path / "s", tokenizer=None)), quiet=True)
    with pytest.raises(ConfigError, match=r"tokenizer file '.*missing.json' not found"):
        build_store(parse_mixture(mixture_data(world, tmp_path / "s", tokenizer=str(tmp_path / "missing.json"))))
    data = mixture_data(world, tmp_path / "store")
    del data["domains"][2]["from"]
    with pytest.raises(ConfigError, match=r"domain\(s\) extra have no `from:`"):
        build_store(parse_mixture(data), quiet=True)


def test_buckets_source_is_refused_without_dd_run(world, tmp_path):
    data = mixture_data(world, tmp_path / "store")
    data["domains"][2]["from"] = {"buckets": str(world["run"])}
    with pytest.raises(ConfigError, match=r"domain 'extra': .* has no buckets/"):
        build_store(parse_mixture(data), quiet=True)


def test_truncated_shard_and_other_tokenizer_are_refused(world, built, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(built, store)
    shard = store / "domains" / "code" / "tokens" / "task-00000.u16"
    shard.write_bytes(shard.read_bytes()[:-2])
    with pytest.raises(RunError, match=r"shard .*task-00000.u16 holds .* truncated or changed"):
        TokenStore(store).domain("code")
    other = tmp_path / "other.json"
    train_tokenizer(side_input_batches(InputConfig(path=str(world["extra"]), text_field="body")), other, vocab_size=280)
    with pytest.raises(ConfigError, match=r"was built with tokenizer .*tokenizer.json.*not .*other.json"):
        TokenStore(store).check_tokenizer(other)
    TokenStore(store).check_tokenizer(world["tokenizer"])
    with pytest.raises(ConfigError, match=r"was built with tokenizer .* rebuild it with --overwrite"):
        build_store(parse_mixture(mixture_data(world, store, tokenizer=str(other))), quiet=True)


def test_changed_selection_is_not_resumed_into(world, built, tmp_path):
    store = tmp_path / "store"
    shutil.copytree(built, store)
    data = mixture_data(world, store)
    data["domains"][0]["from"]["where"] = "source = 'code' AND length(id) > 3"
    with pytest.raises(ConfigError, match=r"domain 'code': .* was built from a different source.*--overwrite"):
        build_store(parse_mixture(data), quiet=True)
    meta = build_store(parse_mixture(data), overwrite=True, quiet=True)
    assert meta["domains"]["code"]["sql"] == "source = 'code' AND length(id) > 3"


def test_foreign_folder_is_refused(world, tmp_path):
    (tmp_path / "store").mkdir()
    (tmp_path / "store" / "notes.txt").write_text("mine")
    with pytest.raises(ConfigError, match="is not empty and is not a token store"):
        build_store(parse_mixture(mixture_data(world, tmp_path / "store")), quiet=True)


def test_cli_build_and_show(world, built, tmp_path):
    mixture = tmp_path / "mixture.yaml"
    mixture.write_text(yaml.safe_dump(mixture_data(world, built)))
    runner = CliRunner()
    result = runner.invoke(app, ["mixture", "build", str(mixture), "-q"])
    assert result.exit_code == 0, result.output
    meta = json.loads((built / "store.json").read_text())
    assert f"code: {meta['domains']['code']['docs']:,} docs" in result.output
    result = runner.invoke(app, ["mixture", "show", str(mixture)])
    assert result.exit_code == 0, result.output
    lines = {line.split()[0]: line for line in result.output.splitlines() if line.strip()}
    assert "0.500" in lines["code"] and "prose" in lines
    total = sum(d["tokens"] for d in meta["domains"].values())
    big = runner.invoke(app, ["mixture", "show", str(mixture), "--tokens", str(total * 10)])
    assert big.exit_code == 0 and "over max_epochs 1" in big.output
    missing = runner.invoke(app, ["mixture", "build", str(tmp_path / "none.yaml")])
    assert missing.exit_code == 2 and "mixture file" in missing.output
    data = mixture_data(world, tmp_path / "s2")
    data["domains"][0]["from"]["where"] = "source = 'nothing'"
    mixture.write_text(yaml.safe_dump(data))
    bad = runner.invoke(app, ["mixture", "build", str(mixture), "-q"])
    assert bad.exit_code == 2 and "matched 0 kept documents" in bad.output
    unbuilt = runner.invoke(app, ["mixture", "show", str(mixture)])
    assert unbuilt.exit_code == 2 and "curator mixture build" in unbuilt.output


def test_buckets_domain_is_the_dd_runs_sequences(world, tmp_path):
    dd = tmp_path / "dd"
    steps = [{"tokenize": {"tokenizer": str(world["tokenizer"])}},
             {"dataset_decomposition": {"min_bucket": 3, "max_bucket": 6}}]  # fmt: skip
    run_pipeline(parse_pipeline({"name": "dd", "inputs": [{"path": str(world["extra"]), "text_field": "body"}],
                                 "steps": steps}), dd,
                 workers=1, quiet=True)  # fmt: skip
    data = mixture_data(world, tmp_path / "store")
    data["domains"][2]["from"] = {"buckets": str(dd)}
    meta = build_store(parse_mixture(data), quiet=True)
    buckets = BucketStore(dd)
    expected = np.concatenate([buckets.batch(b, np.arange(n)).ravel() for b, n in buckets.counts().items()])
    dom = TokenStore(tmp_path / "store").domain("extra")
    np.testing.assert_array_equal(dom.read(0, dom.tokens), expected)  # one task: bucket by bucket
    assert dom.docs == sum(buckets.counts().values()) == meta["domains"]["extra"]["docs"]
    before = shard_digests(tmp_path / "store")
    build_store(parse_mixture(data), quiet=True)
    assert shard_digests(tmp_path / "store") == before
    other = tmp_path / "other.json"
    train_tokenizer(side_input_batches(InputConfig(path=str(world["extra"]), text_field="body")), other, vocab_size=280)
    data["tokenizer"] = str(other)
    with pytest.raises(ConfigError, match=r"domain 'extra': .*dd was tokenised with .*tokenizer.json, not the mixture"):
        build_store(parse_mixture(data), out=tmp_path / "store3", quiet=True)


def test_a_domain_without_documents_is_an_error(world, tmp_path):
    empty = tmp_path / "empty.jsonl"
    write_jsonl(empty, [{"id": "x", "body": "no text field"}])  # rejected: no `text`
    data = mixture_data(world, tmp_path / "store")
    data["domains"][2]["from"] = {"paths": [str(empty)]}
    with pytest.raises(ConfigError, match=r"domain 'extra': its source gave no documents"):
        build_store(parse_mixture(data), quiet=True)


def test_a_dd_domain_serves_whole_sequences_with_buckets_packing(world, tmp_path):
    """End to end: tokenize -> dataset_decomposition run -> store -> MixtureLoader(packing: buckets)."""
    from curator.loader.dataset import MixtureLoader

    dd = tmp_path / "dd"
    steps = [{"tokenize": {"tokenizer": str(world["tokenizer"])}},
             {"dataset_decomposition": {"min_bucket": 3, "max_bucket": 6}}]  # fmt: skip
    run_pipeline(parse_pipeline({"name": "dd", "inputs": [{"path": str(world["extra"]), "text_field": "body"}],
                                 "steps": steps}), dd, workers=1, quiet=True)  # fmt: skip
    data = mixture_data(world, tmp_path / "store")
    data["domains"] = [{"name": "extra", "weight": 1.0, "from": {"buckets": str(dd)}}]
    data.update(packing="buckets", seq_len=64, global_batch=2, horizon=3)
    build_store(parse_mixture(data), quiet=True)
    sequences = {tuple(s) for b, n in BucketStore(dd).counts().items() for s in BucketStore(dd).batch(b, np.arange(n))}
    loader = MixtureLoader(parse_mixture(data))
    for batch in take(loader, 12):
        rows, length = batch["input_ids"].shape
        assert rows * length == 2 * 64  # the same tokens every step
        for row, labels in zip(batch["input_ids"].tolist(), batch["labels"].tolist(), strict=True):
            assert tuple(row) in sequences and labels == row[1:] + [-100]


def test_heldout_documents_are_chosen_by_id_and_kept_out_of_training(world, built, tmp_path):
    import pyarrow as pa

    from curator.loader.holdout import heldout_mask

    store_dir = tmp_path / "store"
    meta = build_store(parse_mixture(mixture_data(world, store_dir, holdout=0.3)), workers=2, quiet=True)
    store = TokenStore(store_dir)
    for name in ("code", "prose"):
        pairs = kept_texts(world["run"], name, with_ids=True)
        held = heldout_mask(pa.array([i for i, _ in pairs]), 0.3)
        assert 0 < held.sum() < len(pairs), name
        train = [t for (_, t), h in zip(pairs, held, strict=True) if not h]
        out = [t for (_, t), h in zip(pairs, held, strict=True) if h]
        dom, hel = store.domain(name), store.heldout(name)
        np.testing.assert_array_equal(dom.read(0, dom.tokens).astype(np.int64), expected_stream(world, train))
        np.testing.assert_array_equal(hel.read(0, hel.tokens).astype(np.int64), expected_stream(world, out))
        assert meta["domains"][name]["heldout"]["docs"] == len(out) == len(hel.doc_ends())
        summary = json.loads((store_dir / "domains" / name / "stats" / "summary.json").read_text())
        assert summary["kept"] == dom.docs + hel.docs  # every selected document is in one of the two splits
    # one worker, and a resume after a lost task (its training and held-out shards redone), give the same bytes
    one = tmp_path / "one"
    build_store(parse_mixture(mixture_data(world, one, holdout=0.3)), workers=1, quiet=True)
    assert shard_digests(one) == shard_digests(store_dir)
    assert any("heldout" in k for k in shard_digests(one))
    (one / "domains" / "code" / "completions" / "task-00001.json").unlink()
    (one / "domains" / "code" / "tokens" / "heldout" / "task-00001.u16").write_bytes(b"junk")
    (one / "store.json").unlink()
    build_store(parse_mixture(mixture_data(world, one, holdout=0.3)), workers=1, quiet=True)
    assert shard_digests(one) == shard_digests(store_dir)
    # without holdout the store has no held-out split
    assert TokenStore(built).heldout("code") is None and "heldout" not in TokenStore(built).meta["domains"]["code"]


def test_buckets_domain_holds_out_whole_sequences(world, tmp_path):
    dd = tmp_path / "dd"
    steps = [{"tokenize": {"tokenizer": str(world["tokenizer"])}},
             {"dataset_decomposition": {"min_bucket": 3, "max_bucket": 6}}]  # fmt: skip
    run_pipeline(parse_pipeline({"name": "dd", "inputs": [{"path": str(world["extra"]), "text_field": "body"}],
                                 "steps": steps}), dd, workers=1, quiet=True)  # fmt: skip
    data = mixture_data(world, tmp_path / "store", holdout=0.25)
    data["domains"] = [{"name": "extra", "weight": 1.0, "from": {"buckets": str(dd)}}]
    build_store(parse_mixture(data), quiet=True)
    buckets = BucketStore(dd)
    every = sorted(tuple(s) for b, n in buckets.counts().items() for s in buckets.batch(b, np.arange(n)))
    store = TokenStore(tmp_path / "store")

    def sequences(dom):
        ends = dom.doc_ends()
        starts = np.concatenate([[0], ends[:-1]])
        return [tuple(dom.read(int(a), int(b - a))) for a, b in zip(starts, ends, strict=True)]

    train, held = sequences(store.domain("extra")), sequences(store.heldout("extra"))
    assert held and train
    assert sorted(train + held) == every  # a partition of the DD run's sequences
    before = shard_digests(tmp_path / "store")
    build_store(parse_mixture(data), quiet=True)  # a finished copy is kept as is
    assert shard_digests(tmp_path / "store") == before
