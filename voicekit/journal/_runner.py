"""The runner: drives a bulk sender through any journal store, claiming each key as it leaves.

A run has one writer (every write, in order; claims asked for during a transaction are
committed together in the next one, with the outcomes ready by then) and one reader (the
filter that keeps keys that are not pending away from the sender and its rate limiter). For a
blocking `Store` (SQLite) each is a thread of its own; for an `AsyncStore` (PostgreSQL) the
writer is a task and the reader a plain await, both on the event loop.
"""

from __future__ import annotations

import asyncio
import collections
import concurrent.futures
import contextlib
import queue
import threading
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Callable, Iterable, Sequence
from typing import Any, Generic, Protocol, TypeVar, cast

from .._bulk import Outcome, aiter_specs
from .._sending import BeforeSend
from ..errors import VoiceKitError
from ._store import AsyncStore, JournalError, Store, is_async

__all__ = ["SendMany", "journaled"]


class _Keyed(Protocol):
    @property
    def key(self) -> str: ...


S = TypeVar("S", bound=_Keyed)
R = TypeVar("R")
T = TypeVar("T")

#: What `journaled` hands `send_many`: the filtered specs, and the hook that claims each key.
SendMany = Callable[[AsyncIterator[S], BeforeSend], AsyncIterator[Outcome[R]]]


class _NotClaimed(VoiceKitError):
    """A key was not claimed (it is no longer pending, the run is stopping, or the journal could
    not be written): its send stops before anything leaves. `journaled` swallows its outcome."""


class _Claim:
    __slots__ = ("future", "key")

    def __init__(self, key: str, future: asyncio.Future[bool]) -> None:
        self.key = key
        self.future = future


