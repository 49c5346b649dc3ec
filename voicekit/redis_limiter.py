"""A rate-limiter backend in Redis: one account's limit shared by many processes on many machines.

Install the extra (``pip install ".[redis]"`` from a checkout of voicekit, or
``pip install redis``) and hand the backend to every client of the account::

    import redis.asyncio as redis
    from voicekit.redis_limiter import RedisBackend

    backend = RedisBackend(redis.from_url("redis://localhost:6379/0"))
    async with voicekit.AsyncTeleCMI(rate_limit=20, limiter_backend=backend) as tc:
        ...

It keeps the local backend's two rules, each in one atomic Lua script and on the Redis server's
own clock (``TIME``), so machines whose clocks disagree still share one timeline:

* a reservation (GCRA): each caller reserves the next free slot and sleeps until it, so many
  waiters cost one round trip each, not a poll per slot;
* a sliding-window log of actual starts (a sorted set): a request starts only if fewer than N
  started in the last window, which is what makes the limit exact whatever the wake-ups do.

A start is logged when the request leaves, not when it is granted (`RedisBackend.grant`): the
grant holds its place in the window meanwhile, so that requests that first had to open a
connection cannot arrive at the vendor in the same second as the next ones.

A 429 pushes the account's next slot past the vendor's ``Retry-After`` for every process.
Keys expire by themselves once an account is idle. The blocking facade's event loop and the
user's own loops may share one backend only if each uses a Redis client made for its loop.

The window lives in Redis's memory. A Redis restarted without its last second of data (no
persistence, or the default snapshots) has forgotten the requests of that second: around the
restart one window may hold up to twice the limit, never more (while Redis is down nothing is
sent). To keep that second, run Redis with ``appendonly yes`` and ``appendfsync everysec``:
Redis's own configuration file says this loses at most one write if only the Redis process dies,
and about a second of writes after a power outage; it costs a write to the append-only file per
script (three per request), an fsync a second and the file's rewrites. ``appendfsync always``
fsyncs after each write (a little safer, and the limiter then runs at the disk's fsync rate).
Replication is asynchronous: a promoted replica may lack the last writes too.
"""

from __future__ import annotations

import asyncio
import logging
import math
import secrets
from collections.abc import Awaitable, Callable
from typing import Any, Final

import anyio

from ._config import RateLimit
from ._ratelimit import AccountPaused, Sending, Start
from ._redact import REDACTED, redact_url, url_secrets
from .errors import ConfigurationError, LimiterUnavailableError

__all__ = ["LimiterUnavailableError", "RedisBackend", "connect_redis"]

log = logging.getLogger("voicekit")


async def connect_redis(url: str) -> Any:
    """A `redis.asyncio` client on `url`, once Redis answered a PING.

    Raises:
        ConfigurationError: the redis extra is missing, or Redis cannot be reached there.
    """
    try:
        import redis.asyncio as redis
    except ImportError:
        raise ConfigurationError("the Redis limiter needs the redis extra: pip install redis") from None
    try:
        client = redis.from_url(url, socket_connect_timeout=5, socket_timeout=10)
    except ValueError as exc:
        problem = str(exc)
        for secret in url_secrets(url):
            problem = problem.replace(secret, REDACTED)
        raise ConfigurationError(f"--limiter: {redact_url(url)} is not a Redis URL ({problem})") from None
    try:
        await client.ping()
    except Exception as exc:  # noqa: BLE001 - any failure here is "cannot reach Redis"
        await client.aclose()
        raise ConfigurationError(
            f"cannot reach the rate limiter's Redis at {redact_url(url)} ({type(exc).__name__}); start it, or fix "
            "the URL (a run never dials without the shared limit)"
        ) from None
    return client


_US: Final = 1_000_000
# The window is held this much longer than a second: callers (and the vendor) see a start a
# network round trip after Redis decides it, and round trips vary by a few milliseconds.
_GUARD_US: Final = 10_000
# Slots are spaced so that N of them span the guarded window plus this slack, so that jitter in
# wake-ups rarely makes the window rule (a further wait) decide instead of the schedule.
_SLACK_US: Final = 5_000

