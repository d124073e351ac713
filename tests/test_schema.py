"""Document schema, stable ids, and the checked-in schema files staying in step with the code."""

import json
from pathlib import Path

import pyarrow as pa
import pytest
from hypothesis import given
from hypothesis import strategies as st

from curator.schema import DOCUMENT_SCHEMA, stable_ids, validate_documents
from curator.schemas_export import all_schemas

ROOT = Path(__file__).resolve().parents[1]


@given(st.lists(st.sampled_from(["web", "code", "wiki"]), min_size=1, max_size=50), st.text(max_size=20))
def test_stable_ids_are_unique_per_row_and_repeatable(sources, file_key):
    rows = pa.array(range(len(sources)), pa.int64())
    a = stable_ids(pa.array(sources), file_key, rows).to_pylist()
    assert a == stable_ids(pa.array(sources), file_key, rows).to_pylist()
    assert len(set(a)) == len(a)
    assert stable_ids(pa.array(sources), file_key + "x", rows).to_pylist() != a


def test_validate_documents():
    ok = pa.table(
        {
            "id": ["1"],
            "source": ["s"],
            "text": ["t"],
            "meta": [None],
            "url": [None],
            "created": pa.array([None], pa.timestamp("us", tz="UTC")),
        }
    ).cast(DOCUMENT_SCHEMA)
    validate_documents(ok)
    with pytest.raises(ValueError, match="missing document column 'text'"):
        validate_documents(ok.drop_columns(["text"]))
    with pytest.raises(ValueError, match="column 'id' has type int64"):
        validate_documents(ok.set_column(0, "id", pa.array([1])))


def test_schema_files_match_the_code():
    for name, expected in all_schemas().items():
        path = ROOT / "schemas" / f"{name}.schema.json"
        assert path.exists(), f"run `curator schemas` to write {path}"
        assert json.loads(path.read_text()) == expected, f"{path} is stale: run `curator schemas`"
