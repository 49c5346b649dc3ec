"""Call-record (CDR) store: really placed calls plus lazily generated seeded records."""

from __future__ import annotations

import bisect
from dataclasses import dataclass, field
from typing import Any

__all__ = ["CDR_KINDS", "DAY_MS", "CdrStore", "SeededRecords"]

#: The PIOPIY call-record families served by the sandbox (``POST /v1/<kind>``).
CDR_KINDS = ("answered", "missed", "outanswered", "outmissed")

DAY_MS = 86_400_000

# Middle bytes of generated ObjectId-like ``_id`` values (timestamp + 5 bytes + counter).
_SEEDED_ID_TAG = "5eed5eed00"
_PLACED_ID_TAG = "ca11ed0000"


@dataclass(frozen=True, slots=True)
class SeededRecords:
    """``count`` synthetic records, record ``i`` computed from ``i`` alone (never materialised).

    Record ``i`` has ``time = end_ms - i * step_ms``: index 0 is the newest, and the records
    are spread over the 24 hours before ``end_ms``.
    """

    count: int
    end_ms: int
    appid: int

    @property
    def step_ms(self) -> int:
        """Milliseconds between consecutive seeded records."""
        return max(1, DAY_MS // max(1, self.count))

    def time_of(self, index: int) -> int:
        """Timestamp (ms) of record ``index``."""
        return self.end_ms - index * self.step_ms

    def index_range(self, start_ms: int, end_ms: int) -> tuple[int, int]:
        """Half-open index range ``[lo, hi)`` of the records with ``start_ms <= time <= end_ms``."""
        step = self.step_ms
        # time_i <= end_ms  <=>  i >= ceil((self.end_ms - end_ms) / step)
        lo = max(0, -((end_ms - self.end_ms) // step))
        # time_i >= start_ms  <=>  i <= floor((self.end_ms - start_ms) / step)
        hi = min(self.count, (self.end_ms - start_ms) // step + 1)
        return lo, max(lo, hi)

    def count_newer(self, lo: int, hi: int, time_ms: int) -> int:
        """How many records with index in ``[lo, hi)`` are strictly newer than ``time_ms``."""
        # time_i > t  <=>  i < (self.end_ms - t) / step  <=>  i < ceil((self.end_ms - t) / step)
        bound = -((time_ms - self.end_ms) // self.step_ms)
        return max(0, min(hi, bound) - lo)

    def record(self, index: int) -> dict[str, Any]:
        """The record at ``index``, shaped like the vendor document's sample."""
        time_ms = self.time_of(index)
        return {
            "_id": f"{(time_ms // 1000) & 0xFFFFFFFF:08x}{_SEEDED_ID_TAG}{index & 0xFFFFFF:06x}",
            "to": 9100000000 + (index * 7919) % 900000000,
            "time": time_ms,
            "from": f"{200 + index % 100}_{self.appid}",
            "billedsec": 1 + (index * 37) % 300,
            "rate": "0.6",
            "record": "true",
            "filename": f"{time_ms}{index:014d}_{self.appid}.mp3",
            "name": "unknown",
        }


@dataclass
class _RecordList:
    """Records of one (account, kind), kept sorted by time ascending."""

    times: list[int] = field(default_factory=list)
    records: list[dict[str, Any]] = field(default_factory=list)

    def add(self, record: dict[str, Any]) -> None:
        index = bisect.bisect_right(self.times, record["time"])
        self.times.insert(index, record["time"])
        self.records.insert(index, record)

    def window(self, start_ms: int, end_ms: int) -> list[dict[str, Any]]:
        """Records with ``start_ms <= time <= end_ms``, newest first."""
        lo = bisect.bisect_left(self.times, start_ms)
        hi = bisect.bisect_right(self.times, end_ms)
        return self.records[lo:hi][::-1]


class CdrStore:
    """Per-account, per-kind call records; seeded records are merged in arithmetically."""

    def __init__(self) -> None:
        self._lists: dict[tuple[int, str], _RecordList] = {}
        self._counter = 0

    def clear(self) -> None:
        """Forget every added record (seeded records are configuration, not data)."""
        self._lists.clear()

    def add(self, appid: int, kind: str, record: dict[str, Any]) -> None:
        """Store ``record`` (a dict with at least an integer ``time`` in ms)."""
        self._lists.setdefault((appid, kind), _RecordList()).add(record)

    def new_id(self, time_ms: int) -> str:
        """A fresh 24-hex-digit ObjectId-like identifier."""
        self._counter += 1
        return f"{(time_ms // 1000) & 0xFFFFFFFF:08x}{_PLACED_ID_TAG}{self._counter & 0xFFFFFF:06x}"

    def count(self, appid: int, kind: str) -> int:
        """Number of added (not seeded) records for the account and kind."""
        records = self._lists.get((appid, kind))
        return 0 if records is None else len(records.records)

    def query(
        self,
        appid: int,
        kind: str,
        start_ms: int,
        end_ms: int,
        page: int,
        limit: int,
        seeded: SeededRecords | None = None,
    ) -> tuple[int, list[dict[str, Any]]]:
        """Return ``(total, records of the page)`` for the window, newest first.

        The window is inclusive on both ends; page ``p`` holds merged records
        ``[(p - 1) * limit, p * limit)``. Cost is O(added records in window + limit), whatever
        the number of seeded records.
        """
        stored = self._lists.get((appid, kind))
        real = stored.window(start_ms, end_ms) if stored is not None else []
        lo = hi = 0
        if seeded is not None and seeded.count > 0 and start_ms <= end_ms:
            lo, hi = seeded.index_range(start_ms, end_ms)
        total = (hi - lo) + len(real)
        offset = (page - 1) * limit
        stop = min(total, offset + limit)
        if offset >= stop:
            return total, []
        if seeded is None or hi == lo:
            return total, real[offset:stop]
        if not real:
            return total, [seeded.record(lo + k) for k in range(offset, stop)]
        # Merged position of each added record: the added records before it plus the seeded
        # records strictly newer than it (an added record wins a tie with a seeded one).
        positions = [j + seeded.count_newer(lo, hi, rec["time"]) for j, rec in enumerate(real)]
        page_records: list[dict[str, Any]] = []
        for k in range(offset, stop):
            j = bisect.bisect_left(positions, k)
            if j < len(positions) and positions[j] == k:
                page_records.append(real[j])
            else:
                page_records.append(seeded.record(lo + k - j))
        return total, page_records