# KEYS: tat, pause. ARGV: interval_us, tau_us, ttl_ms, max_pause_us (-1: any). Returns the
# microseconds to wait for the slot, or, reserving nothing, -1 minus the microseconds the
# account stays paused when that is longer than max_pause_us.
_RESERVE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local max_pause = tonumber(ARGV[4])
if max_pause >= 0 then
  local left = redis.call('PTTL', KEYS[2])
  if left > 0 and left * 1000 > max_pause then
    return -1 - left * 1000
  end
end
local interval = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local slot = math.max(now, tat - tau)
redis.call('SET', KEYS[1], string.format('%.0f', math.max(tat, slot) + interval), 'PX', ARGV[3])
return slot - now
"""

# How long a granted start may stay on its way before its departure is logged: while it does,
# it holds its place in the window (scored this far ahead); a process killed in between leaves
# its place taken this long, never more. A request whose connection takes longer than this
# (bounded in practice by the request's own timeout, 30 s by default) is counted from the moment
# its departure is logged.
_HOLD_US: Final = 60_000_000

# KEYS: log. ARGV: span_us, n, ttl_ms, member, hold_us. Returns 0 (granted) or the microseconds
# to wait. A grant is logged `hold_us` ahead of now (0: started now) until `_DEPART` logs the
# moment its request left. The log's TTL only ever grows: a grant on its way keeps it alive.
_START: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local span = tonumber(ARGV[1])
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', string.format('%.0f', now - span))
local busy = redis.call('ZCARD', KEYS[1])
local n = tonumber(ARGV[2])
if busy >= n then
  -- This many starts must leave the window before one more fits; one still on its way
  -- stays a whole window from when it leaves, which is not before now.
  local score = tonumber(redis.call('ZRANGE', KEYS[1], busy - n, busy - n, 'WITHSCORES')[2])
  if score > now then
    return span
  end
  return math.max(1, score + span - now)
end
redis.call('ZADD', KEYS[1], string.format('%.0f', now + tonumber(ARGV[5])), ARGV[4])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[3]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[3])
end
return 0
"""

