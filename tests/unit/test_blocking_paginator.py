"""The one blocking paginator: a view of `AsyncPaginator` for blocking code, over any record type."""

from __future__ import annotations

import asyncio
import time

import attrs
import pytest

import voicekit.telecmi
from voicekit import TeleCMI
from voicekit._pagination import AsyncPaginator, Page, Paginator, Window


@attrs.frozen
class Item:
    id: str
    time: int


class Source:
    """A newest-first window of `total` items; counts the pages asked for."""

    def __init__(self, total: int, delay: float = 0.0) -> None:
        self.delay = delay
        self.items = [Item(id=f"i{n}", time=1_000_000 - n) for n in range(total)]
        self.asked: list[int] = []
        self.pins = 0

    def pin(self) -> Window:
        self.pins += 1
        return Window(0, 2_000_000)

    async def fetch(self, window: Window, number: int, size: int, exact: bool) -> Page[Item]:
        self.asked.append(number)
        await asyncio.sleep(self.delay)
        chunk = self.items[(number - 1) * size : number * size]
        return Page(number=number, page_size=size, total=len(self.items), records=chunk)

    def paginator(self, *, page_size: int = 10, limit: int | None = None, concurrency: int = 1) -> Paginator[Item]:
        return Paginator(
            AsyncPaginator(self.fetch, self.pin, page_size=page_size, limit=limit, concurrency=concurrency)
        )


def test_iteration_yields_every_record_once_in_order() -> None:
    source = Source(95)
    assert [item.id for item in source.paginator(concurrency=3)] == [f"i{n}" for n in range(95)]
    assert sorted(source.asked) == list(range(1, 11))


def test_the_first_page_and_total_are_fetched_once_and_pin_the_window_once() -> None:
    source = Source(42)
    paginator = source.paginator()
    first = paginator.first_page()
    assert (first.number, first.total, [i.id for i in first.records][:2]) == (1, 42, ["i0", "i1"])
    assert paginator.total == 42
    assert paginator.first_page() is first
    assert source.asked == [1]
    assert [page.number for page in paginator.pages()] == [1, 2, 3, 4, 5]
    assert source.asked == [1, 2, 3, 4, 5], "the kept first page is not asked for again"
    assert source.pins == 1


def test_limit_stops_the_records_and_the_requests() -> None:
    source = Source(100)
    assert [item.id for item in source.paginator(limit=25)] == [f"i{n}" for n in range(25)]
    assert source.asked == [1, 2, 3]


def test_breaking_out_stops_the_paging() -> None:
    source = Source(1000, delay=0.01)  # 100 pages: a second of paging, were it not stopped
    seen = []
    for item in source.paginator(page_size=10, concurrency=1):
        seen.append(item.id)
        if len(seen) == 15:
            break
    asked = len(source.asked)
    time.sleep(0.1)
    assert len(source.asked) == asked, "no page is asked for after the loop was left"
    assert asked < 50


def test_the_telecmi_client_hands_out_the_generic_paginator() -> None:
    assert voicekit.telecmi.SyncPaginator is Paginator
    with TeleCMI(appid=1, secret="s", rate_limit=None) as tc:
        assert isinstance(tc.outgoing_answered(), Paginator)
        assert isinstance(tc.call_records("missed", limit=3), Paginator)


@pytest.mark.parametrize("limit", [1, 10, 11])
def test_limit_at_page_boundaries(limit: int) -> None:
    source = Source(30)
    assert len(list(source.paginator(limit=limit))) == limit
