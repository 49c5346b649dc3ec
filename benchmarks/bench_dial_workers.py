"""Four workers dialing one campaign on one PostgreSQL journal, against a sandbox 50 ms away.

Each worker is its own process (`journaled` over `AsyncPostgresJournal.specs`, `AsyncTeleCMI.dial_many`,
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
import asyncio, contextlib, json, resource, sys, time
import voicekit
from voicekit.journal import AsyncPostgresJournal, Campaign, journaled
from voicekit.telecmi import Dial
url, csv_path, sandbox, concurrency, mode = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4]), sys.argv[5]

async def main():
    journal = None
    if mode == "journal":
        journal = await AsyncPostgresJournal.open(url, Campaign.from_file(csv_path), lease=30)
    async with voicekit.AsyncTeleCMI(appid=1111112, secret="sandbox-secret", base_url=sandbox, piopiy_url=sandbox,
                                     rate_limit=None) as tc:
        print("ready", flush=True)
        sys.stdin.readline()
        t0, cpu0 = time.time(), time.process_time()
        placed = 0
        if journal is not None:
            outcomes = journaled(journal, journal.specs(concurrency),
                                 lambda s, b: tc.dial_many(s, concurrency=concurrency, before_send=b),
                                 filter_size=concurrency)
        else:  # the baseline: this worker's share of the rows, no journal at all
            first, count = (int(x) for x in mode.split(":"))
            specs = (Dial(key=f"k{i}", from_=19170000000, to=9100000000 + i, file_name="welcome.wav")
                     for i in range(first, first + count))
            outcomes = tc.dial_many(specs, concurrency=concurrency)
        async with contextlib.aclosing(outcomes):
            async for outcome in outcomes:
                placed += outcome.ok
        t1, cpu1 = time.time(), time.process_time()
    if journal is not None:
        await journal.aclose()
    print(json.dumps({"start": t0, "end": t1, "placed": placed, "cpu": cpu1 - cpu0}), flush=True)

asyncio.run(main())
"""


def _cpu_times() -> tuple[float, float]:
    """The machine's busy and total CPU time so far (jiffies, every core), from /proc/stat."""
    with open("/proc/stat") as f:
        fields = [float(x) for x in f.readline().split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


def _workers(code: str, args: list[list[str]]) -> tuple[list[dict[str, Any]], float]:
    """Start one worker per argument list, let them go together, and collect their results,
    with how busy the machine's CPUs were meanwhile (0..1, every process: the workers, the
    sandbox, PostgreSQL)."""
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)}
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", code, *a], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env
        )
        for a in args
    ]
    try:
        for p in procs:
            assert p.stdout is not None and p.stdout.readline().strip() == "ready"
        busy0, total0 = _cpu_times()
        for p in procs:
            assert p.stdin is not None
            p.stdin.write("go\n")
            p.stdin.flush()
        results = [json.loads(p.communicate(timeout=600)[0].strip().splitlines()[-1]) for p in procs]
        busy1, total1 = _cpu_times()
        return results, (busy1 - busy0) / max(total1 - total0, 1.0)
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait(10)


def _server_cpu(data_dir: str) -> float:
    """CPU seconds used so far by the PostgreSQL cluster in `data_dir`: its postmaster, the
    backends it reaped (counted in its children's times) and those still running, from /proc."""
    ticks = os.sysconf("SC_CLK_TCK")
    stats: dict[int, tuple[int, list[int]]] = {}
    postmasters: set[int] = set()
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
            with open(f"/proc/{entry}/cmdline", "rb") as f:
                cmdline = f.read()
        except OSError:
            continue
        stats[int(entry)] = (int(fields[1]), [int(x) for x in fields[11:15]])  # utime stime cutime cstime
        if data_dir.encode() in cmdline:
            postmasters.add(int(entry))
    total = 0
    for pid, (parent, (utime, stime, cutime, cstime)) in stats.items():
        if pid in postmasters:
            total += utime + stime + cutime + cstime
        elif parent in postmasters:
            total += utime + stime
    return total / ticks


