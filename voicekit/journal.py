"""Resumable bulk campaigns: a crash-safe SQLite journal of what happened to every key.

Each key moves through these states::

    pending ──claim──> sending ──outcome──> placed | failed | unknown
                          │
                          └── the run crashed ──> unknown   (it may have been dialed)

A key is marked ``sending`` durably *as* its request is about to leave (after the rate limiter
granted it), so after a crash (even ``kill -9`` or a power cut) a key is never dialed twice: a
resumed run sends every ``pending`` key once, never a ``placed`` or ``failed`` one, and reports
the keys left in ``sending`` as ``unknown`` instead of re-sending them (`Journal.requeue` does
that only when asked). Those unknown keys are at most the calls that were in flight when the
run died. Failures that provably never reached the vendor (connection refused, 429, bad
credentials) are retried by the next run; every other failure is final.

Durability costs one commit on each call's path, shared: the claims of calls about to leave at
the same moment are committed together (group commit, one writer thread, off the event loop),
with the outcomes ready by then. Against a vendor 20 ms away that costs about 5% of the calls per
second; against a loopback server that answers at once, on two cores shared with it, about half
(see benchmarks/README.md, rows 8 and 8b). Usage::

    from contextlib import aclosing
    from voicekit.journal import Campaign, Journal, journaled, read_campaign

    campaign = Campaign.from_file("calls.csv")
    with Journal.open("calls.db", campaign) as journal:     # resumes a journal that exists
        journal.recover()                                   # sending -> unknown (a crash)
        if not journal.loaded:
            journal.load(read_campaign("calls.csv"))        # every key, as pending
        specs = (row.spec for row in read_campaign("calls.csv") if row.spec is not None)
        async with AsyncTeleCMI() as tc, aclosing(journaled(
            journal, specs,
            lambda specs, before_send: tc.dial_many(specs, concurrency=32, before_send=before_send),
        )) as outcomes:
            async for outcome in outcomes:
                ...

The journal records the campaign's identity (its file's SHA-256 and size, the vendor, the
columns, the shard) and refuses to run another campaign (`CampaignMismatchError`). Only one
process may run a journal at a time (`JournalBusyError`). The campaign CSV format is described
in `read_campaign`'s module, and in ``voicekit dial --help``. The journal needs SQLite 3.38 or
newer (`Journal.open` says so otherwise).
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import datetime as dt
import enum
import json
import logging
import os
import queue
import sqlite3
import threading
import time
from collections.abc import (
    AsyncGenerator,
    AsyncIterable,
    AsyncIterator,
    Callable,
    Iterable,
    Iterator,
    Mapping,
    Sequence,
)
from types import TracebackType
from typing import IO, Any, Final, Protocol, TypeVar

import attrs

from ._bulk import Outcome, aiter_specs
from ._campaign import (
    CampaignRow,
    Vendor,
    check_columns,
    detect_vendor,
    fingerprint,
    in_shard,
    parse_shard,
    read_campaign,
    read_header,
)
from ._sending import BeforeSend
from .errors import AuthenticationError, ConfigurationError, ConnectError, RateLimitedError, VoiceKitError

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = [
    "Campaign",
    "CampaignMismatchError",
    "CampaignRow",
    "Entry",
    "Journal",
    "JournalBusyError",
    "JournalError",
    "State",
    "Summary",
    "in_shard",
    "journaled",
    "parse_shard",
    "read_campaign",
]

log = logging.getLogger("voicekit")

SCHEMA_VERSION: Final = 1
#: Errors that prove the vendor did not place the call and that are not about the row itself:
#: the next run sends these keys again.
RETRYABLE_ERRORS: Final = (ConnectError, RateLimitedError, AuthenticationError)
_MAX_ERROR_LEN: Final = 500
_LOAD_BATCH: Final = 5000
#: The oldest SQLite whose SQL the journal uses: ``->>`` (3.38), ``RETURNING`` (3.35),
#: ``UPDATE ... FROM`` (3.33).
MIN_SQLITE: Final = (3, 38, 0)

_SCHEMA: Final = """
CREATE TABLE meta (name TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE calls (
    key TEXT PRIMARY KEY,
    row INTEGER,
    state TEXT NOT NULL,
    request_id TEXT,
    error_type TEXT,
    error TEXT,
    retryable INTEGER NOT NULL DEFAULT 0,
    updated REAL NOT NULL
);
"""


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


@attrs.frozen(kw_only=True)
class Campaign:
    """What identifies a campaign: its file's content, the vendor, the columns, the shard.

    Two campaigns are the same when everything but `path` matches: a moved or copied file with
    the same content is the same campaign.
    """

    path: str
    size: int
    sha256: str
    vendor: Vendor
    columns: tuple[str, ...]
    shard: tuple[int, int] | None = None

    @classmethod
    def from_file(
        cls,
        path: str | os.PathLike[str],
        *,
        vendor: Vendor | None = None,
        shard: tuple[int, int] | None = None,
    ) -> Campaign:
        """Read a campaign file's identity (its header, and its SHA-256 in one streaming pass).

        Raises:
            ConfigurationError: the file cannot be read, or its header names no known vendor or
                lacks a column the vendor needs.
        """
        columns = read_header(path)
        vendor = vendor or detect_vendor(columns)
        check_columns(path, vendor, columns)
        size, sha = fingerprint(path)
        return cls(path=os.path.abspath(path), size=size, sha256=sha, vendor=vendor, columns=columns, shard=shard)

    def same_as(self, other: Campaign) -> bool:
        """Whether `other` is this campaign (everything but the path matches)."""
        return attrs.evolve(other, path=self.path) == self

    def describe(self) -> str:
        """One line: file, size, hash prefix, vendor, shard."""
        shard = f", shard {self.shard[0]}/{self.shard[1]}" if self.shard else ""
        return f"{self.path} ({self.size:,} bytes, sha256 {self.sha256[:12]}, {self.vendor}{shard})"

    def _to_json(self) -> str:
        return json.dumps({
            "path": self.path, "size": self.size, "sha256": self.sha256, "vendor": self.vendor,
            "columns": list(self.columns), "shard": list(self.shard) if self.shard else None,
        })

    @classmethod
    def _from_json(cls, text: str) -> Campaign:
        d = json.loads(text)
        shard = d.get("shard")
        return cls(
            path=d["path"], size=d["size"], sha256=d["sha256"], vendor=d["vendor"],
            columns=tuple(d["columns"]), shard=(int(shard[0]), int(shard[1])) if shard else None,
        )


@attrs.frozen(kw_only=True)
class Entry:
    """One key's line in the journal."""

    key: str
    row: int | None
    state: State
    request_id: str | None = None
    error_type: str | None = None
    error: str | None = None
    updated: dt.datetime


@attrs.frozen(kw_only=True)
class Summary:
    """Counts per state and when the journal was started and last written."""

    campaign: Campaign
    counts: Mapping[State, int]
    started: dt.datetime
    updated: dt.datetime
    loaded: bool
    running: bool

    @property
    def total(self) -> int:
        return sum(self.counts.values())


def _utc(timestamp: float) -> dt.datetime:
    return dt.datetime.fromtimestamp(timestamp, tz=dt.UTC)


def _error_text(exc: BaseException) -> str:
    text = " ".join(str(exc).split())
    return text if len(text) <= _MAX_ERROR_LEN else text[: _MAX_ERROR_LEN - 3] + "..."


def _result_id(result: Any) -> str | None:
    for name in ("request_id", "call_serial_no"):
        value = getattr(result, name, None)
        if value:
            return str(value)
    return None


class Journal:
    """The SQLite journal of one campaign (WAL mode; thread-safe; use it from one process).

    Open it with `Journal.open` to run the campaign, or `Journal.read` to look at it. Every
    method blocks on the database: from async code, call them through ``asyncio.to_thread``
    (`journaled` does).

    Attributes:
        path: the database file.
        campaign: the campaign it belongs to.
        transactions: how many write transactions this object has committed.
    """

    def __init__(self, path: str, conn: sqlite3.Connection, campaign: Campaign, lock: IO[str] | None) -> None:
        self.path = path
        self.campaign = campaign
        self.transactions = 0
        self._conn = conn
        self._lock = threading.Lock()
        self._file_lock = lock
        self._loaded = self.loaded

    def __repr__(self) -> str:
        return f"Journal({self.path!r})"

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    def open(cls, path: str | os.PathLike[str], campaign: Campaign) -> Journal:
        """Create the journal of `campaign` at `path`, or resume the one already there.

        Raises:
            CampaignMismatchError: the journal at `path` belongs to another campaign.
            JournalBusyError: another process is running this journal.
            JournalError: `path` is not a voicekit journal, or this Python's SQLite is older
                than the journal needs.
        """
        _check_sqlite()
        path = os.path.abspath(path)
        lock = _lock(path)
        try:
            conn = _connect(path)
            try:
                stored = _stored_campaign(conn, path)
                if stored is not None and not stored.same_as(campaign):
                    raise CampaignMismatchError(_mismatch(path, stored, campaign))
                _configure(conn, path)
                if stored is None:
                    _create(conn, campaign, path)
                else:
                    if stored.path != campaign.path:
                        log.info("journal %s: the campaign file moved from %s to %s", path, stored.path,
                                 campaign.path)
                    campaign = stored
            except BaseException:
                conn.close()
                raise
        except BaseException:
            _unlock(lock)
            raise
        return cls(path, conn, campaign, lock)

    @classmethod
    def read(cls, path: str | os.PathLike[str]) -> Journal:
        """Open an existing journal to look at it (status, report), even while a run writes it.

        Raises:
            JournalError: there is no journal at `path`.
        """
        path = os.path.abspath(path)
        if not os.path.isfile(path):
            raise JournalError(f"no journal at {path}")
        conn = _connect(path)
        try:
            stored = _stored_campaign(conn, path)
        except BaseException:
            conn.close()
            raise
        if stored is None:
            conn.close()
            raise JournalError(f"{path} is an empty journal (its first run stopped before it started)")
        return cls(path, conn, stored, None)

    def close(self) -> None:
        """Close the database and let another process run the journal."""
        with self._lock:
            self._conn.close()
        _unlock(self._file_lock)
        self._file_lock = None

    def __enter__(self) -> Journal:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()

    # -- writing -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _write(self, *, durable: bool = True) -> Iterator[sqlite3.Connection]:
        # durable=False: the commit reaches the OS (it survives the process being killed) and is
        # fsynced with the next durable commit. Only outcomes use it: an outcome lost to a power
        # cut leaves its key "sending", which the next run reports as unknown, never re-sends.
        with self._lock:
            conn = self._conn
            try:
                if not durable:
                    conn.execute("PRAGMA synchronous = NORMAL")
                try:
                    conn.execute("BEGIN IMMEDIATE")
                    try:
                        yield conn
                    except BaseException:
                        conn.execute("ROLLBACK")
                        raise
                    conn.execute("COMMIT")
                finally:
                    if not durable:
                        conn.execute("PRAGMA synchronous = FULL")
            except sqlite3.Error as exc:
                raise JournalError(f"cannot write the journal {self.path}: {exc}") from exc
            self.transactions += 1

    @property
    def loaded(self) -> bool:
        """Whether `load` has completed (every key of the campaign is in the journal)."""
        return self._meta("loaded") == "1"

    def load(
        self,
        rows: Iterable[CampaignRow],
        *,
        on_problem: Callable[[CampaignRow], None] | None = None,
    ) -> int:
        """Add every row's key as ``pending`` (a row with a `problem` as ``failed``); return the
        number of keys in the journal.

        Keys already in the journal keep their state, so loading again (after a crash during
        the first load) changes nothing. A row that repeats an earlier row's key is recorded as
        failed under the key ``"<key>@row<N>"``. `on_problem` sees each row that failed this way.
        """
        batch: list[CampaignRow] = []
        for row in rows:
            batch.append(row)
            if len(batch) >= _LOAD_BATCH:
                self._load_batch(batch, on_problem)
                batch = []
        self._load_batch(batch, on_problem)
        with self._write() as conn:
            conn.execute("INSERT OR REPLACE INTO meta VALUES ('loaded', '1')")
        self._loaded = True
        return self.total()

    def _load_batch(self, batch: Sequence[CampaignRow], on_problem: Callable[[CampaignRow], None] | None) -> None:
        problems: list[CampaignRow] = []
        now = time.time()
        with self._write() as conn:
            for row in batch:
                failed = row.problem is not None
                cur = conn.execute(
                    "INSERT OR IGNORE INTO calls (key, row, state, error_type, error, updated) "
                    "VALUES (?, ?, ?, ?, ?, ?)",
                    (row.key, row.number, State.FAILED if failed else State.PENDING,
                     "MalformedRow" if failed else None, row.problem, now),
                )
                if cur.rowcount:
                    if failed:
                        problems.append(row)
                    continue
                (first,) = conn.execute("SELECT row FROM calls WHERE key = ?", (row.key,)).fetchone()
                if first is None or first == row.number:
                    continue  # loaded before
                dup = CampaignRow(number=row.number, key=f"{row.key}@row{row.number}",
                                  problem=f"duplicate key {row.key!r} (first at row {first})")
                cur = conn.execute(
                    "INSERT OR IGNORE INTO calls (key, row, state, error_type, error, updated) "
                    "VALUES (?, ?, 'failed', 'MalformedRow', ?, ?)",
                    (dup.key, dup.number, dup.problem, now),
                )
                if cur.rowcount:
                    problems.append(dup)
        if on_problem is not None:
            for row in problems:
                on_problem(row)

    def recover(self) -> int:
        """Mark every key left in ``sending`` (by a run that crashed) ``unknown``; return how many.

        Call it once when a run starts, before sending anything.
        """
        with self._write() as conn:
            return conn.execute(
                "UPDATE calls SET state = 'unknown', error_type = 'Interrupted', error = ?, updated = ? "
                "WHERE state = 'sending'",
                ("the run stopped while this call was being sent; it may have been placed", time.time()),
            ).rowcount

    def requeue(self, *, unknown: bool = False, retryable: bool = True) -> int:
        """Make keys ``pending`` again; return how many.

        Args:
            unknown: the ``unknown`` keys (they may have been dialed already: reconcile first).
            retryable: the failed keys whose error proved the call was not placed (connection
                refused, 429, bad credentials).
        """
        clauses = []
        if unknown:
            clauses.append("state = 'unknown'")
        if retryable:
            clauses.append("(state = 'failed' AND retryable = 1)")
        if not clauses:
            return 0
        with self._write() as conn:
            return conn.execute(
                "UPDATE calls SET state = 'pending', request_id = NULL, error_type = NULL, error = NULL, "
                f"retryable = 0, updated = ? WHERE {' OR '.join(clauses)}",
                (time.time(),),
            ).rowcount

    def pending(self, keys: Sequence[str]) -> set[str]:
        """The keys among `keys` that a run may claim: those held as ``pending`` (and, until
        `load` has run, those the journal does not hold yet). Reads only."""
        batch = json.dumps(list(keys))
        with self._lock:
            found = dict(self._conn.execute(
                "SELECT key, state FROM calls WHERE key IN (SELECT value FROM json_each(?))", (batch,)
            ).fetchall())
        return {
            key for key in keys
            if found.get(key) == State.PENDING or (key not in found and not self._loaded)
        }

    def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        """Mark the ``pending`` keys among `keys` ``sending`` in one durable transaction; return
        them. A key the journal does not hold yet is added as ``sending``. `outcomes` (of keys
        sent earlier) are written in the same transaction, as by `record`."""
        # One statement for the claims and the outcomes: the writer thread waits for the GIL
        # after each statement, which costs milliseconds while the event loop is busy.
        now = time.time()
        items: list[tuple[str, str, str | None, str | None, str | None, int]] = [
            (key, "sending", None, None, None, 0) for key in keys
        ]
        for outcome in outcomes:
            error = outcome.error
            if error is None:
                items.append((outcome.key, "placed", _result_id(outcome.result), None, None, 0))
            else:
                items.append((outcome.key, "unknown" if outcome.unknown else "failed", None, type(error).__name__,
                              _error_text(error), int(isinstance(error, RETRYABLE_ERRORS))))
        if not items:
            return set()
        statement = (
            "UPDATE calls SET state = o.value ->> 1, request_id = o.value ->> 2, error_type = o.value ->> 3, "
            "error = o.value ->> 4, retryable = o.value ->> 5, updated = ? FROM json_each(?) AS o "
            "WHERE calls.key = o.value ->> 0 AND (o.value ->> 1 != 'sending' OR calls.state = 'pending') "
            "RETURNING calls.key, calls.state"
        )
        args = (now, json.dumps(items))
        if self._loaded:
            with self._lock:
                try:
                    rows = self._conn.execute(statement, args).fetchall()  # its own transaction
                except sqlite3.Error as exc:
                    raise JournalError(f"cannot write the journal {self.path}: {exc}") from exc
                self.transactions += 1
        else:
            with self._write() as conn:
                conn.execute(
                    "INSERT OR IGNORE INTO calls (key, state, updated) SELECT value, 'pending', ? FROM json_each(?)",
                    (now, json.dumps(list(keys))),
                )
                rows = conn.execute(statement, args).fetchall()
        return {key for key, state in rows if state == State.SENDING}

    def release(self, keys: Iterable[str]) -> None:
        """Put claimed keys whose request never left back to ``pending``."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE calls SET state = 'pending', updated = ? WHERE key = ? AND state = 'sending'",
                [(time.time(), key) for key in keys],
            )

    def record(self, outcomes: Sequence[Outcome[Any]]) -> None:
        """Write the outcomes of sent keys in one transaction."""
        if not outcomes:
            return
        with self._write(durable=False) as conn:
            self._record_in(conn, outcomes, time.time())

    @staticmethod
    def _record_in(conn: sqlite3.Connection, outcomes: Sequence[Outcome[Any]], now: float) -> None:
        placed: dict[str, str | None] = {}
        others: list[tuple[str, str, str, str, int]] = []
        for outcome in outcomes:
            error = outcome.error
            if error is None:
                placed[outcome.key] = _result_id(outcome.result)
            else:
                others.append((
                    outcome.key, "unknown" if outcome.unknown else "failed", type(error).__name__,
                    _error_text(error), int(isinstance(error, RETRYABLE_ERRORS)),
                ))
        if placed:
            conn.execute(
                "UPDATE calls SET state = 'placed', request_id = o.value, error_type = NULL, error = NULL, "
                "retryable = 0, updated = ? FROM json_each(?) AS o WHERE calls.key = o.key",
                (now, json.dumps(placed)),
            )
        if others:
            conn.execute(
                "UPDATE calls SET state = o.value ->> 1, request_id = NULL, error_type = o.value ->> 2, "
                "error = o.value ->> 3, retryable = o.value ->> 4, updated = ? "
                "FROM json_each(?) AS o WHERE calls.key = o.value ->> 0",
                (now, json.dumps(others)),
            )

    def finish(self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]) -> None:
        """End a run in one transaction: write `outcomes`, put the claimed keys whose request
        never left (`unsent`) back to ``pending``, and mark the keys whose request may have left
        but whose outcome never came (`unfinished`) ``unknown``."""
        now = time.time()
        with self._write() as conn:
            self._record_in(conn, outcomes, now)
            conn.executemany(
                "UPDATE calls SET state = 'pending', updated = ? WHERE key = ? AND state = 'sending'",
                [(now, key) for key in unsent],
            )
            conn.executemany(
                "UPDATE calls SET state = 'unknown', error_type = 'Interrupted', error = ?, updated = ? "
                "WHERE key = ? AND state = 'sending'",
                [(_STOPPED_IN_FLIGHT, now, key) for key in unfinished],
            )

    def mark_unknown(self, keys: Iterable[str], reason: str) -> None:
        """Mark keys whose request may have left, but whose outcome never came, ``unknown``."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE calls SET state = 'unknown', error_type = 'Interrupted', error = ?, updated = ? "
                "WHERE key = ? AND state = 'sending'",
                [(reason, time.time(), key) for key in keys],
            )

    # -- reading -------------------------------------------------------------------------------

    def _meta(self, name: str) -> str | None:
        with self._lock:
            row = self._conn.execute("SELECT value FROM meta WHERE name = ?", (name,)).fetchone()
        return None if row is None else str(row[0])

    def counts(self) -> dict[State, int]:
        """How many keys are in each state (every state present, zeros included)."""
        counts = dict.fromkeys(State, 0)
        with self._lock:
            for state, n in self._conn.execute("SELECT state, count(*) FROM calls GROUP BY state"):
                counts[State(state)] = n
        return counts

    def _last_write(self) -> float:
        with self._lock:
            (last,) = self._conn.execute("SELECT max(updated) FROM calls").fetchone()
        return float(last if last is not None else self._meta("created") or 0)

    def total(self) -> int:
        """How many keys the journal holds."""
        with self._lock:
            (n,) = self._conn.execute("SELECT count(*) FROM calls").fetchone()
        return int(n)

    def summary(self) -> Summary:
        """The counts per state, when it started and was last written, whether a run holds it."""
        return Summary(
            campaign=self.campaign,
            counts=self.counts(),
            started=_utc(float(self._meta("created") or 0)),
            updated=_utc(self._last_write()),
            loaded=self.loaded,
            running=self._file_lock is not None or _is_locked(self.path),
        )

    def get(self, key: str) -> Entry | None:
        """The entry of `key`, or None."""
        with self._lock:
            row = self._conn.execute(f"SELECT {_ENTRY_COLUMNS} FROM calls WHERE key = ?", (key,)).fetchone()
        return None if row is None else _entry(row)

    def entries(self, states: Iterable[State] | None = None, *, chunk: int = 1000) -> Iterator[Entry]:
        """Every entry (or those in `states`), in campaign order, read in chunks."""
        wanted = None if states is None else [str(s) for s in states]
        where = "" if wanted is None else f" AND state IN ({','.join('?' * len(wanted))})"
        last = -1
        while True:
            with self._lock:
                rows = self._conn.execute(
                    f"SELECT rowid, {_ENTRY_COLUMNS} FROM calls WHERE rowid > ?{where} ORDER BY rowid LIMIT ?",
                    (last, *(wanted or ()), chunk),
                ).fetchall()
            if not rows:
                return
            for row in rows:
                yield _entry(row[1:])
            last = rows[-1][0]


