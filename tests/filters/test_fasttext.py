"""fastText classifiers: training (held-out report, determinism, quantisation), fasttext_quality (threshold and
seeded Pareto keep), language_id with the bundled lid.176, and the errors a user meets."""

from __future__ import annotations

import hashlib
import json
import random
from pathlib import Path

import numpy as np
import pyarrow as pa
import pytest
from pydantic import ValidationError
from typer.testing import CliRunner

import curator
from curator.cli import app
from curator.errors import ConfigError
from curator.filters.fasttext_eval import _auc
from curator.filters.fasttext_model import fasttext_lines, load_model
from curator.filters.fasttext_train import LabelledInput, TrainSettings, train_classifier
from curator.filters.language_id import LID_MD5, LanguageId, bundled_lid_model
from curator.filters.quality_classifier import FastTextQuality, pareto_draws
from curator.pipeline.step import StepContext
from tests.conftest import synthetic_docs, write_jsonl

GOOD = ["the council", "approved a budget", "for the library", "and the school", "after a long debate",
        "residents asked", "about the plan", "in the evening", "with a clear majority"]  # fmt: skip
BAD = ["click here", "buy now", "free", "!!!", "casino", "win $$$", "subscribe", "best price", "viagra"]


def docs(phrases: list[str], n: int, seed: int, prefix: str) -> list[dict]:
    rng = random.Random(seed)
    return [{"id": f"{prefix}{i}", "text": " ".join(rng.choices(phrases, k=rng.randint(5, 40)))} for i in range(n)]


@pytest.fixture(scope="module")
def binary_data(tmp_path_factory):
    root = tmp_path_factory.mktemp("binary")
    return write_jsonl(root / "good.jsonl", docs(GOOD, 600, 1, "g")), write_jsonl(
        root / "bad.jsonl", docs(BAD, 600, 2, "b")
    )


SMALL = TrainSettings(bucket=20_000, epoch=5)


@pytest.fixture(scope="module")
def binary_model(binary_data, tmp_path_factory):
    good, bad = binary_data
    out = tmp_path_factory.mktemp("model") / "quality.bin"
    report = train_classifier([LabelledInput([str(good)], "hq"), LabelledInput([str(bad)], "lq")], out, SMALL, "hq")
    return out, report


def test_binary_classifier_report(binary_model):
    out, report = binary_model
    assert report.labels == ["hq", "lq"]
    assert sum(report.train_docs.values()) + sum(report.valid_docs.values()) == 1200
    assert 60 < sum(report.valid_docs.values()) < 180  # about 10 % held out
    m = report.metrics
    assert m["accuracy"] > 0.98 and m["auc"] > 0.99
    assert m["per_label"]["hq"]["precision"] > 0.97 and m["per_label"]["hq"]["recall"] > 0.97
    saved = json.loads(out.with_name(out.name + ".json").read_text())
    assert saved["metrics"]["auc"] == m["auc"] and saved["settings"]["seed"] == 0


def test_training_is_deterministic_and_seeded(binary_data, binary_model, tmp_path):
    good, bad = binary_data
    inputs = [LabelledInput([str(good)], "hq"), LabelledInput([str(bad)], "lq")]
    again = train_classifier(inputs, tmp_path / "again.bin", SMALL, "hq")
    assert (tmp_path / "again.bin").read_bytes() == binary_model[0].read_bytes()
    assert again.valid_docs == binary_model[1].valid_docs
    other = train_classifier(inputs, tmp_path / "other.bin", TrainSettings(bucket=20_000, seed=7), "hq")
    assert other.valid_docs != again.valid_docs  # another seed, another split


