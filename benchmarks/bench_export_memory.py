"""Exporting 1,000,000 call records costs the memory that exporting 10,000 costs.

For each size, a sandbox serving that many synthetic records runs in its own process, and
``voicekit cdr export`` runs in another (page size 100, 8 pages in flight, no client-side rate
limit, CSV to a file). The row compares the export processes' peak resident memory (each
child's ``ru_maxrss``, read with ``os.wait4``) and reports the wall time of each export.
Target: the large export peaks within 50 MB of the small one.

Usage: ``python -m benchmarks.bench_export_memory [--quick]``
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from typing import Any

from voicekit.sandbox import DEFAULT_TELECMI_APPID, DEFAULT_TELECMI_SECRET

from . import Row, Target
from .bench_dial_journal import sandbox_process

DAY_MS = 86_400_000
FULL = (10_000, 1_000_000)
QUICK = (1_000, 20_000)
PAGE_SIZE = 100
CONCURRENCY = 8
TARGET_MB = 50.0


def _seed_end_ms(url: str) -> int:
    """The newest seeded record's time: the first record of the first page of the last 48 h."""
    import json
    import urllib.request

    now = int(time.time() * 1000)
    body = json.dumps(
        {
            "appid": DEFAULT_TELECMI_APPID,
            "token": DEFAULT_TELECMI_SECRET,
            "start_date": now - 2 * DAY_MS,
            "end_date": now + DAY_MS,
            "page": 1,
            "limit": 1,
        }
    ).encode()
    request = urllib.request.Request(url + "/v1/outanswered", data=body, headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as answer:  # noqa: S310 - loopback only
        return int(json.loads(answer.read())["cdr"][0]["time"])


def export(records: int, workdir: str) -> dict[str, Any]:
    """Export `records` records in a child process; its peak RSS (MB), seconds and line count."""
    with sandbox_process(seed_records=records) as url:
        end = _seed_end_ms(url)
        out = os.path.join(workdir, f"cdr-{records}.csv")
        env = {
            **os.environ,
            "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
            "VOICEKIT_TELECMI_BASE_URL": url,
            "VOICEKIT_TELECMI_PIOPIY_URL": url,
            "VOICEKIT_TELECMI_APPID": str(DEFAULT_TELECMI_APPID),
            "VOICEKIT_TELECMI_SECRET": DEFAULT_TELECMI_SECRET,
        }
        args = [
            sys.executable,
            "-c",
            "from voicekit.cli import main; main()",
            "cdr",
            "export",
            "--since",
            str(end - DAY_MS),
            "--until",
            str(end),
            "--page-size",
            str(PAGE_SIZE),
            "--concurrency",
            str(CONCURRENCY),
            "--rate",
            "0",
            "--format",
            "csv",
            "-o",
            out,
        ]
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        stderr = proc.stderr.read().decode() if proc.stderr else ""
        if proc.stderr:
            proc.stderr.close()
        if proc.returncode != 0:
            raise RuntimeError(f"the export of {records} records failed: {stderr.strip()[-300:]}")
        with open(out, "rb") as f:
            lines = sum(1 for _ in f) - 1
        os.remove(out)
    return {"records": records, "lines": lines, "peak_mb": usage.ru_maxrss / 1024, "seconds": seconds}


def run(server: object, quick: bool) -> list[Row]:
    """Measure the row: peak memory of the large export minus that of the small one."""
    small_n, large_n = QUICK if quick else FULL
    with tempfile.TemporaryDirectory() as workdir:
        small = export(small_n, workdir)
        large = export(large_n, workdir)
    for d in (small, large):
        if d["lines"] != d["records"]:
            raise RuntimeError(f"exported {d['lines']} of {d['records']} records")
    growth = large["peak_mb"] - small["peak_mb"]
    return [
        Row(
            f"9 cdr export {large_n:,} records: peak RSS growth over {small_n:,} (MB)",
            f"{large['peak_mb']:.1f} MB vs {small['peak_mb']:.1f} MB; {large['seconds']:.1f} s "
            f"({large_n / large['seconds']:,.0f} records/s)",
            growth,
            Target("<=", TARGET_MB),
            {"small": small, "large": large},
            unit=" MB",
        )
    ]


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for row in run(None, quick):
        print(
            f"{row.row}: {row.measured}; growth {row.ratio:.1f} MB (target {row.target}, "
            f"{'met' if row.met else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
