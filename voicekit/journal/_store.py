"""What every journal store shares: the states, the errors, the entries, and the interface.

A store keeps one campaign: every key with its state. The runner (`journaled`) drives a bulk
sender through any store; the SQLite store is the embedded default, the PostgreSQL store lets
many workers share one campaign. A `Store`'s methods block on the database: the runner calls
them from its own threads, never from the event loop. An `AsyncStore` (the PostgreSQL store's
async core) is awaited on the event loop itself; `as_async` gives any store that face.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import enum
import inspect
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol, TypeGuard, cast

import attrs

from .._bulk import Outcome
from .._campaign import Campaign, CampaignRow
from ..errors import (
    AuthenticationError,
    ConfigurationError,
    ConnectError,
    NonVendorResponseError,
    ProxyAuthenticationError,
    RateLimitedError,
)

__all__ = [
    "RETRYABLE_ERRORS",
    "AsyncStore",
    "CallOutcome",
    "CampaignMismatchError",
    "Entry",
    "JournalBusyError",
    "JournalError",
    "LeaseLostError",
    "State",
    "Store",
    "OutcomeCounts",
    "Resolution",
    "Summary",
    "WorkerCount",
    "as_async",
    "is_async",
]

#: Errors that prove the vendor did not place the call and that are not about the row itself:
#: the next run sends these keys again.
RETRYABLE_ERRORS: Final = (
    ConnectError,
    RateLimitedError,
    AuthenticationError,
    NonVendorResponseError,
    ProxyAuthenticationError,
)
_MAX_ERROR_LEN: Final = 500
STOPPED_IN_FLIGHT: Final = "the run was stopped while this call was in flight; it may have been placed"
INTERRUPTED: Final = "the run stopped while this call was being sent; it may have been placed"


class State(enum.StrEnum):
    """Where one key stands."""

    PENDING = "pending"
    SENDING = "sending"
    PLACED = "placed"
    FAILED = "failed"
    UNKNOWN = "unknown"


class JournalError(ConfigurationError):
    """The journal cannot be used as asked (missing, not a journal, another campaign, busy)."""


class CampaignMismatchError(JournalError):
    """The journal belongs to another campaign file (or vendor, columns or shard)."""


class JournalBusyError(JournalError):
    """Another process is running this journal right now."""


class LeaseLostError(JournalError):
    """This worker's lease expired (it was silent too long): it must not send anything more."""


@attrs.frozen(kw_only=True)
class Entry:
    """One key's line in the journal (`worker`: who claimed it last, on a shared store)."""

    key: str
    row: int | None
    state: State
    request_id: str | None = None
    error_type: str | None = None
    error: str | None = None
    updated: dt.datetime
    worker: str | None = None


@attrs.frozen(kw_only=True)
class WorkerCount:
    """One worker of a shared campaign: who, whether its lease is live, and its keys per state."""

    worker: str
    live: bool
    counts: Mapping[State, int]


@attrs.frozen(kw_only=True)
class Summary:
    """Counts per state and when the journal was started and last written."""

    campaign: Campaign
    counts: Mapping[State, int]
    started: dt.datetime
    updated: dt.datetime
    loaded: bool
    running: bool
    workers: Sequence[WorkerCount] = ()

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@attrs.frozen(kw_only=True)
class CallOutcome:
    """How one placed call ended, as the vendor told it (a webhook, a release event or a record).

    `vendor_id` identifies the call at the vendor (TeleCMI ``cmiuuid``, Huawei ``callSerialNo``,
    a record's id) so that a resent webhook is recognised; `key` is the campaign key the call
    carried (TeleCMI ``extra_params``), None when the vendor does not echo it (Huawei: the
    row is found by `request_id`, or by `number` and `time` when reconciling).
    """

    vendor_id: str
    answered: bool
    key: str | None = None
    request_id: str | None = None
    number: str | None = None
    #: When the call started, epoch seconds.
    time: float | None = None
    billed_seconds: int | None = None
    rate: str | None = None
    hangup_reason: str | None = None
    #: ``"webhook"`` or ``"records"``.
    source: str = "webhook"


@attrs.frozen(kw_only=True)
class OutcomeCounts:
    """What `Store.add_outcomes` did: outcomes written to a row, kept unmatched (for reconcile),
    already known (a resend), or for a key that is not in the campaign (ignored)."""

    written: int = 0
    unmatched: int = 0
    duplicate: int = 0
    foreign: int = 0
    foreign_keys: tuple[str, ...] = ()