def test_source_classifier_on_the_sample_corpus(sample_corpus, tmp_path):
    """A real classifier: prose (docstrings) vs code vs man pages of the sample corpus."""
    inputs = [LabelledInput([str(sample_corpus / "*.jsonl.zst")], label_column="source", only=["prose", "code", "man"])]
    settings = TrainSettings(bucket=50_000, valid_fraction=0.2, lr=0.5, epoch=25)  # small data: more epochs
    report = train_classifier(inputs, tmp_path / "source.bin", settings)
    assert report.labels == ["code", "man", "prose"]
    assert report.skipped.get("label not chosen", 0) > 0  # the 'docs' source was left out, and counted
    assert report.metrics["docs"] > 150
    assert report.metrics["accuracy"] >= 0.95, report.metrics
    assert report.metrics["per_label"]["man"]["recall"] >= 0.8, report.metrics


def test_quantised_model_is_small_and_still_accurate(binary_data, binary_model, tmp_path):
    good, bad = binary_data
    inputs = [LabelledInput([str(good)], "hq"), LabelledInput([str(bad)], "lq")]
    settings = TrainSettings(bucket=20_000, quantize=True, cutoff=2_000)
    report = train_classifier(inputs, tmp_path / "quality.ftz", settings, "hq")
    assert report.model_bytes < binary_model[1].model_bytes / 10
    assert report.metrics["accuracy"] > 0.95 and report.metrics["before_quantize"]["accuracy"] > 0.95
    assert FastTextQuality(model=str(tmp_path / "quality.ftz")).describe().startswith("P(hq)")


def test_max_docs_per_label_caps_and_counts(binary_data, tmp_path):
    good, bad = binary_data
    inputs = [LabelledInput([str(good)], "hq"), LabelledInput([str(bad)], "lq")]
    report = train_classifier(inputs, tmp_path / "m.bin", TrainSettings(bucket=20_000, max_docs_per_label=250))
    for label in ("hq", "lq"):
        assert report.train_docs[label] + report.valid_docs[label] == 250
    assert report.skipped == {"over max_docs_per_label": 700}  # every document is accounted for


def test_training_errors(binary_data, tmp_path):
    good, _ = binary_data
    with pytest.raises(ConfigError, match="at least two labels"):
        train_classifier([LabelledInput([str(good)], "hq")], tmp_path / "m.bin", SMALL)
    with pytest.raises(ConfigError, match="without whitespace"):
        train_classifier([LabelledInput([str(good)], "high quality")], tmp_path / "m.bin", SMALL)
    assert not (tmp_path / "m.bin").exists()


def test_auc_matches_pairwise_definition():
    rng = np.random.default_rng(0)
    scores = rng.integers(0, 5, 200).astype(float)  # many ties
    positive = rng.random(200) < 0.4
    pairs = [(a > b) + 0.5 * (a == b) for a in scores[positive] for b in scores[~positive]]
    assert _auc(scores, positive) == pytest.approx(np.mean(pairs))
    assert _auc(scores, np.zeros(200, bool)) is None


def score(step, texts, ids=None, seed=0):
    ctx = StepContext(seed=seed)
    step.setup(ctx)
    batch = pa.RecordBatch.from_pydict({"id": ids or [f"d{i}" for i in range(len(texts))], "text": texts})
    columns = step.score(batch)
    full = batch
    for name, values in columns.items():
        full = full.append_column(name, values)
    return columns, step.decide(full).to_pylist(), ctx


def test_quality_step_threshold(binary_model):
    model = str(binary_model[0])
    texts = ["the council approved a budget for the library", "click here buy now free casino", ""]
    columns, reasons, _ = score(FastTextQuality(model=model, threshold=0.5), texts)
    s = columns["quality_score"].to_pylist()
    assert s[0] > 0.9 and s[1] < 0.1 and 0.0 <= s[2] <= 1.0
    assert reasons[:2] == [None, "low_quality"]
    assert score(FastTextQuality(model=model, keep="none"), texts)[1] == [None, None, None]


