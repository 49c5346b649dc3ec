"""Paging a vendor that serves fewer records per page than asked (TeleCMI's global record
endpoints cap ``limit`` at 20): every record of the window exactly once, in order.

The sandbox is the vendor, over real loopback HTTP, with its ``page_cap`` knob: asked for 100
records a page, it serves at most ``page_cap`` and counts pages by that size. The truth each test
checks against is the sandbox's own record set for the window.
"""

from __future__ import annotations

import asyncio
import math
from collections import Counter
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import voicekit
from tests._paging import Proxy, add, on_page, truth, window
from tests.conftest import FAST_RETRY
from voicekit import AsyncTeleCMI, RetryPolicy
from voicekit.errors import RecordsChangedError, UnexpectedResponseError
from voicekit.sandbox import Sandbox, SyncSandbox
from voicekit.sandbox.telecmi._store import DAY_MS


def client(url: str, appid: int, secret: str, *, concurrency: int = 4, retry: RetryPolicy = FAST_RETRY) -> AsyncTeleCMI:
    return AsyncTeleCMI(
        appid=appid, secret=secret, piopiy_url=url, rate_limit=None, retry=retry, page_concurrency=concurrency
    )


async def collect(
    sb: Sandbox, url: str, *, size: int, concurrency: int = 4, limit: int | None = None, got: list[str] | None = None
) -> list[str]:
    ids = [] if got is None else got
    start, end = window(sb)
    async with client(url, sb.telecmi_appid, sb.telecmi_secret, concurrency=concurrency) as tc:
        async for record in tc.outgoing_answered(start=start, end=end, page_size=size, limit=limit):
            ids.append(record.id)
    return ids


@pytest.mark.parametrize(
    ("cap", "size", "total"),
    [(20, 100, 95), (20, 100, 20), (20, 100, 21), (20, 100, 0), (20, 25, 61), (7, 10, 50), (1, 5, 9), (20, 20, 95)],
)
@pytest.mark.parametrize("concurrency", [1, 4])
async def test_every_record_comes_back_once_in_order_whatever_the_cap(
    cap: int, size: int, total: int, concurrency: int
) -> None:
    async with Sandbox(seed_records=total, page_cap=cap) as sb, Proxy(sb) as proxy:
        ids = await collect(sb, proxy.url, size=size, concurrency=concurrency)
        expected = [r["_id"] for r in truth(sb, *window(sb))]
    assert len(expected) == total
    assert ids == expected
    served = min(size, cap)
    # After the first page, every page is asked once, at the size the vendor serves.
    later = Counter(b["page"] for b in proxy.bodies if b["limit"] == served and b["page"] > 1)
    assert sorted(later) == list(range(2, max(1, math.ceil(total / served)) + 1))
    assert set(later.values()) <= {1}
    if cap < size and total > cap:
        # Only the first round (page 1 and the pages asked ahead with it) asked for more.
        assert {b["page"] for b in proxy.bodies if b["limit"] == size} <= set(range(1, concurrency + 1))


async def test_awaiting_tells_the_page_size_the_vendor_serves() -> None:
    async with Sandbox(seed_records=95, page_cap=20) as sb:
        start, end = window(sb)
        async with client(sb.url, sb.telecmi_appid, sb.telecmi_secret) as tc:
            paginator = tc.outgoing_answered(start=start, end=end, page_size=100)
            first = await paginator
            pages = [page async for page in paginator.pages()]
            expected = [r["_id"] for r in truth(sb, start, end)]
    assert (first.total, first.page_size, first.pages, len(first.records)) == (95, 20, 5, 20)
    assert [p.number for p in pages] == [1, 2, 3, 4, 5]
    assert [len(p.records) for p in pages] == [20, 20, 20, 20, 15]
    assert {p.page_size for p in pages} == {20}
    assert [r.id for p in pages for r in p.records] == expected


@pytest.mark.parametrize("limit", [1, 19, 20, 21, 45, 95, 200])
async def test_limit_holds_against_a_capped_vendor(limit: int) -> None:
    async with Sandbox(seed_records=95, page_cap=20) as sb:
        ids = await collect(sb, sb.url, size=100, limit=limit)
        expected = [r["_id"] for r in truth(sb, *window(sb))][:limit]
    assert ids == expected


def test_the_blocking_paginator_pages_a_capped_vendor() -> None:
    with (
        SyncSandbox(seed_records=95, page_cap=20) as sb,
        voicekit.TeleCMI(
            appid=sb.telecmi_appid, secret=sb.telecmi_secret, piopiy_url=sb.url, rate_limit=None, retry=FAST_RETRY
        ) as tc,
    ):
        start, end = sb.seed_end_ms - DAY_MS + 1, sb.seed_end_ms
        paginator = tc.outgoing_answered(start=start, end=end, page_size=100)
        assert paginator.total == 95 and paginator.first_page().page_size == 20
        ids = [r.id for r in paginator]
        assert len(ids) == len(set(ids)) == 95
        assert ids[:20] == [r.id for r in paginator.first_page().records]
        assert [r.id for r in paginator] == ids


