"""The runner: drives a bulk sender through a journal, claiming each key as it leaves.

A run has one writer (a task: every write, in order; claims asked for during a transaction are
committed together in the next one, with the outcomes ready by then) and a filter that keeps
keys that are not pending away from the sender and its rate limiter.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import time
from collections.abc import AsyncGenerator, AsyncIterable, AsyncIterator, Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, Generic, Protocol, TypeVar

import attrs

from .. import _observe
from .._bulk import Outcome, aiter_specs
from .._sending import BeforeSend
from .._tasks import settle
from ..errors import JournalError, VoiceKitError
from ..telecmi import Dial
from ._store import AsyncStore

if TYPE_CHECKING:
    from ._blocking import Journal

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
    __slots__ = ("fn", "future")

    def __init__(self, fn: Callable[[], Awaitable[Any]], future: asyncio.Future[Any]) -> None:
        self.fn = fn
        self.future = future


class _Writer:
    """A run's one writer: a task that makes every write to the journal, in the order asked.

    Claims asked for while a transaction is under way are committed together in the next one,
    with the outcomes that are ready by then; the writer goes from one claim transaction to the
    next on its own. Waiting for anything else between them would cost more than the commit
    itself on a busy machine: a claim is on the path of every call. The database's driver (or
    the SQLite store's own thread) waits for the commit without blocking the event loop.
    """

    def __init__(self, journal: AsyncStore, loop: asyncio.AbstractEventLoop) -> None:
        self.journal = journal
        self.failure: JournalError | None = None
        self._loop = loop
        self._ready: list[Outcome[Any]] = []  # outcomes to write, taken by the next transaction
        self._jobs: collections.deque[_Claim | _Call | None] = collections.deque()
        self._wake = asyncio.Event()
        self._dead = False
        self._task = loop.create_task(self._run(), name="voicekit-journal")

    async def pending(self, keys: list[str]) -> set[str]:
        """The filter's read: the keys among `keys` that this run may claim."""
        return await self.journal.pending(keys)

    def claim(self, key: str) -> asyncio.Future[bool]:
        """Claim `key` in the next transaction; the future says whether it was pending."""
        future: asyncio.Future[bool] = self._loop.create_future()
        self._put(_Claim(key, future))
        return future

    def add(self, outcome: Outcome[Any]) -> None:
        """Queue an outcome for the next transaction (a claim's, or `flush`'s)."""
        self._ready.append(outcome)

    def pending_outcomes(self) -> int:
        return len(self._ready)

    def take(self) -> list[Outcome[Any]]:
        ready, self._ready = self._ready, []
        return ready

    def flush(self) -> asyncio.Future[None]:
        """Write the outcomes queued so far (after the jobs already asked for)."""
        return self.submit(lambda: self.journal.record(self.take()))

    def submit(self, fn: Callable[[], Awaitable[Any]]) -> asyncio.Future[Any]:
        """Await ``fn()`` after the jobs already asked for."""
        future: asyncio.Future[Any] = self._loop.create_future()
        self._put(_Call(fn, future))
        return future

    def close(self) -> None:
        """End the writer once the jobs already asked for are done."""
        self._put(None)

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
            settle(job.future, None, self.failure)

    def _failed(self, exc: Exception) -> set[str]:
        """A claim transaction failed: nothing more is sent; no key of it was claimed."""
        if isinstance(exc, JournalError):
            self.failure = exc
        else:
            self.failure = JournalError(f"cannot claim in the journal {self.journal.path}: {exc!r}")
        return set()

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
                        result = await job.fn()
                    except Exception as exc:  # noqa: BLE001 - handed to the awaiting task
                        settle(job.future, None, exc)
                    else:
                        settle(job.future, result, None)
                    continue
                claims = [job]
                while self._jobs and isinstance(more := self._jobs[0], _Claim):  # asked for meanwhile
                    claims.append(more)
                    self._jobs.popleft()
                doing = list(claims)
                try:
                    # Outcomes ready now ride along: once a claim commits, every call that has
                    # finished is recorded, so what a crash leaves "sending" was in flight.
                    started = time.perf_counter()
                    claimed = await self.journal.claim([c.key for c in claims], self.take())
                    if _observe.sink is not None:
                        _observe.sink.claim(time.perf_counter() - started, len(claims))
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


