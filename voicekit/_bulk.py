"""Bulk sending: many specifications in, one outcome per specification out, as they complete.

Input is consumed lazily (a million rows cost what `concurrency` rows cost), at most
`concurrency` requests are in flight (each still waits for the account's rate limiter), and one
failure never stops the batch: it becomes that key's outcome. Closing the iterator early cancels
what is in flight and leaves no task behind.
"""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Coroutine, Iterable, Sequence
from typing import Any, Generic, TypeVar

import attrs

from . import _constants as C
from . import _otel
from ._sending import BeforeSend, Ticket, current_ticket
from ._tasks import cancel_and_wait
from ._validate import check_int_range, show
from .errors import CallOutcomeUnknownError, ValidationError, VoiceKitError

__all__ = ["Outcome", "aiter_specs", "check_bulk", "run_many", "run_many_batches"]

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


def check_bulk(specs: object, concurrency: object, before_send: object) -> int:
    """Check a bulk run's arguments before anything starts; return `concurrency`.

    Raises:
        ValidationError: `specs` is not an iterable (sync or async) of specifications,
            `concurrency` is not an integer between 1 and `MAX_BULK_CONCURRENCY`, or
            `before_send` is neither None nor callable.
    """
    if isinstance(specs, str | bytes) or not isinstance(specs, Iterable | AsyncIterable):
        raise ValidationError("specs", f"must be an iterable (or async iterable) of specifications, got {show(specs)}")
    if before_send is not None and not callable(before_send):
        raise ValidationError(
            "before_send", f"must be an async callable taking a key, or None, got {show(before_send)}"
        )
    return check_int_range("concurrency", concurrency, 1, C.MAX_BULK_CONCURRENCY)


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
    send: Callable[[S], Coroutine[Any, Any, R]],
    key: Callable[[S], str],
    *,
    concurrency: int,
    before_send: BeforeSend | None = None,
) -> AsyncGenerator[Sequence[Outcome[R]], None]:
    """Yield outcomes in batches: every outcome that is ready, at least one per batch.

    Each send runs in a task of its own with a `Ticket` for its key, which the request path
    punches (running `before_send`) right before the call-creating request leaves. Whatever a
    send raises stays with its key as an outcome. If `specs` itself raises, nothing new is sent,
    the calls in flight finish and are yielded, and then the error is raised.

    The specs are read by a task of their own, as there is room: a source that waits long for
    its next spec (a campaign whose rows wait for their calling window) never holds back the
    outcomes of the calls that finished meanwhile.
    """
    source = aiter_specs(specs)
    telemetry = _otel.current()
    if telemetry is not None and telemetry.tracer is None:
        telemetry = None  # metrics only: the sends have no spans to open
    in_flight: dict[asyncio.Task[R], Ticket] = {}
    ready: list[Outcome[R]] = []
    loop = asyncio.get_running_loop()
    wake: asyncio.Future[None] = loop.create_future()
    room = asyncio.Event()
    source_error: BaseException | None = None

    def poke() -> None:
        if not wake.done():
            wake.set_result(None)

    async def read() -> None:
        nonlocal source_error
        position = 0
        while True:
            while len(in_flight) >= concurrency:
                room.clear()
                await room.wait()
            try:
                spec = await source.__anext__()
            except StopAsyncIteration:
                return
            except Exception as exc:  # noqa: BLE001 - raised once the calls in flight are done
                source_error = exc
                return
            position += 1
            try:
                k = key(spec)
            except VoiceKitError as exc:
                ready.append(Outcome(key=f"#{position}", error=exc))
                poke()
                continue
            ticket = Ticket(k, before_send)
            context = contextvars.copy_context()
            context.run(current_ticket.set, ticket)
            work = send(spec) if telemetry is None else _traced(telemetry, send(spec), ticket, spec)
            in_flight[asyncio.create_task(work, context=context)] = ticket
            poke()

    reader = asyncio.create_task(read())
    try:
        while in_flight or ready or not reader.done():
            done: set[asyncio.Future[Any]] = set()
            if not ready:
                waiting: set[asyncio.Future[Any]] = {*in_flight, wake}
                if not reader.done():
                    waiting.add(reader)
                done, _ = await asyncio.wait(waiting, return_when=asyncio.FIRST_COMPLETED)
            if wake.done():
                wake = loop.create_future()
            batch, ready[:] = ready[:], []
            for task in done:
                ticket = in_flight.pop(task, None)  # type: ignore[call-overload]
                if ticket is not None:
                    batch.append(_outcome(task, ticket))  # type: ignore[arg-type]
            if len(in_flight) < concurrency:
                room.set()
            if batch:
                yield batch
        if reader.done() and not reader.cancelled() and reader.exception() is not None:
            raise reader.exception()  # type: ignore[misc]
        if source_error is not None:
            raise source_error
    finally:
        if not reader.done():
            reader.cancel()
        await asyncio.wait([reader])
        await cancel_and_wait(in_flight)
        await source.aclose()  # type: ignore[attr-defined]


async def _traced(telemetry: _otel.Telemetry, work: Coroutine[Any, Any, R], ticket: Ticket, spec: object) -> R:
    """`work` inside the span of its specification's send."""
    to = getattr(spec, "to", None) or getattr(spec, "called", None)
    number = str(to) if isinstance(to, str | int) and not isinstance(to, bool) else None
    with telemetry.send(ticket.key, number) as span:
        if span is None:
            return await work
        try:
            result = await work
        except BaseException as exc:
            # as `_outcome` will judge it: unknown if it may have been placed
            unknown = isinstance(exc, CallOutcomeUnknownError) or (
                not isinstance(exc, VoiceKitError) and ticket.departed
            )
            _otel.end_send_error(span, exc, unknown=unknown)
            raise
        span.set_attribute("voicekit.outcome", "placed")
        return result


def _outcome(task: asyncio.Task[R], ticket: Ticket) -> Outcome[R]:
    """The outcome of one finished send, whatever it raised."""
    if task.cancelled():
        exc: BaseException = asyncio.CancelledError()
    else:
        failure = task.exception()
        if failure is None:
            return Outcome(key=ticket.key, result=task.result())
        exc = failure
    if isinstance(exc, VoiceKitError):
        return Outcome(key=ticket.key, error=exc)
    if isinstance(exc, KeyboardInterrupt | SystemExit):
        raise exc
    # Nobody foresaw this. Whether a call may exist depends on whether its request left.
    error: VoiceKitError
    if ticket.departed:
        error = CallOutcomeUnknownError(
            f"{type(exc).__name__} while the request was under way ({exc})",
            endpoint="",
            request={"key": ticket.key},
        )
    else:
        error = VoiceKitError(f"unexpected {type(exc).__name__} before anything was sent: {exc}")
    error.__cause__ = exc
    return Outcome(key=ticket.key, error=error)


async def run_many(
    specs: Iterable[S] | AsyncIterable[S],
    send: Callable[[S], Coroutine[Any, Any, R]],
    key: Callable[[S], str],
    *,
    concurrency: int,
    before_send: BeforeSend | None = None,
) -> AsyncIterator[Outcome[R]]:
    """Yield one outcome per specification as it completes."""
    batches = run_many_batches(specs, send, key, concurrency=concurrency, before_send=before_send)
    try:
        async for batch in batches:
            for outcome in batch:
                yield outcome
    finally:
        await batches.aclose()
