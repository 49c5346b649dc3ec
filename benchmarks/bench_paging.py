"""Row 4: concurrent record paging against a server answering each page after 50 ms.

``async for`` over 400 records at page size 10 (40 pages) with ``page_concurrency=8``, against:
  a. the ideal the brief sets, pages / 8 x latency;
  b. the best a paginator can do without knowing the total in advance: page 1 alone (it tells the
     total), then the other pages 8 at a time, (1 + ceil((pages - 1) / 8)) x latency;
  c. one page at a time (``page_concurrency=1``): the speed-up.
"""

from __future__ import annotations

import asyncio
import math
import time

import voicekit

from . import APPID, NO_LIMIT, SECRET, Row, Target, fmt_time
from ._servers import ServerHandle

LATENCY_MS = 50
CONCURRENCY = 8
START_MS, END_MS = 1_570_000_000_000, 1_580_000_000_000
FULL = {"records": 400, "page_size": 10, "repeats": 3, "serial_repeats": 1}
QUICK = {"records": 40, "page_size": 10, "repeats": 1, "serial_repeats": 1}
BUDGET_S = 60.0


async def _iterate(url: str, records: int, page_size: int, concurrency: int, repeats: int) -> float:
    """Best wall time of `repeats` full iterations (after one warm-up page)."""
    async with voicekit.AsyncTeleCMI(
        appid=APPID,
        secret=SECRET,
        base_url=url,
        piopiy_url=url,
        rate_limit=NO_LIMIT,
        page_concurrency=concurrency,
    ) as tc:
        # Warm up: open CONCURRENCY connections so that the runs measure paging, not handshakes.
        await asyncio.gather(
            *(tc.outgoing_answered(start=START_MS, end=END_MS, page_size=page_size) for _ in range(CONCURRENCY))
        )
        best = float("inf")
        for _ in range(repeats):
            t0 = time.perf_counter()
            count = 0
            async for _rec in tc.outgoing_answered(start=START_MS, end=END_MS, page_size=page_size):
                count += 1
            best = min(best, time.perf_counter() - t0)
            assert count == records, count
        return best


def run(server: ServerHandle, quick: bool) -> list[Row]:
    """Measure row 4."""
    size = QUICK if quick else FULL
    records, page_size = size["records"], size["page_size"]
    url = server.url(latency_ms=LATENCY_MS, records=records)
    lat = LATENCY_MS / 1000
    pages = math.ceil(records / page_size)

    async def both() -> tuple[float, float]:
        fast = await _iterate(url, records, page_size, CONCURRENCY, size["repeats"])
        serial = await _iterate(url, records, page_size, 1, size["serial_repeats"])
        return fast, serial

    fast, serial = asyncio.run(asyncio.wait_for(both(), BUDGET_S))
    ideal = pages / CONCURRENCY * lat
    floor = (1 + math.ceil((pages - 1) / CONCURRENCY)) * lat
    data = {
        "records": records,
        "page_size": page_size,
        "pages": pages,
        "latency_s": lat,
        "concurrency": CONCURRENCY,
        "wall_s": fast,
        "serial_wall_s": serial,
        "ideal_s": ideal,
        "first_page_alone_ideal_s": floor,
    }
    head = f"4 paging {pages} pages, c={CONCURRENCY}, {LATENCY_MS} ms"
    return [
        Row(
            f"{head}: wall / (pages/{CONCURRENCY} x lat)",
            f"{fmt_time(fast)} vs ideal {fmt_time(ideal)}",
            fast / ideal,
            Target("<=", 1.2),
            data,
        ),
        Row(
            f"{head}: wall / (1 + (pages-1)/{CONCURRENCY}) x lat",
            f"{fmt_time(fast)} vs {fmt_time(floor)} (page 1 alone first)",
            fast / floor,
            None,
            data,
        ),
        Row(
            f"{head}: speed-up over c=1",
            f"c=1 {fmt_time(serial)}, c={CONCURRENCY} {fmt_time(fast)}",
            serial / fast,
            None,
            data,
        ),
    ]
