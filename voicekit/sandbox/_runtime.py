"""The knobs every vendor shares and the per-app runtime that timers, tasks and callbacks run on.

:class:`Knobs` holds what shapes every answer whatever the vendor: the listening address, the
latency, the rate limit, the fault plan, the outcome plan, the time scale and the clock.
:class:`Runtime` holds the loop-bound resources of one running app.
"""

from __future__ import annotations

import asyncio
import math
import time
from collections.abc import Callable, Coroutine
from typing import Any

import aiohttp
from aiohttp import web

from ._faults import FaultPlan
from ._outcomes import OutcomePlan

__all__ = ["DEFAULT_MAX_BODY_SIZE", "RUNTIME_KEY", "Knobs", "Runtime"]

DEFAULT_MAX_BODY_SIZE = 1024 * 1024


class Knobs:
    """The vendor-neutral knobs (plain attributes, changeable while the sandbox runs)."""

    #: Actual ``Retry-After`` seconds are rounded up to at least this many.
    MIN_RETRY_AFTER = 1

    def __init__(
        self,
        *,
        host: str,
        port: int,
        latency: float,
        rate_limit: float | None,
        rate_burst: int | None,
        clock: Callable[[], float],
        max_body_size: int,
        outcomes: OutcomePlan | None,
        time_scale: float,
    ) -> None:
        self.host = host
        self.port = port
        self.latency = latency
        self.rate_limit = rate_limit
        self.rate_burst = rate_burst
        self.clock = clock
        self.max_body_size = max_body_size
        self.outcomes = OutcomePlan() if outcomes is None else outcomes
        if isinstance(time_scale, bool) or not time_scale >= 0:
            raise ValueError("time_scale must be >= 0 (wall seconds per simulated second)")
        self.time_scale = float(time_scale)
        self.faults = FaultPlan()
        self._buckets: dict[str, list[float]] = {}
        self._url: str | None = None

    @property
    def url(self) -> str:
        """Base URL of the running sandbox, e.g. ``http://127.0.0.1:54321``."""
        if self._url is None:
            raise RuntimeError("the sandbox is not running")
        return self._url

    def throttle(self, account: str) -> int | None:
        """Take one token from ``account``'s bucket; return ``Retry-After`` seconds if empty.

        A token bucket of ``rate_burst`` tokens (default: ``ceil(rate_limit)``, at least 1)
        refilled at ``rate_limit`` tokens per second; ``rate_limit = None`` disables it.
        """
        rate = self.rate_limit
        if rate is None:
            return None
        burst = float(self.rate_burst if self.rate_burst is not None else max(1, math.ceil(rate)))
        now = time.monotonic()
        bucket = self._buckets.get(account)
        if bucket is None:
            bucket = self._buckets[account] = [burst, now]
        tokens = min(burst, bucket[0] + (now - bucket[1]) * rate)
        bucket[1] = now
        if tokens >= 1.0:
            bucket[0] = tokens - 1.0
            return None
        bucket[0] = tokens
        wait = (1.0 - tokens) / rate if rate > 0 else 3600.0
        return max(self.MIN_RETRY_AFTER, math.ceil(wait))

    def _reset_knobs(self) -> None:
        """Forget the outcome plan's counts, pending faults and rate-limit state."""
        self.outcomes.reset_counts()
        self.faults.clear()
        self._buckets.clear()


class Runtime:
    """Loop-bound resources of one running app: sleepers, timers, tasks, callback session."""

    def __init__(self) -> None:
        self.closing = False
        self._sleepers: set[asyncio.Future[None]] = set()
        self._timers: set[asyncio.TimerHandle] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def sleep(self, seconds: float) -> None:
        """Sleep ``seconds``, cut short when the app shuts down."""
        if seconds <= 0 or self.closing:
            return
        loop = asyncio.get_running_loop()
        waiter: asyncio.Future[None] = loop.create_future()
        handle = loop.call_later(seconds, _wake, waiter)
        self._sleepers.add(waiter)
        try:
            await waiter
        finally:
            handle.cancel()
            self._sleepers.discard(waiter)

    def call_later(self, delay: float, callback: Any, *args: Any) -> None:
        """Run ``callback(*args)`` after ``delay`` seconds, unless the app shuts down first."""
        loop = asyncio.get_running_loop()
        holder: list[asyncio.TimerHandle] = []

        def fire() -> None:
            self._timers.discard(holder[0])
            callback(*args)

        holder.append(loop.call_later(delay, fire))
        self._timers.add(holder[0])

    def spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        """Run ``coro`` in the background; it is cancelled when the app shuts down."""
        if self.closing:
            coro.close()
            return
        task = asyncio.get_running_loop().create_task(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def session(self) -> aiohttp.ClientSession:
        """The client session used for callbacks (created on first use, on this loop)."""
        if self._session is None:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=5.0), trust_env=False)
        return self._session

    def begin_shutdown(self) -> None:
        """Wake every sleeper so in-flight requests finish promptly."""
        self.closing = True
        for waiter in list(self._sleepers):
            _wake(waiter)

    async def close(self) -> None:
        """Cancel timers and background tasks, close the callback session."""
        self.begin_shutdown()
        for handle in self._timers:
            handle.cancel()
        self._timers.clear()
        tasks = list(self._tasks)
        for task in tasks:
            task.cancel()
        if tasks:
            await asyncio.gather(*tasks, return_exceptions=True)
        if self._session is not None:
            await self._session.close()
            self._session = None


def _wake(waiter: asyncio.Future[None]) -> None:
    if not waiter.done():
        waiter.set_result(None)


RUNTIME_KEY = web.AppKey("voicekit_sandbox_runtime", Runtime)
