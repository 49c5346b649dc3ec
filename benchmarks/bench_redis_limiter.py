"""Row 10: the rate limiter across processes sharing Redis.

4 worker processes (spawned), each with its own Redis client and `RedisBackend`, acquire for
one account at a shared limit of 500/s: 10,000 acquisitions in all (2,500 each, 12 tasks per
process, about 20 s). Each acquisition is timestamped with the system-wide monotonic clock the
moment ``acquire`` returns; the stamps of all processes are merged and counted exactly as in
row 5 (windows [t, t + 1 s) holding more than 500, and the achieved rate).

The Redis server is a real ``redis-server`` on 127.0.0.1 when one is installed, else an
in-memory one speaking the Redis protocol (fakeredis's TCP server, running the same Lua scripts
in Python), so the row runs wherever the test dependencies are installed. The row says which;
the in-memory server is slower and its latency jitters more.
"""

from __future__ import annotations

import asyncio
import multiprocessing as mp
import shutil
import socket
import subprocess
import time
from typing import Any

from voicekit import RateLimit

from . import Row, Target, fmt_rate
from .bench_limiter import window_stats

LIMIT = 500
PROCESSES = 4
TASKS = 12
FULL = {"n": 10_000}
QUICK = {"n": 200}


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_redis(ctx: Any, port: int) -> tuple[str, Any]:
    binary = shutil.which("redis-server")
    if binary:
        proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        return "redis-server", proc
    proc = ctx.Process(target=_serve, args=(port,), daemon=True)
    proc.start()
    return "in-memory redis", proc


def _serve(port: int) -> None:
    from fakeredis import TcpFakeServer

    server = TcpFakeServer(("127.0.0.1", port), server_type="redis")
    server.serve_forever()


def _worker(port: int, n: int, queue: Any) -> None:
    import redis.asyncio as redis

    from voicekit.redis_limiter import RedisBackend

    async def main() -> list[int]:
        client = redis.Redis(host="127.0.0.1", port=port)
        backend = RedisBackend(client, prefix="bench")
        limit = RateLimit(rate=LIMIT)
        stamps: list[int] = []
        remaining = n

        async def task() -> None:
            nonlocal remaining
            while remaining > 0:
                remaining -= 1
                await backend.acquire("telecmi:1", limit)
                stamps.append(time.monotonic_ns())

        await asyncio.gather(*(task() for _ in range(TASKS)))
        await client.aclose()
        return stamps

    queue.put(asyncio.run(main()))


def _wait_for_port(port: int, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.2):
                return
        except OSError:
            time.sleep(0.05)
    raise RuntimeError("the Redis server did not start")


def run(server: object, quick: bool) -> list[Row]:
    """Measure row 10."""
    n = (QUICK if quick else FULL)["n"]
    ctx = mp.get_context("spawn")
    port = _free_port()
    kind, redis_proc = _start_redis(ctx, port)
    try:
        _wait_for_port(port, time.monotonic() + 20)
        queue = ctx.Queue()
        workers = [
            ctx.Process(target=_worker, args=(port, n // PROCESSES, queue), daemon=True) for _ in range(PROCESSES)
        ]
        for w in workers:
            w.start()
        stamps: list[int] = []
        for _ in workers:
            stamps.extend(queue.get(timeout=n / LIMIT + 60))
        for w in workers:
            w.join(10)
    finally:
        redis_proc.terminate()
        if kind == "redis-server":
            redis_proc.wait(10)
        else:
            redis_proc.join(10)
    over, most = window_stats(stamps, LIMIT)
    span = (max(stamps) - min(stamps)) / 1e9
    rate = (len(stamps) - 1) / span
    d = {
        "server": kind,
        "n": len(stamps),
        "processes": PROCESSES,
        "windows_over": over,
        "max_in_window": most,
        "rate": rate,
        "wall_s": span,
    }
    head = f"10 {kind}: {len(stamps)} acquisitions at {LIMIT}/s, {PROCESSES} processes"
    return [
        Row(
            f"{head}: 1 s windows over limit",
            f"{over} of {len(stamps)} over, max {most} in 1 s",
            over,
            Target("==", 0),
            d,
            unit="",
        ),
        Row(
            f"{head}: achieved rate / limit", f"{fmt_rate(rate)} over {span:.2f} s", rate / LIMIT, Target(">=", 0.97), d
        ),
    ]
