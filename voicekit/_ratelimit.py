"""Per-vendor, per-account client-side rate limiting.

The local backend combines two rules, both on integer nanoseconds so that no float rounding lets
an extra request through:

* a reservation-based GCRA (token bucket): each caller reserves the next free slot and sleeps
  until it, so late wake-ups do not cost throughput, and `burst` requests may start back to back;
* a sliding-window log of actual starts: a request is granted only if fewer than N requests
  started in the last window. This is the guarantee: over any window no more than N requests
  start, whatever the scheduler does to wake-up times.

A start is the moment a request's bytes leave, not the moment the limiter granted it. Between
the two a request may wait for a connection to be opened (TCP, TLS, a proxy's tunnel), for a
free connection in the pool, or for a journal to record it; a burst sent on new connections
would then reach the vendor late, and the next burst, on the warm connections, on time: two
bursts within one second at the vendor. So a grant holds its place in the window while its
request is on its way (`Start`), and is logged once the request's connection is ready and its
bytes have gone out (`Start.depart`): never before the real departure, so that anything that
delays the log only holds the start in the window longer. The request path reports the
departure from the connection pool itself (`departing`).

A 429 from the vendor pushes the next slot past its `Retry-After` and halves the rate; the rate
recovers by doubling for every quiet window. A caller whose budget ends before such a pause does
is told at once (`AccountPaused`) instead of sleeping past its own deadline.

An account has one limit in the process: when clients of one account are given different
limits, the strictest rate and the smallest burst hold for all of them (`RateLimiter.limit`).

Backends implement `LimiterBackend`; a backend shared between processes (e.g. on Redis) only
needs `acquire` and `penalize`, and `grant` to count starts when they leave rather than when
they are granted.
"""

from __future__ import annotations

import math
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from typing import Final, Protocol, Self, runtime_checkable

import anyio

from ._config import RateLimit

__all__ = [
    "AccountPaused",
    "GrantingBackend",
    "LimiterBackend",
    "LocalBackend",
    "RateLimiter",
    "Sending",
    "Start",
    "default_backend",
    "departing",
]

_NS = 1_000_000_000
_MAX_SLOWDOWN = 16
# The window is held this much longer than a second: departures are logged once the bytes left
# (never before), but they reach the vendor with network jitter, a few milliseconds apart from
# one request to the next. 1% of the rate buys a bound that holds at the vendor's server.
_GUARD_NS = 10_000_000


class AccountPaused(Exception):
    """The vendor paused the account (a 429's Retry-After) for longer than the caller can wait.

    Attributes:
        remaining: seconds until the pause ends.
    """

    def __init__(self, remaining: float) -> None:
        self.remaining = remaining
        super().__init__(f"the account is paused for another {remaining:.1f} s")


class Start(Protocol):
    """One granted start, counted against the limit from its grant on.

    It holds its place in the window while its request is on its way, and is logged at the
    moment the request leaves (`depart`); only the first call counts.
    """

    def depart(self) -> None:
        """The request's bytes are leaving now: log the start at this moment."""


