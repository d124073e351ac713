"""gopher_quality, gopher_repetition, fineweb_quality, c4_quality: each rule drops with its own reason,
scores every document, can be turned off, and survives hostile text."""

from __future__ import annotations

import pyarrow as pa
import pytest
from pydantic import ValidationError

from curator.filters.c4 import C4Quality
from curator.filters.fineweb import FineWebQuality
from curator.filters.gopher import GopherQuality, GopherRepetition
from curator.pipeline.step import StepContext

PROSE = (
    "The committee met on Tuesday to review the budget. Members agreed that the library should have longer "
    "opening hours, and that the new reading room would open with a small exhibition of local maps. "
    "Several residents spoke in favour of the plan, while others asked how the extra staff would be paid. "
    "After a long discussion the chair proposed a trial of six months with a report to the council. "
    "The motion passed with a clear majority and the meeting closed shortly after nine in the evening."
)


def run(step, texts: list[str]) -> tuple[list[str | None], pa.RecordBatch]:
    """(reason or None per text, the scored batch with every row) for one step on one batch."""
    ctx = StepContext()
    step.setup(ctx)
    batch = pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(texts))], "text": texts})
    scored = batch
    for name, values in step.score(batch).items():
        scored = scored.append_column(name, values)
    reasons = step.decide(scored).to_pylist()
    kept = step.process(batch)
    assert kept.num_rows == sum(r is None for r in reasons)
    assert sum(ctx.dropped.get(step.name, {}).values()) == sum(r is not None for r in reasons)
    return reasons, scored


def test_prose_passes_every_rule_set():
    for step in (GopherQuality(), GopherRepetition(), FineWebQuality(), C4Quality()):
        reasons, _ = run(step, [PROSE])
        assert reasons == [None], step.name


STOP = {"the", "and", "to", "with", "that", "have", "of", "be"}


def test_gopher_quality_reasons():
    texts = [
        "too short to count",
        PROSE + " " + "#hashtag " * 40,
        PROSE + " " + "wait... " * 40,
        "\n".join(f"• {line} and the" for line in PROSE.split(". ")) + "\n" + "- " + PROSE,
        "\n".join(f"{s} and so on..." for s in PROSE.split(". ")),
        PROSE + " " + "123 456 789 = + " * 60,
        " ".join(w for w in PROSE.split() if w.lower().strip(".,") not in STOP),
        "Supercalifragilistic antidisestablishmentarian " * 30,
    ]  # fmt: skip
    reasons, scored = run(GopherQuality(), texts)
    assert reasons == [
        "gopher_few_words",
        "gopher_hashes",
        "gopher_ellipses",
        "gopher_bullet_lines",
        "gopher_ellipsis_lines",
        "gopher_alpha_words",
        "gopher_stop_words",
        "gopher_long_words",
    ]
    assert scored.column("stop_words").to_pylist()[0] == 1  # "to"
    assert scored.column("content_words").to_pylist()[0] == 4


def test_gopher_repetition_reasons():
    texts = [
        PROSE + "\n" + "\n".join(["Click here to subscribe now."] * 8),
        PROSE + " " + "buy now " * 60,
        PROSE + " " + PROSE,
    ]
    reasons, scored = run(GopherRepetition(), texts)
    assert reasons == ["gopher_dup_lines", "gopher_top_2gram", "gopher_dup_5gram"]
    assert scored.column("dup_5gram_char_frac").to_pylist()[2] == pytest.approx(0.5)
    paragraphs = PROSE + "\n\n" + "\n\n".join(["Share this page.\nFollow us."] * 6)
    lines_off = GopherRepetition(max_dup_line_frac=None, max_dup_line_char_frac=None)
    assert run(lines_off, [paragraphs])[0] == ["gopher_dup_paragraphs"]


def test_fineweb_reasons():
    lines = [f"item number {i}" for i in range(40)]
    texts = [
        "\n".join(f"{s} and more words follow here" for s in PROSE.replace(".", "").split(",")),
        "\n".join(lines),
        PROSE + "\n" + "\n".join(["All rights reserved by the company."] * 3),
        "\n".join(f"entry{i}." for i in range(30)),
    ]
    reasons, scored = run(FineWebQuality(max_short_line_frac=0.67), texts)
    assert reasons == ["fineweb_line_punct", "fineweb_line_punct", "fineweb_dup_line_chars", "fineweb_short_lines"]
    reasons, _ = run(FineWebQuality(max_short_line_frac=None, min_line_punct_frac=None), texts[1:2] + texts[3:])
    assert reasons == ["fineweb_list_like", "fineweb_list_like"]


