"""The examples run as written, end to end, against the sandbox they start."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests._paths import ROOT

pytestmark = pytest.mark.e2e

EXAMPLES = sorted((ROOT / "examples").glob("*.py"))


@pytest.mark.parametrize("script", EXAMPLES, ids=[p.name for p in EXAMPLES])
def test_example_runs(script: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert "placed" in proc.stdout or "notification:" in proc.stdout
    assert proc.stderr == ""


def test_there_are_async_and_blocking_examples() -> None:
    assert {p.name for p in EXAMPLES} >= {"async_calls.py", "blocking_calls.py"}


def test_the_web_app_example_answers_each_caller_with_the_call_outcome() -> None:
    script = ROOT / "examples" / "async_web_app.py"
    proc = subprocess.run(
        [sys.executable, "-W", "error", str(script)],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, "PYTHONPATH": os.pathsep.join(sys.path)},
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines() == [
        "placed a call to 9100000001 (order 1): answered, talked 20 s, hangup reason recv_bye",
        "placed a call to 9100000002 (order 2): missed, talked 0 s, hangup reason sent_reject",
    ]
