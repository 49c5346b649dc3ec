"""What the journal speaks in: the states, the entries, the outcomes, and its interface.

`AsyncStore` is the journal's one interface (awaited on the event loop); `AsyncJournal`
implements it for every dialect, and `Store` is the face of its blocking twins.
"""

from __future__ import annotations

import datetime as dt
import enum
import math
from collections.abc import AsyncIterator, Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs

from .. import _constants as C
from .._bulk import Outcome
from .._campaign import Campaign, CampaignRow
from .._validate import check_str
from ..errors import (
    AuthenticationError,
    CampaignMismatchError,
    ConfigurationError,
    ConnectError,
    JournalBusyError,
    JournalError,
    LeaseLostError,
    RateLimitedError,
    ValidationError,
)

__all__ = [
    "RETRYABLE_ERRORS",
    "AsyncStore",
    "Attempt",
    "CallOutcome",
    "CampaignInfo",
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
    "Waiting",
    "WorkerCount",
]

#: Errors that prove the vendor did not place the call and that are not about the row itself:
#: the next run sends these keys again. A `ConfigurationError` raised for a call (a proxy
#: asking for credentials, an answer that is not the vendor's) placed nothing either.
RETRYABLE_ERRORS: Final = (ConnectError, RateLimitedError, AuthenticationError, ConfigurationError)
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
    #: Its number is on the campaign's do-not-call list: never dialed.
    SUPPRESSED = "suppressed"
    #: The campaign was cancelled before it was dialed: never dialed.
    CANCELLED = "cancelled"


@attrs.frozen(kw_only=True)
class Attempt:
    """One earlier call of a row that was dialed again: its number among the row's calls, its
    request id, whether it was answered, the hangup reason and when it started (the vendor's
    clock, epoch seconds), as its outcome told."""

    attempt: int
    request_id: str | None = None
    answered: bool | None = None
    hangup_reason: str | None = None
    time: float | None = None


@attrs.frozen(kw_only=True)
class Waiting:
    """What a campaign's rows that are not done wait for: the campaign's `state` (``"active"``,
    ``"paused"``, ``"cancelled"``, ``"archived"``), how many pending `rows` wait for a later
    moment (their calling window, or a redial's delay), and the earliest such moment (`next_at`,
    epoch seconds)."""

    state: str
    rows: int = 0
    next_at: float | None = None
    #: Placed calls whose outcome (a missed call) may still make them wait for a redial.
    outcomes: int = 0

    @property
    def next_time(self) -> dt.datetime | None:
        """`next_at` as an aware UTC datetime."""
        return None if self.next_at is None else dt.datetime.fromtimestamp(self.next_at, dt.UTC)


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
    #: Calls the row has had (a failure that placed nothing, or a claim whose request never
    #: left, is not one).
    attempts: int = 0


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
    #: The campaign's id in the journal (every TeleCMI call carries it).
    campaign_id: str = ""
    #: ``"active"``, ``"paused"``, ``"cancelled"`` or ``"archived"``.
    state: str = "active"
    #: The pending rows that wait for a later moment (their calling window), and when the
    #: first becomes callable.
    waiting: Waiting | None = None
    #: How many numbers the campaign's do-not-call list holds.
    suppressed_numbers: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


