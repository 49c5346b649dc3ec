"""Paged record endpoints: await for the first page, ``async for`` over every record.

After the first page tells the total, the remaining pages are fetched concurrently, at most
`concurrency` at a time, and handed out strictly in order. Only the pages in flight are held in
memory, so iterating a million records costs what a few pages cost.
"""

from __future__ import annotations

import asyncio
import math
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Generator, Sequence
from typing import Generic, TypeVar

import attrs

from ._tasks import cancel_and_wait

__all__ = ["AsyncPaginator", "Page"]

T = TypeVar("T")


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of records, and the total the vendor reported for the whole window."""

    number: int
    page_size: int
    total: int
    records: Sequence[T]

    @property
    def pages(self) -> int:
        """How many pages the whole window spans."""
        return math.ceil(self.total / self.page_size) if self.total else 1


class AsyncPaginator(Generic[T]):
    """A lazily evaluated, pinned query over a paged endpoint.

    Args:
        fetch: fetches page number N (1-based) of the pinned query.
        pin: called once when the first page is fetched; it fixes the query (its time window)
            so that records arriving meanwhile do not shift the pages.
        page_size: records per page.
        limit: stop after this many records (None: all of them).
        concurrency: pages fetched at once after the first.
    """

    def __init__(
        self,
        fetch: Callable[[object, int], Awaitable[Page[T]]],
        pin: Callable[[], object],
        *,
        page_size: int,
        limit: int | None,
        concurrency: int,
    ) -> None:
        self._fetch = fetch
        self._pin = pin
        self.page_size = page_size
        self.limit = limit
        self.concurrency = concurrency

    def __await__(self) -> Generator[object, None, Page[T]]:
        return self._fetch(self._pin(), 1).__await__()

    async def pages(self) -> AsyncIterator[Page[T]]:
        """Yield every page in order, fetching ahead concurrently.

        Pages 2..`concurrency` are requested together with page 1, before the total is known:
        waiting for page 1 first would cost a whole round trip on every large query. When the
        window turns out smaller, those extra requests are cancelled or their (empty) pages
        dropped; `limit` caps how far this speculation goes.
        """
        query = self._pin()
        cap = self.concurrency if self.limit is None else math.ceil(self.limit / self.page_size)
        pending: deque[asyncio.Task[Page[T]]] = deque(
            asyncio.ensure_future(self._fetch(query, number))
            for number in range(1, max(1, min(self.concurrency, cap)) + 1)
        )
        next_number = len(pending) + 1
        try:
            first = await pending.popleft()
            wanted = first.total if self.limit is None else min(first.total, self.limit)
            last = max(1, math.ceil(wanted / self.page_size))
            surplus = [pending.pop() for _ in range(max(0, len(pending) - (last - 1)))]
            await cancel_and_wait(surplus)
            yield first
            while pending or next_number <= last:
                while next_number <= last and len(pending) < self.concurrency:
                    pending.append(asyncio.ensure_future(self._fetch(query, next_number)))
                    next_number += 1
                page = await pending.popleft()
                yield page
        finally:
            await cancel_and_wait(pending)

    async def __aiter__(self) -> AsyncIterator[T]:
        remaining = self.limit
        pages = self.pages()
        try:
            async for page in pages:
                records = page.records
                if remaining is not None:
                    records = records[:remaining]
                    remaining -= len(records)
                for record in records:
                    yield record
                if remaining == 0:
                    return
        finally:
            await pages.aclose()  # type: ignore[attr-defined]
