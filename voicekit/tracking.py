"""Follow each call to its end: webhooks go in, an app awaits the outcome ("did they answer?").

A `CallTracker` is fed by the webhook handlers and awaited from anywhere in the process::

    tracker = CallTracker()
    app.router.add_post("/telecmi", telecmi_webhook_handler(tracker.feed))      # aiohttp
    app.router.add_post("/huawei", huawei_release_handler(tracker.feed))

    call = await tc.play_music(from_=..., to=..., file_name="welcome.wav")
    end = await tracker.wait(call.request_id, timeout=120)                    # a CallEnd
    end.outcome, end.duration, end.hangup_reason, end.record

    async for item in tracker.events(call.request_id, timeout=120):           # live events,
        ...                                                                    # then the CallEnd

    end = tracker.wait_blocking(request_id, timeout=120)                      # blocking code

A call is keyed by what the placing request returned: TeleCMI's ``request_id`` (its ``cmiuuid``
when a webhook has no ``request_id``, as for inbound calls) or Huawei's ``callSerialNo``. A
TeleCMI call ends with its call record (``type: "cdr"`` of leg ``a``); a Huawei notification with
its release event. Webhooks that arrive before anyone waits are kept, so a call that ends before
``wait`` is called is still seen; the first end wins and resends of it are ignored.

Memory is bounded: the default `InMemoryTrackerStore` forgets a call `ttl` seconds after its last
webhook (whether or not anyone awaited it), holds at most `max_calls` calls (the oldest go
first) and at most `max_entries_per_call` webhooks per call (the end is always kept).

Several worker processes (gunicorn, uvicorn ``--workers``) share calls through a store of your
own that implements `TrackerStore` over a shared service: the webhook may reach one worker while
the request that placed the call waits in another. With Redis, for example: ``append`` is a Lua
script that refuses entries once a final one is stored, then ``RPUSH voicekit:call:<key>
<entry>``, ``EXPIRE`` (the ttl) and ``PUBLISH voicekit:call:<key>``; ``read`` is ``LRANGE
voicekit:call:<key> <after> -1``, and when that is empty it waits for the channel's message (or
polls every few hundred milliseconds) until `max_wait` has passed. Entries are opaque bytes: store them as
they are.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import json
import threading
import time
from collections import OrderedDict
from collections.abc import AsyncGenerator, Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeAlias

import attrs

from . import _sync
from ._validate import check_int_range, check_number
from .errors import CallTrackingTimeout, ValidationError
from .webhooks import (
    CallOutcome,
    CallVerdict,
    HuaweiReleaseEvent,
    TeleCMICdr,
    TeleCMIEvent,
    call_end,
    parse_huawei_release_event,
    parse_telecmi_webhook,
)

__all__ = [
    "CallEnd",
    "CallEvent",
    "CallOutcome",
    "CallTracker",
    "CallTrackingTimeout",
    "InMemoryTrackerStore",
    "TrackerStore",
    "Webhook",
]

#: What the tracker is fed: a TeleCMI call record or event, or a Huawei release event.
Webhook: TypeAlias = TeleCMICdr | TeleCMIEvent | HuaweiReleaseEvent

# A wait longer than a day is a mistake, not a phone call.
_MAX_WAIT = 86_400.0
_MAX_KEY_LEN = 256


@attrs.frozen(kw_only=True)
class CallEvent:
    """One live webhook of a call that has not ended yet (e.g. TeleCMI ``started``, ``answered``)."""

    key: str
    vendor: str
    """``"telecmi"`` or ``"huawei"``."""
    status: str | None
    cmiuuid: str | None
    webhook: Webhook = attrs.field(repr=False)


@attrs.frozen(kw_only=True)
class CallEnd:
    """The end of a call: its outcome, times, durations and the final record.

    Everything but `key` and `record` is the webhook's `voicekit.webhooks.CallVerdict`, the one
    verdict the campaign journal records too (`voicekit.webhooks.call_end` has the rules).

    Attributes:
        key: the ``request_id`` (or ``cmiuuid``) / ``callSerialNo`` it was tracked under.
        vendor: ``"telecmi"`` or ``"huawei"``.
        outcome: answered, missed or failed.
        duration: seconds of talk, as billed (0 when not answered; ``None`` when the vendor did
            not say).
        hangup_reason: TeleCMI ``hangup_reason`` or Huawei ``releaseReason`` (as text).
        record: the final webhook: a `TeleCMICdr` or a `HuaweiReleaseEvent`.
    """

    key: str
    vendor: str
    outcome: CallOutcome
    request_id: str | None
    cmiuuid: str | None
    started_at: dt.datetime | None
    answered_at: dt.datetime | None
    ended_at: dt.datetime | None
    duration: int | None
    hangup_reason: str | None
    record: TeleCMICdr | HuaweiReleaseEvent = attrs.field(repr=False)

    @property
    def answered(self) -> bool:
        """Whether somebody answered."""
        return self.outcome is CallOutcome.ANSWERED


class TrackerStore(Protocol):
    """Where a `CallTracker` keeps each call's webhooks: one append-only log per call key.

    Implement it over a shared service so that several processes track the same calls (see the
    module docstring). Both methods may be called from any event loop.
    """

    async def append(self, key: str, entry: bytes, *, final: bool) -> bool:
        """Append `entry` to `key`'s log; a `final` entry closes it.

        Returns ``False``, storing nothing, when the log is already closed (a resend of the end)
        or full. Must be atomic with respect to other appends to the same key.
        """
        ...

    async def read(self, key: str, after: int, max_wait: float) -> list[bytes]:
        """The entries of `key`'s log from index `after` on, waiting up to `max_wait` seconds for
        at least one; ``[]`` when none arrived in time."""
        ...


@dataclass
class _Log:
    entries: list[bytes] = field(default_factory=list)
    closed: bool = False
    expires: float = 0.0


_Waiter: TypeAlias = "tuple[asyncio.AbstractEventLoop, asyncio.Future[None]]"


def _wake(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)


class InMemoryTrackerStore:
    """A `TrackerStore` in this process's memory, usable from any thread and any event loop.

    Args:
        ttl: seconds a call is remembered after its last webhook.
        max_calls: the most calls held at once; the least recently fed is forgotten first.
        max_entries_per_call: the most webhooks kept per call; later live events are dropped,
            the final record is always kept.
        clock: a monotonic clock in seconds (tests pass a fake one).

    Raises:
        ValidationError: a bound is not positive.
    """

    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        max_calls: int = 100_000,
        max_entries_per_call: int = 64,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._ttl = check_number("ttl", ttl, 0.0, _MAX_WAIT * 30, lo_open=True)
        self._max_calls = check_int_range("max_calls", max_calls, 1)
        self._max_entries = check_int_range("max_entries_per_call", max_entries_per_call, 2)
        self._clock = clock
        self._logs: OrderedDict[str, _Log] = OrderedDict()  # least recently fed first
        self._waiters: dict[str, list[_Waiter]] = {}
        # A threading lock, never held across an await: feeders and waiters may be on different
        # loops (a web app's and voicekit's blocking-facade loop).
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._logs)

    async def append(self, key: str, entry: bytes, *, final: bool) -> bool:
        """See `TrackerStore.append`."""
        with self._lock:
            now = self._clock()
            self._expire(now)
            log = self._logs.get(key)
            if log is None:
                log = self._logs[key] = _Log()
                if len(self._logs) > self._max_calls:
                    self._logs.popitem(last=False)
            if log.closed or (not final and len(log.entries) >= self._max_entries - 1):
                return False
            log.entries.append(entry)
            log.closed = final
            log.expires = now + self._ttl
            self._logs.move_to_end(key)
            waiters = self._waiters.pop(key, [])
        for loop, future in waiters:
            try:
                loop.call_soon_threadsafe(_wake, future)
            except RuntimeError:  # that loop is closed: nobody is waiting there any more
                pass
        return True

    async def read(self, key: str, after: int, max_wait: float) -> list[bytes]:
        """See `TrackerStore.read`."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + max_wait
        while True:
            with self._lock:
                self._expire(self._clock())
                log = self._logs.get(key)
                if log is not None and len(log.entries) > after:
                    return log.entries[after:]
                remaining = deadline - loop.time()
                if remaining <= 0:
                    return []
                future: asyncio.Future[None] = loop.create_future()
                waiter = (loop, future)
                self._waiters.setdefault(key, []).append(waiter)
            try:
                await asyncio.wait_for(future, remaining)
            except TimeoutError:
                pass
            finally:
                with self._lock:
                    pending = self._waiters.get(key)
                    if pending is not None and waiter in pending:
                        pending.remove(waiter)
                        if not pending:
                            del self._waiters[key]

    def _expire(self, now: float) -> None:
        # Every touch moves a call to the end with the same ttl: the front expires first.
        logs = self._logs
        while logs:
            key, log = next(iter(logs.items()))
            if log.expires > now:
                break
            del logs[key]


