"""voicekit's benchmarks: ``python -m benchmarks`` runs every row, ``--quick`` a tiny run.

Each ``bench_*`` module exposes ``run(server, quick) -> list[Row]``; ``__main__`` prints them as
one table of ratios measured in the same run.
"""

from __future__ import annotations

import asyncio
import statistics
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "APPID",
    "NO_LIMIT",
    "SECRET",
    "Row",
    "Target",
    "arounds",
    "fmt_rate",
    "fmt_time",
    "median_ratio",
    "pool",
    "rounds",
    "timed",
]

APPID = 2_222_226
SECRET = "s"
# Far above any load here: the limiter runs on every request but never makes one wait.
NO_LIMIT = 1_000_000.0


@dataclass(frozen=True)
class Target:
    """A bound on a ratio: ``Target(">=", 0.9)``."""

    op: str
    bound: float

    def met(self, value: float) -> bool:
        if self.op == ">=":
            return value >= self.bound
        if self.op == "<=":
            return value <= self.bound
        return value == self.bound

    def __str__(self) -> str:
        return f"{self.op} {self.bound:g}" if self.op != "==" else f"= {self.bound:g}"


@dataclass(frozen=True)
class Row:
    """One line of the results table; `data` holds the raw figures for ``--json``."""

    row: str
    measured: str
    ratio: float | None
    target: Target | None = None
    data: dict[str, Any] = field(default_factory=dict)
    unit: str = "x"

    @property
    def met(self) -> bool | None:
        if self.target is None or self.ratio is None:
            return None
        return self.target.met(self.ratio)

    def as_dict(self) -> dict[str, Any]:
        return {
            "row": self.row,
            "measured": self.measured,
            "ratio": self.ratio,
            "target": str(self.target) if self.target else None,
            "met": self.met,
            "data": self.data,
        }


def fmt_rate(per_second: float) -> str:
    return f"{per_second:,.0f}/s"


def fmt_time(seconds: float) -> str:
    if seconds < 1e-3:
        return f"{seconds * 1e6:.1f} us"
    if seconds < 1:
        return f"{seconds * 1e3:.1f} ms"
    return f"{seconds:.2f} s"


async def pool(n: int, concurrency: int, job: Callable[[int], Awaitable[object]]) -> None:
    """Run ``job(0..n-1)`` with at most `concurrency` in flight (a fixed pool of worker tasks)."""
    counter = iter(range(n))

    async def worker() -> None:
        for i in counter:
            await job(i)

    await asyncio.gather(*(worker() for _ in range(min(n, concurrency))))


async def timed(coro: Awaitable[object]) -> float:
    """Wall seconds `coro` took."""
    t0 = time.perf_counter()
    await coro
    return time.perf_counter() - t0


def _orders(names: Sequence[str], k: int) -> list[list[str]]:
    """Round `r` runs the sides rotated by `r`, so no side always goes first."""
    return [[*names[r % len(names) :], *names[: r % len(names)]] for r in range(k)]


def rounds(k: int, **sides: Callable[[], object]) -> dict[str, list[float]]:
    """Wall seconds of each side in each of `k` interleaved rounds.

    The machine's load drifts (other processes); running the sides back to back, in rotating
    order, and comparing them round by round (`median_ratio`) cancels most of that drift.
    """
    times: dict[str, list[float]] = {name: [0.0] * k for name in sides}
    for r, order in enumerate(_orders(list(sides), k)):
        for name in order:
            t0 = time.perf_counter()
            sides[name]()
            times[name][r] = time.perf_counter() - t0
    return times


async def arounds(k: int, **sides: Callable[[], Awaitable[object]]) -> dict[str, list[float]]:
    """`rounds` for coroutine functions, all on the running loop."""
    times: dict[str, list[float]] = {name: [0.0] * k for name in sides}
    for r, order in enumerate(_orders(list(sides), k)):
        for name in order:
            times[name][r] = await timed(sides[name]())
    return times


def median_ratio(num: Sequence[float], den: Sequence[float]) -> float:
    """The median over rounds of ``num[i] / den[i]``."""
    return statistics.median(a / b for a, b in zip(num, den, strict=True))