class _Call:
    __slots__ = ("args", "fn", "future")

    def __init__(self, fn: Callable[..., Any], args: tuple[Any, ...], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.args = args
        self.future = future


class _Writer:
    """A run's one writer: every write to the journal, in the order it was asked for.

    Claims asked for while a transaction is under way are committed together in the next one,
    with the outcomes that are ready by then; the writer goes from one claim transaction to the
    next on its own. Waiting for anything else between them would cost more than the commit
    itself on a busy machine: a claim is on the path of every call.

    Two kinds share this: `_ThreadWriter` calls a blocking `Store` from its own thread,
    `_TaskWriter` awaits an `AsyncStore` in a task on the event loop.
    """

    def __init__(self, journal: Store | AsyncStore, loop: asyncio.AbstractEventLoop) -> None:
        self.journal = journal
        self.failure: JournalError | None = None
        self._loop = loop
        self._ready: list[Outcome[Any]] = []  # outcomes to write, taken by the next transaction
        self._ready_lock = threading.Lock()

    def _put(self, job: _Claim | _Call | None) -> None:
        raise NotImplementedError

    async def pending(self, keys: list[str]) -> set[str]:
        """The filter's read: the keys among `keys` that are pending (never delays a claim)."""
        raise NotImplementedError

    def stop_reading(self) -> None:
        """Drop the reads still waiting (the run is ending)."""

    def claim(self, key: str) -> asyncio.Future[bool]:
        """Claim `key` in the next transaction; the future says whether it was pending."""
        future: asyncio.Future[bool] = self._loop.create_future()
        self._put(_Claim(key, future))
        return future

    def add(self, outcome: Outcome[Any]) -> None:
        """Queue an outcome for the next transaction (a claim's, or `flush`'s)."""
        with self._ready_lock:
            self._ready.append(outcome)

    def pending_outcomes(self) -> int:
        return len(self._ready)

    def take(self) -> list[Outcome[Any]]:
        with self._ready_lock:
            ready, self._ready = self._ready, []
        return ready

    def flush(self) -> asyncio.Future[None]:
        """Write the outcomes queued so far (after the jobs already asked for)."""
        return self.submit(lambda: self.journal.record(self.take()))

    def submit(self, fn: Callable[..., Any], *args: Any) -> asyncio.Future[Any]:
        """Run ``fn(*args)`` (awaited, for an async store) after the jobs already asked for."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._put(_Call(fn, args, future))
        return future

    def close(self) -> None:
        """End the writer once the jobs already asked for are done."""
        self._put(None)

    def _failed(self, exc: Exception) -> set[str]:
        """A claim transaction failed: nothing more is sent; no key of it was claimed."""
        if isinstance(exc, JournalError):
            self.failure = exc
        else:
            self.failure = JournalError(f"cannot claim in the journal {self.journal.path}: {exc!r}")
        return set()


class _ThreadWriter(_Writer):
    """The writer of a blocking `Store`: a thread of its own, off the event loop."""

    def __init__(self, journal: Store, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(journal, loop)
        self._store = journal
        self._jobs: queue.SimpleQueue[_Claim | _Call | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="voicekit-journal", daemon=True)
        self._thread.start()
        # Reads (the filter) have their own thread, so that they never delay a claim.
        self._reader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicekit-journal-read")

    def _put(self, job: _Claim | _Call | None) -> None:
        self._jobs.put(job)

    async def pending(self, keys: list[str]) -> set[str]:
        return await self._loop.run_in_executor(self._reader, self._store.pending, keys)

    def stop_reading(self) -> None:
        self._reader.shutdown(wait=False, cancel_futures=True)

    def _run(self) -> None:
        held: _Claim | _Call | None = None
        while True:
            job = held if held is not None else self._jobs.get()
            held = None
            if job is None:
                return
            if isinstance(job, _Call):
                try:
                    result = job.fn(*job.args)
                except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                    self._loop.call_soon_threadsafe(_settle, job.future, None, exc)
                else:
                    self._loop.call_soon_threadsafe(_settle, job.future, result, None)
                continue
            claims = [job]
            while True:  # every claim asked for meanwhile joins this transaction
                try:
                    more = self._jobs.get_nowait()
                except queue.Empty:
                    break
                if not isinstance(more, _Claim):
                    held = more  # runs next, in order
                    break
                claims.append(more)
            try:
                # Outcomes ready now ride along: once a claim commits, every call that has
                # finished is recorded, so what a crash leaves "sending" was in flight.
                claimed = self._store.claim([c.key for c in claims], self.take())
            except Exception as exc:  # noqa: BLE001 - every waiting claim must still be answered
                claimed = self._failed(exc)
            self._loop.call_soon_threadsafe(_answer_claims, claims, claimed)


class _TaskWriter(_Writer):
    """The writer of an `AsyncStore`: a task on the event loop, so a claim costs no thread
    hand-off (the database's driver waits for the commit without blocking the loop)."""

    def __init__(self, journal: AsyncStore, loop: asyncio.AbstractEventLoop) -> None:
        super().__init__(journal, loop)
        self._store = journal
        self._jobs: collections.deque[_Claim | _Call | None] = collections.deque()
        self._wake = asyncio.Event()
        self._dead = False
        self._task = loop.create_task(self._run(), name="voicekit-journal")

    def _put(self, job: _Claim | _Call | None) -> None:
        if self._dead:  # cancelled: nothing more is written, and nobody waits for it
            self._refuse(job)
            return
        self._jobs.append(job)
        self._wake.set()

    def _refuse(self, job: _Claim | _Call | None) -> None:
        if isinstance(job, _Claim):
            _answer_claims([job], set())
        elif job is not None:
            _settle(job.future, None, self.failure)

    async def pending(self, keys: list[str]) -> set[str]:
        # A read of its own, beside the claims: the store's pool gives it its own connection.
        return await self._store.pending(keys)

    async def _run(self) -> None:
        doing: list[_Claim | _Call] = []
        try:
            while True:
                if not self._jobs:
                    self._wake.clear()
                    await self._wake.wait()
                    continue
                job = self._jobs.popleft()
                if job is None:
                    return
                doing = [job]
                if isinstance(job, _Call):
                    try:
                        result = await job.fn(*job.args)
                    except Exception as exc:  # noqa: BLE001 - handed to the awaiting task
                        _settle(job.future, None, exc)
                    else:
                        _settle(job.future, result, None)
                    continue
                claims = [job]
                while self._jobs and isinstance(more := self._jobs[0], _Claim):  # asked for meanwhile
                    claims.append(more)
                    self._jobs.popleft()
                doing = list(claims)
                try:
                    # As in the thread: the outcomes ready now ride along with the claims.
                    claimed = await self._store.claim([c.key for c in claims], self.take())
                except Exception as exc:  # noqa: BLE001 - every waiting claim must still be answered
                    claimed = self._failed(exc)
                _answer_claims(claims, claimed)
        except asyncio.CancelledError:
            # The loop is going away under the run: answer every waiting job and every later
            # one (the run's end among them), claim nothing more.
            self.failure = self.failure or JournalError(f"the journal writer of {self.journal.path} was cancelled")
            self._dead = True
            for job in [*doing, *self._jobs]:
                self._refuse(job)
            self._jobs.clear()
            raise


def _answer_claims(claims: Sequence[_Claim], claimed: set[str]) -> None:
    for claim in claims:
        if not claim.future.done():  # its before_send may have been cancelled meanwhile
            claim.future.set_result(claim.key in claimed)


def _settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)


class _Runner(Generic[S, R]):
    """One run of `journaled`: the state its hooks share, and one method per duty."""

    def __init__(
        self,
        journal: Store | AsyncStore,
        specs: Iterable[S] | AsyncIterable[S],
        send_many: SendMany[S, R],
        *,
        filter_size: int,
        flush_interval: float,
        flush_size: int,
        stop: asyncio.Event | None,
    ) -> None:
        self.journal = journal
        self.source = aiter_specs(specs)
        self.send_many = send_many
        self.filter_size = filter_size
        self.flush_interval = flush_interval
        self.flush_size = flush_size
        self.stop = stop
        self.requested: set[str] = set()  # before_send started and has not returned: the request has not left
        self.departed: set[str] = set()  # before_send returned (the request may have left), no outcome yet
        self.has_outcomes = asyncio.Event()
        self.full = asyncio.Event()
        self.closed = False  # the run is ending: claim nothing more
        self.prefetch: asyncio.Task[tuple[list[S], bool]] | None = None

    loop: asyncio.AbstractEventLoop
    writer: _Writer

    def stopping(self) -> bool:
        return self.closed or self.writer.failure is not None or (self.stop is not None and self.stop.is_set())

    async def before_send(self, key: str) -> None:
        """The hook: claim `key` right before its request leaves; raise if it is not ours."""
        if self.stopping() or key in self.requested or key in self.departed:  # a repeated key
            raise _NotClaimed(f"{key!r} was not claimed")
        self.requested.add(key)
        # Cancelled here, the key stays in `requested`: the run's end puts it back to pending.
        ok = await self.writer.claim(key)
        self.requested.discard(key)
        if not ok:
            raise _NotClaimed(f"{key!r} is no longer pending")
        self.departed.add(key)

    async def flush_forever(self) -> None:
        """Write the outcomes every `flush_interval` seconds, or sooner once `flush_size` wait."""
        writer = self.writer
        while True:
            await self.has_outcomes.wait()
            if writer.pending_outcomes() < self.flush_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(self.flush_interval):
                        await self.full.wait()
            self.has_outcomes.clear()
            self.full.clear()
            if writer.pending_outcomes():
                # Shielded: once asked for, a batch is written even if the run is cancelled.
                await asyncio.shield(writer.flush())

    async def next_batch(self) -> tuple[list[S], bool]:
        """Up to `filter_size` specs with distinct keys, less those the journal says are not
        pending; and whether the source is exhausted."""
        while True:
            batch: dict[str, S] = {}
            exhausted = False
            while len(batch) < self.filter_size:
                try:
                    spec = await self.source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                batch.setdefault(spec.key, spec)
            if not batch:
                return [], exhausted
            pending = await self.writer.pending(list(batch))
            kept = [spec for key, spec in batch.items() if key in pending]
            if kept or exhausted:
                return kept, exhausted

    async def feed(self) -> AsyncIterator[S]:
        """The specs the sender gets: filtered a batch ahead of the one being sent."""
        exhausted = False
        while not exhausted:
            if self.prefetch is None:
                self.prefetch = asyncio.create_task(self.next_batch())
            batch, exhausted = await self.prefetch
            self.prefetch = None if exhausted else asyncio.create_task(self.next_batch())
            for spec in batch:
                if self.stopping():
                    return
                yield spec

    async def run(self) -> AsyncGenerator[Outcome[R], None]:
        """Send, record, yield each outcome; always end the run in the journal."""
        # The threads start with the first step, so that a run never iterated leaves none behind.
        self.loop = asyncio.get_running_loop()
        journal = self.journal
        writer: _Writer
        if is_async(journal):
            self.writer = writer = _TaskWriter(journal, self.loop)
        else:
            self.writer = writer = _ThreadWriter(cast(Store, journal), self.loop)
        outcomes = self.send_many(self.feed(), self.before_send)
        tasks = [asyncio.create_task(self.flush_forever())]
        try:
            async for outcome in outcomes:
                if writer.failure is not None:
                    raise writer.failure
                if isinstance(outcome.error, _NotClaimed):
                    continue  # never sent, and not this run's to record
                self.departed.discard(outcome.key)
                writer.add(outcome)
                self.has_outcomes.set()
                if writer.pending_outcomes() >= self.flush_size:
                    self.full.set()
                yield outcome
            if writer.failure is not None:
                raise writer.failure
        finally:
            self.closed = True
            await self.end(outcomes, [*tasks, self.prefetch])

    async def end(self, outcomes: AsyncIterator[Any], tasks: Sequence[asyncio.Task[Any] | None]) -> None:
        """Stop sending, then write the run's end off the loop, whatever cancels us meanwhile."""
        writer = self.writer
        cancelled = False
        errors: list[BaseException] = []
        try:
            await outcomes.aclose()  # type: ignore[attr-defined]  # cancels the calls in flight
        except asyncio.CancelledError:
            cancelled = True
        except Exception as exc:  # noqa: BLE001 - raised once the journal is written
            errors.append(exc)
        for task in tasks:
            if task is not None:
                task.cancel()
        for task in tasks:
            if task is None:
                continue
            try:
                await asyncio.wait([task])  # `wait` itself is never cancelled by the task's own end
            except asyncio.CancelledError:
                cancelled = True
            if task.done() and not task.cancelled() and task.exception() is not None:
                errors.append(task.exception())  # type: ignore[arg-type]
        with contextlib.suppress(Exception):
            await self.source.aclose()  # type: ignore[attr-defined]
        writer.stop_reading()
        # Queued after any claim still waiting for the writer, so a key it commits is released here.
        journal, requested, departed = self.journal, self.requested, self.departed
        end = writer.submit(lambda: journal.finish(writer.take(), sorted(requested), sorted(departed)))
        writer.close()
        while not end.done():
            try:
                await asyncio.shield(end)
            except asyncio.CancelledError:
                cancelled = True  # one more transaction: the run's end must not be lost
            except Exception:  # noqa: BLE001, S110 - raised below
                pass
        if end.exception() is not None:
            errors.insert(0, end.exception())  # type: ignore[arg-type]
        if cancelled:
            raise asyncio.CancelledError
        if errors:
            raise errors[0]


def journaled(
    journal: Store | AsyncStore,
    specs: Iterable[S] | AsyncIterable[S],
    send_many: SendMany[S, R],
    *,
    filter_size: int = 256,
    flush_interval: float = 0.01,
    flush_size: int = 256,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[Outcome[R], None]:
    """Send `specs` through `send_many`, journaling every key; yield each outcome once it is
    recorded for writing.

    `send_many` receives the specs to send and a `before_send` hook to pass on, e.g.
    ``lambda specs, before_send: tc.dial_many(specs, concurrency=32, before_send=before_send)``.
    The hook claims a key (marks it ``sending``, durably) once the rate limiter granted its call
    and right before its request leaves; the claims asked for while one is being committed are
    committed together in the next transaction, with the outcomes ready by then. So after a
    crash, the keys left ``sending`` (reported ``unknown`` by the next run) are at most the calls
    that were in flight.

    Only keys the journal holds as ``pending`` are sent (and, until `Journal.load` has run, keys
    it does not hold yet): specs are checked against the journal `filter_size` at a time (reads
    only) before they reach `send_many`, so that the others never take a rate-limiter slot; a
    key that is no longer pending when its claim comes (a repeated key) is not sent, and yields
    nothing. Outcomes are written every `flush_interval` seconds or `flush_size` outcomes (or
    sooner, with the next claim), and all of them before this generator ends.

    Setting `stop` ends the run cleanly: nothing new is sent, the calls in flight finish.
    Closing the generator early (or cancelling it) cancels the calls in flight: a key claimed
    whose request never left is ``pending`` again, a key whose request may have left is
    ``unknown``. Use it under ``contextlib.aclosing`` so that happens promptly.

    Raises:
        JournalError: the journal could not be written (nothing more is sent).
    """
    runner = _Runner(
        journal,
        specs,
        send_many,
        filter_size=filter_size,
        flush_interval=flush_interval,
        flush_size=flush_size,
        stop=stop,
    )
    return runner.run()
