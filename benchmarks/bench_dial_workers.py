"""Four workers dialing one campaign on one PostgreSQL journal, against a sandbox 50 ms away.

Each worker is its own process (`journaled` over `PostgresJournal.specs`, `AsyncTeleCMI.dial_many`,
32 calls in flight, limiter off); the sandbox is another; PostgreSQL (a throwaway cluster, as the
tests start it) a third. The ideal is every worker keeping 32 calls in flight all the time:
4 x 32 / 50 ms = 2,560 calls/s. The ratio is the aggregate calls/s (rows / from the first start to
the last end) over that ideal: 1.0 means the claims, leases and reservations cost nothing.

Usage: ``python -m benchmarks.bench_dial_workers [--quick]``
"""

from __future__ import annotations

import csv
import json
import os
import subprocess
import sys
import tempfile
from typing import Any

from . import Row, Target
from .bench_dial_journal import sandbox_process

WORKERS = 4
CONCURRENCY = 32
LATENCY = 0.050
TARGET = 0.90
FULL = 12_000
QUICK = 1_000

_WORKER = """
import asyncio, contextlib, json, sys, time
import voicekit
from voicekit.journal import Campaign, PostgresJournal, journaled
url, csv_path, sandbox, concurrency = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])

async def main():
    journal = PostgresJournal.open(url, Campaign.from_file(csv_path), lease=30)
    async with voicekit.AsyncTeleCMI(appid=1111112, secret="sandbox-secret", base_url=sandbox, piopiy_url=sandbox,
                                     rate_limit=None) as tc:
        print("ready", flush=True)
        sys.stdin.readline()
        t0 = time.time()
        placed = 0
        outcomes = journaled(journal, journal.specs(concurrency),
                             lambda s, b: tc.dial_many(s, concurrency=concurrency, before_send=b),
                             filter_size=concurrency)
        async with contextlib.aclosing(outcomes):
            async for outcome in outcomes:
                placed += outcome.ok
        t1 = time.time()
    journal.close()
    print(json.dumps({"start": t0, "end": t1, "placed": placed}), flush=True)

asyncio.run(main())
"""


def _measure(n: int) -> dict[str, Any]:
    from tests._servers import PostgresServer  # the same throwaway cluster as the tests
    from voicekit.journal import Campaign, PostgresJournal, read_campaign
    from voicekit.sandbox import DEFAULT_TELECMI_APPID, DEFAULT_TELECMI_SECRET

    server = PostgresServer()
    try:
        with tempfile.TemporaryDirectory() as work, sandbox_process(latency=LATENCY) as sandbox:
            csv_path = os.path.join(work, "c.csv")
            with open(csv_path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["key", "to", "from", "file_name"])
                w.writerows([f"k{i}", 9100000000 + i, 19170000000, "welcome.wav"] for i in range(n))
            url = server.url()
            with PostgresJournal.open(url, Campaign.from_file(csv_path)) as loader:
                loader.load(read_campaign(csv_path))
            env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
            code = _WORKER.replace("1111112", str(DEFAULT_TELECMI_APPID)).replace(
                '"sandbox-secret"', repr(DEFAULT_TELECMI_SECRET)
            )
            procs = [
                subprocess.Popen(
                    [sys.executable, "-c", code, url, csv_path, sandbox, str(CONCURRENCY)],
                    stdin=subprocess.PIPE,
                    stdout=subprocess.PIPE,
                    text=True,
                    env=env,
                )
                for _ in range(WORKERS)
            ]
            for p in procs:
                assert p.stdout is not None and p.stdout.readline().strip() == "ready"
            for p in procs:
                assert p.stdin is not None
                p.stdin.write("go\n")
                p.stdin.flush()
            results = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
    finally:
        server.close()
    placed = sum(r["placed"] for r in results)
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    ideal = WORKERS * CONCURRENCY / LATENCY
    return {
        "n": n,
        "placed": placed,
        "seconds": seconds,
        "rps": placed / seconds,
        "ideal": ideal,
        "ratio": placed / seconds / ideal,
        "per_worker": [r["placed"] for r in results],
    }


def run(server: object, quick: bool) -> list[Row]:
    """The row: aggregate calls/s of 4 workers on one PostgreSQL journal / the ideal."""
    try:
        d = _measure(QUICK if quick else FULL)
    except Exception:
        raise
    except BaseException as exc:  # the fixtures' skip (no PostgreSQL on this machine): an info row
        if type(exc).__name__ not in ("Skipped", "Failed"):
            raise
        return [Row(f"8c dial: {WORKERS} workers on one PostgreSQL journal: not run", str(exc)[:100], None)]
    return [
        Row(
            f"8c dial: {WORKERS} workers on one PostgreSQL journal, sandbox {LATENCY * 1000:.0f} ms (calls/s)",
            f"{d['rps']:,.0f}/s vs ideal {d['ideal']:,.0f}/s, {d['placed']} calls, c={CONCURRENCY} each, "
            f"per worker {d['per_worker']}",
            d["ratio"],
            Target(">=", TARGET),
            d,
        )
    ]


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for row in run(None, quick):
        print(
            f"{row.row}: {row.measured}; ratio {row.ratio:.3f} (target {row.target}, {'met' if row.met else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
