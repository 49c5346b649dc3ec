"""The blocking facade's engine: one background event loop per process, started lazily.

The loop runs an anyio `BlockingPortal` in a daemon thread. It is started by the first blocking
call (never at import), re-created in a child after `os.fork()` (checked by PID), refuses calls
made from its own thread (they would deadlock), cancels the coroutine in flight on Ctrl-C, and at
interpreter exit closes every client still open on it before stopping.
"""

from __future__ import annotations

import asyncio
import atexit
import concurrent.futures
import contextlib
import copy
import os
import threading
import time
import weakref
from collections import deque
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Awaitable,
    Callable,
    Generator,
    Iterable,
    Iterator,
    Sequence,
)
from concurrent.futures import Future
from typing import TYPE_CHECKING, Any, Generic, Protocol, Self, TypeVar

import anyio

from ._config import NOT_GIVEN, NotGiven, RetryPolicy, Timeout
from .errors import UsageError

if TYPE_CHECKING:
    from anyio.from_thread import BlockingPortal

    from ._base_client import RetryEvent

__all__ = [
    "BlockingClient",
    "LoopThread",
    "call",
    "iterate",
    "iterate_batches",
    "iterate_bulk",
    "loop_thread",
    "read_in_thread",
    "register",
]

T = TypeVar("T")
S = TypeVar("S")


class LoopThread:
    """A daemon thread running an event loop with a `BlockingPortal` on it."""

    def __init__(self) -> None:
        self.pid = os.getpid()
        self._ready = threading.Event()
        self._portal: BlockingPortal | None = None
        self._error: BaseException | None = None
        self.loop: asyncio.AbstractEventLoop | None = None
        self.thread = threading.Thread(target=self._run, name="voicekit-loop", daemon=True)
        self.thread.start()
        self._ready.wait()
        if self._error is not None:
            raise UsageError("the voicekit event loop thread failed to start") from self._error

    def _run(self) -> None:
        # Imported here: only the blocking facade needs it, and it is a tenth of voicekit's import.
        from anyio.from_thread import BlockingPortal

        async def main() -> None:
            async with BlockingPortal() as portal:
                self._portal = portal
                self.loop = asyncio.get_running_loop()
                self._ready.set()
                await portal.sleep_until_stopped()

        try:
            anyio.run(main)
        except BaseException as exc:  # noqa: BLE001 - reported to the starting thread
            self._error = exc
            self._ready.set()

    @property
    def portal(self) -> BlockingPortal:
        assert self._portal is not None
        return self._portal

    def alive(self) -> bool:
        return self.pid == os.getpid() and self.thread.is_alive()

    def shutdown(self) -> None:
        """Stop the loop (best effort, bounded: exit never hangs on it)."""
        if not self.alive() or self._portal is None:
            return
        try:
            self.portal.start_task_soon(self.portal.stop, True).result(timeout=5)
        except BaseException:  # noqa: BLE001 - at exit, never hang or raise
            pass
        self.thread.join(timeout=5)


_lock = threading.Lock()
_current: LoopThread | None = None
# Set when the interpreter exits: calls cancelled by the loop's shutdown then belong to daemon
# threads (the others were joined before exit handlers run), which are parked, not failed.
_exiting = threading.Event()


def _after_fork_in_child() -> None:
    # A lock held by another thread at fork() stays held forever in the child.
    global _lock
    _lock = threading.Lock()


os.register_at_fork(after_in_child=_after_fork_in_child)


def _park_if_exiting() -> None:
    """Block a daemon thread whose call the exit cut short; it is discarded with the process.

    Raising instead would print a traceback from that thread while the interpreter exits.
    """
    if _exiting.is_set() and threading.current_thread() is not threading.main_thread():
        threading.Event().wait()


def loop_thread() -> LoopThread:
    """The process's loop thread, started (or re-started after a fork) on demand."""
    global _current
    current = _current
    if current is not None and current.alive():
        return current
    with _lock:
        if _current is None or not _current.alive():
            _current = LoopThread()
        return _current


