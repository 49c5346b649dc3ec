"""Row 6: what a user would pick instead: ``requests`` from 32 threads vs voicekit, 32 at a time.

The ``requests`` side is how the official vendor SDK is used for bulk calls: a pool of 32
threads, each with its own keep-alive ``requests.Session``, posting the same JSON and decoding
the answer. The voicekit side is the idiomatic async pattern: ``asyncio.gather`` over every call,
bounded by an ``asyncio.Semaphore(32)``. Same zero-latency server; the sides alternate round by
round and the ratio is the median of the per-round ratios.
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

import requests

import voicekit

from . import APPID, NO_LIMIT, SECRET, Row, fmt_rate, median_ratio, rounds
from ._servers import ServerHandle, make_call_body

CONCURRENCY = 32
# Per side: calls per round x rounds (sides alternate round by round).
FULL = {"n": 500, "rounds": 6}
QUICK = {"n": 96, "rounds": 1}


def run(server: ServerHandle, quick: bool) -> list[Row]:
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
    return [Row(
        f"6 voicekit gather(sem {CONCURRENCY}) / requests x{CONCURRENCY} threads (calls/s)",
        f"voicekit {fmt_rate(vk)}, requests {fmt_rate(rq)}",
        median_ratio(t["requests"], t["voicekit"]), None,
        {"calls_per_round": n, "voicekit_rps": vk, "requests_rps": rq, **t},
    )]
