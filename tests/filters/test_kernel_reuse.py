"""The quality rules share their word/line and repetition kernel passes over a batch while its text is unchanged.

Kernel passes are counted by `metrics.KERNEL_RUNS`, the module's own counter of real kernel runs.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa

from curator.filters import metrics as m
from curator.pipeline.config import load_pipeline
from curator.pipeline.step import StepContext, chain_steps
from curator.text import kernel_cache
from curator.text.normalize import NormalizeText

QUALITY_YAML = Path(__file__).parents[2] / "pipelines" / "quality.yaml"
KERNEL_STEPS = ("gopher_quality", "gopher_repetition", "fineweb_quality", "c4_quality")
SENTENCES = [
    "The committee met on Tuesday to review the budget for the coming year.",
    "Members agreed that the library should have longer opening hours in winter.",
    "Several residents spoke in favour of the plan, while others asked about the cost.",
    "After a long discussion the chair proposed a trial of six months.",
    "The motion passed with a clear majority and the meeting closed at nine.",
    "A report on the new reading room will be given to the council in spring.",
    "Volunteers offered to help with the small exhibition of local maps and photographs.",
]


def prose(i: int) -> str:
    return " ".join(SENTENCES[(i + k) % len(SENTENCES)] for k in range(len(SENTENCES)))


def documents() -> pa.RecordBatch:
    """Prose that passes, and one document for each rule set (and language_id) to drop."""
    texts = [prose(i) for i in range(6)]
    texts += [
        "Too short to keep.",  # gopher_quality
        "\n".join([SENTENCES[0]] * 12),  # gopher_repetition
        "\n".join(s.rstrip(".") for s in SENTENCES),  # fineweb_quality: no line ends in punctuation
        " ".join(SENTENCES[:3]).replace(".", ",") + " and that is all there is to say about it today.",  # c4
        prose(3).replace(". ", ".\r\n"),  # kept; normalize_text rewrites it
        "Der Ausschuss trat am Dienstag zusammen, um den Haushalt zu prüfen. " * 8,  # language_id
    ]
    return pa.RecordBatch.from_pydict({"id": [str(i) for i in range(len(texts))], "text": texts})


def run_chain(steps, batch: pa.RecordBatch) -> tuple[list[pa.RecordBatch], dict]:
    """(the batch leaving each stage, input first; rows dropped per step position) for steps in one chain."""
    seen: list[list[pa.RecordBatch]] = []

    def record(batches):
        out: list[pa.RecordBatch] = []
        seen.append(out)  # now, in stage order (the generator below starts last stage first)

        def each():
            for b in batches:
                out.append(b)
                yield b

        return each()

    ctx = StepContext()
    list(chain_steps(iter([batch]), steps, ctx, record)[-1])
    return [b[0] if b else None for b in seen], ctx.dropped


def fresh_text(batch: pa.RecordBatch) -> pa.RecordBatch:
    """`batch` with its text copied into a new buffer: equal content, no cached results."""
    idx = batch.schema.get_field_index("text")
    return batch.set_column(idx, "text", pa.array(batch.column(idx).to_pylist(), pa.string()))


def run_alone(step, batch: pa.RecordBatch) -> tuple[pa.RecordBatch, dict]:
    kernel_cache.clear()
    ctx = StepContext()
    step.setup(ctx.for_step(1))
    return step.process(fresh_text(batch)), ctx.dropped.get(1, {})


def test_quality_yaml_runs_two_kernel_passes_not_five():
    steps = load_pipeline(QUALITY_YAML).build_steps()
    names = [s.name for s in steps]
    assert [n for n in names if n in KERNEL_STEPS] == list(KERNEL_STEPS)
    m.KERNEL_RUNS.clear()
    stages, dropped = run_chain(steps, documents())
    assert dict(m.KERNEL_RUNS) == {"word_line_stats": 1, "repetition_stats": 1}
    # every kernel step but the first saw rows of a batch that an earlier rule had filtered
    assert {names[i - 1] for i in dropped} == {"language_id", *KERNEL_STEPS}
    assert stages[-1].num_rows == 7

    # (b) each kernel step alone, on a fresh copy of what it received, gives the same scores and drops
    m.KERNEL_RUNS.clear()
    for i, name in enumerate(names, start=1):
        if name not in KERNEL_STEPS:
            continue
        alone, alone_dropped = run_alone(steps[i - 1], stages[i - 1])
        assert alone.equals(stages[i]), name
        assert alone_dropped == dropped.get(i, {}), name
    assert dict(m.KERNEL_RUNS) == {"word_line_stats": 3, "repetition_stats": 2}  # the five passes, unshared


def test_a_step_that_changes_the_text_invalidates_the_shared_results():
    steps = load_pipeline(QUALITY_YAML).build_steps()
    by_name = {s.name: s for s in steps}
    chain = [by_name["gopher_quality"], NormalizeText(), by_name["fineweb_quality"], by_name["c4_quality"]]
    batch = documents().slice(0, 11)  # the CRLF document is the last: normalize_text rewrites it
    m.KERNEL_RUNS.clear()
    stages, _ = run_chain(chain, batch)
    assert stages[2].column("text") != stages[1].column("text")  # the text did change
    # gopher_quality's pass is on the raw text; fineweb_quality runs it again on the new text, c4 shares that
    assert dict(m.KERNEL_RUNS) == {"word_line_stats": 2, "repetition_stats": 1}
    for position in (3, 4):
        alone, _ = run_alone(chain[position - 1], stages[position - 1])
        assert alone.equals(stages[position])
    fresh = m._run_word_line_stats(pa.array(stages[3].column("text").to_pylist()), m.GOPHER_STOP_WORDS, 30)
    assert np.array_equal(m.word_line_stats(stages[3].column("text")), fresh)


def test_results_are_keyed_by_the_text_memory_and_the_parameters():
    texts = pa.array([prose(0), "one line\nand another", ""], pa.string())
    m.KERNEL_RUNS.clear()
    first = m.word_line_stats(texts)
    assert m.word_line_stats(pa.Array.from_buffers(texts.type, len(texts), texts.buffers())) is first  # same memory
    assert not first.flags.writeable  # shared: nobody may change it in place
    assert m.KERNEL_RUNS["word_line_stats"] == 1
    m.word_line_stats(texts, short_line_chars=5)  # other parameters: another pass
    m.word_line_stats(pa.array(texts.to_pylist(), pa.string()))  # equal text in another buffer: another pass
    m.word_line_stats(texts.slice(1))  # a slice of the same buffer: another pass
    assert m.KERNEL_RUNS["word_line_stats"] == 4
    kernel_cache.clear()
    m.word_line_stats(texts)
    assert m.KERNEL_RUNS["word_line_stats"] == 5


def test_results_follow_a_row_filter():
    texts = pa.array([prose(0), "one line\nand another", "", prose(2)], pa.string())
    full = m.repetition_stats(texts)
    dropped = pa.array([False, True, False, True])
    kept = texts.filter(pa.array([True, False, True, False]))
    kernel_cache.follow_filter(texts, kept, dropped)
    m.KERNEL_RUNS.clear()
    assert np.array_equal(m.repetition_stats(kept), full[[0, 2]]) and not m.KERNEL_RUNS
    assert np.array_equal(m.repetition_stats(kept), m._run_repetition_stats(kept))
