"""Concurrent, ordered, pinned paging of call records."""

from __future__ import annotations

import asyncio
import json
from collections import Counter

import pytest
from aioresponses import CallbackResult, aioresponses

from tests.conftest import FAST_RETRY, PIOPIY, fresh_appid
from voicekit import AsyncTeleCMI, RetryPolicy
from voicekit.errors import ServerError

CDR = PIOPIY + "/v1/outanswered"


class RecordServer:
    """Answers the record endpoint from a list of records, with failures scripted per page."""

    def __init__(
        self,
        total: int,
        failures: dict[int, int] | None = None,
        *,
        short: dict[int, int] | None = None,
        windowed: bool = False,
    ) -> None:
        self.records = [
            {
                "_id": f"{i:024x}",
                "to": 9100000000 + i,
                "time": 1_700_000_000_000 - i,
                "from": "209_1",
                "billedsec": i % 60,
                "rate": "0.6",
                "record": "true",
                "filename": f"{i}.mp3",
                "name": "n",
            }
            for i in range(total)
        ]
        self.failures = dict(failures or {})
        self.short = dict(short or {})  # page -> how many times it comes back one record short
        self.windowed = windowed  # honour start_date / end_date (inclusive)
        self.on_request: list = []  # callables(body) run before each answer
        self.bodies: list[dict] = []
        self.in_flight = 0
        self.max_in_flight = 0

    async def handle(self, url: object, **kwargs: object) -> CallbackResult:
        body = json.loads(kwargs["data"])  # type: ignore[arg-type]
        self.bodies.append(body)
        self.in_flight += 1
        self.max_in_flight = max(self.max_in_flight, self.in_flight)
        try:
            await asyncio.sleep(0.001 * (body["page"] % 3))  # out-of-order completion
        finally:
            self.in_flight -= 1
        for hook in self.on_request:
            hook(body)
        page = body["page"]
        if self.failures.get(page, 0) > 0:
            self.failures[page] -= 1
            return CallbackResult(status=503, body="try again")
        records = self.records
        if self.windowed:
            records = [r for r in records if body["start_date"] <= r["time"] <= body["end_date"]]
        size = body["limit"]
        chunk = records[(page - 1) * size : page * size]
        if self.short.get(page, 0) > 0:
            self.short[page] -= 1
            chunk = chunk[:-1]
        return CallbackResult(payload={"total": len(records), "cdr": chunk, "code": 200})

    def land(self, time_ms: int) -> dict:
        """Insert a record at `time_ms`, keeping the list newest first."""
        n = len(self.records)
        record = {
            "_id": f"{10**6 + n:024x}",
            "to": 9100000000 + n,
            "time": time_ms,
            "from": "209_1",
            "billedsec": 1,
            "rate": "0.6",
            "record": "true",
            "filename": f"{n}.mp3",
            "name": "n",
        }
        index = next((i for i, r in enumerate(self.records) if r["time"] < time_ms), n)
        self.records.insert(index, record)
        return record


def client(retry: RetryPolicy = FAST_RETRY, concurrency: int = 4) -> AsyncTeleCMI:
    return AsyncTeleCMI(
        appid=fresh_appid(), secret="s", piopiy_url=PIOPIY, rate_limit=None, retry=retry, page_concurrency=concurrency
    )


async def test_every_record_once_in_order_despite_a_failing_page_in_the_middle() -> None:
    server = RecordServer(total=347, failures={17: 2})
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client() as tc:
            query = tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=10)
            ids = [r.id async for r in query]
    assert ids == [r["_id"] for r in server.records]
    pages = Counter(b["page"] for b in server.bodies)
    assert pages[17] == 3 and all(pages[p] == 1 for p in range(1, 36) if p != 17)
    assert 1 < server.max_in_flight <= 4


async def test_the_window_is_pinned_when_iteration_starts() -> None:
    server = RecordServer(total=50)
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client() as tc:
            records = [r async for r in tc.outgoing_answered(page_size=10)]
    assert len(records) == 50
    windows = {(b["start_date"], b["end_date"]) for b in server.bodies}
    assert len(windows) == 1
    ((start, end),) = windows
    assert end - start == 24 * 3600 * 1000


async def test_limit_stops_early_and_fetches_no_more_pages_than_needed() -> None:
    server = RecordServer(total=500)
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client() as tc:
            query = tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=20, limit=45)
            records = [r async for r in query]
    assert [r.id for r in records] == [r["_id"] for r in server.records[:45]]
    assert sorted(b["page"] for b in server.bodies) == [1, 2, 3]


