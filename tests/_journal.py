"""What the journal's tests share: campaign files, a fake vendor, and a journal of each dialect."""

from __future__ import annotations

import asyncio
import csv
import itertools
from collections import Counter
from collections.abc import AsyncIterator, Iterable, Iterator
from contextlib import aclosing
from pathlib import Path
from typing import Any

import pytest

from voicekit import Outcome
from voicekit._bulk import run_many
from voicekit._sending import current_ticket
from voicekit.journal import AsyncJournal, AsyncStore, Campaign, Journal, journaled, read_campaign
from voicekit.telecmi import CallResult, Dial

HEADER = ["key", "to", "from", "file_name"]
DIALECTS = ("sqlite", "postgres")
_names = itertools.count()


def write_csv(path: Path, rows: Iterable[list[object]], header: list[str] = HEADER) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def numbers(n: int, start: int = 0) -> list[list[object]]:
    return [[f"k{i}", 9100000000 + i, 19170000000, "welcome.wav"] for i in range(start, start + n)]


def dials(keys: Iterable[str]) -> Iterator[Dial]:
    for key in keys:
        yield Dial(key=key, from_=19170000000, to=9100000000 + int(key[1:]), file_name="welcome.wav")


def journal_target(dialect: str, tmp_path: Path, request: pytest.FixtureRequest, name: str = "c") -> str:
    """Where a test's journal lives: an SQLite file, or a fresh database on the test server."""
    if dialect == "sqlite":
        return str(tmp_path / f"{name}.db")
    return str(request.getfixturevalue("postgres").fresh_database(f"j{next(_names)}"))


class FakeVendor:
    """A sender that records every spec whose request "leaves" and answers as told.

    Like the real request path, it punches the send's ticket (running the journal's
    `before_send`) right before the request leaves; `handed` counts the specs it was given.
    """

    def __init__(self, errors: dict[str, Exception] | None = None, delay: float = 0.0) -> None:
        self.handed: Counter[str] = Counter()
        self.sent: Counter[str] = Counter()
        self.specs: list[Dial] = []
        self.errors = errors or {}
        self.delay = delay
        self.gate: asyncio.Event | None = None  # when set up, requests wait on it once they left

    async def send(self, spec: Dial) -> CallResult:
        self.handed[spec.key] += 1
        await self.on_handed(spec)
        ticket = current_ticket.get()
        assert ticket is not None
        await ticket.depart()
        self.sent[spec.key] += 1
        self.specs.append(spec)
        await self.on_sent(spec)
        if self.gate is not None:
            await self.gate.wait()
        await asyncio.sleep(self.delay)
        if spec.key in self.errors:
            raise self.errors[spec.key]
        return CallResult(request_id=f"req-{spec.key}", status="progress")

    async def on_handed(self, spec: Dial) -> None:
        pass

    async def on_sent(self, spec: Dial) -> None:
        pass

    def many(self, concurrency: int = 8):  # type: ignore[no-untyped-def]
        return lambda specs, before_send: run_many(
            specs, self.send, lambda s: s.key, concurrency=concurrency, before_send=before_send
        )


async def drain(
    journal: AsyncStore | Journal, specs: Any, vendor: FakeVendor, **kw: object
) -> list[Outcome[CallResult]]:
    out: list[Outcome[CallResult]] = []
    async with aclosing(journaled(journal, specs, vendor.many(), **kw)) as outcomes:  # type: ignore[arg-type]
        async for outcome in outcomes:
            out.append(outcome)
    return out


async def open_loaded(target: str, campaign: Campaign, cls: type[AsyncJournal] = AsyncJournal) -> AsyncJournal:
    journal = await cls.open(target, campaign)
    await journal.load(read_campaign(campaign.path))
    return journal


async def agen(items: Iterable[Any]) -> AsyncIterator[Any]:
    for item in items:
        yield item
