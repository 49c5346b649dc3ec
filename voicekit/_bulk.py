"""Bulk sending: many specifications in, one outcome per specification out, as they complete.

Input is consumed lazily (a million rows cost what `concurrency` rows cost), at most
`concurrency` requests are in flight (each still waits for the account's rate limiter), and one
failure never stops the batch: it becomes that key's outcome. Closing the iterator early cancels
what is in flight and leaves no task behind.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import Generic, TypeVar

import attrs

from ._tasks import cancel_and_wait
from .errors import CallOutcomeUnknownError, VoiceKitError

__all__ = ["Outcome", "aiter_specs", "run_many", "run_many_batches"]

S = TypeVar("S")
R = TypeVar("R")


@attrs.frozen(kw_only=True)
class Outcome(Generic[R]):
    """What happened to one specification: its `key`, and either `result` or `error`."""

    key: str
    result: R | None = None
    error: VoiceKitError | None = None

    @property
    def ok(self) -> bool:
        return self.error is None

    @property
    def unknown(self) -> bool:
        """True if the call may or may not have been placed (do not re-dial blindly)."""
        return isinstance(self.error, CallOutcomeUnknownError)


async def aiter_specs(specs: Iterable[S] | AsyncIterable[S]) -> AsyncIterator[S]:
    """One async iterator over a sync or async iterable, consumed lazily."""
    if isinstance(specs, AsyncIterable):
        async for spec in specs:
            yield spec
    else:
        for spec in specs:
            yield spec


async def run_many_batches(
    specs: Iterable[S] | AsyncIterable[S],
    send: Callable[[S], Awaitable[R]],
    key: Callable[[S], str],
    *,
    concurrency: int,
) -> AsyncIterator[Sequence[Outcome[R]]]:
    """Yield outcomes in batches: every outcome that is ready, at least one per batch."""
    source = aiter_specs(specs)
    in_flight: dict[asyncio.Task[R], str] = {}
    exhausted = False

    async def fill() -> None:
        nonlocal exhausted
        while not exhausted and len(in_flight) < concurrency:
            try:
                spec = await source.__anext__()
            except StopAsyncIteration:
                exhausted = True
                return
            in_flight[asyncio.ensure_future(send(spec))] = key(spec)

    try:
        await fill()
        while in_flight:
            done, _ = await asyncio.wait(in_flight, return_when=asyncio.FIRST_COMPLETED)
            batch: list[Outcome[R]] = []
            for task in done:
                k = in_flight.pop(task)
                exc = task.exception()
                if exc is None:
                    batch.append(Outcome(key=k, result=task.result()))
                elif isinstance(exc, VoiceKitError):
                    batch.append(Outcome(key=k, error=exc))
                else:
                    raise exc
            await fill()
            yield batch
    finally:
        await cancel_and_wait(in_flight)
        await source.aclose()  # type: ignore[attr-defined]


async def run_many(
    specs: Iterable[S] | AsyncIterable[S],
    send: Callable[[S], Awaitable[R]],
    key: Callable[[S], str],
    *,
    concurrency: int,
) -> AsyncIterator[Outcome[R]]:
    """Yield one outcome per specification as it completes."""
    batches = run_many_batches(specs, send, key, concurrency=concurrency)
    try:
        async for batch in batches:
            for outcome in batch:
                yield outcome
    finally:
        await batches.aclose()  # type: ignore[attr-defined]
