"""Shared synthetic runs tables for the curator.mix tests; the proxy tests reuse the training tests' store,
tiny mixture and one-thread torch."""

import pyarrow as pa
import pyarrow.csv as pcsv
import pytest

from curator.mix.synthetic import random_dml_truth, synthetic_cmr_rows, synthetic_dml_rows
from tests.train.conftest import _one_thread, mixture, train_store  # noqa: F401 - fixtures for the proxy tests


def write_csv(path, rows):
    pcsv.write_csv(pa.Table.from_pylist(rows), path)
    return path


@pytest.fixture
def cpt_csv(tmp_path):
    return write_csv(tmp_path / "cpt.csv", synthetic_cmr_rows(seed=1))


@pytest.fixture
def dml_csv(tmp_path):
    return write_csv(tmp_path / "runs.csv", synthetic_dml_rows(random_dml_truth(3, 3, 0), 24, seed=1, decimals=3))
