"""Call-record paging against a hostile vendor: every record of the window exactly once, or an error.

The sandbox is the vendor, over real loopback HTTP. A small proxy in front of its record endpoint
misbehaves on cue (a malformed 200 page, a short or long page, a dropped connection) and runs hooks
when a given page is asked for, so that records land in the window at a chosen point of paging.
The truth every test checks against is the sandbox's own record set for the window.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import voicekit
from tests._paging import KIND, Proxy, add, on_page, truth, window
from tests.conftest import FAST_RETRY
from voicekit import AsyncTeleCMI, RetryPolicy
from voicekit.errors import RecordsChangedError, ServerError, UnexpectedResponseError
from voicekit.sandbox import Sandbox, SyncSandbox
from voicekit.sandbox.telecmi._store import DAY_MS

PATH = "/v1/outanswered"


def seeded_time(sb: Sandbox, index: int) -> int:
    seeded = sb.seeded(sb.telecmi_appid, KIND)
    assert seeded is not None
    return seeded.time_of(index)


def client(proxy: Proxy, concurrency: int = 4, retry: RetryPolicy = FAST_RETRY) -> AsyncTeleCMI:
    return AsyncTeleCMI(
        appid=proxy.sb.telecmi_appid,
        secret=proxy.sb.telecmi_secret,
        piopiy_url=proxy.url,
        rate_limit=None,
        retry=retry,
        page_concurrency=concurrency,
    )


@pytest.fixture
async def proxy() -> AsyncIterator[Proxy]:
    async with Sandbox(seed_records=60) as sb, Proxy(sb) as p:
        yield p


async def collect(
    proxy: Proxy, *, size: int, concurrency: int = 4, retry: RetryPolicy = FAST_RETRY, got: list[str] | None = None
) -> list[str]:
    ids = [] if got is None else got
    start, end = window(proxy.sb)
    async with client(proxy, concurrency, retry) as tc:
        async for record in tc.outgoing_answered(start=start, end=end, page_size=size):
            ids.append(record.id)
    return ids


# -- faults in the middle of a window: complete, exactly once ---------------------------------


def sandbox_fault(**fault: Any) -> Callable[[Proxy], Callable[[], None]]:
    """Schedule a sandbox fault for the very request that triggers the hook."""
    return lambda proxy: lambda: proxy.sb.faults.add(PATH, **fault) and None


FAULTS: dict[str, Callable[[Proxy], str | Callable[[], None]]] = {
    "503": sandbox_fault(status=503),
    "500-twice": sandbox_fault(status=500, count=2),
    "dropped": sandbox_fault(drop=True),
    "malformed-200": lambda proxy: "malformed",
    "short-page": lambda proxy: "short",
    "long-page": lambda proxy: "long",
}


@pytest.mark.parametrize("concurrency", [1, 4])
@pytest.mark.parametrize("fault", sorted(FAULTS))
async def test_a_fault_in_the_middle_of_a_window_is_retried_and_the_window_comes_back_whole(
    proxy: Proxy, fault: str, concurrency: int
) -> None:
    proxy.hooks.append(on_page(4, 7, FAULTS[fault](proxy)))
    ids = await collect(proxy, size=7, concurrency=concurrency)
    assert ids == [r["_id"] for r in truth(proxy.sb, *window(proxy.sb))]
    assert len(ids) == 60
    # With pages in flight together, a sandbox fault may hit a neighbour of page 4 instead.
    assert proxy.sb.faults.pending() == 0, "the fault was served"
    assert len(proxy.bodies) > len({b["page"] for b in proxy.bodies}), "a page was asked again"


async def test_an_error_shaped_200_page_is_never_read_as_an_empty_page(proxy: Proxy) -> None:
    proxy.hooks.append(on_page(1, 10, "malformed", times=100))
    got: list[str] = []
    with pytest.raises(UnexpectedResponseError) as caught:
        await collect(proxy, size=10, got=got, retry=RetryPolicy(attempts=3, initial=0, max_delay=0))
    assert got == []
    assert caught.value.status == 200
    assert proxy.pages_asked(1, 10) == 3, "retried per the policy, then raised"


@pytest.mark.parametrize("spoil", ["malformed", "short", "long"])
async def test_a_page_that_stays_unreadable_raises_after_the_records_before_it(proxy: Proxy, spoil: str) -> None:
    proxy.hooks.append(on_page(3, 10, spoil, times=100))
    got: list[str] = []
    with pytest.raises(UnexpectedResponseError):
        await collect(proxy, size=10, concurrency=2, got=got, retry=RetryPolicy(attempts=3, initial=0, max_delay=0))
    assert got == [r["_id"] for r in truth(proxy.sb, *window(proxy.sb))][:20]
    assert proxy.pages_asked(3, 10) == 3


async def test_the_last_page_may_be_short_but_not_shorter_than_the_total_says(proxy: Proxy) -> None:
    # 60 records by 25: the third page holds 10; one record fewer is a lost record.
    proxy.hooks.append(on_page(3, 25, "short"))
    ids = await collect(proxy, size=25)
    assert ids == [r["_id"] for r in truth(proxy.sb, *window(proxy.sb))]
    assert proxy.pages_asked(3, 25) == 2


async def test_a_page_failing_for_good_raises_its_error(proxy: Proxy) -> None:
    proxy.hooks.append(on_page(2, 10, lambda: proxy.sb.faults.add(PATH, status=503) and None, times=100))
    got: list[str] = []
    with pytest.raises(ServerError):
        await collect(proxy, size=10, concurrency=1, got=got, retry=RetryPolicy(attempts=2, initial=0, max_delay=0))
    assert got == [r["_id"] for r in truth(proxy.sb, *window(proxy.sb))][:10]
    assert proxy.pages_asked(2, 10) == 2


# -- records landing in the window while it is paged ------------------------------------------


@pytest.mark.parametrize("concurrency", [1, 3])
@pytest.mark.parametrize("count", [1, 3])
async def test_records_landing_below_the_position_are_yielded_exactly_once(
    proxy: Proxy, concurrency: int, count: int
) -> None:
    sb = proxy.sb
    # Page 6 of 5-record pages is asked for only once page 1 was handed out; the new records are
    # older than record 40, so below wherever paging stands.
    landed = []
    proxy.hooks.append(on_page(6, 5, lambda: landed.extend(add(sb, seeded_time(sb, 50) - 7 - n) for n in range(count))))
    ids = await collect(proxy, size=5, concurrency=concurrency)
    expected = truth(sb, *window(sb))
    assert len(landed) == count and len(expected) == 60 + count
    assert ids == [r["_id"] for r in expected]


@pytest.mark.parametrize("concurrency", [1, 3])
async def test_a_record_landing_above_the_position_raises_records_changed(proxy: Proxy, concurrency: int) -> None:
    sb = proxy.sb
    initial = [r["_id"] for r in truth(sb, *window(sb))]
    proxy.hooks.append(on_page(6, 5, lambda: add(sb, seeded_time(sb, 1) + 3) and None))
    got: list[str] = []
    with pytest.raises(RecordsChangedError) as caught:
        await collect(proxy, size=5, concurrency=concurrency, got=got)
    assert (caught.value.expected, caught.value.seen) == (60, 61)
    assert "settled window" in str(caught.value)
    # Raised as soon as the landing showed (page 6, or a page before it still in flight), after a
    # clean prefix of the window.
    assert 5 <= len(got) <= 25 and got == initial[: len(got)]


async def test_a_record_landing_above_after_a_re_pin_is_caught_at_the_end(proxy: Proxy) -> None:
    sb = proxy.sb
    # Page 3 sees a record land below (a re-pin to [start, T]); page 3 of the narrower window then
    # sees one land above T, which the narrower window's pages cannot see.
    initial = [r["_id"] for r in truth(sb, *window(sb))]
    proxy.hooks.append(on_page(3, 10, lambda: add(sb, seeded_time(sb, 55) - 1) and None, narrowed=False))
    proxy.hooks.append(on_page(2, 10, lambda: add(sb, seeded_time(sb, 3) + 1) and None, narrowed=True))
    got: list[str] = []
    with pytest.raises(RecordsChangedError) as caught:
        await collect(proxy, size=10, concurrency=1, got=got)
    assert "newer than" in str(caught.value)
    landed_below = [
        r["_id"] for r in truth(sb, *window(sb)) if r["_id"] not in initial and r["time"] < seeded_time(sb, 50)
    ]
    assert len(landed_below) == 1
    assert got == initial[:56] + landed_below + initial[56:], "every record below was yielded once"


async def test_a_record_landing_at_the_boundary_time_is_yielded_once(proxy: Proxy) -> None:
    sb = proxy.sb
    # A record at exactly the time of the last record handed out (record 9, the end of page 1),
    # and one just below it: the re-pinned window [start, T] holds record 9 again; it is skipped.
    proxy.hooks.append(on_page(2, 10, lambda: (add(sb, seeded_time(sb, 9)), add(sb, seeded_time(sb, 9) - 1)) and None))
    got: list[tuple[str, int]] = []
    start, end = window(sb)
    async with client(proxy, concurrency=1) as tc:
        async for record in tc.outgoing_answered(start=start, end=end, page_size=10):
            got.append((record.id, record.time))
    ids = [i for i, _ in got]
    # The record at T landed after record 9 was yielded: it comes after it, not in server order.
    assert len(ids) == len(set(ids)) == 62
    assert set(ids) == {r["_id"] for r in truth(sb, start, end)}
    assert [t for _, t in got] == sorted((t for _, t in got), reverse=True)
    assert len(proxy.bodies) > 7, "the landing was seen and the window re-pinned"


async def test_records_that_keep_landing_below_give_up_with_records_changed(proxy: Proxy) -> None:
    sb = proxy.sb
    # One record per page: after a re-pin to [start, T], page 1 is the record at T, already
    # yielded. Every request for a page 2 adds a record below, so no re-pin ever gets further.
    initial = [r["_id"] for r in truth(sb, *window(sb))]
    proxy.hooks.append(lambda body: None if body["page"] != 2 else add(sb, seeded_time(sb, 58)) and None)
    got: list[str] = []
    with pytest.raises(RecordsChangedError, match="keep landing"):
        await collect(proxy, size=1, concurrency=1, got=got)
    assert got == initial[:1]


# -- one pinned window per paginator ----------------------------------------------------------


async def test_awaiting_and_iterating_share_one_pinned_window_and_first_page(proxy: Proxy) -> None:
    sb = proxy.sb
    async with client(proxy) as tc:
        paginator = tc.outgoing_answered(page_size=10)  # the default window: the last 24 h
        first = await paginator
        again = await paginator
        _wait_past(paginator.window.end)
        add(sb, int(time.time() * 1000))  # after the pinned end: outside the window
        ids = [r.id async for r in paginator]
        pages = [p async for p in paginator.pages()]
    assert again is first
    assert ids[:10] == [r.id for r in first.records] and len(ids) == first.total == 60
    assert sum(len(p.records) for p in pages) == 60
    assert len({(b["start_date"], b["end_date"]) for b in proxy.bodies}) == 1
    assert proxy.pages_asked(1, 10) == 1


def test_the_blocking_paginator_pins_one_window_for_total_first_page_and_iteration() -> None:
    with (
        SyncSandbox(seed_records=35) as sb,
        voicekit.TeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, piopiy_url=sb.url, rate_limit=None, retry=FAST_RETRY
        ) as tc,
    ):
        paginator = tc.outgoing_answered(page_size=10)
        total = paginator.total
        _wait_past(int(time.time() * 1000))
        sb.add_record(KIND, to=9199999999, from_="209_x", time_ms=int(time.time() * 1000))  # after the pin
        first = paginator.first_page()
        assert paginator.total == total == 35
        records = list(paginator)
        second_round = list(paginator)
        assert [r.id for r in records[:10]] == [r.id for r in first.records]
        assert [r.id for r in records] == [r.id for r in second_round]
        assert len(records) == len({r.id for r in records}) == 35
        record_requests = sb.request_count(path=PATH)
    assert record_requests == 1 + 3 + 3, "page 1 once; pages 2-4 per iteration"


def _wait_past(ms: int) -> None:
    """Let the wall clock pass `ms`, so a later pin would include a record at "now"."""
    while int(time.time() * 1000) <= ms:
        time.sleep(0.001)


# -- the property: any page size, concurrency, window and insertions ---------------------------


@settings(max_examples=40, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seeds=st.integers(0, 30),
    size=st.integers(1, 6),
    concurrency=st.integers(1, 4),
    landings=st.lists(st.tuples(st.integers(0, 20), st.integers(0, 32), st.sampled_from([-1, 0, 1])), max_size=4),
)
def test_property_exactly_once_or_records_changed(
    seeds: int, size: int, concurrency: int, landings: list[tuple[int, int, int]]
) -> None:
    """Whatever lands wherever and whenever: the records yielded are the window's records at one
    instant (the first records plus the first k that landed), each once, newest first; or
    `RecordsChangedError`, with nothing yielded twice."""
    asyncio.run(_scenario(seeds, size, concurrency, landings))


async def _scenario(seeds: int, size: int, concurrency: int, landings: list[tuple[int, int, int]]) -> None:
    async with Sandbox(seed_records=seeds) as sb, Proxy(sb) as proxy:
        start, end = sb.seed_end_ms - DAY_MS + 1, sb.seed_end_ms
        step = DAY_MS // max(seeds, 1)
        initial = {r["_id"] for r in truth(sb, start, end)}
        landed: list[str] = []
        requests = [0]

        def hook(body: dict[str, Any]) -> None:
            for at, position, delta in landings:
                if at == requests[0]:
                    time_ms = min(end, max(start, end - position * step + delta))
                    landed.append(add(sb, time_ms)["_id"])
            requests[0] += 1

        proxy.hooks.append(lambda body: hook(body))
        got: list[tuple[str, int]] = []
        try:
            async with client(proxy, concurrency) as tc:
                async for record in tc.outgoing_answered(start=start, end=end, page_size=size):
                    got.append((record.id, record.time))
        except RecordsChangedError:
            ids = [i for i, _ in got]
            assert len(ids) == len(set(ids))
            assert set(ids) <= {r["_id"] for r in truth(sb, start, end)}
            return
    ids = [i for i, _ in got]
    assert len(ids) == len(set(ids)), "a record was yielded twice"
    times = [t for _, t in got]
    assert times == sorted(times, reverse=True)
    snapshots = [initial | set(landed[:k]) for k in range(len(landed) + 1)]
    assert set(ids) in snapshots, "the records yielded are not the window at any one instant"
