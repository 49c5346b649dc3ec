"""Rows 6 and 6b: what a user would pick instead of voicekit.

Row 6: ``requests`` from 32 threads vs voicekit, 32 at a time.

The ``requests`` side is how the official vendor SDK is used for bulk calls: a pool of 32
threads, each with its own keep-alive ``requests.Session``, posting the same JSON and decoding
the answer. The voicekit side is the idiomatic async pattern: ``asyncio.gather`` over every call,
bounded by an ``asyncio.Semaphore(32)``. Same zero-latency server; the sides alternate round by
round and the ratio is the median of the per-round ratios.

Row 6b: what a *legacy* (blocking) user would pick: the blocking client ``voicekit.TeleCMI``
called from 16 threads (one shared client) vs ``requests`` from 16 threads (one ``Session`` per
thread), posting the same calls to the same server, at 0 and at 20 ms latency.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

import requests

import voicekit

from . import APPID, NO_LIMIT, SECRET, Row, fmt_rate, median_ratio, rounds
from ._servers import ServerHandle, make_call_body

CONCURRENCY = 32
#: Row 6b: threads on each side, and the server latencies it is measured at.
THREADS = 16
LATENCIES_MS = (0, 20)
# Per side: calls per round x rounds (sides alternate round by round).
FULL = {"n": 500, "rounds": 6}
QUICK = {"n": 96, "rounds": 1}
# Row 6b, per side and latency (a 20 ms round of 640 calls over 16 threads is ~0.8 s).
FULL_THREADS = {"n": 640, "rounds": 5}
QUICK_THREADS = {"n": 48, "rounds": 1}


def run(server: ServerHandle, quick: bool) -> list[Row]:
    """Measure rows 6 and 6b."""
    return [*run_gather(server, quick), *run_threads(server, quick)]


def run_threads(server: ServerHandle, quick: bool) -> list[Row]:
    """Measure row 6b: blocking voicekit vs requests, both from 16 threads, at 0 and 20 ms."""
    size = QUICK_THREADS if quick else FULL_THREADS
    n = size["n"]
    rows = []
    for latency_ms in LATENCIES_MS:
        url = server.url(latency_ms=latency_ms)
        make_call_url = url + "/v2/global_pcmo_make_call"
        local = threading.local()
        sessions: list[requests.Session] = []
        tc = voicekit.TeleCMI(appid=APPID, secret=SECRET, base_url=url, piopiy_url=url, rate_limit=NO_LIMIT)

        def post(
            i: int,
            make_call_url: str = make_call_url,
            local: threading.local = local,
            sessions: list[requests.Session] = sessions,
        ) -> None:
            session: requests.Session | None = getattr(local, "session", None)
            if session is None:
                session = local.session = requests.Session()
                sessions.append(session)
            resp = session.post(make_call_url, json=make_call_body(APPID, SECRET, i), timeout=30)
            resp.raise_for_status()
            assert resp.json()["request_id"]

        def blocking(i: int, tc: voicekit.TeleCMI = tc) -> None:
            assert tc.play_music(from_=19170000000, to=19170000001 + i % 1000, file_name="welcome.wav").request_id

        def side(ex: ThreadPoolExecutor, fn: Callable[[int], None], count: int) -> None:
            for _ in ex.map(fn, range(count)):
                pass

        try:
            with ThreadPoolExecutor(THREADS) as ex:
                side(ex, post, THREADS * 4)  # warm up: sessions, connections, the facade's loop
                side(ex, blocking, THREADS * 4)
                t = rounds(
                    size["rounds"],
                    requests=lambda ex=ex: side(ex, post, n),
                    voicekit=lambda ex=ex: side(ex, blocking, n),
                )
        finally:
            tc.close()
            for s in sessions:
                s.close()
        total = n * size["rounds"]
        vk, rq = total / sum(t["voicekit"]), total / sum(t["requests"])
        rows.append(
            Row(
                f"6b blocking TeleCMI x{THREADS} threads / requests x{THREADS} threads, {latency_ms} ms (calls/s)",
                f"voicekit {fmt_rate(vk)}, requests {fmt_rate(rq)}",
                median_ratio(t["requests"], t["voicekit"]),
                None,
                {"latency_ms": latency_ms, "calls_per_round": n, "voicekit_rps": vk, "requests_rps": rq, **t},
            )
        )
    return rows


def run_gather(server: ServerHandle, quick: bool) -> list[Row]:
    """Measure row 6."""
    size = QUICK if quick else FULL
    n = size["n"]
    url = server.url()
    make_call_url = url + "/v2/global_pcmo_make_call"
    local = threading.local()
    sessions: list[requests.Session] = []

    def post(i: int) -> None:
        session: requests.Session | None = getattr(local, "session", None)
        if session is None:
            session = local.session = requests.Session()
            sessions.append(session)
        resp = session.post(make_call_url, json=make_call_body(APPID, SECRET, i), timeout=30)
        resp.raise_for_status()
        assert resp.json()["request_id"]

    def with_requests(ex: ThreadPoolExecutor, count: int) -> None:
        for _ in ex.map(post, range(count)):
            pass

    async def gathered(tc: voicekit.AsyncTeleCMI, count: int) -> None:
        sem = asyncio.Semaphore(CONCURRENCY)

        async def one(i: int) -> voicekit.telecmi.CallResult:
            async with sem:
                return await tc.play_music(from_=19170000000, to=19170000001 + i % 1000, file_name="welcome.wav")

        results = await asyncio.gather(*(one(i) for i in range(count)))
        assert len(results) == count

    with asyncio.Runner() as runner, ThreadPoolExecutor(CONCURRENCY) as ex:
        tc = voicekit.AsyncTeleCMI(appid=APPID, secret=SECRET, base_url=url, piopiy_url=url, rate_limit=NO_LIMIT)
        try:
            with_requests(ex, CONCURRENCY * 4)  # warm up: sessions, connections
            runner.run(gathered(tc, CONCURRENCY * 4))
            t = rounds(
                size["rounds"], requests=lambda: with_requests(ex, n), voicekit=lambda: runner.run(gathered(tc, n))
            )
        finally:
            runner.run(tc.aclose())
            for s in sessions:
                s.close()
    total = n * size["rounds"]
    vk, rq = total / sum(t["voicekit"]), total / sum(t["requests"])
    return [
        Row(
            f"6 voicekit gather(sem {CONCURRENCY}) / requests x{CONCURRENCY} threads (calls/s)",
            f"voicekit {fmt_rate(vk)}, requests {fmt_rate(rq)}",
            median_ratio(t["requests"], t["voicekit"]),
            None,
            {"calls_per_round": n, "voicekit_rps": vk, "requests_rps": rq, **t},
        )
    ]