# KEYS: log. ARGV: member, ttl_ms. Logs a granted start as leaving now (on Redis's clock, which
# reads it after the request's bytes left: later, never earlier, so the window holds it longer).
_DEPART: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
redis.call('ZADD', KEYS[1], string.format('%.0f', now), ARGV[1])
if redis.call('PTTL', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('PEXPIRE', KEYS[1], ARGV[2])
end
return 0
"""

# KEYS: tat, pause. ARGV: pause_us, ttl_ms. Pushes the next slot past the pause, and records
# the pause itself (a key that lives as long as the pause) for callers that cannot wait it out.
_PENALIZE: Final = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
local pause_us = tonumber(ARGV[1])
redis.call('SET', KEYS[1], string.format('%.0f', math.max(tat, now + pause_us)), 'PX', ARGV[2])
local pause_ms = math.ceil(pause_us / 1000)
if pause_ms > 0 and redis.call('PTTL', KEYS[2]) < pause_ms then
  redis.call('SET', KEYS[2], '1', 'PX', pause_ms)
end
return 0
"""


async def _quietly(report: Awaitable[Any]) -> None:
    """Await a report nobody waits for. If it fails, the grant keeps its place in the window
    until its hold ends (`_HOLD_US`): the error only ever costs throughput, never the limit."""
    try:
        await report
    except Exception as exc:  # noqa: BLE001 - logged; see the docstring
        log.debug("a rate limiter report to Redis failed (%s); its place is held until it expires", exc)


class RedisBackend:
    """`voicekit.LimiterBackend` on Redis (a `redis.asyncio.Redis` client or compatible).

    Args:
        client: the async Redis client; it must belong to the event loop the clients run on.
        prefix: namespace for the keys (``<prefix>:<vendor>:<account>:tat`` and ``...:log``).
        sleep: an async sleep in seconds (injectable for tests).
    """

    def __init__(
        self,
        client: Any,
        *,
        prefix: str = "voicekit:rl",
        sleep: Callable[[float], Awaitable[object]] = anyio.sleep,
    ) -> None:
        self._client = client
        self._prefix = prefix
        self._sleep = sleep
        self._reserve = client.register_script(_RESERVE)
        self._start = client.register_script(_START)
        self._depart = client.register_script(_DEPART)
        self._penalize = client.register_script(_PENALIZE)
        self._nonce = secrets.token_hex(6)
        self._count = 0
        # Departures on their way to Redis (no request waits for them).
        self._reports: set[asyncio.Task[None]] = set()

    def _keys(self, key: str) -> tuple[str, str, str]:
        base = f"{self._prefix}:{key}"
        return f"{base}:tat", f"{base}:log", f"{base}:pause"

    @staticmethod
    def _shape(limit: RateLimit) -> tuple[int, int, int, int, int]:
        n = max(1, math.floor(limit.rate))
        span = max(_US, math.ceil(n * _US / limit.rate)) + _GUARD_US
        interval = max(math.ceil(_US / limit.rate), math.ceil((span + _SLACK_US) / n))
        tau = (limit.burst - 1) * interval
        ttl_ms = max(1000, 2 * span // 1000)
        return n, interval, tau, span, ttl_ms

    async def acquire(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> None:
        await self._admit(key, limit, max_pause, hold=0)

    async def grant(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> Start:
        """Like `acquire`, but the start is logged when its request leaves (see `voicekit._ratelimit`).

        Until then it holds its place in the shared window; the departure is reported to Redis
        without the request waiting for it.
        """
        member, ttl_ms = await self._admit(key, limit, max_pause, hold=_HOLD_US)
        return _RedisStart(self, self._keys(key)[1], member, ttl_ms)

    async def _admit(self, key: str, limit: RateLimit, max_pause: float | None, *, hold: int) -> tuple[str, int]:
        """Wait for a slot and a place in the window, logged `hold` us ahead; its member and TTL."""
        tat_key, log_key, pause_key = self._keys(key)
        n, interval, tau, span, ttl_ms = self._shape(limit)
        cap = -1 if max_pause is None else int(max_pause * _US)
        wait = int(await self._call(self._reserve, keys=[tat_key, pause_key], args=[interval, tau, ttl_ms, cap]))
        if wait < 0:
            raise AccountPaused((-wait - 1) / _US)
        log_ttl_ms = ttl_ms + hold // 1000
        while True:
            if wait > 0:
                await self._sleep(wait / _US)
            self._count += 1
            member = f"{self._nonce}:{self._count}"
            wait = int(await self._call(self._start, keys=[log_key], args=[span, n, log_ttl_ms, member, hold]))
            if wait == 0:
                return member, ttl_ms

    def _report(self, report: Awaitable[Any]) -> None:
        """Send `report` to Redis in a task of its own, so that no request waits for it."""
        task = asyncio.get_running_loop().create_task(_quietly(report))
        self._reports.add(task)
        task.add_done_callback(self._reports.discard)

    async def penalize(self, key: str, limit: RateLimit, retry_after: float | None) -> None:
        tat_key, _, pause_key = self._keys(key)
        _, _, _, span, ttl_ms = self._shape(limit)
        pause_us = int((retry_after if retry_after is not None else 1.0) * _US)
        await self._call(
            self._penalize, keys=[tat_key, pause_key], args=[pause_us, max(ttl_ms, pause_us // 1000 + span // 1000)]
        )

    async def _call(self, script: Any, *, keys: list[str], args: list[Any]) -> Any:
        try:
            return await script(keys=keys, args=args)
        except (OSError, TimeoutError) as exc:
            raise LimiterUnavailableError(f"the rate limiter's Redis cannot be reached ({exc})") from exc
        except Exception as exc:
            # redis-py's ConnectionError / TimeoutError do not derive from OSError.
            if type(exc).__name__ in ("ConnectionError", "TimeoutError", "BusyLoadingError"):
                raise LimiterUnavailableError(f"the rate limiter's Redis cannot be reached ({exc})") from exc
            raise


class _RedisStart(Sending):
    """A start granted by `RedisBackend` (see `voicekit._ratelimit.Start`)."""

    __slots__ = ("_backend", "_key", "_member", "_ttl_ms", "_open")

    def __init__(self, backend: RedisBackend, key: str, member: str, ttl_ms: int) -> None:
        self._backend = backend
        self._key = key
        self._member = member
        self._ttl_ms = ttl_ms
        self._open = True

    def depart(self) -> None:
        if self._open:
            self._open = False
            backend = self._backend
            backend._report(backend._call(backend._depart, keys=[self._key], args=[self._member, self._ttl_ms]))