def _close(resource: Any) -> None:
    lt = _current
    if lt is None or not lt.alive() or lt.loop is None:
        return
    if threading.current_thread() is lt.thread:
        loop = lt.loop
        loop.call_soon(lambda: loop.create_task(resource.aclose()))
        return
    try:
        lt.portal.start_task_soon(resource.aclose).result(timeout=5)
    except BaseException:  # noqa: BLE001 - a finalizer must not raise
        pass


def register(owner: object, resource: Any) -> None:
    """Close `resource` (an object with ``aclose()``) on the loop when `owner` is collected.

    This is how a blocking client that was never closed leaves no "Unclosed client session"
    warning behind, at garbage collection or at interpreter exit.
    """
    global _exit_marked
    weakref.finalize(owner, _close, resource)
    if not _exit_marked:
        # Exit handlers run last-registered first: registered after weakref's own, this marks
        # the exit before the finalizers close sessions under calls still in flight.
        atexit.register(_exiting.set)
        _exit_marked = True


_exit_marked = False


@atexit.register
def _shutdown_at_exit() -> None:
    _exiting.set()
    current = _current
    if current is not None:
        current.shutdown()


def _check_thread(lt: LoopThread) -> None:
    if threading.current_thread() is lt.thread:
        raise UsageError(
            "a blocking voicekit client was called from voicekit's own event loop thread, which "
            "would deadlock; inside async code use the async client (e.g. AsyncTeleCMI)"
        )


def _wait(future: Future[T]) -> T:
    try:
        return future.result()
    except KeyboardInterrupt:
        # Ctrl-C: cancel the coroutine in flight, then let the interrupt propagate.
        future.cancel()
        raise
    except BaseException:
        # Whatever the loop's shutdown at exit did to this call (cancelled it, closed its
        # connection), the caller is a daemon thread about to be discarded.
        _park_if_exiting()
        raise


def call(fn: Callable[..., Awaitable[T]], *args: Any) -> T:
    """Run the coroutine function `fn(*args)` on the loop thread and block for its result."""
    lt = loop_thread()
    _check_thread(lt)
    assert lt.loop is not None
    # Straight onto the loop rather than through the portal's task group: measured, the portal's
    # spawn cost 160 us more per call, more than the thread hop itself.
    return _wait(asyncio.run_coroutine_threadsafe(_awaited(fn, args), lt.loop))


async def _awaited(fn: Callable[..., Awaitable[T]], args: tuple[Any, ...]) -> T:
    return await fn(*args)


# A blocking consumer is woken once this many batches wait, else after at most one tick.
_WAKE_AFTER = 64
_TICK = 0.01


class _Pipe:
    """Batches handed from the loop thread to one blocking consumer, at most `ahead` waiting.

    The loop pushes batches as they come; the consumer takes every waiting batch at once, and
    wakes the loop only when it empties a full pipe. So a consumer costs at most one thread
    wake-up per batch, and fewer the more the loop runs ahead of it.
    """

    def __init__(self, ahead: int) -> None:
        self.ahead = ahead
        self.batches: deque[Any] = deque()
        self.cond = threading.Condition()
        self.done = False
        self.cancelled = False
        self.error: BaseException | None = None
        self.room: asyncio.Event | None = None
        self.loop: asyncio.AbstractEventLoop | None = None

    async def pump(self, it: AsyncIterator[Any]) -> None:
        self.loop = asyncio.get_running_loop()
        room = self.room = asyncio.Event()
        try:
            async for batch in it:
                with self.cond:
                    self.batches.append(batch)
                    waiting = len(self.batches)
                    full = waiting >= self.ahead
                    if full:
                        room.clear()
                    if waiting >= _WAKE_AFTER or full:
                        self.cond.notify()
                if full:
                    await room.wait()
        except asyncio.CancelledError:
            self.cancelled = True
            raise
        except BaseException as exc:  # noqa: BLE001 - handed to the consumer, who re-raises it
            self.error = exc
        finally:
            try:
                aclose = getattr(it, "aclose", None)
                if aclose is not None:
                    await aclose()
            finally:
                with self.cond:
                    self.done = True
                    self.cond.notify()

    def take(self) -> list[Any] | None:
        """Every batch waiting (at least one), or None once the iterator is exhausted."""
        with self.cond:
            while not self.batches and not self.done:
                # Woken early when batches pile up; otherwise collect what came within a tick:
                # each wake-up costs a thread switch, so fewer, fuller hand-overs are faster.
                self.cond.wait(_TICK)
            if not self.batches:
                if self.error is not None or self.cancelled:
                    _park_if_exiting()  # the exit cut the iteration short: see `_wait`
                if self.error is not None:
                    raise self.error
                if self.cancelled:
                    raise concurrent.futures.CancelledError()
                return None
            was_full = len(self.batches) >= self.ahead
            batches = list(self.batches)
            self.batches.clear()
        if was_full and self.loop is not None and self.room is not None:
            self.loop.call_soon_threadsafe(self.room.set)
        return batches