_ENTRY_COLUMNS: Final = "key, row, state, request_id, error_type, error, updated"
_STOPPED_IN_FLIGHT: Final = "the run was stopped while this call was in flight; it may have been placed"


def _check_sqlite() -> None:
    """Refuse an SQLite older than the SQL the journal uses, naming both versions."""
    found = tuple(sqlite3.sqlite_version_info)
    if found < MIN_SQLITE:
        raise JournalError(
            f"the journal needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; this Python uses SQLite "
            f"{'.'.join(map(str, found))} (use a Python built against a newer SQLite)"
        )


def _entry(row: Sequence[Any]) -> Entry:
    key, number, state, request_id, error_type, error, updated = row
    return Entry(key=key, row=number, state=State(state), request_id=request_id, error_type=error_type,
                 error=error, updated=_utc(updated))


def _connect(path: str) -> sqlite3.Connection:
    try:
        conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=30.0)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the journal {path}: {exc}") from None
    return conn


def _configure(conn: sqlite3.Connection, path: str) -> None:
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before it returns, so "sending" survives a power cut too.
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.Error as exc:
        raise JournalError(f"cannot use the journal {path}: {exc}") from None


def _stored_campaign(conn: sqlite3.Connection, path: str) -> Campaign | None:
    try:
        tables = {name for (name,) in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}
        if not tables:
            return None
        if not {"meta", "calls"} <= tables:
            raise JournalError(f"{path} is a SQLite database but not a voicekit journal")
        meta = dict(conn.execute("SELECT name, value FROM meta"))
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path} is not a voicekit journal ({exc})") from None
    if meta.get("schema") != str(SCHEMA_VERSION) or "campaign" not in meta:
        raise JournalError(f"{path} is not a voicekit journal of a version this voicekit reads")
    return Campaign._from_json(meta["campaign"])


