"""Where the tests find the repository's files, wherever in tests/ a test module lives."""

from __future__ import annotations

from pathlib import Path

#: The repository's root.
ROOT = Path(__file__).resolve().parent.parent
#: The tests' data files (journals as earlier versions left them, samples).
DATA = ROOT / "tests" / "data"
