"""normalize_text: the byte-flag short-cut must equal the full regex chain on every row."""

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.text.normalize import NormalizeText, normalize_array

SPECIAL = "\t\n\r\x00\x07\x0b\x0c\x7f\x85\u00a0\u2003\u2028\u1680\u3000\u00ad\ufeff\u0301\u212b"
ALPHABET = st.sampled_from(list("ab c \u00e9e\u00c5\u4e2d " + SPECIAL) + ["\r\n", "  \n", "\n\n\n", " \x00\n"])
texts = st.lists(st.lists(ALPHABET, max_size=30).map("".join), min_size=1, max_size=20)


def _batch(values):
    ids = [str(i) for i in range(len(values))]
    return pa.RecordBatch.from_pydict({"text": pa.array(values, pa.string()), "id": ids})


@settings(max_examples=500, deadline=None)
@given(texts, st.booleans(), st.sampled_from([None, 0, 1, 2]), st.sampled_from(["NFC", "NFKC", "NFD", None]))
def test_fast_path_equals_reference(values, collapse, blank, form):
    step = NormalizeText(collapse_spaces=collapse, max_blank_lines=blank, form=form)
    got = step.process(_batch(values)).column("text").to_pylist()
    ref = normalize_array(pa.array(values, pa.string()), **step.model_dump()).to_pylist()
    assert got == ref


@settings(max_examples=100, deadline=None)
@given(texts)
def test_idempotent(values):
    step = NormalizeText()
    once = step.process(_batch(values))
    assert step.process(once).column("text").to_pylist() == once.column("text").to_pylist()


def test_examples():
    values = ["  Hello\r\nworld \t\n\n\n\nend  ", "cafe\u0301\u00a0bar", "ctl\x00\x07x\ufeff", "    indented()\n"]
    out = NormalizeText().process(_batch(values)).column("text").to_pylist()
    assert out == ["Hello\nworld\n\nend", "caf\u00e9 bar", "ctlx", "indented()"]
    keep = NormalizeText(strip=False).process(_batch(["    def f():\n        return 1\n"])).column("text").to_pylist()
    assert keep == ["    def f():\n        return 1\n"]  # indentation survives by default


def test_sliced_batch():
    b = _batch(["x  \n", "clean", "y\r\n"]).slice(1, 2)
    assert NormalizeText().process(b).column("text").to_pylist() == ["clean", "y"]


def test_few_newlines_with_large_blank_allowance():
    step = NormalizeText(max_blank_lines=2)
    assert step.process(_batch(["a\nb\nc", "x\n\n\n\n\ny"])).column("text").to_pylist() == ["a\nb\nc", "x\n\n\ny"]


def test_latin1_text_is_nfc_without_work_and_other_forms_still_apply():
    latin = "caf\u00e9 na\u00efve \u00fcber se\u00f1or"
    assert NormalizeText().process(_batch([latin])).column("text").to_pylist() == [latin]
    nfd = NormalizeText(form="NFD").process(_batch([latin])).column("text").to_pylist()
    assert nfd == [normalize_array(pa.array([latin]), form="NFD").to_pylist()[0]] and nfd[0] != latin
