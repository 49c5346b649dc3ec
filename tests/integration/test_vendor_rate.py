"""The limit holds where it matters: at the vendor's server, counted by its own receive times.

A request granted by the limiter still has to get a connection (a new one for a burst on a cold
pool) and pass the journal's `before_send` before its bytes leave. These tests count, per window
of one second, the requests that reached a raw loopback server (`tests._arrivals`, stamped by the
kernel as they arrive), for a bounded number of requests: no window may hold more than the limit.
Nothing here asserts how fast anything ran.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from tests._arrivals import ArrivalServer, most_in_any_window
from tests._clock import VirtualClock
from tests._servers import RedisServer
from tests.conftest import fresh_appid
from voicekit import AsyncTeleCMI, LocalBackend, RateLimit, TeleCMI
from voicekit.telecmi import Dial

NS = 1_000_000_000


def dials(n: int) -> list[Dial]:
    return [Dial(key=f"k{i}", from_=19170000000, to=9100000000 + i, file_name="welcome.wav") for i in range(n)]


class SlowFirstJournal:
    """A `before_send` that takes `delay` seconds for the first `slow` calls it sees (a journal
    whose first writes wait on a lock or a disk), and no time for the others."""

    def __init__(self, slow: int, delay: float) -> None:
        self.slow = slow
        self.delay = delay
        self.seen = 0

    async def __call__(self, key: str) -> None:
        self.seen += 1
        if self.seen <= self.slow:
            await asyncio.sleep(self.delay)


@pytest.fixture
def server() -> Iterator[ArrivalServer]:
    with ArrivalServer() as srv:
        yield srv


async def dial_all(tc: AsyncTeleCMI, n: int, *, concurrency: int, before_send: SlowFirstJournal | None = None) -> None:
    outcomes = [o async for o in tc.dial_many(dials(n), concurrency=concurrency, before_send=before_send)]
    assert len(outcomes) == n and all(o.ok for o in outcomes), [o.error for o in outcomes if not o.ok][:3]


@pytest.mark.parametrize("burst", [1, 20])
@pytest.mark.slow
async def test_a_burst_on_new_connections_and_the_next_on_warm_ones_never_exceed_the_limit(
    server: ArrivalServer, burst: int
) -> None:
    """The first burst opens 20 connections after its grants, the next reuses them at once."""
    limit = RateLimit(rate=20, burst=burst)
    async with AsyncTeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=limit) as tc:
        await dial_all(tc, 50, concurrency=40)
    arrivals = server.times()
    assert len(arrivals) == 50
    assert most_in_any_window(arrivals) <= 20


@pytest.mark.slow
async def test_a_slow_before_send_does_not_let_the_next_burst_catch_up(server: ArrivalServer) -> None:
    """The first burst's journal writes take 300 ms after their grants; the next burst's none."""
    limit = RateLimit(rate=10, burst=10)
    async with AsyncTeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=limit) as tc:
        await dial_all(tc, 25, concurrency=25, before_send=SlowFirstJournal(slow=10, delay=0.3))
    arrivals = server.times()
    assert len(arrivals) == 25
    assert most_in_any_window(arrivals) <= 10


@pytest.mark.slow
def test_the_blocking_client_holds_the_limit_at_the_vendor_too(server: ArrivalServer) -> None:
    limit = RateLimit(rate=10, burst=10)
    journal = SlowFirstJournal(slow=10, delay=0.3)
    with TeleCMI(appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=limit) as tc:
        outcomes = list(tc.dial_many(dials(25), concurrency=25, before_send=journal))
    assert all(o.ok for o in outcomes)
    arrivals = server.times()
    assert len(arrivals) == 25
    assert most_in_any_window(arrivals) <= 10


@pytest.mark.slow
async def test_processes_sharing_redis_hold_the_limit_at_the_vendor(
    server: ArrivalServer, redis_server: RedisServer
) -> None:
    """Three "processes" (each its own Redis client, backend, client and connection pool) of one
    account; each one's first calls wait 300 ms in its journal after their grants."""
    redis_asyncio = pytest.importorskip("redis.asyncio")
    from voicekit.redis_limiter import RedisBackend

    appid = fresh_appid()
    limit = RateLimit(rate=12, burst=12)
    redis_clients = [redis_asyncio.from_url(redis_server.url) for _ in range(3)]
    try:
        clients = [
            AsyncTeleCMI(
                appid=appid,
                secret="s",
                base_url=server.url,
                rate_limit=limit,
                limiter_backend=RedisBackend(client, prefix=f"vendor-{appid}"),
            )
            for client in redis_clients
        ]
        await asyncio.gather(
            *(dial_all(tc, 12, concurrency=12, before_send=SlowFirstJournal(slow=4, delay=0.3)) for tc in clients)
        )
        for tc in clients:
            await tc.aclose()
    finally:
        for client in redis_clients:
            await client.aclose()
    arrivals = server.times()
    assert len(arrivals) == 36
    assert most_in_any_window(arrivals) <= 12