def test_pareto_keep_is_seeded_per_document_and_follows_pareto(binary_model):
    ids = [f"doc-{i}" for i in range(20_000)]
    draws = pareto_draws(pa.array(ids), 9.0, 0)
    assert draws.min() >= 0
    assert np.mean(draws) == pytest.approx(1 / 8, rel=0.05)  # Lomax(9) mean: 1 / (alpha - 1)
    assert np.median(draws) == pytest.approx(2 ** (1 / 9) - 1, rel=0.05)
    np.testing.assert_array_equal(pareto_draws(pa.array(ids[5000:6000]), 9.0, 0), draws[5000:6000])  # batch-free
    assert not np.array_equal(pareto_draws(pa.array(ids[:100]), 9.0, 1), draws[:100])
    step = FastTextQuality(model=str(binary_model[0]), keep="pareto")
    texts = ["the council approved a budget", "click here buy now"] * 200
    columns, reasons, _ = score(step, texts, ids=ids[:400])
    kept_good = sum(r is None for r in reasons[0::2])
    kept_bad = sum(r is None for r in reasons[1::2])
    assert kept_good > 190 and kept_bad < 10  # near-certain keep for P~1, rare keep for P~0
    again = score(step, texts[::-1], ids=ids[:400][::-1])[1][::-1]
    assert again == reasons  # order and batching do not change the choice


def test_missing_model_names_path_and_how_to_train(tmp_path):
    with pytest.raises(ValidationError) as err:
        FastTextQuality(model=str(tmp_path / "nope.bin"))
    assert "nope.bin" in str(err.value) and "curator quality train" in str(err.value)


def test_unknown_label(binary_model):
    with pytest.raises(ConfigError, match="not one of the model's labels: hq, lq"):
        score(FastTextQuality(model=str(binary_model[0]), label="good"), ["text"])


HOSTILE = ["", "\n\n", "a\x00b\x00 the council", "English text, 日本語のテキスト, русский текст 🙂", "x" * 5_000_000,
           "line one\r\nline two\rline three\n"]  # fmt: skip


def test_hostile_text_is_scored(binary_model):
    columns, _, _ = score(FastTextQuality(model=str(binary_model[0])), HOSTILE)
    s = np.array(columns["quality_score"].to_pylist())
    assert len(s) == len(HOSTILE) and np.all((s >= 0) & (s <= 1))
    columns, reasons, _ = score(LanguageId(), HOSTILE)
    assert columns["lang"].to_pylist()[:2] == ["und", "und"]
    assert columns["lang_score"].to_pylist()[:2] == [0.0, 0.0]


def test_lines_are_newline_free():
    lines = fasttext_lines(pa.array(["a\nb", "c\r\nd", "e\rf", "g"]), " ", max_chars=None)
    assert lines == ["a b\n", "c d\n", "e f\n", "g\n"]
    assert fasttext_lines(pa.array(["héllo wörld"]), " ", max_chars=4) == ["héll\n"]


def test_bundled_language_model_is_the_official_file():
    import hashlib

    from curator.filters.language_id import LID_MD5

    assert hashlib.md5(bundled_lid_model().read_bytes()).hexdigest() == LID_MD5


SENTENCES = {
    "en": "The weather was cold, so we stayed inside and read books all afternoon.",
    "de": "Das Wetter war kalt, also blieben wir drinnen und lasen den ganzen Nachmittag Bücher.",
    "fr": "Il faisait froid, alors nous sommes restés à l'intérieur pour lire tout l'après-midi.",
    "es": "Hacía frío, así que nos quedamos dentro leyendo libros toda la tarde.",
    "ru": "Было холодно, поэтому мы остались дома и весь день читали книги.",
    "ja": "寒かったので、私たちは午後ずっと家の中で本を読んでいました。",
}


def test_language_id_names_languages_and_filters():
    langs = list(SENTENCES)
    columns, reasons, ctx = score(LanguageId(languages=["en", "de"], min_score=0.5), list(SENTENCES.values()))
    assert columns["lang"].to_pylist() == langs
    assert all(s > 0.5 for s in columns["lang_score"].to_pylist())
    assert reasons == [None, None, "language", "language", "language", "language"]