@attrs.frozen(kw_only=True)
class Resolution:
    """What `Store.resolve` changed: rows found placed, rows put back to pending, rows left
    unknown with their reason."""

    placed: int = 0
    requeued: int = 0
    noted: int = 0


class Store(Protocol):
    """The storage interface of a journal: what the runner and `voicekit dial` need of it.

    Claims are the heart of it: `claim` marks ``pending`` keys ``sending`` in one durable
    transaction and returns those it marked; a key is never returned by two claims.
    """

    @property
    def campaign(self) -> Campaign: ...

    @property
    def path(self) -> str:
        """Where it is, fit to show (a URL without its password)."""
        ...

    @property
    def transactions(self) -> int:
        """How many write transactions this object has committed."""
        ...

    @property
    def loaded(self) -> bool: ...

    def load(self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None) -> int:
        """Add every row's key as ``pending`` (idempotent); return the number of keys."""
        ...

    def recover(self) -> int:
        """Mark the keys a dead run left ``sending`` ``unknown``; return how many."""
        ...

    def requeue(self, *, unknown: bool = False, retryable: bool = True) -> int:
        """Make ``unknown`` and/or provably-unplaced failed keys ``pending`` again."""
        ...

    def pending(self, keys: Sequence[str]) -> set[str]:
        """The keys among `keys` that this run may claim (reads only)."""
        ...

    def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        """Mark the claimable keys among `keys` ``sending`` (and write `outcomes`); return them."""
        ...

    def record(self, outcomes: Sequence[Outcome[Any]]) -> None:
        """Write the outcomes of sent keys."""
        ...

    def finish(self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]) -> None:
        """End a run: write `outcomes`, release `unsent` claims, mark `unfinished` ``unknown``."""
        ...

    def counts(self) -> dict[State, int]:
        """How many keys are in each state (every state present)."""
        ...

    def summary(self) -> Summary:
        """The counts, the times, whether a run holds it (and per-worker counts)."""
        ...

    def get(self, key: str) -> Entry | None:
        """The entry of `key`, or None."""
        ...

    def entries(self, states: Iterable[State] | None = None, *, chunk: int = 1000) -> Iterator[Entry]:
        """Every entry (or those in `states`), in campaign order."""
        ...

    def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts:
        """Write how calls ended, in one transaction; a resend changes nothing.

        An outcome finds its row by `key`, else by `request_id`. Its row, if ``pending``,
        ``unknown`` or ``failed``, becomes ``placed`` (the vendor saw the call); a ``sending``
        row is left to its run. An outcome without a row is kept for `reconcile` only when it
        carries no key (Huawei); one with a key the campaign does not have is ignored.
        """
        ...

    def outcomes(self, keys: Sequence[str]) -> dict[str, CallOutcome]:
        """The outcomes of the rows among `keys` that have one."""
        ...

    def unmatched_outcomes(self) -> Iterator[CallOutcome]:
        """The outcomes kept without a row (release events to match by number and time)."""
        ...

    def outcome_counts(self) -> dict[str, int]:
        """``{"answered": n, "missed": n, "awaiting": n}`` (awaiting: placed, no outcome yet)."""
        ...

    def numbers(self, keys: Sequence[str]) -> dict[str, str]:
        """The number each of `keys` dials, for those the journal knows it of."""
        ...

    def sent_times(self, keys: Sequence[str]) -> dict[str, float]:
        """When each of `keys` was last claimed (epoch seconds), for those that were."""
        ...

    def resolve(
        self,
        placed: Sequence[tuple[str, CallOutcome | None]],
        requeue: Sequence[str],
        notes: Sequence[tuple[str, str]],
    ) -> Resolution:
        """Apply a reconciliation in one transaction, to ``unknown`` rows only.

        `placed`: the rows the vendor's evidence shows placed (with the outcome found, kept
        for the row). `requeue`: the rows it shows were not placed; each goes back to
        ``pending`` unless an outcome for it arrived meanwhile. `notes`: rows left unknown,
        with the reason.
        """
        ...

    def close(self) -> None:
        """Let go of the database."""
        ...