def _aggregate(results: list[dict[str, Any]]) -> tuple[int, float, float]:
    """Calls placed, seconds from the first start to the last end, and CPU seconds used."""
    placed = sum(r["placed"] for r in results)
    seconds = max(r["end"] for r in results) - min(r["start"] for r in results)
    return placed, seconds, sum(r["cpu"] for r in results)


def _measure(n: int) -> dict[str, Any]:
    from tests._servers import PostgresServer  # the same throwaway cluster as the tests
    from voicekit.journal import Campaign, PostgresJournal, read_campaign
    from voicekit.sandbox import DEFAULT_TELECMI_APPID, DEFAULT_TELECMI_SECRET

    server = PostgresServer()
    try:
        with tempfile.TemporaryDirectory() as work:
            csv_path = os.path.join(work, "c.csv")
            with open(csv_path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["key", "to", "from", "file_name"])
                w.writerows([f"k{i}", 9100000000 + i, 19170000000, "welcome.wav"] for i in range(n))
            url = server.url()
            with PostgresJournal.open(url, Campaign.from_file(csv_path)) as loader:
                loader.load(read_campaign(csv_path))
            code = _WORKER.replace("1111112", str(DEFAULT_TELECMI_APPID)).replace(
                '"sandbox-secret"', repr(DEFAULT_TELECMI_SECRET)
            )
            share = n // WORKERS
            # Each phase gets a fresh sandbox of the same configuration: a sandbox keeps every
            # call it served, and measured, a phase run second (on a fuller ledger) lost ~7%.
            with sandbox_process(latency=LATENCY) as sandbox:
                common = [url, csv_path, sandbox, str(CONCURRENCY)]
                db0 = _server_cpu(server.data)
                results, busy = _workers(code, [[*common, "journal"] for _ in range(WORKERS)])
                db_cpu = _server_cpu(server.data) - db0
            with sandbox_process(latency=LATENCY) as sandbox:
                # The baseline: the same 4 processes, each with its share of the rows, no journal.
                common = [url, csv_path, sandbox, str(CONCURRENCY)]
                plain, plain_busy = _workers(code, [[*common, f"{w * share}:{share}"] for w in range(WORKERS)])
    finally:
        server.close()
    placed, seconds, cpu = _aggregate(results)
    plain_placed, plain_seconds, plain_cpu = _aggregate(plain)
    ideal = WORKERS * CONCURRENCY / LATENCY
    return {
        "n": n,
        "placed": placed,
        "seconds": seconds,
        "rps": placed / seconds,
        "ideal": ideal,
        "ratio": placed / seconds / ideal,
        "per_worker": [r["placed"] for r in results],
        "cpu_per_call_ms": cpu / placed * 1000,
        "plain_rps": plain_placed / plain_seconds,
        "plain_ratio": plain_placed / plain_seconds / ideal,
        "plain_cpu_per_call_ms": plain_cpu / plain_placed * 1000,
        "busy": busy,
        "plain_busy": plain_busy,
        "db_cpu_per_call_ms": db_cpu / placed * 1000,
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
        ),
        Row(
            f"8c' the same {WORKERS} processes without a journal / ideal (what this machine allows)",
            f"{d['plain_rps']:,.0f}/s vs ideal {d['ideal']:,.0f}/s",
            d["plain_ratio"],
            None,
            d,
        ),
        Row(
            "8c'' journaled / without a journal (what the coordination costs)",
            f"{d['rps']:,.0f}/s vs {d['plain_rps']:,.0f}/s; worker CPU per call "
            f"{d['cpu_per_call_ms']:.2f} ms vs {d['plain_cpu_per_call_ms']:.2f} ms (PostgreSQL "
            f"{d['db_cpu_per_call_ms']:.2f} ms); CPUs busy {d['busy']:.0%} vs {d['plain_busy']:.0%}",
            d["rps"] / d["plain_rps"],
            None,
            d,
        ),
    ]


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for row in run(None, quick):
        verdict = "info" if row.met is None else f"target {row.target}, {'met' if row.met else 'NOT met'}"
        print(f"{row.row}: {row.measured}; ratio {row.ratio:.3f} ({verdict})")


if __name__ == "__main__":
    main()