def test_language_id_on_man_pages_of_the_sample(sample_corpus):
    """Translated man pages carry their language (from the man directory): lid.176 should agree."""
    import pyarrow.compute as pc

    from curator.filters.fasttext_split import _document_batches

    batches = list(_document_batches(str(sample_corpus / "*.jsonl.zst")))
    table = pa.Table.from_batches(batches)
    meta_lang = [json.loads(m).get("lang") if m else None for m in table.column("meta").to_pylist()]
    keep = [lang not in (None, "en") for lang in meta_lang]
    texts = table.filter(pa.array(keep)).column("text").combine_chunks()
    truth = [lang.split("_")[0] for lang in meta_lang if lang not in (None, "en")]
    if len(truth) < 5:
        pytest.skip("this machine has fewer than 5 translated man pages")
    columns, _, _ = score(LanguageId(), texts.to_pylist())
    predicted = columns["lang"].to_pylist()
    agree = np.mean([p == t for p, t in zip(predicted, truth, strict=True)])
    assert agree >= 0.8, list(zip(predicted, truth, strict=True))
    assert pc.min(columns["lang_score"]).as_py() >= 0.0


def test_missing_language_model(tmp_path):
    with pytest.raises(ValidationError, match="lid.ftz"):
        LanguageId(model=str(tmp_path / "lid.ftz"))


def test_the_default_language_model_ships_with_curator():
    path = bundled_lid_model()
    assert path.is_relative_to(Path(curator.__file__).parent)
    assert hashlib.md5(path.read_bytes()).hexdigest() == LID_MD5
    LanguageId().preflight()


def test_a_broken_language_model_fails_in_dry_run_before_any_pass(tmp_path):
    broken = tmp_path / "lid.ftz"
    broken.write_bytes(b"not a fastText model")
    corpus = write_jsonl(tmp_path / "in" / "a.jsonl", synthetic_docs(5))
    pipeline = tmp_path / "p.yaml"
    pipeline.write_text(
        f"name: t\ninputs: [{{path: {corpus}}}]\nsteps: [exact_dedup, language_id: {{model: {broken}}}]\n"
    )
    for extra in (["--dry-run"], []):
        result = CliRunner().invoke(app, ["run", str(pipeline), "--out", str(tmp_path / "run"), *extra])
        assert result.exit_code != 0 and "lid.ftz" in result.output, result.output
    assert not (tmp_path / "run" / "state").exists()  # failed before the dedup index pass


def test_model_loads_once_per_process(binary_model):
    assert load_model(binary_model[0]) is load_model(binary_model[0])


def test_language_id_and_quality_in_one_pipeline_keep_both_models_loaded(binary_model):
    """Two model steps in one task: each loads its model once in setup(), and neither evicts the other from
    the process cache (before, every batch of one step reloaded the model the other step had just loaded)."""
    from curator.filters import fasttext_model

    lang, quality = LanguageId(), FastTextQuality(model=str(binary_model[0]), keep="none")
    ctx = StepContext()
    lang.setup(ctx.for_step(1))
    quality.setup(ctx.for_step(2))
    held = (lang._loaded, quality._loaded[0])
    batch = pa.RecordBatch.from_pydict({"id": ["a", "b"], "text": ["the council approved a budget", "hello"]})
    for _ in range(3):
        lang.process(batch)
        quality.score(batch)
    assert (lang._loaded, quality._loaded[0]) == held  # the same objects, batch after batch
    cached = {Path(k[0]) for k in fasttext_model._MODELS}
    assert {Path(lang.model_path()).resolve(), Path(binary_model[0]).resolve()} <= cached
    assert fasttext_model.load_model(lang.model_path()) is held[0]
    assert fasttext_model.load_model(binary_model[0]) is held[1]
