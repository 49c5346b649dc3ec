"""A campaign's outcomes: reconciling unknown rows against a large record window, and webhook
outcomes written into the journal while the campaign dials.

Row 12 (reconcile): a campaign of 1,000 rows, every one ``unknown`` and sent (by the journal's
clock) 24 hours ago; half of them were really placed (the sandbox holds their records), half
were not. ``voicekit dial reconcile --settle 0`` runs in a child process against a sandbox (its
own process) that also serves N synthetic records in that 24-hour window, so reconcile pages
through all of them (no client-side rate limit, ``--rate 0``, as row 9 exports). Measured for
N = 10,000 and N = 1,000,000: the child's peak resident memory (``ru_maxrss``) and wall time.
Target: the large window peaks within 50 MB of the small one.
Every run must end with 0 unknown rows (500 placed, 500 pending again).

Row 13 (webhook outcomes): while a campaign dials (through the journal, against a sandbox in its
own process), TeleCMI cdr webhooks for the rows placed earlier are POSTed to the campaign's
outcome receiver (64 at a time, from this process) and written into the same journal. Measured:
webhook outcomes written per second. Target: >= 2,000/s.

Usage: ``python -m benchmarks.bench_campaign_outcomes [--quick]``
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
from aiohttp import web

import voicekit
from voicekit.journal import (
    Campaign,
    Journal,
    OutcomeReceiver,
    OutcomeWriter,
    State,
    journaled,
    outcome_app,
    read_campaign,
)
from voicekit.sandbox import DEFAULT_TELECMI_APPID, DEFAULT_TELECMI_SECRET
from voicekit.telecmi import Dial

from . import Row, Target
from .bench_dial_journal import sandbox_process

DAY = 86_400.0
FULL_WINDOWS = (10_000, 1_000_000)
QUICK_WINDOWS = (1_000, 5_000)
FULL_UNKNOWN = 1_000
QUICK_UNKNOWN = 100
TARGET_MB = 50.0
FULL_EVENTS = 20_000
QUICK_EVENTS = 1_000
EVENT_CONCURRENCY = 64
TARGET_EVENTS = 2_000.0


def _number(i: int) -> int:
    # Outside the seeded records' numbers (91...): only the campaign's own calls match.
    return 8_100_000_000 + i


def _write_campaign(path: str, rows: int) -> None:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["key", "to", "from", "file_name"])
        for i in range(rows):
            writer.writerow([f"k{i}", _number(i), "19170000000", "welcome.wav"])


def _env(url: str) -> dict[str, str]:
    return {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(p for p in sys.path if p),
        "VOICEKIT_TELECMI_BASE_URL": url,
        "VOICEKIT_TELECMI_PIOPIY_URL": url,
        "VOICEKIT_TELECMI_APPID": str(DEFAULT_TELECMI_APPID),
        "VOICEKIT_TELECMI_SECRET": DEFAULT_TELECMI_SECRET,
    }


async def _place(url: str, numbers: list[int]) -> None:
    """Really place these calls (their records appear in the sandbox), outside any journal."""
    specs = [Dial(key=str(n), from_=19170000000, to=n, file_name="welcome.wav") for n in numbers]
    async with voicekit.AsyncTeleCMI(
        appid=DEFAULT_TELECMI_APPID, secret=DEFAULT_TELECMI_SECRET, base_url=url, piopiy_url=url, rate_limit=None
    ) as tc:
        async for outcome in tc.dial_many(specs, concurrency=32):
            if not outcome.ok:
                raise RuntimeError(f"setup call failed: {outcome.error}")


def _unknown_journal(workdir: str, rows: int) -> str:
    """A journal of `rows` rows, every one unknown and sent 24 hours ago; its path."""
    csv_path = os.path.join(workdir, "campaign.csv")
    db = os.path.join(workdir, "campaign.db")
    _write_campaign(csv_path, rows)
    with Journal.open(db, Campaign.from_file(csv_path)) as journal:
        journal.load(read_campaign(csv_path))
        journal.claim([f"k{i}" for i in range(rows)])
        journal.finish([], [], [f"k{i}" for i in range(rows)])  # unknown: stopped in flight
    # The sends happened a day ago (the journal's own clock): the window spans the seeded day.
    with contextlib.closing(sqlite3.connect(db)) as conn, conn:
        conn.execute("UPDATE voicekit_rows SET sent = ?", (time.time() - DAY + 60,))
    return db


def reconcile_window(records: int, rows: int) -> dict[str, Any]:
    """Reconcile `rows` unknown rows against a window of `records` seeded records, in a child."""
    with sandbox_process(seed_records=records) as url, tempfile.TemporaryDirectory() as workdir:
        # The calls of every other row were placed before the run that sent them stopped.
        asyncio.run(_place(url, [_number(i) for i in range(0, rows, 2)]))
        db = _unknown_journal(workdir, rows)
        args = [
            sys.executable,
            "-c",
            "from voicekit.cli import main; main()",
            "dial",
            "reconcile",
            db,
            "--settle",
            "0",
            "--skew",
            "0",
            "--rate",
            "0",
            "--json",
        ]
        t0 = time.perf_counter()
        proc = subprocess.Popen(args, env=_env(url), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _, status, usage = os.wait4(proc.pid, 0)
        seconds = time.perf_counter() - t0
        out = proc.stdout.read().decode() if proc.stdout else ""
        err = proc.stderr.read().decode() if proc.stderr else ""
        for stream in (proc.stdout, proc.stderr):
            if stream:
                stream.close()
        code = os.waitstatus_to_exitcode(status)
        if code != 0:
            raise RuntimeError(f"reconcile exited {code}: {(out + err).strip()[-300:]}")
        report = json.loads(out)
        with Journal.read(db) as journal:
            counts = journal.counts()
    if counts[State.UNKNOWN] or counts[State.PLACED] != (rows + 1) // 2 or counts[State.PENDING] != rows // 2:
        raise RuntimeError(f"reconcile left {dict(counts)}")
    return {
        "records": records,
        "rows": rows,
        "read": report["records"],
        "peak_mb": usage.ru_maxrss / 1024,
        "seconds": seconds,
    }


async def _webhook_rate(url: str, workdir: str, events: int) -> dict[str, Any]:
    """Dial a campaign while `events` cdr webhooks of its earlier rows are written; the rate."""
    rows = 2 * events
    csv_path = os.path.join(workdir, "campaign.csv")
    _write_campaign(csv_path, rows)
    specs = [row.spec for row in read_campaign(csv_path) if row.spec is not None]
    with Journal.open(os.path.join(workdir, "campaign.db"), Campaign.from_file(csv_path)) as journal:
        journal.load(read_campaign(csv_path))
        async with voicekit.AsyncTeleCMI(
            appid=DEFAULT_TELECMI_APPID, secret=DEFAULT_TELECMI_SECRET, base_url=url, piopiy_url=url, rate_limit=None
        ) as tc:

            async def dial(batch: list[Any]) -> int:
                placed = 0
                stream = journaled(
                    journal, batch, lambda s, before: tc.dial_many(s, concurrency=32, before_send=before)
                )
                async with contextlib.aclosing(stream):
                    async for outcome in stream:
                        placed += outcome.ok
                return placed

            await dial(specs[:events])  # the rows whose webhooks come in while the rest dial
            async with OutcomeWriter(journal) as writer:
                runner = web.AppRunner(outcome_app(OutcomeReceiver(writer), "telecmi"), access_log=None)
                await runner.setup()
                await web.TCPSite(runner, "127.0.0.1", 0).start()
                hook = f"http://127.0.0.1:{runner.addresses[0][1]}/telecmi"
                try:
                    bodies = [json.dumps(_cdr(i, journal.campaign_id)).encode() for i in range(events)]
                    dialing = asyncio.create_task(dial(specs[events:]))
                    t0 = time.perf_counter()
                    await _post_all(hook, bodies)
                    seconds = time.perf_counter() - t0
                    still_dialing = not dialing.done()
                    placed_later = await dialing
                finally:
                    await runner.cleanup()
            heard = journal.outcome_counts()
    if heard["answered"] != events or placed_later != events:
        raise RuntimeError(f"wrote {heard} for {events} events; placed {placed_later} of {events}")
    return {"events": events, "seconds": seconds, "rate": events / seconds, "overlapped": still_dialing}


def _cdr(i: int, campaign_id: str) -> dict[str, Any]:
    return {
        "type": "cdr",
        "appid": DEFAULT_TELECMI_APPID,
        "direction": "outbound",
        "cmiuuid": f"u-{i}",
        "leg": "a",
        "request_id": f"r-{i}",
        "extra_params": json.dumps({"voicekit_key": f"k{i}", "voicekit_campaign": campaign_id}),
        "time": 1_700_000_030_000,
        "start_time": 1_700_000_000,
        "answer_time": 1_700_000_003,
        "end_time": 1_700_000_030,
        "duration": 27,
        "billedsec": 27,
        "call_rate": "0.6",
        "status": "answered",
        "hangup_reason": "recv_bye",
        "from": "19170000000",
        "to": _number(i),
    }


async def _post_all(url: str, bodies: list[bytes]) -> None:
    queue = iter(bodies)
    connector = aiohttp.TCPConnector(limit=EVENT_CONCURRENCY)
    async with aiohttp.ClientSession(connector=connector) as session:

        async def worker() -> None:
            for body in queue:
                async with session.post(url, data=body, headers={"Content-Type": "application/json"}) as resp:
                    if resp.status != 200:
                        raise RuntimeError(f"the receiver answered {resp.status}")
                    await resp.read()

        await asyncio.gather(*(worker() for _ in range(EVENT_CONCURRENCY)))


def run(server: object, quick: bool) -> list[Row]:
    """Measure both rows (each against its own sandbox process)."""
    small_n, large_n = QUICK_WINDOWS if quick else FULL_WINDOWS
    rows = QUICK_UNKNOWN if quick else FULL_UNKNOWN
    small = reconcile_window(small_n, rows)
    large = reconcile_window(large_n, rows)
    growth = large["peak_mb"] - small["peak_mb"]
    events = QUICK_EVENTS if quick else FULL_EVENTS
    with sandbox_process() as url, tempfile.TemporaryDirectory() as workdir:
        hooks = asyncio.run(_webhook_rate(url, workdir, events))
    return [
        Row(
            f"12 dial reconcile {rows:,} unknown rows vs {large_n:,} records: peak RSS growth over {small_n:,} (MB)",
            f"{large['peak_mb']:.1f} MB vs {small['peak_mb']:.1f} MB; {large['seconds']:.1f} s vs "
            f"{small['seconds']:.1f} s ({large['read']:,} records read); 0 unknown left",
            growth,
            Target("<=", TARGET_MB),
            {"small": small, "large": large},
            unit=" MB",
        ),
        Row(
            "13 webhook outcomes into the journal while a campaign dials (events/s)",
            f"{hooks['rate']:,.0f}/s, {hooks['events']:,} cdr webhooks, {EVENT_CONCURRENCY} at a time"
            + ("" if hooks["overlapped"] else " (the dialing ended first)"),
            hooks["rate"],
            Target(">=", TARGET_EVENTS),
            hooks,
            unit="/s",
        ),
    ]


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for row in run(None, quick):
        print(
            f"{row.row}: {row.measured}; {row.ratio:,.1f}{row.unit} (target {row.target}, "
            f"{'met' if row.met else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
