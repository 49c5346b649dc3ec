"""Per-vendor, per-account client-side rate limiting.

The local backend combines two rules, both on integer nanoseconds so that no float rounding lets
an extra request through:

* a reservation-based GCRA (token bucket): each caller reserves the next free slot and sleeps
  until it, so late wake-ups do not cost throughput, and `burst` requests may start back to back;
* a sliding-window log of the last N actual starts: a request starts only if the N-th previous
  start is at least one window old. This is the guarantee: over any window no more than N
  requests start, whatever the scheduler does to wake-up times.

A 429 from the vendor pushes the next slot past its `Retry-After` and halves the rate; the rate
recovers by doubling for every quiet window. A caller whose budget ends before such a pause does
is told at once (`AccountPaused`) instead of sleeping past its own deadline.

An account has one limit in the process: when clients of one account are given different
limits, the strictest rate and the smallest burst hold for all of them (`RateLimiter.limit`).

Backends implement `LimiterBackend`; a backend shared between processes (e.g. on Redis) only
needs `acquire` and `penalize`.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Protocol

import anyio

from ._config import RateLimit

__all__ = ["AccountPaused", "LimiterBackend", "LocalBackend", "RateLimiter", "default_backend"]

_NS = 1_000_000_000
_MAX_SLOWDOWN = 16
# The window is held this much longer than a second: a caller reads its own clock a few
# microseconds after the limiter's, and the vendor sees arrivals with network jitter on top.
_GUARD_NS = 1_000_000


class AccountPaused(Exception):
    """The vendor paused the account (a 429's Retry-After) for longer than the caller can wait.

    Attributes:
        remaining: seconds until the pause ends.
    """

    def __init__(self, remaining: float) -> None:
        self.remaining = remaining
        super().__init__(f"the account is paused for another {remaining:.1f} s")


class LimiterBackend(Protocol):
    """Where the state of every account's limit lives."""

    async def acquire(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> None:
        """Return when one request for `key` may start under `limit`.

        Raises:
            AccountPaused: the vendor paused the account for longer than `max_pause` seconds
                from now; nothing was reserved.
        """

    async def penalize(self, key: str, limit: RateLimit, retry_after: float | None) -> None:
        """Slow `key` down after the vendor answered 429."""


class _Bucket:
    __slots__ = (
        "lock",
        "limit",
        "known",
        "interval",
        "base_interval",
        "tau",
        "tat",
        "window",
        "span",
        "slowdown",
        "calm_since",
        "paused_until",
    )

    def __init__(self, limit: RateLimit, now: int) -> None:
        self.lock = threading.Lock()
        self.slowdown = 1
        self.calm_since = now
        self.tat = now
        self.paused_until = now
        self.known: frozenset[RateLimit] = frozenset((limit,))
        self.window: deque[int] = deque()
        self.configure(limit)

    def configure(self, limit: RateLimit) -> None:
        self.limit = limit
        n = max(1, math.floor(limit.rate))
        self.base_interval = math.ceil(_NS / limit.rate)
        self.interval = self.base_interval * self.slowdown
        self.tau = (limit.burst - 1) * self.base_interval
        self.span = max(_NS, math.ceil(n * _NS / limit.rate)) + _GUARD_NS
        # The starts already made count against the new limit too: keep the latest n of them.
        self.window = deque(self.window, maxlen=n)

    def merge(self, limit: RateLimit) -> None:
        """Hold the stricter of the limit in force and `limit` (lower rate, smaller burst)."""
        self.known = self.known | {limit}
        current = self.limit
        rate, burst = min(current.rate, limit.rate), min(current.burst, limit.burst)
        if (rate, burst) != (current.rate, current.burst):
            self.configure(RateLimit(rate=rate, burst=burst))

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
        self._buckets: dict[str, _Bucket] = {}
        self._lock = threading.Lock()
        _backends.add(self)

    def _after_fork(self) -> None:
        # A lock held by another thread at fork() stays held forever in the child: replace them.
        self._lock = threading.Lock()
        for bucket in self._buckets.values():
            bucket.lock = threading.Lock()

    def _bucket(self, key: str, limit: RateLimit) -> _Bucket:
        bucket = self._buckets.get(key)
        if bucket is not None and (bucket.limit is limit or limit in bucket.known):
            return bucket
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = _Bucket(limit, self._clock())
            else:
                with bucket.lock:
                    bucket.merge(limit)
            return bucket

    async def acquire(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> None:
        bucket = self._bucket(key, limit)
        clock = self._clock
        with bucket.lock:
            now = clock()
            if max_pause is not None and bucket.paused_until - now > max_pause * _NS:
                raise AccountPaused((bucket.paused_until - now) / _NS)
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
            bucket.paused_until = max(bucket.paused_until, now + pause)
            bucket.slowdown = min(bucket.slowdown * 2, _MAX_SLOWDOWN)
            bucket.interval = bucket.base_interval * bucket.slowdown
            bucket.calm_since = now + pause


_backends: weakref.WeakSet[LocalBackend] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for backend in list(_backends):
        backend._after_fork()


os.register_at_fork(after_in_child=_after_fork_in_child)


_default_backend = LocalBackend()


def default_backend() -> LocalBackend:
    """The process-wide in-memory backend that clients use unless given another."""
    return _default_backend


class _Account:
    """The limit in force for one account in this process."""

    __slots__ = ("limit",)

    def __init__(self, limit: RateLimit) -> None:
        self.limit = limit


_accounts: dict[str, _Account] = {}
_accounts_lock = threading.Lock()


def _account(key: str, limit: RateLimit) -> _Account:
    """The account `key`, now held to `limit` too (the strictest of every limit given to it)."""
    with _accounts_lock:
        account = _accounts.get(key)
        if account is None:
            account = _accounts[key] = _Account(limit)
        else:
            rate, burst = min(account.limit.rate, limit.rate), min(account.limit.burst, limit.burst)
            if (rate, burst) != (account.limit.rate, account.limit.burst):
                account.limit = RateLimit(rate=rate, burst=burst)
        return account


class RateLimiter:
    """One client's view of its account's limit, on a backend. A `None` limit means no limiting.

    Args:
        key: the account (``<vendor>:<account id>``).
        limit: the limit this client was given; the account's limit in the process becomes the
            strictest of every limit its clients were given.
        backend: where the account's state lives (default: the process-wide `LocalBackend`).
    """

    __slots__ = ("key", "own", "backend", "_account")

    def __init__(self, key: str, limit: RateLimit | None, backend: LimiterBackend | None) -> None:
        self.key = key
        self.own = limit
        self.backend: LimiterBackend = backend if backend is not None else _default_backend
        self._account = None if limit is None else _account(key, limit)

    @property
    def limit(self) -> RateLimit | None:
        """The limit in force: the strictest rate and smallest burst given to any client of this
        account in this process; None if this client does not limit."""
        return None if self._account is None else self._account.limit

    async def acquire(self, max_pause: float | None = None) -> None:
        """Wait for this account's next slot; raise `AccountPaused` rather than wait out a
        vendor's pause longer than `max_pause` seconds."""
        if self._account is not None:
            await self.backend.acquire(self.key, self._account.limit, max_pause=max_pause)

    async def penalize(self, retry_after: float | None) -> None:
        if self._account is not None:
            await self.backend.penalize(self.key, self._account.limit, retry_after)


def _after_fork_in_child_accounts() -> None:
    global _accounts_lock
    _accounts_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child_accounts)
