"""Per-vendor, per-account client-side rate limiting.

The local backend combines two rules, both on integer nanoseconds so that no float rounding lets
an extra request through:

* a reservation-based GCRA (token bucket): each caller reserves the next free slot and sleeps
  until it, so late wake-ups do not cost throughput, and `burst` requests may start back to back;
* a sliding-window log of the last N actual starts: a request starts only if the N-th previous
  start is at least one window old. This is the guarantee: over any window no more than N
  requests start, whatever the scheduler does to wake-up times.

A 429 from the vendor pushes the next slot past its `Retry-After` and halves the rate; the rate
recovers by doubling for every quiet window.

Backends implement `LimiterBackend`; a backend shared between processes (e.g. on Redis) only
needs `acquire` and `penalize`.
"""

from __future__ import annotations

import math
import threading
import time
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

from ._config import RateLimit

__all__ = ["LimiterBackend", "LocalBackend", "RateLimiter", "default_backend"]

_NS = 1_000_000_000
_MAX_SLOWDOWN = 16
# The window is held this much longer than a second: a caller reads its own clock a few
# microseconds after the limiter's, and the vendor sees arrivals with network jitter on top.
_GUARD_NS = 1_000_000


class LimiterBackend(Protocol):
    """Where the state of every account's limit lives."""

    async def acquire(self, key: str, limit: RateLimit) -> None:
        """Return when one request for `key` may start under `limit`."""

    async def penalize(self, key: str, limit: RateLimit, retry_after: float | None) -> None:
        """Slow `key` down after the vendor answered 429."""


class _Bucket:
    __slots__ = ("lock", "interval", "base_interval", "tau", "tat", "window", "span",
                 "slowdown", "calm_since")

    def __init__(self, limit: RateLimit, now: int) -> None:
        self.lock = threading.Lock()
        self.slowdown = 1
        self.calm_since = now
        self.tat = now
        self.configure(limit)

    def configure(self, limit: RateLimit) -> None:
        n = max(1, math.floor(limit.rate))
        self.base_interval = math.ceil(_NS / limit.rate)
        self.interval = self.base_interval * self.slowdown
        self.tau = (limit.burst - 1) * self.base_interval
        self.span = max(_NS, math.ceil(n * _NS / limit.rate)) + _GUARD_NS
        self.window: deque[int] = deque(maxlen=n)

    def reserve(self, now: int) -> int:
        """Reserve the next slot; return the time (ns) at which it may start."""
        if self.slowdown > 1 and now - self.calm_since >= self.span:
            self.slowdown //= 2
            self.calm_since = now
            self.interval = self.base_interval * self.slowdown
        slot = max(now, self.tat - self.tau)
        self.tat = max(self.tat, slot) + self.interval
        return slot

    def try_start(self, now: int) -> int:
        """Record a start at `now` if the window allows it (return 0), else the ns to wait."""
        w = self.window
        if len(w) == w.maxlen and now - w[0] < self.span:
            return w[0] + self.span - now
        w.append(now)
        return 0


class LocalBackend:
    """In-process limiter state, shared by every client of an account in this process.

    Thread-safe: clients on different event loops (the blocking facade's loop and the user's own)
    draw from the same buckets.

    Args:
        clock: a monotonic clock in nanoseconds (injectable for tests).
        sleep: an async sleep in seconds (injectable for tests).
    """

    def __init__(
        self,
        *,
        clock: Callable[[], int] = time.monotonic_ns,
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    ) -> None:
        self._clock = clock
        self._sleep = sleep
        self._buckets: dict[str, tuple[RateLimit, _Bucket]] = {}
        self._lock = threading.Lock()

    def _bucket(self, key: str, limit: RateLimit) -> _Bucket:
        entry = self._buckets.get(key)
        if entry is not None and (entry[0] is limit or entry[0] == limit):
            return entry[1]
        with self._lock:
            entry = self._buckets.get(key)
            if entry is None:
                bucket = _Bucket(limit, self._clock())
            else:
                bucket = entry[1]
                with bucket.lock:
                    bucket.configure(limit)
            self._buckets[key] = (limit, bucket)
            return bucket

    async def acquire(self, key: str, limit: RateLimit) -> None:
        bucket = self._bucket(key, limit)
        clock = self._clock
        with bucket.lock:
            now = clock()
            slot = bucket.reserve(now)
            wait = slot - now if slot > now else bucket.try_start(now)
        while wait > 0:
            await self._sleep(wait / _NS)
            with bucket.lock:
                wait = bucket.try_start(clock())

    async def penalize(self, key: str, limit: RateLimit, retry_after: float | None) -> None:
        bucket = self._bucket(key, limit)
        with bucket.lock:
            now = self._clock()
            pause = int((retry_after if retry_after is not None else 1.0) * _NS)
            bucket.tat = max(bucket.tat, now + pause)
            bucket.slowdown = min(bucket.slowdown * 2, _MAX_SLOWDOWN)
            bucket.interval = bucket.base_interval * bucket.slowdown
            bucket.calm_since = now + pause


_default_backend = LocalBackend()


def default_backend() -> LocalBackend:
    """The process-wide in-memory backend that clients use unless given another."""
    return _default_backend


class RateLimiter:
    """One account's limit: a key and a `RateLimit` on a backend. `None` limit means no limiting."""

    __slots__ = ("key", "limit", "backend")

    def __init__(self, key: str, limit: RateLimit | None, backend: LimiterBackend | None) -> None:
        self.key = key
        self.limit = limit
        self.backend: LimiterBackend = backend if backend is not None else _default_backend

    async def acquire(self) -> None:
        if self.limit is not None:
            await self.backend.acquire(self.key, self.limit)

    async def penalize(self, retry_after: float | None) -> None:
        if self.limit is not None:
            await self.backend.penalize(self.key, self.limit, retry_after)
