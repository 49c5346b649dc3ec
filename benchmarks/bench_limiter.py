"""Row 5: the rate limiter on the real clock, beside aiolimiter measured the same way.

50 tasks share the acquisitions (10,000 at 500/s: about 20 s per limiter). Each acquisition is
timestamped the moment ``acquire`` returns (no await in between). For every timestamp t the
one-second window [t, t + 1 s) is counted; a window is over if it holds more than the limit.
The achieved rate is (n - 1) / (last - first).

aiolimiter's ``AsyncLimiter(500, 1)`` is a leaky bucket that starts full, so it lets a burst of
500 through at once and then 500/s: windows over the limit are expected from it; it is here to
show what the usual alternative does.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

from aiolimiter import AsyncLimiter

from voicekit import LocalBackend, RateLimit

from . import Row, Target, fmt_rate
from ._servers import ServerHandle

LIMIT = 500
TASKS = 50
FULL = {"n": 10_000}
QUICK = {"n": 300}


async def _drive(acquire: Callable[[], Awaitable[object]], n: int, tasks: int) -> list[int]:
    """Acquire `n` times from `tasks` tasks; return the monotonic ns of each acquisition."""
    stamps: list[int] = []
    remaining = n
    clock = time.monotonic_ns

    async def worker() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            await acquire()
            stamps.append(clock())

    await asyncio.gather(*(worker() for _ in range(tasks)))
    return stamps


def window_stats(stamps: Sequence[int], limit: int, window_ns: int = 1_000_000_000) -> tuple[int, int]:
    """(windows holding more than `limit`, the most any window holds) over [t, t + window)."""
    ts = sorted(stamps)
    over = most = 0
    j = 0
    for i, t in enumerate(ts):
        j = max(j, i)
        while j < len(ts) and ts[j] < t + window_ns:
            j += 1
        count = j - i
        most = max(most, count)
        over += count > limit
    return over, most


def _measure(name: str, acquire: Callable[[], Awaitable[object]], n: int) -> dict[str, Any]:
    stamps = asyncio.run(_drive(acquire, n, TASKS))
    over, most = window_stats(stamps, LIMIT)
    span = (max(stamps) - min(stamps)) / 1e9
    rate = (len(stamps) - 1) / span if span > 0 else float("inf")
    return {
        "limiter": name,
        "n": len(stamps),
        "windows_over": over,
        "max_in_window": most,
        "rate": rate,
        "wall_s": span,
    }


def run(server: ServerHandle, quick: bool) -> list[Row]:
    """Measure row 5 (no server needed)."""
    n = (QUICK if quick else FULL)["n"]
    backend = LocalBackend()
    limit = RateLimit(rate=LIMIT)

    def vk_acquire() -> Awaitable[None]:
        return backend.acquire("bench", limit)

    vk = _measure("voicekit", vk_acquire, n)
    al = _measure("aiolimiter", AsyncLimiter(LIMIT, 1).acquire, n)
    rows = []
    for d, target in ((vk, True), (al, False)):
        name = str(d["limiter"])
        head = f"5 {name}: {n} acquisitions at {LIMIT}/s, {TASKS} tasks"
        rows.append(
            Row(
                f"{head}: 1 s windows over limit",
                f"{d['windows_over']:.0f} of {n} over, max {d['max_in_window']:.0f} in 1 s",
                d["windows_over"],
                Target("==", 0) if target else None,
                d,
                unit="",
            )
        )
        rows.append(
            Row(
                f"{head}: achieved rate / limit",
                f"{fmt_rate(d['rate'])} over {d['wall_s']:.2f} s",
                d["rate"] / LIMIT,
                Target(">=", 0.97) if target else None,
                d,
            )
        )
    return rows