# -- a short page that no cap explains is still an error ----------------------------------------


async def test_a_middle_page_shorter_than_the_first_is_asked_again() -> None:
    async with Sandbox(seed_records=95, page_cap=20) as sb, Proxy(sb) as proxy:
        proxy.hooks.append(on_page(3, 20, "short"))
        ids = await collect(sb, proxy.url, size=100, concurrency=1)
        expected = [r["_id"] for r in truth(sb, *window(sb))]
    assert ids == expected
    assert proxy.pages_asked(3, 20) == 2


@pytest.mark.parametrize("concurrency", [1, 4])
async def test_a_middle_page_that_stays_short_raises_after_the_records_before_it(concurrency: int) -> None:
    async with Sandbox(seed_records=95, page_cap=20) as sb, Proxy(sb) as proxy:
        proxy.hooks.append(on_page(3, 20, "short", times=100))
        got: list[str] = []
        with pytest.raises(UnexpectedResponseError, match="must hold 20 records, it holds 19"):
            async with client(
                proxy.url, sb.telecmi_appid, sb.telecmi_secret, concurrency=concurrency,
                retry=RetryPolicy(attempts=3, initial=0, max_delay=0),
            ) as tc:  # fmt: skip
                start, end = window(sb)
                async for record in tc.outgoing_answered(start=start, end=end, page_size=100):
                    got.append(record.id)
        expected = [r["_id"] for r in truth(sb, *window(sb))]
    assert got == expected[:40]
    assert proxy.pages_asked(3, 20) == 3


async def test_a_page_asked_ahead_that_comes_back_short_is_asked_again_exactly() -> None:
    # No cap: page 1 is whole, so page 3 (asked together with it) has no excuse to be short.
    async with Sandbox(seed_records=60) as sb, Proxy(sb) as proxy:
        proxy.hooks.append(on_page(3, 10, "short"))
        ids = await collect(sb, proxy.url, size=10, concurrency=4)
        expected = [r["_id"] for r in truth(sb, *window(sb))]
    assert ids == expected
    assert proxy.pages_asked(3, 10) == 2


# -- the property: caps, sizes, totals, concurrency, and records landing meanwhile -------------


@settings(max_examples=40, deadline=None, database=None, derandomize=True, suppress_health_check=[HealthCheck.too_slow])
@given(
    seeds=st.integers(0, 60),
    cap=st.integers(1, 25),
    size=st.integers(1, 40),
    concurrency=st.integers(1, 4),
    landings=st.lists(st.tuples(st.integers(0, 12), st.integers(0, 60), st.sampled_from([-1, 0, 1])), max_size=3),
)
def test_property_a_capped_vendor_gives_every_record_once_or_records_changed(
    seeds: int, cap: int, size: int, concurrency: int, landings: list[tuple[int, int, int]]
) -> None:
    """The records yielded are the window's at one instant, each once, newest first; or
    `RecordsChangedError` with nothing yielded twice. Without landings: exactly the seeded set."""
    asyncio.run(_capped(seeds, cap, size, concurrency, landings))


async def _capped(seeds: int, cap: int, size: int, concurrency: int, landings: list[tuple[int, int, int]]) -> None:
    async with Sandbox(seed_records=seeds, page_cap=cap) as sb, Proxy(sb) as proxy:
        start, end = window(sb)
        step = DAY_MS // max(seeds, 1)
        initial = [r["_id"] for r in truth(sb, start, end)]
        landed: list[str] = []
        requests = [0]

        def hook(body: dict[str, Any]) -> None:
            for at, position, delta in landings:
                if at == requests[0]:
                    landed.append(add(sb, min(end, max(start, end - position * step + delta)))["_id"])
            requests[0] += 1

        proxy.hooks.append(lambda body: hook(body))
        got: list[tuple[str, int]] = []
        try:
            async with client(proxy.url, sb.telecmi_appid, sb.telecmi_secret, concurrency=concurrency) as tc:
                async for record in tc.outgoing_answered(start=start, end=end, page_size=size):
                    got.append((record.id, record.time))
        except RecordsChangedError:
            ids = [i for i, _ in got]
            assert landed, "records changed, yet none landed"
            assert len(ids) == len(set(ids))
            assert set(ids) <= {r["_id"] for r in truth(sb, start, end)}
            return
    ids = [i for i, _ in got]
    assert len(ids) == len(set(ids)), "a record was yielded twice"
    assert [t for _, t in got] == sorted((t for _, t in got), reverse=True)
    if not landed:
        assert ids == initial
    snapshots = [set(initial) | set(landed[:k]) for k in range(len(landed) + 1)]
    assert set(ids) in snapshots, "the records yielded are not the window at any one instant"


def test_the_sandbox_refuses_a_cap_below_one() -> None:
    for bad in (0, -1, 2.5, True):
        with pytest.raises(ValueError, match="page_cap"):
            Sandbox(page_cap=bad)  # type: ignore[arg-type]
