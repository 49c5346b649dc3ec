"""Smoke test: ``python -m benchmarks --quick`` runs every row and prints the table.

No timing is asserted: the numbers of a tiny run on a shared machine mean nothing; this only
proves that the benchmark suite still runs against the current API.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._paths import ROOT

pytestmark = pytest.mark.e2e


def test_quick_run_prints_the_table(tmp_path: Path) -> None:
    out_json = tmp_path / "results.json"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, (str(ROOT), os.environ.get("PYTHONPATH"))))}
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--quick", "--json", str(out_json)],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 0, proc.stdout + proc.stderr
    lines = proc.stdout.splitlines()
    header = next(line for line in lines if line.startswith("row "))
    for column in ("measured", "ratio", "target", "met"):
        assert column in header
    for number in "1234567":
        assert any(line.startswith(number) for line in lines), f"row {number} missing:\n{proc.stdout}"
    assert "FAILED" not in proc.stdout

    results = json.loads(out_json.read_text())
    assert results["quick"] is True
    assert len(results["rows"]) >= 7
    for row in results["rows"]:
        assert set(row) >= {"row", "measured", "ratio", "target", "met"}
        assert row["ratio"] is not None