def _create(conn: sqlite3.Connection, campaign: Campaign, path: str) -> None:
    now = repr(time.time())
    try:
        conn.execute("BEGIN IMMEDIATE")
        try:
            for statement in _SCHEMA.split(";"):
                if statement.strip():
                    conn.execute(statement)
            conn.executemany("INSERT INTO meta VALUES (?, ?)", [
                ("schema", str(SCHEMA_VERSION)), ("campaign", campaign._to_json()), ("created", now),
                ("loaded", "0"),
            ])
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise JournalError(f"cannot create the journal {path}: {exc}") from exc


def _mismatch(path: str, stored: Campaign, given: Campaign) -> str:
    what = [
        name for name in ("sha256", "size", "vendor", "columns", "shard")
        if getattr(stored, name) != getattr(given, name)
    ]
    return (
        f"the journal {path} belongs to another campaign: {stored.describe()}; this run is "
        f"{given.describe()} (different {', '.join(what)}). Run the original campaign file with "
        "this journal, or give this campaign a new --journal file."
    )


def _lock(path: str) -> IO[str] | None:
    if fcntl is None:  # pragma: no cover
        return None
    folder = os.path.dirname(path)
    if not os.path.isdir(folder):
        raise JournalError(f"cannot create the journal {path}: the folder {folder} does not exist")
    try:
        handle = open(path + ".lock", "a")  # held until close()
    except OSError as exc:
        raise JournalError(f"cannot create the journal's lock file {path}.lock: {exc.strerror}") from None
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        handle.close()
        raise JournalBusyError(
            f"another process is running the journal {path}; wait for it to finish, or stop it "
            "(Ctrl-C) and run again"
        ) from None
    return handle


