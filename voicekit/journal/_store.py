"""What every journal store shares: the states, the errors, the entries, and the interface.

A store keeps one campaign: every key with its state. The runner (`journaled`) drives a bulk
sender through any store; the SQLite store is the embedded default, the PostgreSQL store lets
many workers share one campaign. Every method blocks on the database: the runner calls them
from its own threads, never from the event loop.
"""

from __future__ import annotations

import datetime as dt
import enum
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from typing import Any, Final, Protocol

import attrs

from .._bulk import Outcome
from .._campaign import Campaign, CampaignRow
from ..errors import AuthenticationError, ConfigurationError, ConnectError, RateLimitedError

__all__ = [
    "RETRYABLE_ERRORS",
    "CampaignMismatchError",
    "Entry",
    "JournalBusyError",
    "JournalError",
    "LeaseLostError",
    "State",
    "Store",
    "Summary",
    "WorkerCount",
]

#: Errors that prove the vendor did not place the call and that are not about the row itself:
#: the next run sends these keys again.
RETRYABLE_ERRORS: Final = (ConnectError, RateLimitedError, AuthenticationError)
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


class Store(Protocol):
    """The storage interface of a journal: what the runner and `voicekit dial` need of it.

    Claims are the heart of it: `claim` marks ``pending`` keys ``sending`` in one durable
    transaction and returns those it marked; a key is never returned by two claims.
    """

    campaign: Campaign
    #: Where it is, fit to show (a URL without its password).
    path: str
    #: How many write transactions this object has committed.
    transactions: int

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

    def close(self) -> None:
        """Let go of the database."""
        ...


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
    return (outcome.key, "unknown" if outcome.unknown else "failed", None, type(error).__name__,
            error_text(error), int(isinstance(error, RETRYABLE_ERRORS)))
