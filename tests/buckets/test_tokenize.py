"""Token id assembly: EOS placement, empty documents, id width by vocabulary size."""

from __future__ import annotations

import numpy as np
from hypothesis import given
from hypothesis import strategies as st

from curator.buckets.tokenize import tokens_array
from curator.buckets.tokenizer import token_dtype


@given(st.lists(st.lists(st.integers(0, 65_000), max_size=20), min_size=1, max_size=20), st.booleans())
def test_tokens_array_keeps_every_id_and_appends_eos(docs, with_eos):
    arr = tokens_array(docs, 65_535 if with_eos else None, np.dtype(np.uint16))
    expected = [d + [65_535] for d in docs] if with_eos else docs
    assert arr.to_pylist() == expected


def test_id_width_follows_the_vocabulary():
    assert token_dtype(65_536) == np.uint16 and token_dtype(65_537) == np.uint32