def _unlock(handle: IO[str] | None) -> None:
    if handle is not None:
        handle.close()  # closing releases the flock


def _is_locked(path: str) -> bool:
    if fcntl is None or not os.path.exists(path + ".lock"):  # pragma: no cover
        return False
    with open(path + ".lock", "a") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
    return False


# -- running -----------------------------------------------------------------------------------


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
    """A run's one writer thread: every write to the journal, in the order it was asked for.

    Claims asked for while a transaction is under way are committed together in the next one,
    with the outcomes that are ready by then; the thread goes from one claim transaction to the
    next on its own. Waiting for the event loop between them would cost more than the commit
    itself on a busy machine: a claim is on the path of every call.
    """

    def __init__(self, journal: Journal, loop: asyncio.AbstractEventLoop) -> None:
        self.journal = journal
        self.failure: JournalError | None = None
        self._loop = loop
        self._jobs: queue.SimpleQueue[_Claim | _Call | None] = queue.SimpleQueue()
        self._ready: list[Outcome[Any]] = []  # outcomes to write, taken by the next transaction
        self._ready_lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name="voicekit-journal", daemon=True)
        self._thread.start()

    def claim(self, key: str) -> asyncio.Future[bool]:
        """Claim `key` in the next transaction; the future says whether it was pending."""
        future: asyncio.Future[bool] = self._loop.create_future()
        self._jobs.put(_Claim(key, future))
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

    def submit(self, fn: Callable[..., T], *args: Any) -> asyncio.Future[T]:
        """Run ``fn(*args)`` on the thread after the jobs already asked for."""
        future: asyncio.Future[T] = self._loop.create_future()
        self._jobs.put(_Call(fn, args, future))
        return future

    def close(self) -> None:
        """End the thread once the jobs already asked for are done."""
        self._jobs.put(None)

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
                    self._answer(job.future, None, exc)
                else:
                    self._answer(job.future, result, None)
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
                claimed = self.journal.claim([c.key for c in claims], self.take())
            except JournalError as exc:
                self.failure, claimed = exc, set()
            except Exception as exc:  # noqa: BLE001 - every waiting claim must still be answered
                self.failure = JournalError(f"cannot claim in the journal {self.journal.path}: {exc!r}")
                claimed = set()
            self._loop.call_soon_threadsafe(_answer_claims, claims, claimed)

    def _answer(self, future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
        self._loop.call_soon_threadsafe(_settle, future, result, error)


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


async def journaled(
    journal: Journal,
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
    loop = asyncio.get_running_loop()
    source = aiter_specs(specs)
    writer = _Writer(journal, loop)
    # Reads (the filter) have their own thread, so that they never delay a claim.
    reader = concurrent.futures.ThreadPoolExecutor(max_workers=1, thread_name_prefix="voicekit-journal-read")
    requested: set[str] = set()  # before_send started and has not returned: the request has not left
    departed: set[str] = set()  # before_send returned (the request may have left), no outcome yet
    has_outcomes = asyncio.Event()
    full = asyncio.Event()
    closed = False  # the run is ending: claim nothing more

    def stopping() -> bool:
        return closed or writer.failure is not None or (stop is not None and stop.is_set())

    async def before_send(key: str) -> None:
        if stopping() or key in requested or key in departed:  # a repeated key: this run has it
            raise _NotClaimed(f"{key!r} was not claimed")
        requested.add(key)
        # Cancelled here, the key stays in `requested`: the run's end puts it back to pending.
        ok = await writer.claim(key)
        requested.discard(key)
        if not ok:
            raise _NotClaimed(f"{key!r} is no longer pending")
        departed.add(key)

    async def flush_forever() -> None:
        while True:
            await has_outcomes.wait()
            if writer.pending_outcomes() < flush_size:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(flush_interval):
                        await full.wait()
            has_outcomes.clear()
            full.clear()
            if writer.pending_outcomes():
                # Shielded: once asked for, a batch is written even if the run is cancelled.
                await asyncio.shield(writer.flush())

    async def next_batch() -> tuple[list[S], bool]:
        # Up to `filter_size` specs with distinct keys, less those the journal says are not
        # pending; and whether the source is exhausted.
        while True:
            batch: dict[str, S] = {}
            exhausted = False
            while len(batch) < filter_size:
                try:
                    spec = await source.__anext__()
                except StopAsyncIteration:
                    exhausted = True
                    break
                batch.setdefault(spec.key, spec)
            if not batch:
                return [], exhausted
            pending = await loop.run_in_executor(reader, journal.pending, list(batch))
            kept = [spec for key, spec in batch.items() if key in pending]
            if kept or exhausted:
                return kept, exhausted

    prefetch: asyncio.Task[tuple[list[S], bool]] | None = None

    async def feed() -> AsyncIterator[S]:
        nonlocal prefetch
        exhausted = False
        while not exhausted:
            if prefetch is None:
                prefetch = asyncio.create_task(next_batch())
            batch, exhausted = await prefetch
            # Filter the next batch while this one is being sent.
            prefetch = None if exhausted else asyncio.create_task(next_batch())
            for spec in batch:
                if stopping():
                    return
                yield spec

    outcomes = send_many(feed(), before_send)
    tasks = [asyncio.create_task(flush_forever())]
    try:
        async for outcome in outcomes:
            if writer.failure is not None:
                raise writer.failure
            if isinstance(outcome.error, _NotClaimed):
                continue  # never sent, and not this run's to record
            departed.discard(outcome.key)
            writer.add(outcome)
            has_outcomes.set()
            if writer.pending_outcomes() >= flush_size:
                full.set()
            yield outcome
        if writer.failure is not None:
            raise writer.failure
    finally:
        closed = True
        await _end_run(writer, reader, outcomes, source, [*tasks, prefetch], requested, departed)


async def _end_run(
    writer: _Writer,
    reader: concurrent.futures.ThreadPoolExecutor,
    outcomes: AsyncIterator[Any],
    source: AsyncIterator[Any],
    tasks: Sequence[asyncio.Task[Any] | None],
    requested: set[str],
    departed: set[str],
) -> None:
    """Stop sending, then write the run's end off the loop, whatever cancels us meanwhile."""
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
        await source.aclose()  # type: ignore[attr-defined]
    reader.shutdown(wait=False, cancel_futures=True)
    # Queued after any claim still waiting for the writer, so a key it commits is released here.
    journal = writer.journal
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
