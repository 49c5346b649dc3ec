"""Rows 2 and 3: the blocking facade (``voicekit.TeleCMI``) against the async client.

Row 2, sequential calls from one thread:
  a. against a server answering after 20 ms: facade wall time / the same calls awaited in one
     event loop (the facade's hop to its loop thread should vanish in the network time);
  b. against a zero-latency server: the time the facade adds per call, beside anyio's bare
     ``BlockingPortal.call`` of a no-op coroutine (the floor for any thread-to-loop hop).
Row 3, parallel use:
  a. the facade from 16 threads vs the async client with 16 concurrent tasks (zero latency: pure
     overhead, the hard case), and a'. the same against the 20 ms server;
  b, c. iterating 2,000 call records with the facade vs ``async for`` (zero latency), at the
     default page size (10) and the largest (100): the facade crosses threads once per page.

The async side runs on an ``asyncio.Runner`` in the main thread, so that the sides can alternate
round by round; each ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import asyncio
import itertools
import statistics
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from functools import partial

from anyio.from_thread import BlockingPortal, start_blocking_portal

import voicekit
from voicekit.telecmi import Dial

from . import APPID, NO_LIMIT, SECRET, Row, Target, fmt_rate, fmt_time, median_ratio, pool, rounds
from ._servers import ServerHandle

THREADS = 16
RECORDS = 2_000
PAGE_SIZES = (10, 100)  # the default, and the largest allowed
START_MS, END_MS = 1_570_000_000_000, 1_580_000_000_000
# Per side: calls per round x rounds (sides alternate round by round; see `rounds`).
FULL = {
    "slow_calls": 20,
    "fast_calls": 200,
    "parallel_calls": 500,
    "slow_parallel_calls": 320,
    "bulk_calls": 2000,
    "rounds": 8,
}
QUICK = {
    "slow_calls": 3,
    "fast_calls": 20,
    "parallel_calls": 64,
    "slow_parallel_calls": 32,
    "bulk_calls": 100,
    "rounds": 1,
}
BULK_CONCURRENCY = 32


def _kwargs(base_url: str, piopiy_url: str) -> dict[str, object]:
    return {
        "appid": APPID,
        "secret": SECRET,
        "base_url": base_url,
        "piopiy_url": piopiy_url,
        "rate_limit": NO_LIMIT,
    }


def _call_args(i: int) -> dict[str, object]:
    return {"from_": 19170000000, "to": 19170000001 + i % 1000, "file_name": "welcome.wav"}


class _Pair:
    """A blocking client and an async client (on `runner`) for the same URLs."""

    def __init__(self, runner: asyncio.Runner, base_url: str, piopiy_url: str) -> None:
        self.runner = runner
        self.sync = voicekit.TeleCMI(**_kwargs(base_url, piopiy_url))  # type: ignore[arg-type]
        self.aio = voicekit.AsyncTeleCMI(**_kwargs(base_url, piopiy_url))  # type: ignore[arg-type]

    def close(self) -> None:
        self.sync.close()
        self.runner.run(self.aio.aclose())

    # -- sequential ------------------------------------------------------------------------

    def sync_sequential(self, n: int) -> None:
        for i in range(n):
            self.sync.play_music(**_call_args(i))  # type: ignore[arg-type]

    def async_sequential(self, n: int) -> None:
        async def go() -> None:
            for i in range(n):
                await self.aio.play_music(**_call_args(i))  # type: ignore[arg-type]

        self.runner.run(go())

    # -- parallel --------------------------------------------------------------------------

    def sync_threads(self, n: int, threads: int) -> None:
        counter = itertools.count()

        def worker() -> None:
            while (i := next(counter)) < n:
                self.sync.play_music(**_call_args(i))  # type: ignore[arg-type]

        with ThreadPoolExecutor(threads) as ex:
            for f in [ex.submit(worker) for _ in range(threads)]:
                f.result()

    def async_tasks(self, n: int, tasks: int) -> None:
        async def job(i: int) -> None:
            await self.aio.play_music(**_call_args(i))  # type: ignore[arg-type]

        self.runner.run(pool(n, tasks, job))

    # -- bulk ------------------------------------------------------------------------------

    def sync_dial_many(self, n: int) -> None:
        ok = sum(o.ok for o in self.sync.dial_many(_dials(n), concurrency=BULK_CONCURRENCY))
        assert ok == n, ok

    def async_dial_many(self, n: int) -> None:
        async def go() -> int:
            return sum([o.ok async for o in self.aio.dial_many(_dials(n), concurrency=BULK_CONCURRENCY)])

        ok = self.runner.run(go())
        assert ok == n, ok

    # -- records ---------------------------------------------------------------------------

    def sync_records(self, page_size: int) -> None:
        count = sum(1 for _ in self.sync.outgoing_answered(start=START_MS, end=END_MS, page_size=page_size))
        assert count == RECORDS, count

    def async_records(self, page_size: int) -> None:
        async def go() -> int:
            it = self.aio.outgoing_answered(start=START_MS, end=END_MS, page_size=page_size)
            return sum([1 async for _ in it])

        count = self.runner.run(go())
        assert count == RECORDS, count


def _dials(n: int) -> Iterator[Dial]:
    return (Dial(key=str(i), **_call_args(i)) for i in range(n))  # type: ignore[arg-type]


def _noop_calls(portal: BlockingPortal, n: int) -> None:
    for _ in range(n):
        portal.call(_noop)


async def _noop() -> None:
    pass


def run(server: ServerHandle, quick: bool) -> list[Row]:
    """Measure rows 2 and 3."""
    size = QUICK if quick else FULL
    k = size["rounds"]
    rows: list[Row] = []
    with asyncio.Runner() as runner, start_blocking_portal() as portal:
        slow = _Pair(runner, server.url(latency_ms=20), server.url(records=RECORDS))
        fast = _Pair(runner, server.url(), server.url(records=RECORDS))
        try:
            # Warm up: connections, the facade's loop thread, lazily built hooks.
            for pair in (slow, fast):
                pair.sync_sequential(3)
                pair.async_sequential(3)
            fast.sync_threads(THREADS * 4, THREADS)
            fast.async_tasks(THREADS * 4, THREADS)
            _noop_calls(portal, 100)

            n = size["slow_calls"]
            t = rounds(k, sync=lambda: slow.sync_sequential(n), aio=lambda: slow.async_sequential(n))
            rows.append(
                Row(
                    "2a facade / async, sequential, 20 ms server (wall)",
                    f"{fmt_time(sum(t['sync']) / n / k)} vs {fmt_time(sum(t['aio']) / n / k)} per call",
                    median_ratio(t["sync"], t["aio"]),
                    Target("<=", 1.05),
                    {"calls_per_round": n, "rounds": k, **t},
                )
            )

            n = size["fast_calls"]
            t = rounds(
                k,
                sync=lambda: fast.sync_sequential(n),
                aio=lambda: fast.async_sequential(n),
                portal=lambda: _noop_calls(portal, n),
            )
            added = [(s - a) / n for s, a in zip(t["sync"], t["aio"], strict=True)]
            hop = statistics.median(t["portal"]) / n
            rows.append(
                Row(
                    "2b facade added per call / bare portal.call (0 ms)",
                    f"+{fmt_time(statistics.median(added))} (sync {fmt_time(statistics.median(t['sync']) / n)},"
                    f" async {fmt_time(statistics.median(t['aio']) / n)}), portal {fmt_time(hop)}",
                    median_ratio([x * n for x in added], t["portal"]),
                    None,
                    {"calls_per_round": n, "rounds": k, **t},
                )
            )

            n = size["parallel_calls"]
            t = rounds(k, sync=lambda: fast.sync_threads(n, THREADS), aio=lambda: fast.async_tasks(n, THREADS))
            rows.append(
                Row(
                    f"3a facade x{THREADS} threads / async x{THREADS} tasks (calls/s)",
                    f"sync {fmt_rate(n * k / sum(t['sync']))}, async {fmt_rate(n * k / sum(t['aio']))}",
                    median_ratio(t["aio"], t["sync"]),
                    Target(">=", 0.8),
                    {"calls_per_round": n, "rounds": k, **t},
                )
            )

            n = size["slow_parallel_calls"]
            k2 = max(1, k // 2)
            t = rounds(k2, sync=lambda: slow.sync_threads(n, THREADS), aio=lambda: slow.async_tasks(n, THREADS))
            rows.append(
                Row(
                    "3a' the same against a 20 ms server (calls/s)",
                    f"sync {fmt_rate(n * k2 / sum(t['sync']))}, async {fmt_rate(n * k2 / sum(t['aio']))}",
                    median_ratio(t["aio"], t["sync"]),
                    Target(">=", 0.8),
                    {"calls_per_round": n, "rounds": k2, **t},
                )
            )

            n = size["bulk_calls"]
            t = rounds(k, sync=lambda: fast.sync_dial_many(n), aio=lambda: fast.async_dial_many(n))
            rows.append(
                Row(
                    f"3d facade / async dial_many, {n} calls, c={BULK_CONCURRENCY} (calls/s)",
                    f"sync {fmt_rate(n * k / sum(t['sync']))}, async {fmt_rate(n * k / sum(t['aio']))}",
                    median_ratio(t["aio"], t["sync"]),
                    Target(">=", 0.9),
                    {"calls_per_round": n, "rounds": k, **t},
                )
            )

            for label, ps in zip("bc", PAGE_SIZES, strict=True):
                t = rounds(k, sync=partial(fast.sync_records, ps), aio=partial(fast.async_records, ps))
                rows.append(
                    Row(
                        f"3{label} facade / async iteration, {RECORDS} recs, page {ps} (rec/s)",
                        f"sync {fmt_rate(RECORDS * k / sum(t['sync']))}, async {fmt_rate(RECORDS * k / sum(t['aio']))}",
                        median_ratio(t["aio"], t["sync"]),
                        Target(">=", 0.9),
                        {"records": RECORDS, "page_size": ps, "rounds": k, **t},
                    )
                )
        finally:
            slow.close()
            fast.close()
    return rows
