"""The meta column: flat fields are encoded by Arrow kernels byte for byte as polars encodes them."""

import json

import polars as pl
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from curator.io.meta import encode_meta_columns, json_escape

ALL_ASCII = "".join(map(chr, range(128)))


def polars_json(batch: pa.RecordBatch) -> list[str]:
    frame = pl.from_arrow(pa.Table.from_batches([batch]))
    return frame.select(pl.struct(pl.all()).struct.json_encode().alias("m")).to_series().to_list()


def test_flat_types_match_polars_byte_for_byte():
    batch = pa.RecordBatch.from_pydict(
        {
            "s": [ALL_ASCII, 'a"b\\c', "é€😀\u2028\x85", None, ""],
            'key "\n': ["v", None, "w", "x", "y"],
            "large": pa.array(["p", "q", None, "r", "s"], pa.large_string()),
            "dict": pa.array(["a", "b", "a", None, "b"]).dictionary_encode(),
            "i8": pa.array([-5, None, 0, 127, 1], pa.int8()),
            "u64": pa.array([2**64 - 1, 0, None, 1, 2], pa.uint64()),
            "b": [True, False, None, True, False],
            "n": pa.nulls(5),
        }
    )
    encoded = encode_meta_columns(batch)
    assert encoded.type == pa.string() and encoded.to_pylist() == polars_json(batch)
    assert json.loads(encoded[0].as_py())["s"] == ALL_ASCII
    sliced = batch.slice(1, 3)  # a batch that starts inside its buffers
    assert encode_meta_columns(sliced).to_pylist() == polars_json(sliced)


def test_other_types_still_encode_like_polars():
    batch = pa.RecordBatch.from_pydict({"f": [1.0, 1e20, None], "l": [[1], [], None], "s": ["a", "b", "c"]})
    assert encode_meta_columns(batch).to_pylist() == polars_json(batch)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.one_of(st.none(), st.text(max_size=12)), min_size=1, max_size=8), st.text(min_size=1, max_size=6))
def test_any_strings_and_keys_match_polars(values, key):
    batch = pa.RecordBatch.from_pydict({key: pa.array(values, pa.string()), "n": list(range(len(values)))})
    assert encode_meta_columns(batch).to_pylist() == polars_json(batch)
    assert json.loads(f'"{json_escape(key)}"') == key