def iterate_batches(
    it: AsyncIterator[Any], unpack: Callable[[Any], Iterable[T]], *, ahead: int = 128
) -> Generator[T, None, None]:
    """Iterate, from blocking code, an async iterator of batches; yield each batch's items.

    `it` is built by the caller (an async generator runs nothing until it is iterated) and
    iterated on the loop in a task of its own, at most `ahead` batches ahead of the
    consumer (memory stays bounded); the thread boundary is crossed at most once per batch (a page
    of records, a group of outcomes), never once per item, and less often when batches pile up.
    Stopping early, or Ctrl-C, cancels the task and closes the iterator on the loop.
    """
    lt = loop_thread()
    _check_thread(lt)
    pipe = _Pipe(ahead)
    task = lt.portal.start_task_soon(pipe.pump, it)
    try:
        while (batches := pipe.take()) is not None:
            for batch in batches:
                yield from unpack(batch)
    finally:
        if not task.done():
            task.cancel()
        with contextlib.suppress(BaseException):
            concurrent.futures.wait([task], timeout=10)


def _single(item: T) -> tuple[T]:
    return (item,)


def iterate(it: AsyncIterator[T], *, ahead: int = 128) -> Iterator[T]:
    """Iterate, from blocking code, the async iterator `it` (built by the caller), item by item.

    The blocking twin of every method that returns an async iterator: `it` runs on the loop
    (see `iterate_batches`), and its items cross threads in batches of whatever is waiting,
    at most `ahead` items ahead of the consumer.
    """
    return iterate_batches(it, _single, ahead=ahead)


# A sync iterable's items are read off the loop thread in batches of at most this many (or of
# what came within a tick), one thread hand-over per batch.
_READ_TICK = _TICK


def _read(it: Iterator[S], most: int) -> tuple[list[S], BaseException | None, bool]:
    """Up to `most` items of `it`, fewer if a tick passed once one came; the error that ended
    it, if any; whether it ended. Runs in the reading thread."""
    items: list[S] = []
    started = time.monotonic()
    try:
        while len(items) < most:
            items.append(next(it))
            if time.monotonic() - started >= _READ_TICK:
                break
    except StopIteration:
        return items, None, True
    except Exception as exc:  # noqa: BLE001 - raised on the loop once the items before it are used
        return items, exc, True
    return items, None, False


