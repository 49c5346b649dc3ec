"""The blocking journals, and `as_async`, which gives any journal the async face.

`Journal` and `PostgresJournal`, the blocking twins of `AsyncJournal` and `AsyncPostgresJournal`,
are generated (``_twins``); a blocking journal runs its async core on voicekit's background
event loop, as the blocking clients do.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable
from typing import Any, TypeVar, cast

from .._sync import loop_thread
from ..huawei import Notify
from ..telecmi import Dial
from ._core import AsyncJournal
from ._postgres_async import AsyncPostgresJournal
from ._store import AsyncStore, Entry, State, Waiting
from ._twins import Journal, PostgresJournal

__all__ = ["AsyncPostgresJournal", "Journal", "PostgresJournal", "as_async"]

T = TypeVar("T")


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