def test_c4_reasons_and_switches():
    texts = [PROSE + " Lorem Ipsum dolor sit amet.", PROSE + " Use {braces}.", "One sentence only. Two."]
    texts.append(PROSE + " " + "x" * 1001)
    reasons, scored = run(C4Quality(), texts)
    assert reasons == ["c4_lorem_ipsum", "c4_curly_bracket", "c4_few_sentences", "c4_long_word"]
    assert scored.column("n_sentences").to_pylist()[2] == 2
    reasons, _ = run(C4Quality(drop_curly_bracket=False, drop_lorem_ipsum=False), texts[:2])
    assert reasons == [None, None]


def test_rules_can_be_turned_off_and_are_described():
    step = GopherQuality(min_words=None, min_stop_words=None)
    assert "off: min_words, min_stop_words" in step.describe()
    assert "content_words <= 100000" in step.describe()
    lenient = GopherQuality(min_words=3, min_stop_words=None, min_mean_word_chars=None)
    assert run(lenient, ["too short to count"])[0] == [None]


def test_thresholds_are_validated():
    with pytest.raises(ValidationError):
        GopherQuality(min_alpha_word_frac=1.5)
    with pytest.raises(ValidationError, match="no word character"):
        GopherQuality(stop_words=["the", "..."])
    with pytest.raises(ValidationError):
        FineWebQuality(short_line_chars=0)


HOSTILE = [
    "",
    "   \n\n\t ",
    "word\x00word\x00 the and of" * 20,
    "English text, 日本語のテキスト, русский текст, عربي, emoji 🙂🙂 " * 10,
    "\ud7ff\ue000 \U0010ffff",
    "a" * 5_000_000,
    ("the quick brown fox " * 250_000)[:5_000_000],
]


ALL = [GopherQuality(), GopherRepetition(), FineWebQuality(), C4Quality()]


@pytest.mark.parametrize("step", ALL, ids=lambda s: s.name)
def test_hostile_text_is_scored_never_crashes(step):
    reasons, scored = run(step, HOSTILE)
    for column in step.stats_columns:
        assert scored.column(column).null_count == 0
    if step.name == "gopher_repetition":
        assert reasons[0] is None and reasons[5] is None  # nothing repeats in an empty text or in one word
        assert reasons[6] == "gopher_dup_lines" or reasons[6].startswith("gopher_top_")
    else:
        assert reasons[0] is not None and reasons[5] is not None  # empty, or one 5 MB word: never quality text


@pytest.mark.slow
def test_thresholds_retuned_by_sql_match_a_filtering_run(sample_corpus, tmp_path):
    """Score-only run + SQL with the default thresholds drops exactly the documents a filtering run drops."""
    import duckdb

    from curator.pipeline.config import parse_pipeline
    from curator.pipeline.executor import run_pipeline

    def config(step: dict) -> dict:
        return {"name": "q", "inputs": [{"path": str(sample_corpus / "*.jsonl.zst")}], "steps": [step]}

    run_pipeline(parse_pipeline(config({"gopher_quality": {"score_only": True}})), tmp_path / "scores", quiet=True)
    run_pipeline(parse_pipeline(config({"gopher_quality": {}})), tmp_path / "filtered", quiet=True)
    rules = " OR ".join(
        f"{rule.column} {'<' if rule.kind == 'min' else '>'} {value}" for rule, value in GopherQuality().active_rules()
    )
    by_sql = duckdb.sql(f"SELECT id FROM '{tmp_path}/scores/stats/docs.parquet' WHERE {rules} ORDER BY id").fetchall()
    dropped = duckdb.sql(
        f"SELECT id FROM '{tmp_path}/filtered/stats/docs.parquet' WHERE NOT kept ORDER BY id"
    ).fetchall()
    assert len(dropped) > 100 and by_sql == dropped