async def read_in_thread(specs: Iterable[S], batch: int) -> AsyncGenerator[S, None]:
    """Iterate a sync iterable on the loop without running it there: a thread of its own reads it.

    A user's iterable may block (a database cursor, a file on a slow disk, a generator that
    sleeps); on voicekit's one loop thread that would stall every blocking client of the
    process. Its items are read in batches of up to `batch`, one batch ahead of what was used,
    so a fast iterable costs one thread hand-over per batch, and a slow one hands each item over
    as it comes. The iterable is only ever advanced by that one thread; closing this generator
    stops reading (an item being read when it closes is dropped: it was never used).
    """
    loop = asyncio.get_running_loop()
    reader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicekit-specs")
    try:
        it = await loop.run_in_executor(reader, iter, specs)
        pending = loop.run_in_executor(reader, _read, it, batch)
        while True:
            items, error, ended = await pending
            if not ended:
                pending = loop.run_in_executor(reader, _read, it, batch)
            for item in items:
                yield item
            if error is not None:
                raise error
            if ended:
                return
    finally:
        reader.shutdown(wait=False, cancel_futures=True)


async def _in_memory(specs: Sequence[S]) -> AsyncGenerator[S, None]:
    for spec in specs:
        yield spec


def iterate_bulk(
    run: Callable[[AsyncIterable[S]], AsyncIterator[T]],
    specs: Iterable[S] | AsyncIterable[S],
    batch: int,
) -> Iterator[T]:
    """Run a bulk sender for blocking code: `run(specs)` on the loop, its outcomes back here.

    `run` is the async client's own bulk method (`dial_many`, `notify_many`); its outcomes
    cross threads in batches of whatever is ready (`iterate`), never one by one. A sync `specs`
    is read in a thread of its own (`read_in_thread`), never on the loop thread, which every
    blocking client of the process shares; a plain list or tuple, already in memory, is read
    on the loop.
    """

    async def outcomes() -> AsyncGenerator[T, None]:
        source: AsyncIterable[S]
        reader: AsyncGenerator[S, None] | None = None
        if isinstance(specs, AsyncIterable):
            source = specs
        elif type(specs) in (list, tuple):
            # Already in memory: iterating it cannot block the loop, and a thread would cost a
            # hand-over per batch (benchmark row 3d).
            source = _in_memory(specs)  # type: ignore[arg-type]
        else:
            source = reader = read_in_thread(specs, batch)
        sent = run(source)
        try:
            async for outcome in sent:
                yield outcome
        finally:
            try:
                aclose = getattr(sent, "aclose", None)
                if aclose is not None:
                    await aclose()
            finally:
                if reader is not None:
                    await reader.aclose()

    return iterate(outcomes())


class _AsyncClient(Protocol):
    async def aclose(self) -> None: ...


A = TypeVar("A", bound=_AsyncClient)


class BlockingClient(Generic[A]):
    """What every blocking client shares: the async twin it drives, `close()` and ``with``.

    A subclass builds its async twin in ``__init__`` (with the twin's own keywords, so both
    signatures stay the same) and hands it here; each of its methods is one line that runs the
    twin's coroutine on the loop thread.
    """

    def __init__(self, client: A) -> None:
        self._async = client
        register(self, client)

    def __repr__(self) -> str:
        # The twin's repr under this class's name: "AsyncTeleCMI(appid=...)" -> "TeleCMI(appid=...)".
        text = repr(self._async)
        twin = type(self._async).__name__
        return type(self).__name__ + text[len(twin) :] if text.startswith(twin) else text

    def close(self) -> None:
        """Close the connection pool (on the loop that owns it)."""
        call(self._async.aclose)

    def with_options(
        self,
        *,
        timeout: Timeout | float | None | NotGiven = NOT_GIVEN,
        retry: RetryPolicy | None | NotGiven = NOT_GIVEN,
        on_retry: Callable[[RetryEvent], object] | None | NotGiven = NOT_GIVEN,
    ) -> Self:
        """A client like this one with other timeouts, another retry policy or a retry hook,
        sharing its connection pool and rate limiter (see the async client's `with_options`;
        `on_retry` runs on voicekit's loop thread)."""
        clone = copy.copy(self)
        clone._async = self._async.with_options(timeout=timeout, retry=retry, on_retry=on_retry)  # type: ignore[attr-defined]
        return clone

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
