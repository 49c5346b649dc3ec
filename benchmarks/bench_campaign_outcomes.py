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

Row 13 (webhook outcomes; 13' the same on PostgreSQL): while a campaign dials (through its
`AsyncJournal`, against a sandbox in its own process), TeleCMI cdr webhooks for the rows placed
earlier are POSTed to the campaign's outcome receiver (64 at a time, from a process of their
own, as the vendor posts from elsewhere) and written into the same journal, as ``voicekit dial
--listen`` does. Measured: webhook outcomes written per second (the poster's time from its first
POST to its last answer). Target: >= 2,000/s on each store.

Usage: ``python -m benchmarks.bench_campaign_outcomes [--quick]``
"""

from __future__ import annotations

import asyncio
import contextlib
import csv
import json
import multiprocessing
import os
import sqlite3
import subprocess
import sys
import tempfile
import time
from typing import Any

import aiohttp
import attrs
from aiohttp import web

import voicekit
from voicekit import Outcome
from voicekit.journal import (
    AsyncJournal,
    CallOutcome,
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


async def _webhook_rate(url: str, workdir: str, events: int, target: str) -> dict[str, Any]:
    """Dial a campaign while `events` cdr webhooks of its earlier rows are written into the same
    journal (at `target`: an SQLite file or a PostgreSQL URL), as `voicekit dial --listen` does;
    the rate."""
    rows = 2 * events
    csv_path = os.path.join(workdir, "campaign.csv")
    _write_campaign(csv_path, rows)
    specs = [row.spec for row in read_campaign(csv_path) if row.spec is not None]
    async with await AsyncJournal.open(target, Campaign.from_file(csv_path)) as journal:
        await journal.load(read_campaign(csv_path))
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
                    bodies = [json.dumps(_cdr(i, journal.campaign_id)) for i in range(events)]
                    # The vendor posts from elsewhere: a process of its own, not this event loop.
                    poster = _Poster(hook, bodies)
                    dialing = asyncio.create_task(dial(specs[events:]))
                    poster.go()
                    seconds = await asyncio.to_thread(poster.result)
                    still_dialing = not dialing.done()
                    placed_later = await dialing
                finally:
                    await runner.cleanup()
            heard = await journal.outcome_counts()
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


class _Poster:
    """A process that POSTs the webhooks once told to go, and says how long they took."""

    def __init__(self, url: str, bodies: list[str]) -> None:
        context = multiprocessing.get_context("spawn")
        self._go = context.Event()
        self._parent, child = context.Pipe()
        self._process = context.Process(target=_post_process, args=(url, bodies, self._go, child), daemon=True)
        self._process.start()
        if not self._parent.poll(60) or self._parent.recv() != "ready":
            raise RuntimeError("the poster process did not start")

    def go(self) -> None:
        self._go.set()

    def result(self) -> float:
        try:
            if not self._parent.poll(600):
                raise RuntimeError("the poster process took too long")
            answer = self._parent.recv()
        finally:
            self._process.join(30)
        if isinstance(answer, str):
            raise RuntimeError(answer)
        return float(answer)


def _post_process(url: str, bodies: list[str], go: Any, conn: Any) -> None:
    conn.send("ready")
    go.wait(600)
    t0 = time.perf_counter()
    try:
        asyncio.run(_post_all(url, [body.encode() for body in bodies]))
    except Exception as exc:  # noqa: BLE001 - reported to the parent
        conn.send(f"posting failed: {exc!r}")
        return
    conn.send(time.perf_counter() - t0)


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
        hooks = asyncio.run(_webhook_rate(url, workdir, events, os.path.join(workdir, "campaign.db")))
        alone = asyncio.run(_journal_rate(os.path.join(workdir, "alone.db"), workdir, events))
    pg_hooks, pg_alone = _webhook_rate_postgres(events)
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
        _webhook_row("13 webhook outcomes into the SQLite journal while a campaign dials (events/s)", hooks),
        _webhook_row("13' the same into a PostgreSQL journal (events/s)", pg_hooks),
        _alone_row("13a the SQLite journal alone: add_outcomes, 64 at a time (outcomes/s)", alone),
        _alone_row("13a' the PostgreSQL journal alone (outcomes/s)", pg_alone),
    ]


def _alone_row(label: str, alone: dict[str, Any] | str) -> Row:
    if isinstance(alone, str):
        return Row(label.split(" (")[0] + ": not run", alone, None)
    return Row(label, f"{alone['rate']:,.0f}/s, {alone['events']:,} outcomes", alone["rate"], None, alone, unit="/s")


async def _journal_rate(target: str, workdir: str, events: int) -> dict[str, Any]:
    """The journal alone: `events` outcomes of placed rows written by `add_outcomes`, 64 at a time
    (what the receiver's writer does when webhooks come in batches); outcomes per second."""
    csv_path = os.path.join(workdir, "alone.csv")
    _write_campaign(csv_path, events)
    async with await AsyncJournal.open(target, Campaign.from_file(csv_path)) as journal:
        await journal.load(read_campaign(csv_path))
        keys = [f"k{i}" for i in range(events)]
        for start in range(0, events, 1000):
            claimed = keys[start : start + 1000]
            await journal.claim(claimed)
            await journal.record([Outcome(key=k, result=_Placed(f"r-{k}")) for k in claimed])
        outcomes = [
            CallOutcome(
                vendor_id=f"telecmi:u-{i}",
                answered=True,
                key=f"k{i}",
                campaign=journal.campaign_id,
                request_id=f"r-k{i}",
                number=str(_number(i)),
                billed_seconds=27,
            )
            for i in range(events)
        ]
        t0 = time.perf_counter()
        for start in range(0, events, EVENT_CONCURRENCY):
            counts = await journal.add_outcomes(outcomes[start : start + EVENT_CONCURRENCY])
            if counts.written != len(outcomes[start : start + EVENT_CONCURRENCY]):
                raise RuntimeError(f"wrote {counts}")
        seconds = time.perf_counter() - t0
    return {"events": events, "seconds": seconds, "rate": events / seconds}


@attrs.frozen
class _Placed:
    request_id: str


def _webhook_row(label: str, hooks: dict[str, Any] | str) -> Row:
    if isinstance(hooks, str):
        return Row(label.split(" (")[0] + ": not run", hooks, None)
    return Row(
        label,
        f"{hooks['rate']:,.0f}/s, {hooks['events']:,} cdr webhooks, {EVENT_CONCURRENCY} at a time"
        + ("" if hooks["overlapped"] else " (the dialing ended first)"),
        hooks["rate"],
        Target(">=", TARGET_EVENTS),
        hooks,
        unit="/s",
    )


def _webhook_rate_postgres(events: int) -> tuple[dict[str, Any] | str, dict[str, Any] | str]:
    """Rows 13' and 13a' on a throwaway PostgreSQL cluster (as the tests start one); why not, if
    there is none."""
    try:
        from tests._servers import PostgresServer

        server = PostgresServer()
    except BaseException as exc:  # the fixtures' skip (no PostgreSQL here): info rows
        if type(exc).__name__ not in ("Skipped", "Failed"):
            raise
        return str(exc)[:100], str(exc)[:100]
    try:
        with sandbox_process() as url, tempfile.TemporaryDirectory() as workdir:
            hooks = asyncio.run(_webhook_rate(url, workdir, events, server.fresh_database("hooks")))
            alone = asyncio.run(_journal_rate(server.fresh_database("alone"), workdir, events))
            return hooks, alone
    finally:
        server.close()


def main() -> None:
    quick = "--quick" in sys.argv[1:]
    for row in run(None, quick):
        print(
            f"{row.row}: {row.measured}; {row.ratio:,.1f}{row.unit} (target {row.target}, "
            f"{'met' if row.met else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