def _check_key(key: Any) -> str:
    if not isinstance(key, str) or not key.strip() or len(key) > _MAX_KEY_LEN:
        raise ValidationError("key", f"must be a request id (a non-empty string of at most {_MAX_KEY_LEN} characters)")
    return key


def _check_timeout(timeout: Any) -> float:
    return check_number("timeout", timeout, 0.0, _MAX_WAIT, lo_open=True)


def _call_end(key: str, verdict: CallVerdict, record: TeleCMICdr | HuaweiReleaseEvent) -> CallEnd:
    return CallEnd(
        key=key,
        vendor=verdict.vendor,
        outcome=verdict.outcome,
        request_id=verdict.request_id,
        cmiuuid=verdict.cmiuuid,
        started_at=verdict.started_at,
        answered_at=verdict.answered_at,
        ended_at=verdict.ended_at,
        duration=verdict.billed_seconds,
        hangup_reason=verdict.hangup_reason,
        record=record,
    )


class CallTracker:
    """Collects call webhooks and lets any code in the process await a call's end.

    Args:
        store: where webhooks are kept; by default an `InMemoryTrackerStore` (one process).
        huawei_tz: the zone of Huawei's wall-clock times (see `parse_huawei_release_event`).
    """

    def __init__(self, *, store: TrackerStore | None = None, huawei_tz: dt.tzinfo = dt.UTC) -> None:
        if store is not None and not (
            callable(getattr(store, "append", None)) and callable(getattr(store, "read", None))
        ):
            raise ValidationError("store", "must implement voicekit.tracking.TrackerStore (append and read)")
        self.store: TrackerStore = InMemoryTrackerStore() if store is None else store
        self._tz = huawei_tz

    def __repr__(self) -> str:
        return f"CallTracker(store={type(self.store).__name__})"

    # -- feeding -------------------------------------------------------------------------------

    async def feed(self, webhook: Webhook) -> None:
        """Record one webhook; pass it as the callback of a webhook handler.

        A webhook that `voicekit.webhooks.call_end` calls a call's end (a TeleCMI call record of
        leg ``a`` or without a leg, a Huawei release event) ends its call; resends of an end are
        ignored.

        Raises:
            ValidationError: the webhook is not one voicekit parsed, or cannot be tied to a call.
        """
        if isinstance(webhook, HuaweiReleaseEvent):
            key, vendor = webhook.call_serial_no, "huawei"
        elif isinstance(webhook, TeleCMICdr | TeleCMIEvent):
            key, vendor = webhook.request_id or webhook.cmiuuid or "", "telecmi"
        else:
            raise ValidationError("webhook", f"must be a parsed voicekit webhook, got {type(webhook).__name__}")
        final = call_end(webhook) is not None
        try:
            # The parser lets only plain JSON into `raw`, so a parsed webhook always encodes;
            # allow_nan=False keeps a hand-built one from storing what no JSON reader (another
            # worker's) could read back.
            entry = json.dumps({"vendor": vendor, "payload": dict(webhook.raw)}, separators=(",", ":"), allow_nan=False)
        except (TypeError, ValueError) as exc:
            raise ValidationError(
                "webhook", "its raw payload is not plain JSON: pass a webhook voicekit parsed"
            ) from exc
        await self.store.append(_check_key(key), entry.encode(), final=final)

    def feed_blocking(self, webhook: Webhook) -> None:
        """Blocking `feed`, for webhooks received by blocking code (e.g. a Django view)."""
        _sync.call(self.feed, webhook)

    # -- waiting -------------------------------------------------------------------------------

    # A required timeout, not an optional asyncio.timeout() around the call: no wait is unbounded.
    async def wait(self, key: str, *, timeout: float) -> CallEnd:  # noqa: ASYNC109
        """Wait until the call `key` ends and return how.

        Raises:
            ValidationError: bad `key` or `timeout`.
            CallTrackingTimeout: no end arrived within `timeout` seconds.
        """
        async with contextlib.aclosing(self.events(key, timeout=timeout)) as events:
            async for item in events:
                if isinstance(item, CallEnd):
                    return item
        raise AssertionError("events() ends with a CallEnd or raises")  # pragma: no cover

    def wait_blocking(self, key: str, *, timeout: float) -> CallEnd:
        """Blocking `wait`: from threads, notebooks, Django views (not from voicekit's loop)."""
        _check_key(key)
        _check_timeout(timeout)
        return _sync.call(lambda: self.wait(key, timeout=timeout))

    async def events(self, key: str, *, timeout: float) -> AsyncGenerator[CallEvent | CallEnd, None]:  # noqa: ASYNC109
        """Yield the call's webhooks as they come, from its first: `CallEvent` items, then its
        `CallEnd`, after which the iteration stops.

        Raises:
            ValidationError: bad `key` or `timeout` (when iteration starts).
            CallTrackingTimeout: the call did not end within `timeout` seconds.
        """
        _check_key(key)
        limit = _check_timeout(timeout)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + limit
        seen = 0
        while True:
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise CallTrackingTimeout(key, limit)
            entries = await self.store.read(key, seen, remaining)
            for raw in entries:
                seen += 1
                item = self._decode(key, raw)
                yield item
                if isinstance(item, CallEnd):
                    return

    async def cmiuuid(self, key: str, *, timeout: float) -> str:  # noqa: ASYNC109
        """The ``cmiuuid`` of TeleCMI call `key` (what call control needs), from its first webhook.

        Raises:
            CallTrackingTimeout: no webhook carrying it arrived within `timeout` seconds.
        """
        async with contextlib.aclosing(self.events(key, timeout=timeout)) as events:
            async for item in events:
                if item.cmiuuid:
                    return item.cmiuuid
        raise CallTrackingTimeout(key, timeout)

    def _decode(self, key: str, raw: bytes) -> CallEvent | CallEnd:
        data = json.loads(raw)
        payload = data["payload"]
        if data["vendor"] == "huawei":
            event = parse_huawei_release_event(payload, tz=self._tz)
            return _call_end(key, call_end(event), event)
        webhook = parse_telecmi_webhook(payload)
        if isinstance(webhook, TeleCMICdr) and (verdict := call_end(webhook)) is not None:
            return _call_end(key, verdict, webhook)
        status = None if webhook.status is None else str(webhook.status)
        return CallEvent(key=key, vendor="telecmi", status=status, cmiuuid=webhook.cmiuuid, webhook=webhook)