@attrs.frozen(kw_only=True)
class CampaignInfo:
    """One campaign of a journal's database: its id and name (`campaign.name`), its file's
    identity, its state, its counts per row state, and how many workers run it now."""

    id: str
    campaign: Campaign
    state: str
    loaded: bool
    created: float
    counts: Mapping[State, int]
    live_workers: int = 0

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _text(max_len: int) -> Callable[[Any, attrs.Attribute[Any], Any], None]:
    def check(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
        if value is not None:
            check_str(attribute.name, value, max_len=max_len)

    return check


def _seconds(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValidationError(attribute.name, f"must be a finite number of seconds, got {value!r}")
    if not 0 <= value < _MAX_EPOCH:
        raise ValidationError(attribute.name, f"must be a time after 1970 and before 5000, got {value!r}")


def _billed(_: Any, attribute: attrs.Attribute[Any], value: Any) -> None:
    if value is None:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value < _MAX_BILLED:
        raise ValidationError(attribute.name, f"must be a whole number of seconds from 0 to {_MAX_BILLED - 1}")


_MAX_EPOCH: Final = 95_617_584_000  # 5000-01-01
_MAX_BILLED: Final = 10**7  # 115 days: longer than any call


@attrs.frozen(kw_only=True)
class CallOutcome:
    """How one placed call ended, as the vendor told it (a webhook, a release event or a record).

    `vendor_id` identifies the call at the vendor (TeleCMI ``cmiuuid``, Huawei ``callSerialNo``,
    a record's id) so that a resent webhook is recognised; `campaign` and `key` are the
    campaign's id and the row's key the call carried (TeleCMI ``extra_params``), None when the
    vendor does not echo them (Huawei: the row is found by `request_id`, or by `number` and
    `time` when reconciling). Every field is checked on construction: what a journal cannot
    store is refused here (`ValidationError`), never in the middle of a batch of others.
    """

    vendor_id: str = attrs.field(validator=_text(300))
    answered: bool = attrs.field(validator=attrs.validators.instance_of(bool))
    key: str | None = attrs.field(default=None, validator=_text(C.MAX_KEY_LEN))
    campaign: str | None = attrs.field(default=None, validator=_text(64))
    request_id: str | None = attrs.field(default=None, validator=_text(256))
    number: str | None = attrs.field(default=None, validator=_text(64))
    #: When the call started, epoch seconds.
    time: float | None = attrs.field(default=None, validator=_seconds)
    billed_seconds: int | None = attrs.field(default=None, validator=_billed)
    rate: str | None = attrs.field(default=None, validator=_text(64))
    hangup_reason: str | None = attrs.field(default=None, validator=_text(64))
    #: ``"webhook"`` or ``"records"``.
    source: str = attrs.field(default="webhook", validator=attrs.validators.in_(("webhook", "records")))


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


class AsyncStore(Protocol):
    """The journal's one interface, awaited on the event loop that uses it: what the runner,
    the campaign run, status, report, reconcile and the webhook writer need. `AsyncJournal`
    implements it on SQLite and PostgreSQL; `as_async` gives a blocking twin this face.

    Claims are the heart of it: `claim` marks ``pending`` keys ``sending`` in one durable
    statement and returns those it marked; a key is never returned by two claims.
    """

    @property
    def campaign(self) -> Campaign: ...

    @property
    def campaign_id(self) -> str: ...

    @property
    def path(self) -> str:
        """Where it is, fit to show (a URL without its password)."""
        ...

    @property
    def transactions(self) -> int: ...

    @property
    def shared(self) -> bool: ...

    async def is_loaded(self) -> bool: ...

    async def load(
        self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None
    ) -> int: ...

    async def recover(self) -> int: ...

    async def requeue(
        self, *, unknown: bool = False, retryable: bool = True, failed: bool | Iterable[str] = False
    ) -> int: ...

    async def failed_classes(self) -> dict[str, int]: ...

    #: No call is claimed at or after this moment (epoch seconds), if set.
    until: float | None
    #: With redials, how long a run whose rows are all sent waits for their outcomes (seconds).
    await_outcomes: float

    async def reserve(self, n: int) -> list[Any]: ...

    def specs(self, batch: int = 64, *, on_wait: Callable[[Waiting], None] | None = None) -> AsyncIterator[Any]: ...

    def spec_batches(
        self, batch: int = 64, *, on_wait: Callable[[Waiting], None] | None = None
    ) -> AsyncIterator[list[Any]]: ...

    async def waiting(self) -> Waiting: ...

    async def schedule_redials(self) -> int: ...

    async def attempts(self, keys: Sequence[str]) -> dict[str, list[Attempt]]: ...

    async def suppress(self, numbers: Iterable[str | int]) -> tuple[int, int]: ...

    async def control(self, action: str) -> tuple[str, int]: ...

    async def left(self) -> tuple[int, int, int]: ...

    async def pending(self, keys: Sequence[str]) -> set[str]: ...

    async def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]: ...

    async def record(self, outcomes: Sequence[Outcome[Any]]) -> None: ...

    async def finish(
        self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]
    ) -> None: ...

    async def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts: ...

    async def outcomes(self, keys: Sequence[str]) -> dict[str, CallOutcome]: ...

    async def unmatched_outcomes(self) -> list[CallOutcome]: ...

    async def outcome_counts(self) -> dict[str, int]: ...

    async def numbers(self, keys: Sequence[str]) -> dict[str, str]: ...

    async def sent_times(self, keys: Sequence[str]) -> dict[str, float]: ...

    async def dialers(self, numbers: Sequence[str]) -> list[tuple[str, str, str, State, float | None]]: ...

    async def specs_of(self, keys: Sequence[str]) -> list[Any]: ...

    async def resolve(
        self,
        placed: Sequence[tuple[str, CallOutcome | None]],
        requeue: Sequence[str],
        notes: Sequence[tuple[str, str]],
    ) -> Resolution: ...

    async def counts(self) -> dict[State, int]: ...

    async def total(self) -> int: ...

    async def summary(self) -> Summary: ...

    async def get(self, key: str) -> Entry | None: ...

    def entries(self, states: Iterable[State] | None = None, *, chunk: int = 1000) -> AsyncIterator[Entry]: ...

    async def aclose(self) -> None: ...


class Store(Protocol):
    """The blocking face of a journal (`voicekit.journal.Journal`, `PostgresJournal`): the
    same methods as `AsyncStore`, each blocking for its result."""

    @property
    def campaign(self) -> Campaign: ...

    @property
    def path(self) -> str: ...

    @property
    def loaded(self) -> bool: ...

    def load(self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None) -> int: ...

    def recover(self) -> int: ...

    def counts(self) -> dict[State, int]: ...

    def summary(self) -> Summary: ...

    def entries(self, states: Iterable[State] | None = None, *, chunk: int = 1000) -> Iterator[Entry]: ...

    def close(self) -> None: ...


def call_outcome(row: Sequence[Any]) -> CallOutcome:
    """A `CallOutcome` from a stored row, in the queries' column order: vendor id, key,
    answered, request id, number, time, billed seconds, rate, hangup reason, source, campaign."""
    vendor_id, key, answered, request_id, number, at, billed, rate, reason, source, campaign = row
    return CallOutcome(
        vendor_id=vendor_id,
        key=key,
        campaign=campaign,
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