# -- the mechanism, on a virtual clock: a grant holds its place until its request leaves -----------


async def test_a_granted_start_counts_from_when_it_departs_not_from_its_grant() -> None:
    vc = VirtualClock()
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    limit = RateLimit(rate=5, burst=5)
    vc.now = 10 * NS
    first = [await backend.grant("acct", limit) for _ in range(5)]
    granted_at = vc.now

    later: list[int] = []

    async def one_more() -> None:
        start = await backend.grant("acct", limit)
        later.append(vc.now)
        start.depart()

    task = asyncio.create_task(one_more())
    # The five are still on their way (connecting) 400 ms after their grants, then leave.
    for _ in range(3):
        await asyncio.sleep(0)
    vc.now = granted_at + 4 * NS // 10
    for start in first:
        start.depart()
    await vc.drive([task])
    assert later and later[0] >= granted_at + 4 * NS // 10 + NS, "a window after the departures, not the grants"


async def test_departing_twice_counts_once() -> None:
    vc = VirtualClock()
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    limit = RateLimit(rate=2, burst=2)
    start = await backend.grant("acct", limit)
    start.depart()
    start.depart()
    second = await backend.grant("acct", limit)
    second.depart()
    assert vc.now == 0, "two starts fit a limit of two"


async def test_a_grant_holds_its_place_in_redis_until_its_departure_is_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    fakeredis = pytest.importorskip("fakeredis")
    import fakeredis.commands_mixins.server_mixin as server_mixin

    from tests._clock import VirtualTime
    from voicekit.redis_limiter import RedisBackend

    vt = VirtualTime(0)
    monkeypatch.setattr(server_mixin, "time", vt)  # Redis's TIME reads the virtual clock
    client = fakeredis.FakeAsyncRedis(server=fakeredis.FakeServer())
    backend = RedisBackend(client, sleep=vt.sleep)
    limit = RateLimit(rate=2, burst=2)
    first = [await backend.grant("telecmi:1", limit) for _ in range(2)]
    granted_at = vt.now
    later: list[int] = []

    async def one_more() -> None:
        await backend.grant("telecmi:1", limit)
        later.append(vt.now)

    async def depart_late() -> None:
        await vt.sleep(0.4)  # the two are still connecting 400 ms after their grants
        for start in first:
            start.depart()

    await vt.drive([asyncio.create_task(one_more()), asyncio.create_task(depart_late())])
    await client.aclose()
    assert later and later[0] >= granted_at + 4 * NS // 10 + NS, "a window after the departures, not the grants"


class StampingBackend:
    """A limiter backend that grants at once and stamps (on the kernel's clock) each departure
    it is told of."""

    def __init__(self) -> None:
        self.departures: list[int] = []

    async def acquire(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> None:
        raise AssertionError("a backend that can grant is asked to grant")

    async def grant(self, key: str, limit: RateLimit, *, max_pause: float | None = None) -> StampingStart:
        return StampingStart(self.departures)

    async def penalize(self, key: str, limit: RateLimit, retry_after: float | None) -> None:
        return None


class StampingStart:
    def __init__(self, departures: list[int]) -> None:
        self.departures = departures
        self.done = False

    def depart(self) -> None:
        if not self.done:
            self.done = True
            self.departures.append(time.time_ns())  # the clock of the server's kernel stamps


async def test_a_departure_is_logged_after_the_request_reached_the_server(server: ArrivalServer) -> None:
    """Logged any earlier, a request that is slow to be written (a busy loop, a preempted
    thread) would reach the vendor later than the window holds it."""
    backend = StampingBackend()
    async with AsyncTeleCMI(
        appid=fresh_appid(), secret="s", base_url=server.url, rate_limit=1000, limiter_backend=backend
    ) as tc:
        for i in range(5):  # one at a time: the first on a new connection, then on the warm one
            await tc.play_music(from_=19170000000, to=9100000000 + i, file_name="welcome.wav")
    arrivals = server.times()
    assert len(arrivals) == len(backend.departures) == 5
    assert all(logged >= arrived for logged, arrived in zip(backend.departures, arrivals, strict=True))