async def test_breaking_out_cancels_the_pages_in_flight() -> None:
    server = RecordServer(total=1000)
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client(concurrency=8) as tc:
            seen = 0
            async for _ in tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=10):
                seen += 1
                if seen == 15:
                    break
            await asyncio.sleep(0.01)
    assert seen == 15
    assert len(server.bodies) <= 1 + 8 + 1, "only the read-ahead window was requested"
    pending = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
    assert pending == []


async def test_awaiting_gives_the_first_page_only() -> None:
    server = RecordServer(total=95)
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client() as tc:
            page = await tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=10)
    assert (page.total, page.pages, page.number, len(page.records)) == (95, 10, 1, 10)
    assert len(server.bodies) == 1


async def test_an_empty_window_yields_nothing_and_asks_no_more_than_one_round() -> None:
    server = RecordServer(total=0)
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client(concurrency=4) as tc:
            assert [r async for r in tc.outgoing_answered(start=1_600_000_000_000, end=1_600_000_000_001)] == []
    assert 1 <= len(server.bodies) <= 4
    assert sorted(b["page"] for b in server.bodies) == list(range(1, len(server.bodies) + 1))


async def test_pages_after_the_first_are_requested_before_the_total_is_known() -> None:
    server = RecordServer(total=200)
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client(concurrency=5) as tc:
            ids = [r.id async for r in tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000)]
    assert ids == [r["_id"] for r in server.records]
    assert server.max_in_flight == 5, "page 1 did not travel alone"
    assert sorted(b["page"] for b in server.bodies) == list(range(1, 21))


async def test_a_page_that_keeps_failing_raises_after_its_retries() -> None:
    server = RecordServer(total=100, failures={5: 10})
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client(RetryPolicy(attempts=3, initial=0, max_delay=0)) as tc:
            got = []
            with pytest.raises(ServerError):
                async for r in tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=10):
                    got.append(r)
    assert len(got) == 40, "the pages before the failing one were delivered, in order"


async def test_a_short_page_in_the_middle_is_asked_again_never_accepted() -> None:
    server = RecordServer(total=120, short={5: 1})
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client() as tc:
            query = tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=10)
            ids = [r.id async for r in query]
    assert ids == [r["_id"] for r in server.records]
    assert Counter(b["page"] for b in server.bodies)[5] == 2


def landing_below_on_page_two(server: RecordServer) -> None:
    landed = []

    def hook(body: dict) -> None:
        if body["page"] == 2 and body["limit"] > 1 and not landed:
            landed.append(server.land(server.records[-1]["time"] - 1))

    server.on_request.append(hook)


async def test_limit_holds_across_a_re_pin() -> None:
    server = RecordServer(total=100, windowed=True)
    landing_below_on_page_two(server)
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client(concurrency=1) as tc:
            query = tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=10, limit=35)
            ids = [r.id async for r in query]
    assert len(server.records) == 101
    assert ids == [r["_id"] for r in server.records[:35]]


async def test_pages_stay_numbered_in_order_across_a_re_pin_and_tell_the_new_total() -> None:
    server = RecordServer(total=100, windowed=True)
    landing_below_on_page_two(server)
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client(concurrency=1) as tc:
            pages = [
                p
                async for p in tc.outgoing_answered(
                    start=1_600_000_000_000, end=2_000_000_000_000, page_size=10
                ).pages()
            ]
    assert [p.number for p in pages] == list(range(1, len(pages) + 1))
    assert [r.id for p in pages for r in p.records] == [r["_id"] for r in server.records]
    assert (pages[0].total, pages[-1].total) == (100, 101)
    counts = [b for b in server.bodies if b["limit"] == 1]
    assert len(counts) == 2, "one count when re-pinning, one when the narrowed window is done"


async def test_a_vendor_listing_oldest_first_pages_fine_but_cannot_re_pin() -> None:
    from voicekit.errors import RecordsChangedError

    server = RecordServer(total=50)
    server.records.reverse()
    with aioresponses() as m:
        m.post(CDR, callback=server.handle, repeat=True)
        async with client(concurrency=1) as tc:
            query = tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=10)
            assert [r.id async for r in query] == [r["_id"] for r in server.records]
            before = [r["_id"] for r in server.records]
            landing_below_on_page_two(server)
            got = []
            with pytest.raises(RecordsChangedError, match="newest first"):
                async for r in tc.outgoing_answered(start=1_600_000_000_000, end=2_000_000_000_000, page_size=10):
                    got.append(r.id)
    assert got == before[:10]