class _Runner(Generic[S, R]):
    """One run of `journaled`: the state its hooks share, and one method per duty."""

    def __init__(
        self,
        journal: AsyncStore | Journal,
        specs: Iterable[S] | AsyncIterable[S],
        send_many: SendMany[S, R],
        *,
        filter_size: int,
        flush_interval: float,
        flush_size: int,
        stop: asyncio.Event | None,
        batches: AsyncIterator[Sequence[S]] | None = None,
    ) -> None:
        self.given = journal
        self.source = aiter_specs(specs)
        self.batches = batches
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
    journal: AsyncStore

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
            if self.batches is not None:  # the source's own batches: never wait to fill one
                try:
                    for spec in await self.batches.__anext__():
                        batch.setdefault(spec.key, spec)
                except StopAsyncIteration:
                    exhausted = True
            while self.batches is None and len(batch) < self.filter_size:
                try:
                    spec = await self.source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                batch.setdefault(spec.key, spec)
            if not batch:
                return [], exhausted
            pending = await self.writer.pending(list(batch))
            kept = [_stamped(spec, self.journal.campaign_id) for key, spec in batch.items() if key in pending]
            if kept or exhausted:
                return kept, exhausted

    async def feed(self) -> AsyncIterator[S]:
        """The specs the sender gets: filtered a batch ahead of the one being sent."""
        exhausted = False
        while not exhausted:
            if self.prefetch is None:
                self.prefetch = asyncio.create_task(self.next_batch())
            if self.stop is not None and not self.prefetch.done():
                # The source may wait long (rows waiting for their calling window): a stop
                # must not wait for it.
                stopped = asyncio.ensure_future(self.stop.wait())
                try:
                    await asyncio.wait([self.prefetch, stopped], return_when=asyncio.FIRST_COMPLETED)
                finally:
                    stopped.cancel()
                if not self.prefetch.done():
                    return
            batch, exhausted = await self.prefetch
            self.prefetch = None if exhausted else asyncio.create_task(self.next_batch())
            for spec in batch:
                if self.stopping():
                    return
                yield spec

    async def run(self) -> AsyncGenerator[Outcome[R], None]:
        """Send, record, yield each outcome; always end the run in the journal."""
        # The writer starts with the first step, so that a run never iterated leaves no task behind.
        from ._blocking import as_async

        self.loop = asyncio.get_running_loop()
        self.journal = as_async(self.given)
        self.writer = writer = _Writer(self.journal, self.loop)
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
        if self.batches is not None:
            with contextlib.suppress(Exception):
                await self.batches.aclose()  # type: ignore[attr-defined]
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


def _stamped(spec: S, campaign_id: str) -> S:
    """A TeleCMI call of this campaign carries its id (in ``extra_params``, see `Dial.body`)."""
    if isinstance(spec, Dial) and spec.campaign != campaign_id:
        return attrs.evolve(spec, campaign=campaign_id)
    return spec


def journaled(
    journal: AsyncStore | Journal,
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

    Only keys the journal holds as ``pending`` are sent (`load` the campaign first): specs are
    checked against the journal `filter_size` at a time (on a shared journal, free rows among
    them are taken for this worker) before they reach `send_many`, so that the others never
    take a rate-limiter slot; each TeleCMI call is given the campaign's id; a
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


def journaled_batches(
    journal: AsyncStore | Journal,
    batches: AsyncIterator[Sequence[S]],
    send_many: SendMany[S, R],
    *,
    stop: asyncio.Event | None = None,
) -> AsyncGenerator[Outcome[R], None]:
    """`journaled`, fed a batch at a time (a journal's `spec_batches`): a batch goes to the
    sender as soon as it comes, however small."""
    runner = _Runner(
        journal, (), send_many, filter_size=1, flush_interval=0.01, flush_size=256, stop=stop, batches=batches
    )
    return runner.run()
