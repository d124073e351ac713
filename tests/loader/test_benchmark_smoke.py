"""benchmarks/loader.py --quick --only curator runs end to end (no peers needed) and prints its table."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "loader.py"


@pytest.mark.slow
def test_loader_benchmark_quick_curator_only():
    proc = subprocess.run(
        [sys.executable, str(SCRIPT), "--quick", "--only", "curator", "--seconds", "1"],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-4000:]
    out = proc.stdout
    assert "FAILED" not in out, out
    for setting in ("in-loop", "thread x2", "process x2", "in-loop, 4x store"):
        assert setting in out, out
    assert "state_dict()" in out and "samples/s" in out
    # every curator row mixes the three domains (the mix column reads the domains back from the tokens)
    rows = [line for line in out.splitlines() if line.startswith("curator ") and "x  " in line]
    assert len(rows) == 4, out
    for row in rows:
        shares = [int(x) for x in row.rsplit(None, 1)[-1].split("/")]
        assert len(shares) == 3 and all(s > 5 for s in shares), row