class AsyncStore(Protocol):
    """What a run needs of a store, awaited on the event loop (see `Store` for each method).

    `voicekit.journal.AsyncPostgresJournal` is one; `as_async` makes one of any `Store`.
    """

    @property
    def campaign(self) -> Campaign: ...

    @property
    def path(self) -> str: ...

    @property
    def transactions(self) -> int: ...

    async def is_loaded(self) -> bool: ...

    async def load(
        self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None
    ) -> int: ...

    async def recover(self) -> int: ...

    async def requeue(self, *, unknown: bool = False, retryable: bool = True) -> int: ...

    async def pending(self, keys: Sequence[str]) -> set[str]: ...

    async def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]: ...

    async def record(self, outcomes: Sequence[Outcome[Any]]) -> None: ...

    async def finish(
        self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]
    ) -> None: ...

    async def counts(self) -> dict[State, int]: ...

    async def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts: ...


def is_async(store: Store | AsyncStore) -> TypeGuard[AsyncStore]:
    """Whether `store` is awaited (an `AsyncStore`) rather than called from a thread."""
    return inspect.iscoroutinefunction(store.claim)


class _Threaded:
    """A blocking `Store` seen as an `AsyncStore`: each call runs in a worker thread."""

    def __init__(self, store: Store) -> None:
        self.store = store

    @property
    def campaign(self) -> Campaign:
        return self.store.campaign

    @property
    def path(self) -> str:
        return self.store.path

    @property
    def transactions(self) -> int:
        return self.store.transactions

    async def is_loaded(self) -> bool:
        return await asyncio.to_thread(lambda: self.store.loaded)

    async def load(
        self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None
    ) -> int:
        return await asyncio.to_thread(lambda: self.store.load(rows, on_problem=on_problem))

    async def recover(self) -> int:
        return await asyncio.to_thread(self.store.recover)

    async def requeue(self, *, unknown: bool = False, retryable: bool = True) -> int:
        return await asyncio.to_thread(lambda: self.store.requeue(unknown=unknown, retryable=retryable))

    async def pending(self, keys: Sequence[str]) -> set[str]:
        return await asyncio.to_thread(self.store.pending, keys)

    async def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        return await asyncio.to_thread(self.store.claim, keys, outcomes)

    async def record(self, outcomes: Sequence[Outcome[Any]]) -> None:
        await asyncio.to_thread(self.store.record, outcomes)

    async def finish(self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]) -> None:
        await asyncio.to_thread(self.store.finish, outcomes, unsent, unfinished)

    async def counts(self) -> dict[State, int]:
        return await asyncio.to_thread(self.store.counts)

    async def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts:
        return await asyncio.to_thread(self.store.add_outcomes, outcomes)


def as_async(store: Store | AsyncStore) -> AsyncStore:
    """`store` as an `AsyncStore`: itself if it is one, else its calls run in worker threads."""
    if is_async(store):
        return store
    return _Threaded(cast(Store, store))


def call_outcome(row: Sequence[Any]) -> CallOutcome:
    """A `CallOutcome` from a stored row, in the stores' column order: vendor id, key, answered,
    request id, number, time, billed seconds, rate, hangup reason, source."""
    vendor_id, key, answered, request_id, number, at, billed, rate, reason, source = row
    return CallOutcome(
        vendor_id=vendor_id,
        key=key,
        answered=bool(answered),
        request_id=request_id,
        number=number,
        time=None if at is None else float(at),
        billed_seconds=billed,
        rate=rate,
        hangup_reason=reason,
        source=source,
    )


def utc(timestamp: float) -> dt.datetime:
    """A POSIX timestamp as an aware UTC datetime."""
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)


def error_text(exc: BaseException) -> str:
    """An error's message on one line, cut to a size a journal keeps."""
    text = " ".join(str(exc).split())
    return text if len(text) <= _MAX_ERROR_LEN else text[: _MAX_ERROR_LEN - 3] + "..."


def result_id(result: Any) -> str | None:
    """The vendor's id of a placed call (TeleCMI ``request_id``, Huawei ``call_serial_no``)."""
    for name in ("request_id", "call_serial_no"):
        value = getattr(result, name, None)
        if value:
            return str(value)
    return None


def outcome_row(outcome: Outcome[Any]) -> tuple[str, str, str | None, str | None, str | None, int]:
    """``(key, state, request_id, error_type, error, retryable)`` of one outcome."""
    error = outcome.error
    if error is None:
        return (outcome.key, "placed", result_id(outcome.result), None, None, 0)
    return (
        outcome.key,
        "unknown" if outcome.unknown else "failed",
        None,
        type(error).__name__,
        error_text(error),
        int(isinstance(error, RETRYABLE_ERRORS)),
    )
