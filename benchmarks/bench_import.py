"""Row 7: ``import voicekit`` time vs ``import aiohttp``, each in a fresh interpreter.

Each sample is a new ``python -c`` process that times the import itself with ``perf_counter``
(interpreter start-up excluded); the two modules alternate and the median of each counts.
voicekit imports aiohttp, so the difference is what voicekit adds on top.
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys

from . import Row, fmt_time
from ._servers import ServerHandle

FULL = {"samples": 9}
QUICK = {"samples": 1}
_PROBE = "import time; t = time.perf_counter(); import {0}; print(time.perf_counter() - t)"


def import_seconds(module: str) -> float:
    """Seconds ``import module`` takes in a fresh interpreter."""
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in (root, os.environ.get("PYTHONPATH")) if p)}
    out = subprocess.run(
        [sys.executable, "-c", _PROBE.format(module)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(out.stdout.strip().splitlines()[-1])


def run(server: ServerHandle, quick: bool) -> list[Row]:
    """Measure row 7 (no server needed)."""
    samples = (QUICK if quick else FULL)["samples"]
    times: dict[str, list[float]] = {"voicekit": [], "aiohttp": []}
    for _ in range(samples):
        for module, got in times.items():
            got.append(import_seconds(module))
    vk, ah = statistics.median(times["voicekit"]), statistics.median(times["aiohttp"])
    return [
        Row(
            "7 import voicekit / import aiohttp (median, fresh process)",
            f"voicekit {fmt_time(vk)}, aiohttp {fmt_time(ah)} (+{fmt_time(vk - ah)})",
            vk / ah,
            None,
            {"samples": samples, "voicekit_s": vk, "aiohttp_s": ah},
        )
    ]
