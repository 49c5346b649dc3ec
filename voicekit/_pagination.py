"""Paged record endpoints: await for the first page, ``async for`` over every record.

The record endpoints page by offset (``page`` / ``limit``) over a time window, newest first. The
window is pinned once per paginator (lazily, on first use), and its first page is kept, so that
``await``, `AsyncPaginator.pages` and ``async for`` all see the same window. After the first page
tells the total, the remaining pages are fetched concurrently, at most `concurrency` at a time,
and handed out strictly in order. Only the pages in flight are held in memory, so iterating a
million records costs what a few pages cost.

A vendor may serve fewer records per page than asked (TeleCMI's global record endpoints cap
``limit`` at 20): its first page then holds ``n`` records although the total says more exist,
and ``n`` is the page size it pages by. The paginator learns ``n`` from that first page and cuts
every later page at ``n`` records, so the offsets stay the vendor's. Every page after the first
must then hold exactly what the total implies at that size: a short page that no cap explains
(a middle page shorter than the first) is still an error, asked again and then raised.

Exactly once, even when records land in the window while it is paged (an offset page is only
meaningful against the set of records it was computed from):

- Records are only ever added to a window (a call record is never withdrawn), so the vendor's
  total only grows: every page that reports the same total as the first one was cut from the
  same set of records, and the pages handed out so far are a prefix of that set's order.
- A page reporting another total may be shifted, and so may every page after it. They are all
  dropped. Let T be the time of the last record handed out: every record newer than T has been
  handed out. One cheap query counts the records in (T, end]; if the count still equals what was
  handed out there, nothing landed where iteration has passed, and paging goes on over the
  narrower window [start, T], skipping the records at exactly T that were already handed out
  (only the ids at that one boundary time are kept: memory stays bounded).
- If records did land in (T, end], they can no longer be handed out in order:
  `RecordsChangedError` is raised. After a re-pin the same count is checked once more when the
  last page has been handed out, since records landing above the narrower window are invisible
  to its pages.
- Re-pinning below T is sound only if records come newest first, as documented; when they did
  not, a change of total raises `RecordsChangedError` too. Records that keep landing below the
  position faster than a page round trip raise it after `MAX_IDLE_REPINS` fruitless re-pins.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import math
from collections import deque
from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator, Iterator, Sequence
from typing import Final, Generic, Protocol, TypeVar

import attrs

from . import _sync
from ._response import Response
from ._tasks import cancel_and_wait
from .errors import RecordsChangedError

__all__ = ["AsyncPaginator", "Page", "Paginator", "Window", "check_page", "records_due"]

# Re-pins in a row that hand out no new record before the paginator gives up: records landing
# below the current position faster than a page round trip would otherwise loop forever.
MAX_IDLE_REPINS: Final = 3

_SETTLE_HINT = "page a settled window (an `end` a few minutes in the past), or iterate again"


class Record(Protocol):
    """What the paginator needs of a record: a unique id and its time (epoch milliseconds)."""

    @property
    def id(self) -> str: ...

    @property
    def time(self) -> int: ...


T = TypeVar("T")
R = TypeVar("R", bound=Record)


@attrs.frozen
class Window:
    """A time window of records, both ends inclusive, in epoch milliseconds."""

    start: int
    end: int


@attrs.frozen(kw_only=True)
class Page(Generic[T]):
    """One page of records, and the total the vendor reported for the whole window.

    Pages handed out by `AsyncPaginator.pages` are numbered 1, 2, ... in order. After records
    landed in the window during paging (see the module documentation), a page may hold fewer
    than `page_size` records and `total` is the window's total as last reported.
    """

    number: int
    page_size: int
    total: int
    records: Sequence[T]
    #: The HTTP status and headers of the answer that carried this page.
    response: Response | None = attrs.field(default=None, eq=False, repr=False)

    @property
    def pages(self) -> int:
        """How many pages the whole window spans."""
        return math.ceil(self.total / self.page_size) if self.total else 1


#: fetch(window, page number (1-based), page size, exact) -> that page of the window. With
#: ``exact`` the page holds exactly the records its total implies (`check_page`) or the fetch
#: raises (and the request path asks again); without it the vendor may have served fewer.
Fetch = Callable[[Window, int, int, bool], Awaitable[Page[R]]]


def records_due(number: int, size: int, total: int) -> int:
    """How many records page `number` of `total` holds at `size` per page: `size`, fewer on the
    last page, none past the end."""
    return min(size, max(0, total - (number - 1) * size))


def check_page(number: int, size: int, total: int, served: int, *, exact: bool) -> None:
    """Refuse a page that does not hold the records its total implies.

    Exactly: `records_due`. Not exactly (a page asked before the vendor's page size is known):
    at least one record when any is due, and never more than asked, since a vendor that caps its
    pages serves fewer.

    Raises:
        ValueError: the page would lose or repeat records; the message says how.
    """
    due = records_due(number, size, total)
    if served == due or (not exact and 0 < served < due):
        return
    # A short page would silently lose records; a long one would hand out some twice.
    raise ValueError(f"page {number} of {total} records by {size} must hold {due} records, it holds {served}")


class AsyncPaginator(Generic[R]):
    """A lazily evaluated, pinned query over a paged, newest-first endpoint.

    Args:
        fetch: fetches page N (1-based) of a window with a given page size; when told ``exact``
            the page must hold exactly the records the total implies (the caller's parser checks
            it with `check_page`), otherwise it may hold fewer (see the module documentation).
        pin: called once, on first use; it fixes the query's time window so that records
            arriving later do not shift the pages.
        page_size: records per page asked for; a vendor that serves fewer per page is paged
            by what it serves.
        limit: stop after this many records (None: all of them).
        concurrency: pages fetched at once.
    """

    def __init__(
        self,
        fetch: Fetch[R],
        pin: Callable[[], Window],
        *,
        page_size: int,
        limit: int | None,
        concurrency: int,
    ) -> None:
        self._fetch = fetch
        self._pin = pin
        self._window: Window | None = None
        self._first: Page[R] | None = None
        # The records per page the vendor serves: learned from the first page.
        self._size: int | None = None
        self.page_size = page_size
        self.limit = limit
        self.concurrency = concurrency

    @property
    def window(self) -> Window:
        """The pinned window (pinned now, if this is the first use)."""
        if self._window is None:
            self._window = self._pin()
        return self._window

    async def first_page(self) -> Page[R]:
        """The first page of the pinned window; fetched once, then kept.

        Its `Page.page_size` is the size the vendor pages by: `page_size`, or fewer when the
        vendor caps its pages.
        """
        if self._first is None:
            first = await self._fetch(self.window, 1, self.page_size, self._size is not None)
            self._first = self._learn(first)
        return self._first

    def _learn(self, first: Page[R]) -> Page[R]:
        """Learn the vendor's page size from the first page of the window."""
        if self._size is not None:
            return first
        due = records_due(1, self.page_size, first.total)
        served = len(first.records)
        if served == due:
            self._size = self.page_size
            return first
        if not 0 < served < due:  # `check_page` refuses these: a fetch that does not check is a bug
            raise RuntimeError(f"the first page holds {served} records where {due} are due")
        # Fewer than asked while the total says more exist: the vendor caps its pages at this size.
        self._size = served
        return attrs.evolve(first, page_size=served)

    def __await__(self) -> Generator[object, None, Page[R]]:
        return self.first_page().__await__()

    async def _count(self, start: int, end: int) -> int:
        """How many records the vendor holds in [start, end] (a one-record page)."""
        if start > end:
            return 0
        return (await self._fetch(Window(start, end), 1, 1, True)).total

    async def pages(self) -> AsyncGenerator[Page[R], None]:
        """Yield every page in order, fetching ahead concurrently; each record exactly once.

        Until the total is known, pages 2..`concurrency` are requested together with page 1:
        waiting for page 1 first would cost a whole round trip on every large query. When the
        window turns out smaller, those extra requests are cancelled or their (empty) pages
        dropped; `limit` caps how far this speculation goes. When page 1 shows that the vendor
        serves fewer records per page than asked, they are cancelled too (they were cut at the
        size asked), and the pages are asked again at the size the vendor serves. A page asked
        ahead that comes back short of what its total implies is asked again, exactly.

        Raises:
            RecordsChangedError: records landed in the window where paging had already passed.
        """
        window = self.window
        segment = window  # the window the current pages are cut from: [start, end] or [start, T]
        first = self._first
        number = 0  # pages handed out
        handed = 0  # records handed out
        above = 0  # records handed out that are newer than segment.end
        boundary_time: int | None = None  # time of the last record handed out ...
        boundary_ids: set[str] = set()  # ... and the ids handed out at exactly that time
        idle, handed_at_repin = 0, -1
        ordered = True  # every record handed out so far came newest first
        # The pages in flight, in order, each with whether it was asked for exactly (see Fetch).
        pending: deque[tuple[asyncio.Task[Page[R]], bool]] = deque()
        try:
            while True:
                # Records still wanted from this segment: the rest of the limit, plus the ones
                # at the boundary time that were handed out already and will be skipped.
                wanted = None if self.limit is None else self.limit - handed + len(boundary_ids)
                if first is None:
                    exact = self._size is not None
                    asked = self._size or self.page_size
                    cap = self.concurrency if wanted is None else math.ceil(wanted / asked)
                    for n in range(1, max(1, min(self.concurrency, cap)) + 1):
                        pending.append((asyncio.ensure_future(self._fetch(segment, n, asked, exact)), exact))
                    first = self._learn(await pending.popleft()[0])
                    if self._size != asked:
                        # A capped vendor: the pages asked ahead were cut at the size asked.
                        await cancel_and_wait([task for task, _ in pending])
                        pending.clear()
                    if segment is window:
                        self._first = first
                size = first.page_size
                reference = first.total
                count = reference if wanted is None else min(reference, wanted)
                last = max(1, math.ceil(count / size))
                surplus = [pending.pop()[0] for _ in range(max(0, len(pending) - (last - 1)))]
                await cancel_and_wait(surplus)
                next_number = 2 + len(pending)
                page: Page[R] = first
                changed: Page[R] | None = None
                while True:
                    fresh: Sequence[R] = page.records
                    if boundary_ids:
                        fresh = [r for r in fresh if r.time != boundary_time or r.id not in boundary_ids]
                    for record in fresh:
                        if record.time != boundary_time:
                            # Newest first, the boundary only moves down; if not, no re-pin is sound.
                            ordered = ordered and (boundary_time is None or record.time < boundary_time)
                            boundary_time, boundary_ids = record.time, set()
                        boundary_ids.add(record.id)
                    handed += len(fresh)
                    if fresh or number == 0:
                        number += 1
                        yield Page(
                            number=number,
                            page_size=size,
                            total=above + page.total,
                            records=fresh,
                            response=page.response,
                        )
                    if page.number >= last or (self.limit is not None and handed >= self.limit):
                        break
                    while next_number <= last and len(pending) < self.concurrency:
                        pending.append((asyncio.ensure_future(self._fetch(segment, next_number, size, True)), True))
                        next_number += 1
                    task, exact = pending.popleft()
                    page = await task
                    if (
                        page.total == reference
                        and not exact
                        and len(page.records) != records_due(page.number, size, reference)
                    ):
                        # Asked ahead before the page size was known, so it was let through short:
                        # no cap explains that on a page after the first. Ask again, exactly.
                        page = await self._fetch(segment, page.number, size, True)
                    if page.total != reference:
                        changed = page
                        break
                await cancel_and_wait([task for task, _ in pending])
                pending.clear()
                if changed is None:
                    if segment.end < window.end and (self.limit is None or handed < self.limit):
                        # Records landing above a narrowed window are invisible to its pages.
                        seen = await self._count(segment.end + 1, window.end)
                        if seen != above:
                            raise RecordsChangedError(
                                f"{seen - above:+d} call record(s) landed in the window newer than "
                                f"{segment.end} ms, where paging had already passed; {_SETTLE_HINT}",
                                expected=above + reference,
                                seen=seen + reference,
                            )
                    return
                # The set of records changed under the pages: re-pin below what was handed out.
                idle = idle + 1 if handed == handed_at_repin else 0
                handed_at_repin = handed
                if idle >= MAX_IDLE_REPINS:
                    raise RecordsChangedError(
                        f"call records keep landing in the window faster than it can be paged; {_SETTLE_HINT}",
                        expected=above + reference,
                        seen=above + changed.total,
                    )
                first = None
                if boundary_time is None:
                    continue  # nothing handed out yet: page the same segment afresh
                if not ordered:
                    raise RecordsChangedError(
                        f"call records landed in the window while it was paged, and the vendor "
                        f"does not list them newest first, so paging cannot resume; {_SETTLE_HINT}",
                        expected=above + reference,
                        seen=above + changed.total,
                    )
                newer = handed - len(boundary_ids)
                seen = await self._count(boundary_time + 1, window.end)
                if seen != newer:
                    raise RecordsChangedError(
                        f"{seen - newer:+d} call record(s) landed in the window newer than "
                        f"{boundary_time} ms, where paging had already passed; {_SETTLE_HINT}",
                        expected=above + reference,
                        seen=above + changed.total,
                    )
                above = newer
                segment = Window(window.start, boundary_time)
        finally:
            await cancel_and_wait([task for task, _ in pending])

    async def __aiter__(self) -> AsyncIterator[R]:
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
            await pages.aclose()


def _records(page: Page[R]) -> Sequence[R]:
    return page.records


class Paginator(Generic[R]):
    """Blocking view of an `AsyncPaginator`: iterate for every record, `first_page()` for one.

    The window is pinned once, on first use, and the first page is fetched once: `total`,
    `first_page()`, `pages()` and iteration all describe the same window. Pages cross from the
    loop thread whole, never record by record.
    """

    def __init__(self, paginator: AsyncPaginator[R]) -> None:
        self._paginator = paginator

    def first_page(self) -> Page[R]:
        """The first page of the pinned window (fetched on the first call only)."""
        return _sync.call(self._paginator.first_page)

    @property
    def total(self) -> int:
        """The total the vendor reports for the window (from the first page)."""
        return self.first_page().total

    def pages(self) -> Iterator[Page[R]]:
        """Every page in order; see `AsyncPaginator.pages`."""
        return _sync.iterate(self._paginator.pages())

    def __iter__(self) -> Iterator[R]:
        limit = self._paginator.limit
        records = _sync.iterate_batches(self._paginator.pages(), _records)
        # Closed here, not left to the collector: stopping at `limit` cancels the pages in flight.
        with contextlib.closing(records):
            yield from records if limit is None else itertools.islice(records, limit)
