"""The limiter is exact: proven on a virtual clock, with late wake-ups, not with sleeps and hope."""

from __future__ import annotations

import asyncio

import pytest
from aioresponses import aioresponses

from tests import _samples
from tests._clock import NS, VirtualClock
from tests.conftest import REST, fresh_appid
from voicekit import AsyncTeleCMI, LocalBackend, RateLimit, RetryPolicy


async def run_acquisitions(
    limit: RateLimit, total: int, workers: int, lateness_ns: int = 0
) -> tuple[list[int], VirtualClock, LocalBackend]:
    vc = VirtualClock(lateness_ns)
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    starts: list[int] = []

    async def worker(n: int) -> None:
        for _ in range(n):
            await backend.acquire("acct", limit)
            starts.append(vc.now)

    share = total // workers
    tasks = [asyncio.create_task(worker(share)) for _ in range(workers)]
    await vc.drive(tasks)
    return sorted(starts), vc, backend


def max_in_any_window(starts: list[int], window_ns: int = NS) -> int:
    """The most starts in any half-open window [t, t + window) (t ranging over the starts)."""
    best, j = 0, 0
    for i, t in enumerate(starts):
        while starts[j] <= t - window_ns:
            j += 1
        best = max(best, i - j + 1)
    return best


@pytest.mark.parametrize("lateness_ms", [0, 3])
@pytest.mark.parametrize("burst", [1, 50])
@pytest.mark.slow
async def test_no_window_ever_holds_more_than_the_limit(lateness_ms: int, burst: int) -> None:
    limit = RateLimit(rate=500, burst=burst)
    starts, _, _ = await run_acquisitions(limit, total=10_000, workers=50, lateness_ns=lateness_ms * 1_000_000)
    assert len(starts) == 10_000
    assert max_in_any_window(starts) <= 500
    achieved = (len(starts) - 1) / ((starts[-1] - starts[0]) / NS)
    assert achieved >= 0.97 * 500, achieved


async def test_fractional_rates_are_respected() -> None:
    starts, _, _ = await run_acquisitions(RateLimit(rate=2.5), total=50, workers=5)
    assert max_in_any_window(starts) <= 2
    assert all(b - a >= NS // 3 for a, b in zip(starts, starts[1:], strict=False))


async def test_a_burst_may_start_back_to_back_after_a_quiet_spell() -> None:
    vc = VirtualClock()
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    limit = RateLimit(rate=10, burst=5)
    vc.now = 10 * NS
    starts = []

    async def one() -> None:
        await backend.acquire("b", limit)
        starts.append(vc.now)

    tasks = [asyncio.create_task(one()) for _ in range(8)]
    await vc.drive(tasks)
    first = starts[0]
    assert starts[:5] == [first] * 5
    assert all(t > first for t in starts[5:])


async def test_a_429_pauses_the_account_and_slows_it_down() -> None:
    vc = VirtualClock()
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    limit = RateLimit(rate=100)
    starts: list[int] = []

    async def worker() -> None:
        for _ in range(10):
            await backend.acquire("acct", limit)
            starts.append(vc.now)

    await vc.drive([asyncio.create_task(worker())])
    before = starts[-1]
    await backend.penalize("acct", limit, retry_after=2.0)
    starts.clear()
    await vc.drive([asyncio.create_task(worker())])
    assert starts[0] >= before + 2 * NS - NS // 100
    gaps = [b - a for a, b in zip(starts, starts[1:], strict=False)]
    assert min(gaps) >= 2 * (NS // 100), "the rate was halved after the 429"


async def test_clients_of_one_account_share_one_limit() -> None:
    appid = fresh_appid()
    vc = VirtualClock()
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    starts: list[int] = []
    with aioresponses() as m:
        m.post(
            REST + "/v2/global_pcmo_make_call",
            body=_samples.MAKE_CALL_RESPONSE,
            content_type="application/json",
            repeat=True,
        )
        a = AsyncTeleCMI(appid=appid, secret="s", base_url=REST, rate_limit=5, limiter_backend=backend)
        b = AsyncTeleCMI(appid=appid, secret="s", base_url=REST, rate_limit=5, limiter_backend=backend)

        async def dial(tc: AsyncTeleCMI) -> None:
            for _ in range(10):
                await tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav")
                starts.append(vc.now)

        async with a, b:
            await vc.drive([asyncio.create_task(dial(a)), asyncio.create_task(dial(b))])
    starts.sort()
    assert len(starts) == 20
    assert max_in_any_window(starts) <= 5


async def test_a_429_from_the_vendor_slows_the_client_down() -> None:
    appid = fresh_appid()
    vc = VirtualClock()
    backend = LocalBackend(clock=vc.clock, sleep=vc.sleep)
    with aioresponses() as m:
        url = REST + "/v2/global_pcmo_make_call"
        m.post(url, status=429, headers={"Retry-After": "0"}, payload={"code": 429})
        m.post(url, body=_samples.MAKE_CALL_RESPONSE, content_type="application/json", repeat=True)
        retry = RetryPolicy(initial=0, max_delay=0)
        async with AsyncTeleCMI(
            appid=appid, secret="s", base_url=REST, rate_limit=100, limiter_backend=backend, retry=retry
        ) as tc:
            task = asyncio.create_task(tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav"))
            await vc.drive([task])
            t0 = vc.now
            task = asyncio.create_task(tc.play_music(from_=19170000000, to=19170000001, file_name="a.wav"))
            await vc.drive([task])
    # The third start (after the 429's retry) is spaced at the halved rate, 20 ms, not 10 ms.
    assert vc.now - t0 >= 2 * (NS // 100)
