"""The blocking twins of `AsyncJournal`, and `as_async`, which gives any journal the async face.

A blocking journal runs its async core on voicekit's background event loop, as the blocking
clients do: each method is one call there.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from typing import Any, Self, TypeVar, cast

from .._bulk import Outcome
from .._campaign import Campaign, CampaignRow
from .._sync import BlockingClient, call, loop_thread
from ..errors import JournalError
from ..huawei import Notify
from ..telecmi import Dial
from ._core import DEFAULT_LEASE, AsyncJournal
from ._postgres import DEFAULT_RECONNECT, is_postgres_url
from ._store import AsyncStore, Attempt, CallOutcome, Entry, OutcomeCounts, Resolution, State, Summary, Waiting

__all__ = ["AsyncPostgresJournal", "Journal", "PostgresJournal", "as_async"]

T = TypeVar("T")


class AsyncPostgresJournal(AsyncJournal):
    """`AsyncJournal` on a PostgreSQL database (``postgresql://`` URLs only): one campaign
    among many in the database, shared by any number of workers on any machines."""

    @classmethod
    async def open(
        cls,
        target: str | os.PathLike[str],
        campaign: Campaign,
        *,
        lease: float = DEFAULT_LEASE,
        reconnect: float = DEFAULT_RECONNECT,
    ) -> Self:
        _require_url(target)
        return await super().open(target, campaign, lease=lease, reconnect=reconnect)

    @classmethod
    async def read(cls, target: str | os.PathLike[str], *, campaign: str | None = None, reconnect: float = 0.0) -> Self:
        _require_url(target)
        return await super().read(target, campaign=campaign, reconnect=reconnect)


def _require_url(target: str | os.PathLike[str]) -> None:
    if not is_postgres_url(os.fspath(target)):
        raise JournalError("a PostgreSQL journal is a postgresql:// URL (use AsyncJournal for an SQLite file)")


class Journal(BlockingClient[AsyncJournal]):
    """The blocking twin of `AsyncJournal`: the same journal (an SQLite file or a PostgreSQL
    URL), for code without an event loop (status, report, scripts; thread-safe).

    Its async core runs on voicekit's background event loop, and each method is one call there.
    Inside async code, use `AsyncJournal`.
    """

    _async_class: type[AsyncJournal] = AsyncJournal

    @classmethod
    def open(
        cls,
        target: str | os.PathLike[str],
        campaign: Campaign,
        *,
        lease: float = DEFAULT_LEASE,
        reconnect: float = DEFAULT_RECONNECT,
    ) -> Self:
        """Run `campaign` with the journal at `target` (see `AsyncJournal.open`)."""
        opener = cls._async_class.open
        return cls(call(lambda: opener(target, campaign, lease=lease, reconnect=reconnect)))

    @classmethod
    def read(cls, target: str | os.PathLike[str], *, campaign: str | None = None, reconnect: float = 0.0) -> Self:
        """Open the journal at `target` to look at it (see `AsyncJournal.read`)."""
        reader = cls._async_class.read
        return cls(call(lambda: reader(target, campaign=campaign, reconnect=reconnect)))

    @property
    def path(self) -> str:
        return self._async.path

    @property
    def campaign(self) -> Campaign:
        return self._async.campaign

    @property
    def campaign_id(self) -> str:
        return self._async.campaign_id

    @property
    def worker(self) -> str | None:
        return self._async.worker

    @property
    def lease(self) -> float:
        return self._async.lease

    @property
    def shared(self) -> bool:
        return self._async.shared

    @property
    def transactions(self) -> int:
        return self._async.transactions

    @property
    def loaded(self) -> bool:
        return call(self._async.is_loaded)

    def load(self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None) -> int:
        return call(lambda: self._async.load(rows, on_problem=on_problem))

    def recover(self) -> int:
        return call(self._async.recover)

    def reap(self) -> int:
        return call(self._async.reap)

    def requeue(self, *, unknown: bool = False, retryable: bool = True, failed: bool | Iterable[str] = False) -> int:
        return call(lambda: self._async.requeue(unknown=unknown, retryable=retryable, failed=failed))

    def failed_classes(self) -> dict[str, int]:
        return call(self._async.failed_classes)

    def reserve(self, n: int) -> list[Dial | Notify]:
        return call(self._async.reserve, n)

    def held_elsewhere(self) -> int:
        return call(self._async.held_elsewhere)

    def pending(self, keys: Sequence[str]) -> set[str]:
        return call(self._async.pending, keys)

    def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        return call(self._async.claim, keys, outcomes)

    def record(self, outcomes: Sequence[Outcome[Any]]) -> None:
        call(self._async.record, outcomes)

    def finish(self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]) -> None:
        call(self._async.finish, outcomes, unsent, unfinished)

    def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts:
        return call(self._async.add_outcomes, outcomes)

    def outcomes(self, keys: Sequence[str]) -> dict[str, CallOutcome]:
        return call(self._async.outcomes, keys)

    def unmatched_outcomes(self) -> list[CallOutcome]:
        return call(self._async.unmatched_outcomes)

    def outcome_counts(self) -> dict[str, int]:
        return call(self._async.outcome_counts)

    def numbers(self, keys: Sequence[str]) -> dict[str, str]:
        return call(self._async.numbers, keys)

    def sent_times(self, keys: Sequence[str]) -> dict[str, float]:
        return call(self._async.sent_times, keys)

    def resolve(
        self,
        placed: Sequence[tuple[str, CallOutcome | None]],
        requeue: Sequence[str],
        notes: Sequence[tuple[str, str]],
    ) -> Resolution:
        return call(self._async.resolve, placed, requeue, notes)

    def counts(self) -> dict[State, int]:
        return call(self._async.counts)

    def total(self) -> int:
        return call(self._async.total)

    def summary(self) -> Summary:
        return call(self._async.summary)

    def waiting(self) -> Waiting:
        return call(self._async.waiting)

    def schedule_redials(self) -> int:
        return call(self._async.schedule_redials)

    def attempts(self, keys: Sequence[str]) -> dict[str, list[Attempt]]:
        return call(self._async.attempts, list(keys))

    def suppress(self, numbers: Iterable[str | int]) -> tuple[int, int]:
        return call(self._async.suppress, list(numbers))

    def control(self, action: str) -> tuple[str, int]:
        return call(self._async.control, action)

    def get(self, key: str) -> Entry | None:
        return call(self._async.get, key)

    def entries(self, states: Iterable[State] | None = None, *, chunk: int = 1000) -> Iterator[Entry]:
        """Every entry (or those in `states`), in campaign order, read in chunks."""
        wanted = None if states is None else [str(s) for s in states]
        after: tuple[int, str] | None = (-1, "")
        while after is not None:
            page, after = call(self._async.entries_page, wanted, after, chunk)
            yield from page


class PostgresJournal(Journal):
    """The blocking twin of `AsyncPostgresJournal` (``postgresql://`` URLs only)."""

    _async_class = AsyncPostgresJournal


class _Bridged:
    """A journal whose core lives on another event loop (a blocking twin's, on voicekit's
    background loop), awaited from this one: each call is run there and awaited here."""

    def __init__(self, core: AsyncJournal, loop: asyncio.AbstractEventLoop) -> None:
        self._core = core
        self._loop = loop

    def __getattr__(self, name: str) -> Any:
        value = getattr(self._core, name)
        if not asyncio.iscoroutinefunction(value):
            return value

        async def across(*args: Any, **kwargs: Any) -> Any:
            future = asyncio.run_coroutine_threadsafe(value(*args, **kwargs), self._loop)
            return await asyncio.wrap_future(future)

        return across

    @property
    def until(self) -> float | None:
        return self._core.until

    @until.setter
    def until(self, value: float | None) -> None:
        self._core.until = value

    @property
    def await_outcomes(self) -> float:
        return self._core.await_outcomes

    @await_outcomes.setter
    def await_outcomes(self, value: float) -> None:
        self._core.await_outcomes = value

    def specs(
        self, batch: int = 64, *, on_wait: Callable[[Waiting], None] | None = None
    ) -> AsyncIterator[Dial | Notify]:
        return self._iterate(lambda: self._core.specs(batch, on_wait=on_wait))

    def spec_batches(
        self, batch: int = 64, *, on_wait: Callable[[Waiting], None] | None = None
    ) -> AsyncIterator[list[Dial | Notify]]:
        return self._iterate(lambda: self._core.spec_batches(batch, on_wait=on_wait))

    def entries(self, states: Iterable[State] | None = None, *, chunk: int = 1000) -> AsyncIterator[Entry]:
        return self._iterate(lambda: self._core.entries(states, chunk=chunk))

    async def _iterate(self, make: Callable[[], AsyncIterator[T]]) -> AsyncIterator[T]:
        async def start() -> AsyncIterator[T]:
            return make()

        iterator = await self._across(start())
        try:
            while True:
                try:
                    item = await self._across(iterator.__anext__())
                except StopAsyncIteration:
                    return
                yield item
        finally:
            await self._across(cast(Any, iterator).aclose())

    async def _across(self, coro: Awaitable[T]) -> T:
        return await asyncio.wrap_future(asyncio.run_coroutine_threadsafe(cast(Any, coro), self._loop))


def as_async(store: AsyncStore | Journal) -> AsyncStore:
    """`store` as an `AsyncStore` on the running loop: itself if it is one; a blocking twin's
    core, awaited across from voicekit's background loop."""
    if isinstance(store, Journal):
        core = store._async
        loop = loop_thread().loop
        assert loop is not None
        if loop is asyncio.get_running_loop():
            return core
        return cast(AsyncStore, _Bridged(core, loop))
    return store
