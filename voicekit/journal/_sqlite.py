"""The SQLite store: the embedded default journal of one campaign, run by one process at a time."""

from __future__ import annotations

import contextlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import IO, Any, Final

from .._bulk import Outcome
from .._campaign import Campaign, CampaignRow, dialed_number
from ._store import (
    RETRYABLE_ERRORS,
    STOPPED_IN_FLIGHT,
    CallOutcome,
    CampaignMismatchError,
    Entry,
    JournalBusyError,
    JournalError,
    OutcomeCounts,
    Resolution,
    State,
    Summary,
    call_outcome,
    error_text,
    result_id,
    utc,
)

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["MIN_SQLITE", "SCHEMA_VERSION", "Journal"]

log = logging.getLogger("voicekit")

SCHEMA_VERSION: Final = 1
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

# Added after the first release: created on open when missing, so older journals gain them.
# `sent`: when the key was last claimed (a reconcile's time window starts there). `outcomes`:
# how each placed call ended; `key` NULL while no row is known (a release event to match by
# number and time); `vendor_id` makes a resent webhook a no-op.
_OUTCOME_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS outcomes (vendor_id TEXT PRIMARY KEY, key TEXT UNIQUE, "
    "answered INTEGER NOT NULL, request_id TEXT, number TEXT, time REAL, billed_seconds INTEGER, "
    "rate TEXT, hangup_reason TEXT, source TEXT NOT NULL, received REAL NOT NULL)",
    "CREATE INDEX IF NOT EXISTS outcomes_unmatched ON outcomes (request_id) WHERE key IS NULL",
    "CREATE INDEX IF NOT EXISTS calls_request_id ON calls (request_id) WHERE request_id IS NOT NULL",
)
_OUTCOME_COLUMNS: Final = (
    "vendor_id, key, answered, request_id, number, time, billed_seconds, rate, hangup_reason, source"
)


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
                _migrate(conn, path)
                if stored is not None:
                    if stored.path != campaign.path:
                        log.info("journal %s: the campaign file moved from %s to %s", path, stored.path, campaign.path)
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
        try:
            _migrate(conn, path)
        except BaseException:
            conn.close()
            raise
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
                    "INSERT OR IGNORE INTO calls (key, row, state, error_type, error, updated, number) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?)",
                    (
                        row.key,
                        row.number,
                        State.FAILED if failed else State.PENDING,
                        "MalformedRow" if failed else None,
                        row.problem,
                        now,
                        dialed_number(row.spec),
                    ),
                )
                if cur.rowcount:
                    if failed:
                        problems.append(row)
                    continue
                (first,) = conn.execute("SELECT row FROM calls WHERE key = ?", (row.key,)).fetchone()
                if first is None or first == row.number:
                    continue  # loaded before
                dup = CampaignRow(
                    number=row.number,
                    key=f"{row.key}@row{row.number}",
                    problem=f"duplicate key {row.key!r} (first at row {first})",
                )
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
            found = dict(
                self._conn.execute(
                    "SELECT key, state FROM calls WHERE key IN (SELECT value FROM json_each(?))", (batch,)
                ).fetchall()
            )
        return {key for key in keys if found.get(key) == State.PENDING or (key not in found and not self._loaded)}

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
                items.append((outcome.key, "placed", result_id(outcome.result), None, None, 0))
            else:
                items.append(
                    (
                        outcome.key,
                        "unknown" if outcome.unknown else "failed",
                        None,
                        type(error).__name__,
                        error_text(error),
                        int(isinstance(error, RETRYABLE_ERRORS)),
                    )
                )
        if not items:
            return set()
        statement = (
            "UPDATE calls SET state = o.value ->> 1, request_id = o.value ->> 2, error_type = o.value ->> 3, "
            "error = o.value ->> 4, retryable = o.value ->> 5, updated = ?1, "
            "sent = iif(o.value ->> 1 = 'sending', ?1, calls.sent) FROM json_each(?2) AS o "
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
                placed[outcome.key] = result_id(outcome.result)
            else:
                others.append(
                    (
                        outcome.key,
                        "unknown" if outcome.unknown else "failed",
                        type(error).__name__,
                        error_text(error),
                        int(isinstance(error, RETRYABLE_ERRORS)),
                    )
                )
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
                [(STOPPED_IN_FLIGHT, now, key) for key in unfinished],
            )

    def mark_unknown(self, keys: Iterable[str], reason: str) -> None:
        """Mark keys whose request may have left, but whose outcome never came, ``unknown``."""
        with self._write() as conn:
            conn.executemany(
                "UPDATE calls SET state = 'unknown', error_type = 'Interrupted', error = ?, updated = ? "
                "WHERE key = ? AND state = 'sending'",
                [(reason, time.time(), key) for key in keys],
            )

    # -- how calls ended -----------------------------------------------------------------------

    def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts:
        """Write how calls ended in one transaction (see `voicekit.journal.Store.add_outcomes`)."""
        if not outcomes:
            return OutcomeCounts()
        now = time.time()
        written = unmatched = duplicate = 0
        foreign: list[str] = []
        with self._write() as conn:
            for outcome in outcomes:
                key = outcome.key
                if key is not None:
                    if conn.execute("SELECT 1 FROM calls WHERE key = ?", (key,)).fetchone() is None:
                        foreign.append(key)
                        continue
                elif outcome.request_id is not None:
                    row = conn.execute("SELECT key FROM calls WHERE request_id = ?", (outcome.request_id,)).fetchone()
                    key = None if row is None else row[0]
                if not _insert_outcome(conn, outcome, key, now):
                    duplicate += 1
                elif key is None:
                    unmatched += 1
                else:
                    written += 1
                    _mark_placed(conn, key, outcome.request_id, now)
            _adopt(conn, now)
        return OutcomeCounts(
            written=written, unmatched=unmatched, duplicate=duplicate, foreign=len(foreign), foreign_keys=tuple(foreign)
        )

    def outcomes(self, keys: Sequence[str]) -> dict[str, CallOutcome]:
        """The outcomes of the rows among `keys` that have one."""
        with self._lock:
            rows = self._conn.execute(
                f"SELECT {_OUTCOME_COLUMNS} FROM outcomes WHERE key IN (SELECT value FROM json_each(?))",
                (json.dumps(list(keys)),),
            ).fetchall()
        return {row[1]: call_outcome(row) for row in rows}

    def unmatched_outcomes(self) -> Iterator[CallOutcome]:
        """The outcomes kept without a row (release events to match by number and time)."""
        with self._lock:
            rows = self._conn.execute(f"SELECT {_OUTCOME_COLUMNS} FROM outcomes WHERE key IS NULL").fetchall()
        for row in rows:
            yield call_outcome(row)

    def outcome_counts(self) -> dict[str, int]:
        """``{"answered": n, "missed": n, "awaiting": n}`` (awaiting: placed, no outcome yet)."""
        with self._lock:
            answered, missed, awaiting = self._conn.execute(
                "SELECT coalesce(sum(o.answered = 1), 0), coalesce(sum(o.answered = 0), 0), "
                "coalesce(sum(c.state = 'placed' AND o.vendor_id IS NULL), 0) "
                "FROM calls c LEFT JOIN outcomes o ON o.key = c.key"
            ).fetchone()
        return {"answered": int(answered), "missed": int(missed), "awaiting": int(awaiting)}

    def numbers(self, keys: Sequence[str]) -> dict[str, str]:
        """The number each of `keys` dials (for those the journal knows it of)."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, number FROM calls WHERE number IS NOT NULL AND key IN (SELECT value FROM json_each(?))",
                (json.dumps(list(keys)),),
            ).fetchall()
        return dict(rows)

    def sent_times(self, keys: Sequence[str]) -> dict[str, float]:
        """When each of `keys` was last claimed (epoch seconds), for those that were."""
        with self._lock:
            rows = self._conn.execute(
                "SELECT key, sent FROM calls WHERE sent IS NOT NULL AND key IN (SELECT value FROM json_each(?))",
                (json.dumps(list(keys)),),
            ).fetchall()
        return {key: float(sent) for key, sent in rows}

    def resolve(
        self,
        placed: Sequence[tuple[str, CallOutcome | None]],
        requeue: Sequence[str],
        notes: Sequence[tuple[str, str]],
    ) -> Resolution:
        """Apply a reconciliation in one transaction, to ``unknown`` rows only (see
        `voicekit.journal.Store.resolve`)."""
        now = time.time()
        n_placed = n_requeued = n_noted = 0
        with self._write() as conn:
            _adopt(conn, now)
            for key, outcome in placed:
                if outcome is not None and not _insert_outcome(conn, outcome, key, now):
                    # Known already (e.g. an unmatched release event): it is this row's now.
                    conn.execute(
                        "UPDATE outcomes SET key = ? WHERE vendor_id = ? AND key IS NULL", (key, outcome.vendor_id)
                    )
                n_placed += conn.execute(
                    "UPDATE calls SET state = 'placed', request_id = coalesce(request_id, ?), error_type = NULL, "
                    "error = NULL, retryable = 0, updated = ? WHERE key = ? AND state = 'unknown'",
                    (None if outcome is None else outcome.request_id, now, key),
                ).rowcount
            for key in requeue:
                # Never a row the vendor has told about meanwhile: that call was placed.
                n_requeued += conn.execute(
                    "UPDATE calls SET state = 'pending', request_id = NULL, error_type = NULL, error = NULL, "
                    "retryable = 0, updated = ? WHERE key = ? AND state = 'unknown' "
                    "AND NOT EXISTS (SELECT 1 FROM outcomes WHERE outcomes.key = calls.key)",
                    (now, key),
                ).rowcount
            for key, reason in notes:
                n_noted += conn.execute(
                    "UPDATE calls SET error_type = 'Unreconciled', error = ?, updated = ? "
                    "WHERE key = ? AND state = 'unknown'",
                    (error_text(ValueError(reason)), now, key),
                ).rowcount
        return Resolution(placed=n_placed, requeued=n_requeued, noted=n_noted)

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
            started=utc(float(self._meta("created") or 0)),
            updated=utc(self._last_write()),
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


def _migrate(conn: sqlite3.Connection, path: str) -> None:
    """Add what later versions keep (the `sent` and `number` columns, the outcomes table) to a
    journal. `number` (the number a row dials) is filled by `load`: NULL in older journals."""
    try:
        columns = {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
        if {"sent", "number"} <= columns and conn.execute(
            "SELECT 1 FROM sqlite_master WHERE type = 'index' AND name = 'calls_request_id'"
        ).fetchone():
            return
        conn.execute("BEGIN IMMEDIATE")
        try:
            present = {row[1] for row in conn.execute("PRAGMA table_info(calls)")}
            for column, kind in (("sent", "REAL"), ("number", "TEXT")):
                if column not in present:
                    conn.execute(f"ALTER TABLE calls ADD COLUMN {column} {kind}")
            for statement in _OUTCOME_SCHEMA:
                conn.execute(statement)
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise JournalError(f"cannot update the journal {path} to this version: {exc}") from exc


def _insert_outcome(conn: sqlite3.Connection, outcome: CallOutcome, key: str | None, now: float) -> bool:
    """Keep `outcome` (under `key`); False when it is known already (a resend)."""
    return bool(
        conn.execute(
            "INSERT OR IGNORE INTO outcomes (vendor_id, key, answered, request_id, number, time, billed_seconds, "
            "rate, hangup_reason, source, received) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (
                outcome.vendor_id,
                key,
                int(outcome.answered),
                outcome.request_id,
                outcome.number,
                outcome.time,
                outcome.billed_seconds,
                outcome.rate,
                outcome.hangup_reason,
                outcome.source,
                now,
            ),
        ).rowcount
    )


def _mark_placed(conn: sqlite3.Connection, key: str, request_id: str | None, now: float) -> None:
    # The vendor saw the call: whatever the run thought (unknown, a failure) it was placed,
    # and a pending row (requeued too early) must not be dialed again. "sending" is its run's.
    conn.execute(
        "UPDATE calls SET state = 'placed', request_id = coalesce(request_id, ?), error_type = NULL, "
        "error = NULL, retryable = 0, updated = ? WHERE key = ? AND state IN ('pending', 'unknown', 'failed')",
        (request_id, now, key),
    )


def _adopt(conn: sqlite3.Connection, now: float) -> None:
    """Give unmatched outcomes whose request id a row has since recorded to that row."""
    rows = conn.execute(
        "SELECT o.vendor_id, c.key, o.request_id FROM outcomes o JOIN calls c ON c.request_id = o.request_id "
        "WHERE o.key IS NULL AND o.request_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM outcomes x WHERE x.key = c.key)"
    ).fetchall()
    for vendor_id, key, request_id in rows:
        conn.execute("UPDATE OR IGNORE outcomes SET key = ? WHERE vendor_id = ?", (key, vendor_id))
        _mark_placed(conn, key, request_id, now)


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
    return Entry(
        key=key,
        row=number,
        state=State(state),
        request_id=request_id,
        error_type=error_type,
        error=error,
        updated=utc(updated),
    )


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
            conn.executemany(
                "INSERT INTO meta VALUES (?, ?)",
                [
                    ("schema", str(SCHEMA_VERSION)),
                    ("campaign", campaign._to_json()),
                    ("created", now),
                    ("loaded", "0"),
                ],
            )
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")
    except sqlite3.Error as exc:
        raise JournalError(f"cannot create the journal {path}: {exc}") from exc


def _mismatch(path: str, stored: Campaign, given: Campaign) -> str:
    what = [
        name
        for name in ("sha256", "size", "vendor", "columns", "shard")
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
            f"another process is running the journal {path}; wait for it to finish, or stop it (Ctrl-C) and run again"
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