class LimiterBackend(Protocol):
    """Where the state of every account's limit lives.

    A backend may also implement ``grant`` (see `GrantingBackend`; `LocalBackend` and the Redis
    backend do): the clients then count each start when its request leaves, which is what bounds
    the rate the vendor sees. With `acquire` alone a start counts when it is granted, and the
    time a request then spends connecting is not accounted for.
    """

    async def acquire(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> None:
        """Return when one request for `key` may start under `limit`; it counts as started now.

        Raises:
            AccountPaused: the vendor paused the account for longer than `max_pause` seconds
                from now; nothing was reserved.
        """

    async def penalize(self, key: str, limit: RateLimit, retry_after: float | None) -> None:
        """Slow `key` down after the vendor answered 429."""


@runtime_checkable
class GrantingBackend(LimiterBackend, Protocol):
    """A backend that counts a start when its request leaves, not when it was granted."""

    async def grant(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> Start:
        """Like `acquire`, but the start is logged when the caller says it departed.

        Raises:
            AccountPaused: as for `acquire`.
        """


class Sending:
    """A granted start whose request is on its way: ``with start: <send the request>``.

    Inside the block, the connection pool reports the departure through `departing` once the
    request's connection is ready and its bytes were written. A start nobody reported departs
    when the block ends: whatever kept it from being reported (a request that failed before its
    connection was ready, a transport that bypasses the pool), counting it late only ever errs
    on the side of fewer requests. The backends' own starts are `Sending`s; another backend's
    `Start` is wrapped in one.
    """

    __slots__ = ("_token",)

    def depart(self) -> None:
        raise NotImplementedError

    def __enter__(self) -> Self:
        self._token = departing.set(self)
        return self

    def __exit__(self, *exc_info: object) -> None:
        departing.reset(self._token)
        self.depart()


class _Wrapped(Sending):
    """Another backend's `Start`, as a `Sending`."""

    __slots__ = ("_start",)

    def __init__(self, start: Start) -> None:
        self._start = start

    def depart(self) -> None:
        self._start.depart()


class _Unlimited:
    """No limit, or a backend that counts starts at their grant: nothing to report."""

    __slots__ = ()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        return None


#: The start of the request this task is sending now, for the connection pool to report its
#: departure (see `Sending`); None outside a send.
departing: Final[ContextVar[Start | None]] = ContextVar("voicekit_departing", default=None)

_UNLIMITED: Final = _Unlimited()


class _Bucket:
    __slots__ = (
        "lock",
        "limit",
        "known",
        "n",
        "interval",
        "base_interval",
        "tau",
        "tat",
        "window",
        "pending",
        "epoch",
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
        # The departures of the last window, oldest first, and the starts granted but not yet
        # departed: together at most n (the starts already made count against a new limit too).
        self.window: deque[int] = deque()
        self.pending = 0
        self.epoch = 0
        self.configure(limit)

    def configure(self, limit: RateLimit) -> None:
        self.limit = limit
        self.n = max(1, math.floor(limit.rate))
        self.base_interval = math.ceil(_NS / limit.rate)
        self.interval = self.base_interval * self.slowdown
        self.tau = (limit.burst - 1) * self.base_interval
        self.span = max(_NS, math.ceil(self.n * _NS / limit.rate)) + _GUARD_NS

    def merge(self, limit: RateLimit) -> None:
        """Hold the stricter of the limit in force and `limit` (lower rate, smaller burst)."""
        self.known = self.known | {limit}
        current = self.limit
        stricter = _stricter(current, limit)
        if stricter is not current:
            self.configure(stricter)

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
        """Grant a start at `now` if the window allows it (return 0), else the ns to wait.

        The granted start is pending until `depart` logs it.
        """
        w = self.window
        cutoff = now - self.span
        while w and w[0] <= cutoff:
            w.popleft()
        busy = len(w) + self.pending
        if busy < self.n:
            self.pending += 1
            return 0
        # This many departures must leave the window before one more start fits.
        excess = busy - self.n
        if excess < len(w):
            return w[excess] + self.span - now
        # The starts still on their way fill the rest; each stays a whole window from the moment
        # it leaves, which is not before now.
        return self.span

    def depart(self, now: int) -> None:
        self.pending -= 1
        self.window.append(now)


class _LocalStart(Sending):
    """A start granted by `LocalBackend` (see `Start`)."""

    __slots__ = ("_bucket", "_clock", "_epoch", "_open")

    def __init__(self, bucket: _Bucket, clock: Callable[[], int]) -> None:
        self._bucket = bucket
        self._clock = clock
        self._epoch = bucket.epoch
        self._open = True

    def depart(self) -> None:
        if self._open:
            self._open = False
            bucket = self._bucket
            with bucket.lock:
                if bucket.epoch == self._epoch:
                    bucket.depart(self._clock())


def _stricter(current: RateLimit, other: RateLimit) -> RateLimit:
    """`current`, or a limit with the lower rate and the smaller burst of the two if it differs."""
    rate, burst = min(current.rate, other.rate), min(current.burst, other.burst)
    if (rate, burst) == (current.rate, current.burst):
        return current
    return RateLimit(rate=rate, burst=burst)


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
        # The parent's requests on their way are not the child's: they will never depart here.
        self._lock = threading.Lock()
        for bucket in self._buckets.values():
            bucket.lock = threading.Lock()
            bucket.pending = 0
            bucket.epoch += 1

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
        bucket = await self._granted(key, limit, max_pause)
        with bucket.lock:
            bucket.depart(self._clock())

    async def grant(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> Start:
        bucket = await self._granted(key, limit, max_pause)
        return _LocalStart(bucket, self._clock)

    async def _granted(self, key: str, limit: RateLimit, max_pause: float | None) -> _Bucket:
        """Wait for a slot and a place in the window; return the bucket, the start pending in it."""
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
        return bucket

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
            account.limit = _stricter(account.limit, limit)
        return account


class RateLimiter:
    """One client's view of its account's limit, on a backend. A `None` limit means no limiting.

    Args:
        key: the account (``<vendor>:<account id>``).
        limit: the limit this client was given; the account's limit in the process becomes the
            strictest of every limit its clients were given.
        backend: where the account's state lives (default: the process-wide `LocalBackend`).
    """

    __slots__ = ("key", "backend", "_account", "_grant")

    def __init__(self, key: str, limit: RateLimit | None, backend: LimiterBackend | None) -> None:
        self.key = key
        self.backend: LimiterBackend = backend if backend is not None else _default_backend
        self._account = None if limit is None else _account(key, limit)
        self._grant = self.backend.grant if isinstance(self.backend, GrantingBackend) else None

    @property
    def limit(self) -> RateLimit | None:
        """The limit in force: the strictest rate and smallest burst given to any client of this
        account in this process; None if this client does not limit."""
        return None if self._account is None else self._account.limit

    async def acquire(self, max_pause: float | None = None) -> Sending | _Unlimited:
        """Wait for this account's next slot; send the request inside the returned context.

        Raises:
            AccountPaused: the vendor paused the account for longer than `max_pause` seconds.
        """
        account = self._account
        if account is None:
            return _UNLIMITED
        if self._grant is not None:
            start = await self._grant(self.key, account.limit, max_pause=max_pause)
            return start if isinstance(start, Sending) else _Wrapped(start)
        await self.backend.acquire(self.key, account.limit, max_pause=max_pause)
        return _UNLIMITED

    async def penalize(self, retry_after: float | None) -> None:
        if self._account is not None:
            await self.backend.penalize(self.key, self._account.limit, retry_after)


def _after_fork_in_child_accounts() -> None:
    global _accounts_lock
    _accounts_lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child_accounts)
