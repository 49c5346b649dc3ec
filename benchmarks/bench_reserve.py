"""Row 14: a reservation (`AsyncJournal.reserve`, 8 rows) on a PostgreSQL journal of 100,000 rows
while half of them wait for their moment (a calling window closed in their zone, or a redial not
due yet) vs the same journal with none waiting.

The waiting rows come first in the file, the worst case: a reservation that read them in row
order to skip them (as before the free rows' index left them out) paid for every one. Median of
the reservations after the first (which warms the caches), each side on its own fresh database
of the same throwaway cluster.
"""

from __future__ import annotations

import asyncio
import csv
import os
import statistics
import tempfile
import time
from typing import Any

from . import Row, Target

ROWS = {"full": 100_000, "quick": 2_000}
RESERVATIONS = {"full": 40, "quick": 4}
#: The reservation with half the rows waiting may cost at most this many times one with none.
TARGET = 2.0


async def _reserve_times(url: str, csv_path: str, waiting: int, reservations: int) -> list[float]:
    import psycopg

    from voicekit.journal import AsyncJournal, Campaign, read_campaign

    campaign = Campaign.from_file(csv_path)
    async with await AsyncJournal.open(url, campaign) as journal:
        await journal.load(read_campaign(csv_path))
        if waiting:
            async with await psycopg.AsyncConnection.connect(url, autocommit=True) as conn:
                await conn.execute(
                    "UPDATE voicekit_rows SET not_before = extract(epoch FROM now()) + 3600 "
                    "WHERE key IN (SELECT key FROM voicekit_rows ORDER BY row LIMIT %s)",
                    (waiting,),
                )
                await conn.execute("ANALYZE voicekit_rows")
        times = []
        for _ in range(reservations + 1):
            started = time.perf_counter()
            specs = await journal.reserve(8)
            times.append(time.perf_counter() - started)
            assert len(specs) == 8
    return times[1:]


def _measure(size: str) -> dict[str, Any]:
    from tests._servers import PostgresServer  # the same throwaway cluster as the tests

    n, k = ROWS[size], RESERVATIONS[size]
    server = PostgresServer()
    try:
        with tempfile.TemporaryDirectory() as work:
            csv_path = os.path.join(work, "c.csv")
            with open(csv_path, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["key", "to", "from", "file_name"])
                w.writerows([f"k{i}", 9100000000 + i, 19170000000, "welcome.wav"] for i in range(n))
            none = asyncio.run(_reserve_times(server.fresh_database("reserve_none"), csv_path, 0, k))
            half = asyncio.run(_reserve_times(server.fresh_database("reserve_half"), csv_path, n // 2, k))
    finally:
        server.close()
    return {
        "rows": n,
        "waiting": n // 2,
        "reservations": k,
        "none_ms": statistics.median(none) * 1000,
        "half_ms": statistics.median(half) * 1000,
    }


def run(server: object, quick: bool) -> list[Row]:
    """The row: the median reservation with half the rows waiting / with none."""
    try:
        d = _measure("quick" if quick else "full")
    except Exception:
        raise
    except BaseException as exc:  # the fixtures' skip (no PostgreSQL on this machine): an info row
        if type(exc).__name__ not in ("Skipped", "Failed"):
            raise
        return [Row("14 reserve with waiting rows (PostgreSQL): not run", str(exc)[:100], None)]
    return [
        Row(
            f"14 reserve 8 of {d['rows']:,} rows, {d['waiting']:,} waiting / none waiting (PostgreSQL)",
            f"{d['half_ms']:.2f} ms vs {d['none_ms']:.2f} ms (median of {d['reservations']})",
            d["half_ms"] / d["none_ms"],
            Target("<=", TARGET),
            d,
        )
    ]
