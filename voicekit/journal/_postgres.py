"""The PostgreSQL store: one campaign shared by any number of workers, on any machines.

Install the extra (``pip install "psycopg[binary]" psycopg-pool``). Every worker runs the same campaign
against the same database::

    pending ──reserve──> pending, held by W ──claim──> sending (W) ──outcome──> placed | failed | unknown
                                                           │
                                         W's lease expired ┴──> unknown   (it may have been dialed)

* **Reserve.** A worker takes the next free pending rows (``FOR UPDATE SKIP LOCKED``), so rows
  flow to whoever has capacity and two workers never hold one row. The row's spec is stored in
  the database at load, so any worker can send any row.
* **Claim.** Right before a request leaves, the key goes ``sending`` in a transaction that first
  renews this worker's lease, and claims nothing if the lease has expired (`LeaseLostError`):
  a worker that was merely slow notices before it dials a row it no longer owns.
* **Lease.** Each worker renews its lease while alive (a heartbeat task, and every claim).
  Any live worker marks the rows of a worker whose lease expired: its ``sending`` rows
  ``unknown`` (never pending: they may have been dialed), its reserved pending rows free again.
  Expiry is judged by the database's clock only, so the machines' clocks do not matter.

The store is async: `AsyncPostgresJournal` runs on the event loop that dials, over psycopg 3's
async connection pool, so a claim costs no thread hand-off; `PostgresJournal` is its blocking
twin (the async core on voicekit's background loop), for status, report and reconcile.

The database restarting mid-run: every transaction is retried (bounded) until it is back; a
claim whose commit was lost is retried under the same token, so it is never claimed twice nor
lost. The password of the URL never appears in errors, reprs or logs.
"""

from __future__ import annotations

import asyncio
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Iterator, Sequence
from types import TracebackType
from typing import Any, Final, Self, TypeVar
from urllib.parse import urlsplit, urlunsplit

from .._bulk import Outcome
from .._campaign import Campaign, CampaignRow, dialed_number, spec_from_json, spec_to_json
from .._sync import BlockingClient, call
from ..huawei import Notify
from ..telecmi import Dial
from ._store import (
    STOPPED_IN_FLIGHT,
    CallOutcome,
    CampaignMismatchError,
    Entry,
    JournalError,
    LeaseLostError,
    OutcomeCounts,
    Resolution,
    State,
    Summary,
    WorkerCount,
    call_outcome,
    error_text,
    outcome_row,
    utc,
)

__all__ = ["DEFAULT_LEASE", "AsyncPostgresJournal", "PostgresJournal", "is_postgres_url", "redact_url"]

log = logging.getLogger("voicekit")

T = TypeVar("T")

SCHEMA_VERSION: Final = 1
#: Seconds a silent worker keeps its claims.
DEFAULT_LEASE: Final = 30.0
#: Seconds a worker waits for the database to come back before it gives up.
DEFAULT_RECONNECT: Final = 60.0
_RETRY_PAUSE: Final = 0.5
_CONNECT_TIMEOUT: Final = 10
_LOCK_ID: Final = 0x766F6963656B6974  # "voicekit": the advisory lock that serialises setup and load
_LEASE_EXPIRED: Final = "the worker sending this call stopped renewing its lease; it may have been placed"

_SCHEMA: Final = (
    "CREATE TABLE IF NOT EXISTS voicekit_meta (name text PRIMARY KEY, value text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS voicekit_workers (id text PRIMARY KEY, host text NOT NULL, pid integer NOT NULL, "
    "started timestamptz NOT NULL, expires timestamptz NOT NULL, state text NOT NULL)",
    "CREATE TABLE IF NOT EXISTS voicekit_calls (key text PRIMARY KEY, row integer, state text NOT NULL, "
    "spec text, holder text, token text, request_id text, error_type text, error text, "
    "retryable integer NOT NULL DEFAULT 0, updated timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS voicekit_calls_free ON voicekit_calls (row) WHERE state = 'pending' AND holder IS NULL",
    "CREATE INDEX IF NOT EXISTS voicekit_calls_held ON voicekit_calls (holder) WHERE state IN ('pending', 'sending')",
)
# Added after the first release (see the SQLite store): `sent`, and how each placed call ended.
_OUTCOME_SCHEMA: Final = (
    "ALTER TABLE voicekit_calls ADD COLUMN IF NOT EXISTS sent timestamptz",
    "CREATE TABLE IF NOT EXISTS voicekit_outcomes (vendor_id text PRIMARY KEY, key text UNIQUE, "
    "answered boolean NOT NULL, request_id text, number text, time double precision, billed_seconds integer, "
    "rate text, hangup_reason text, source text NOT NULL, received timestamptz NOT NULL)",
    "CREATE INDEX IF NOT EXISTS voicekit_outcomes_unmatched ON voicekit_outcomes (request_id) WHERE key IS NULL",
    "CREATE INDEX IF NOT EXISTS voicekit_calls_request_id ON voicekit_calls (request_id) WHERE request_id IS NOT NULL",
)
_OUTCOME_COLUMNS: Final = (
    "vendor_id, key, answered, request_id, number, time, billed_seconds, rate, hangup_reason, source"
)


def is_postgres_url(target: str) -> bool:
    """Whether a ``--journal`` names a PostgreSQL database rather than an SQLite file."""
    return target.startswith(("postgresql://", "postgres://"))


def redact_url(url: str) -> str:
    """The URL without its password (``***`` in its place)."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "postgresql://(unreadable URL)"


def _import_psycopg() -> Any:
    try:
        import psycopg
        import psycopg_pool
    except ImportError:
        raise JournalError('a PostgreSQL journal needs psycopg: pip install "psycopg[binary]" psycopg-pool') from None
    return psycopg, psycopg_pool


class AsyncPostgresJournal:
    """The journal of one campaign in PostgreSQL, shared by many workers: the async core.

    Open it with `AsyncPostgresJournal.open` to run the campaign as one worker, or
    `AsyncPostgresJournal.read` to look at it, on the event loop that uses it (its connection
    pool and its lease's heartbeat live there). `PostgresJournal` is its blocking twin.

    Attributes:
        path: the URL, without its password.
        campaign: the campaign it belongs to.
        worker: this worker's id (``host:pid:random``), or None when only reading.
        lease: seconds a silent worker keeps its claims.
        transactions: how many write transactions this object has committed.
    """

    def __init__(
        self, url: str, pool: Any, campaign: Campaign, *, worker: str | None, lease: float, reconnect: float
    ) -> None:
        self.path = redact_url(url)
        self._password = _password(url)
        self.campaign = campaign
        self.worker = worker
        self.lease = lease
        self.reconnect = reconnect
        self.transactions = 0
        self._psycopg, self._psycopg_pool = _import_psycopg()
        self._pool = pool
        self._lost = False
        self._closed = False
        self._heart: asyncio.Task[None] | None = None
        self._migrated = False

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, worker={self.worker!r})"

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        url: str,
        campaign: Campaign,
        *,
        lease: float = DEFAULT_LEASE,
        reconnect: float = DEFAULT_RECONNECT,
    ) -> AsyncPostgresJournal:
        """Join (or create) the campaign's journal at `url` as a new worker.

        Raises:
            CampaignMismatchError: the database holds another campaign's journal.
            JournalError: the database cannot be reached, refuses the credentials or the
                access, or holds something that is not a voicekit journal.
        """
        _check_seconds("lease", lease, positive=True)
        _check_seconds("reconnect", reconnect)
        pool = await _open_pool(url)
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        self = cls(url, pool, campaign, worker=worker, lease=lease, reconnect=reconnect)
        try:
            self.campaign = await self._tx(lambda cur: self._setup(cur, campaign), what="set up the journal")
            self._heart = asyncio.create_task(self._beat(), name="voicekit-journal-lease")
        except BaseException:
            await self.aclose()
            raise
        return self

    @classmethod
    async def read(cls, url: str, *, reconnect: float = 0.0) -> AsyncPostgresJournal:
        """Open the journal at `url` to look at it (status, report), from any machine.

        Raises:
            JournalError: unreachable, refused, or no journal in that database.
        """
        _check_seconds("reconnect", reconnect)
        pool = await _open_pool(url)
        self = cls(url, pool, _NO_CAMPAIGN, worker=None, lease=DEFAULT_LEASE, reconnect=reconnect)
        try:
            stored = await self._tx(self._stored, what="read the journal")
            if stored is None:
                raise JournalError(f"there is no voicekit journal in {self.path}")
        except BaseException:
            await self.aclose()
            raise
        self.campaign = stored
        return self

    async def aclose(self) -> None:
        """Stop renewing the lease, let this worker's unsent rows go, and close the pool."""
        if self._closed:
            return
        self._closed = True
        heart, self._heart = self._heart, None
        if heart is not None:
            heart.cancel()
            await asyncio.wait([heart])
        if self.worker is not None and not self._lost:
            try:
                await self._tx(self._leave, what="leave the campaign", patience=2.0)
            except JournalError as exc:  # its lease expires anyway: the rows are freed then
                log.warning("journal %s: %s", self.path, exc)
        await self._pool.close()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    # -- the transaction helper --------------------------------------------------------------------

    async def _tx(
        self,
        fn: Callable[[Any], Awaitable[T]],
        *,
        what: str,
        patience: float | None = None,
        one_statement: bool = False,
    ) -> T:
        """Run `fn(cursor)` in one transaction; while the database is unreachable, retry
        (for `reconnect` seconds at most, one try every half second).

        `one_statement`: `fn` runs a single statement, a transaction of its own (the
        connections are in autocommit), so no BEGIN and COMMIT round trips go around it. The
        statements on every call's path are such.
        """
        psycopg = self._psycopg
        deadline = time.monotonic() + (self.reconnect if patience is None else patience)
        while True:
            try:
                async with self._pool.connection() as conn, conn.cursor() as cur:
                    if one_statement:
                        result = await fn(cur)
                    else:
                        async with conn.transaction():
                            result = await fn(cur)
                self.transactions += 1
                return result
            except JournalError:
                raise
            except (psycopg.OperationalError, self._psycopg_pool.PoolTimeout) as exc:
                if time.monotonic() >= deadline:
                    raise JournalError(f"cannot {what} in {self.path}: {_clean(exc, self._password)}") from None
                log.warning(
                    "journal %s: the database is unreachable (%s); retrying", self.path, _clean(exc, self._password)
                )
                await asyncio.sleep(_RETRY_PAUSE)
            except psycopg.Error as exc:
                raise JournalError(f"cannot {what} in {self.path}: {_clean(exc, self._password)}") from None

    # -- setup ------------------------------------------------------------------------------------

    async def _stored(self, cur: Any) -> Campaign | None:
        await cur.execute("SELECT to_regclass('voicekit_meta') IS NOT NULL")
        if not (await cur.fetchone())[0]:
            return None
        await cur.execute("SELECT name, value FROM voicekit_meta")
        meta = dict(await cur.fetchall())
        if "campaign" not in meta:
            return None
        if meta.get("schema") != str(SCHEMA_VERSION):
            raise JournalError(f"{self.path} holds a voicekit journal of a version this voicekit does not read")
        return Campaign._from_json(meta["campaign"])

    async def _setup(self, cur: Any, campaign: Campaign) -> Campaign:
        await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))  # workers starting together
        for statement in _SCHEMA:
            await cur.execute(statement)
        await _migrate(cur)
        self._migrated = True
        stored = await self._stored(cur)
        if stored is None:
            await cur.executemany(
                "INSERT INTO voicekit_meta VALUES (%s, %s)",
                [
                    ("schema", str(SCHEMA_VERSION)),
                    ("campaign", campaign._to_json()),
                    ("created", repr(time.time())),
                    ("loaded", "0"),
                ],
            )
            stored = campaign
        elif not stored.same_as(campaign):
            what = [
                n
                for n in ("sha256", "size", "vendor", "columns", "shard")
                if getattr(stored, n) != getattr(campaign, n)
            ]
            raise CampaignMismatchError(
                f"the journal {self.path} belongs to another campaign: {stored.describe()}; this run is "
                f"{campaign.describe()} (different {', '.join(what)}). Run the original campaign file with "
                "this journal, or give this campaign another database."
            )
        await cur.execute(
            "INSERT INTO voicekit_workers VALUES (%s, %s, %s, clock_timestamp(), "
            "clock_timestamp() + make_interval(secs => %s), 'live')",
            (self.worker, socket.gethostname(), os.getpid(), self.lease),
        )
        return stored

    async def _leave(self, cur: Any) -> None:
        await cur.execute(
            "UPDATE voicekit_calls SET holder = NULL WHERE holder = %s AND state = 'pending'", (self.worker,)
        )
        await cur.execute("UPDATE voicekit_workers SET state = 'done' WHERE id = %s AND state = 'live'", (self.worker,))

    # -- the lease --------------------------------------------------------------------------------

    async def _renew(self, cur: Any) -> None:
        # The row lock taken here is what orders a claim against a reaper: whichever commits
        # first, the other sees its result.
        await cur.execute(_RENEW + " RETURNING 1", self._params())
        if await cur.fetchone() is None:
            self._lost = True
            raise LeaseLostError(self._lease_lost())

    def _lease_lost(self) -> str:
        return (
            f"this worker's lease on {self.path} expired (it was silent for more than {self.lease:g} s); "
            "its calls in flight are now unknown and it sends nothing more. Run it again to rejoin."
        )

    async def _beat(self) -> None:
        interval = max(self.lease / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            if self._lost:
                return
            try:
                await self._tx(self._renew, what="renew the lease", patience=0.0)
                await self._tx(self._reap, what="check the other workers' leases", patience=0.0)
            except LeaseLostError:
                return
            except JournalError as exc:  # the database is away: the next beat tries again
                log.warning("journal %s: %s", self.path, exc)

    async def _reap(self, cur: Any) -> int:
        """Mark the rows of workers whose lease expired: ``sending`` -> ``unknown``, reserved
        pending rows free again. Returns how many became unknown."""
        await cur.execute(
            "UPDATE voicekit_workers SET state = 'expired' WHERE state = 'live' AND expires < clock_timestamp()"
        )
        await cur.execute(
            "UPDATE voicekit_calls SET "
            "error_type = CASE WHEN state = 'sending' THEN 'LeaseExpired' ELSE error_type END, "
            "error = CASE WHEN state = 'sending' THEN %s ELSE error END, "
            "holder = CASE WHEN state = 'pending' THEN NULL ELSE holder END, "
            "state = CASE WHEN state = 'sending' THEN 'unknown' ELSE state END, updated = now() "
            "WHERE state IN ('pending', 'sending') AND holder IN "
            "(SELECT id FROM voicekit_workers WHERE state <> 'live') RETURNING state",
            (_LEASE_EXPIRED,),
        )
        return sum(1 for (state,) in await cur.fetchall() if state == "unknown")

    async def reap(self) -> int:
        """Free the rows of workers whose lease expired; return how many became ``unknown``."""
        return await self._tx(self._reap, what="check the other workers' leases")

    # -- writing ----------------------------------------------------------------------------------

    async def is_loaded(self) -> bool:
        """Whether the campaign's rows are all in the journal."""

        async def read(cur: Any) -> bool:
            await cur.execute("SELECT value FROM voicekit_meta WHERE name = 'loaded'")
            row = await cur.fetchone()
            return row is not None and row[0] == "1"

        return await self._tx(read, what="read the journal")

    async def load(
        self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None
    ) -> int:
        """Add every row (with its spec) as ``pending``, once: the first worker loads, the others
        starting at the same time wait for it and load nothing. Returns the number of keys."""
        problems: list[CampaignRow] = []
        replayable = iter(rows) is not rows
        tried = False

        async def load(cur: Any) -> None:
            nonlocal tried
            if tried and not replayable:
                # The database went away mid-load (the transaction rolled back, nothing is
                # loaded) and the rows read so far are gone: never mark a partial load "loaded".
                raise JournalError(
                    f"the connection to {self.path} was lost while the campaign was loading; nothing was "
                    "loaded: run again"
                )
            problems.clear()
            await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
            await cur.execute("SELECT value FROM voicekit_meta WHERE name = 'loaded'")
            if (await cur.fetchone())[0] == "1":
                return
            await cur.execute(
                "CREATE TEMP TABLE voicekit_load (key text, row integer, spec text, error text) ON COMMIT DROP"
            )
            tried = True
            async with cur.copy("COPY voicekit_load (key, row, spec, error) FROM STDIN") as copy:
                for row in rows:
                    await copy.write_row(
                        (row.key, row.number, spec_to_json(row.spec) if row.spec is not None else None, row.problem)
                    )
                    if row.problem is not None:
                        problems.append(row)
            await cur.execute(
                "INSERT INTO voicekit_calls (key, row, state, spec, error_type, error, updated) "
                "SELECT DISTINCT ON (key) key, row, CASE WHEN error IS NULL THEN 'pending' ELSE 'failed' END, "
                "spec, CASE WHEN error IS NULL THEN NULL ELSE 'MalformedRow' END, error, now() "
                "FROM voicekit_load ORDER BY key, row ON CONFLICT (key) DO NOTHING"
            )
            await cur.execute(
                "INSERT INTO voicekit_calls (key, row, state, error_type, error, updated) "
                "SELECT l.key || '@row' || l.row, l.row, 'failed', 'MalformedRow', "
                "'duplicate key ' || quote_literal(l.key) || ' (first at row ' || c.row || ')', now() "
                "FROM voicekit_load l JOIN voicekit_calls c ON c.key = l.key WHERE c.row <> l.row "
                "ON CONFLICT (key) DO NOTHING RETURNING key, row, error"
            )
            problems.extend(CampaignRow(number=n, key=k, problem=e) for k, n, e in await cur.fetchall())
            await cur.execute("UPDATE voicekit_meta SET value = '1' WHERE name = 'loaded'")

        await self._tx(load, what="load the campaign")
        if on_problem is not None:
            for row in sorted(problems, key=lambda r: r.number):
                on_problem(row)
        return await self.total()

    async def recover(self) -> int:
        """Mark the rows of workers whose lease expired (a crash) ``unknown``; return how many.
        Rows of live workers are theirs: they are left alone."""
        return await self.reap()

    async def requeue(self, *, unknown: bool = False, retryable: bool = True) -> int:
        """Make keys ``pending`` again (see `voicekit.journal.Journal.requeue`); return how many."""
        clauses = []
        if unknown:
            clauses.append("state = 'unknown'")
        if retryable:
            clauses.append("(state = 'failed' AND retryable = 1)")
        if not clauses:
            return 0

        async def requeue(cur: Any) -> int:
            await cur.execute(
                "UPDATE voicekit_calls SET state = 'pending', holder = NULL, request_id = NULL, error_type = NULL, "
                f"error = NULL, retryable = 0, updated = now() WHERE spec IS NOT NULL AND ({' OR '.join(clauses)})"
            )
            return int(cur.rowcount)

        return await self._tx(requeue, what="requeue keys")

    async def reserve(self, n: int) -> list[Dial | Notify]:
        """Hold the next `n` free pending rows for this worker; return their specs, in row order."""

        async def reserve(cur: Any) -> list[tuple[int, str]]:
            await self._renew(cur)
            await cur.execute(
                "WITH free AS (SELECT key FROM voicekit_calls WHERE state = 'pending' AND holder IS NULL "
                "ORDER BY row LIMIT %s FOR UPDATE SKIP LOCKED) "
                "UPDATE voicekit_calls c SET holder = %s FROM free WHERE c.key = free.key RETURNING c.row, c.spec",
                (n, self.worker),
            )
            return list(await cur.fetchall())

        rows = await self._tx(reserve, what="take rows")
        return [spec_from_json(self.campaign.vendor, spec) for _, spec in sorted(rows)]

    async def held_elsewhere(self) -> int:
        """How many pending rows other workers hold (they may come free if a worker dies)."""

        async def count(cur: Any) -> int:
            await cur.execute(
                "SELECT count(*) FROM voicekit_calls WHERE state = 'pending' AND holder IS NOT NULL AND holder <> %s",
                (self.worker,),
            )
            return int((await cur.fetchone())[0])

        return await self._tx(count, what="read the journal")

    async def specs(self, batch: int = 64) -> AsyncIterator[Dial | Notify]:
        """The rows this worker sends: free pending rows, taken `batch` at a time as it needs
        them, until none is left (waiting, bounded, for rows another worker holds to be sent
        or, if it died, freed when its lease expires)."""
        idle_since: float | None = None
        while True:
            specs = await self.reserve(batch)
            if specs:
                idle_since = None
                for spec in specs:
                    yield spec
                continue
            if not await self.held_elsewhere():
                return
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since > 3 * self.lease + self.reconnect:
                return  # the rows others hold did not move in that long: leave them to them
            await asyncio.sleep(min(self.lease / 4, 1.0))
            await self.reap()

    async def pending(self, keys: Sequence[str]) -> set[str]:
        """The keys among `keys` this worker may claim: pending and held by it (free ones are
        taken for it now)."""

        async def pending(cur: Any) -> set[str]:
            # Rows held already are only read (rewriting them would cost a row version each);
            # the statement's one snapshot keeps a row taken here out of the second half.
            await cur.execute(
                "WITH took AS (UPDATE voicekit_calls SET holder = %(worker)s WHERE key = ANY(%(keys)s) "
                "AND state = 'pending' AND holder IS NULL RETURNING key) "
                "SELECT key FROM took UNION ALL SELECT key FROM voicekit_calls "
                "WHERE key = ANY(%(keys)s) AND state = 'pending' AND holder = %(worker)s",
                {"worker": self.worker, "keys": list(keys)},
            )
            return {key for (key,) in await cur.fetchall()}

        return await self._tx(pending, what="take rows", one_statement=True)

    async def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        """Renew the lease and mark this worker's pending `keys` ``sending`` (writing `outcomes`
        too) in one transaction; return the keys claimed.

        Raises:
            LeaseLostError: the lease expired: nothing is claimed.
        """
        # A retry after a lost commit finds the keys this claim took by its token.
        params = {"token": uuid.uuid4().hex, "keys": list(keys), **self._params(), **_outcome_params(outcomes)}

        async def claim(cur: Any) -> tuple[bool, set[str]]:
            await cur.execute(_CLAIM, params)
            renewed, claimed = await cur.fetchone()
            return bool(renewed), set(claimed)

        # One statement, one round trip: the renewal gates the claim (its row lock orders the
        # claim against a reaper); the outcomes are written whatever the lease (they are what
        # the vendor said, and correct "unknown").
        renewed, claimed = await self._tx(claim, what="claim keys", one_statement=True)
        if not renewed:
            self._lost = True
            raise LeaseLostError(self._lease_lost())
        return claimed

    def _params(self) -> dict[str, Any]:
        return {"worker": self.worker, "lease": self.lease}

    async def _record_in(self, cur: Any, outcomes: Sequence[Outcome[Any]]) -> None:
        if outcomes:
            await cur.execute(_RECORD, {**self._params(), **_outcome_params(outcomes)})

    async def record(self, outcomes: Sequence[Outcome[Any]]) -> None:
        """Write the outcomes of sent keys in one transaction."""
        if outcomes:
            await self._tx(lambda cur: self._record_in(cur, outcomes), what="record outcomes", one_statement=True)

    async def finish(self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]) -> None:
        """End a run: write `outcomes`, put `unsent` claims back to pending, mark `unfinished`
        ``unknown``, and let the rows this worker held but did not send go to the others."""
        unsent, unfinished = list(unsent), list(unfinished)

        async def finish(cur: Any) -> None:
            await self._record_in(cur, outcomes)
            await cur.execute(
                "UPDATE voicekit_calls SET state = 'pending', updated = now() "
                "WHERE key = ANY(%s) AND holder = %s AND state = 'sending'",
                (unsent, self.worker),
            )
            await cur.execute(
                "UPDATE voicekit_calls SET state = 'unknown', error_type = 'Interrupted', error = %s, "
                "updated = now() WHERE key = ANY(%s) AND holder = %s AND state = 'sending'",
                (STOPPED_IN_FLIGHT, unfinished, self.worker),
            )
            await cur.execute(
                "UPDATE voicekit_calls SET holder = NULL WHERE holder = %s AND state = 'pending'", (self.worker,)
            )

        await self._tx(finish, what="end the run")

    # -- how calls ended ---------------------------------------------------------------------------

    async def _outcome_tx(self, fn: Callable[[Any], Awaitable[T]], *, what: str) -> T:
        """`_tx`, after making sure the outcome tables exist (a journal made by an older version,
        opened only to read)."""
        if not self._migrated:

            async def migrate(cur: Any) -> None:
                await cur.execute("SELECT pg_advisory_xact_lock(%s)", (_LOCK_ID,))
                await _migrate(cur)

            await self._tx(migrate, what="update the journal to this version")
            self._migrated = True
        return await self._tx(fn, what=what)

    async def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts:
        """Write how calls ended in one transaction (see `voicekit.journal.Store.add_outcomes`)."""
        if not outcomes:
            return OutcomeCounts()

        async def add(cur: Any) -> OutcomeCounts:
            written = unmatched = duplicate = 0
            foreign: list[str] = []
            for outcome in outcomes:
                key = outcome.key
                if key is not None:
                    await cur.execute("SELECT 1 FROM voicekit_calls WHERE key = %s", (key,))
                    if await cur.fetchone() is None:
                        foreign.append(key)
                        continue
                elif outcome.request_id is not None:
                    await cur.execute(
                        "SELECT key FROM voicekit_calls WHERE request_id = %s LIMIT 1", (outcome.request_id,)
                    )
                    row = await cur.fetchone()
                    key = None if row is None else row[0]
                if not await _insert_outcome(cur, outcome, key):
                    duplicate += 1
                elif key is None:
                    unmatched += 1
                else:
                    written += 1
                    await _mark_placed(cur, key, outcome.request_id)
            await _adopt(cur)
            return OutcomeCounts(
                written=written,
                unmatched=unmatched,
                duplicate=duplicate,
                foreign=len(foreign),
                foreign_keys=tuple(foreign),
            )

        return await self._outcome_tx(add, what="record how calls ended")

    async def outcomes(self, keys: Sequence[str]) -> dict[str, CallOutcome]:
        """The outcomes of the rows among `keys` that have one."""

        async def read(cur: Any) -> dict[str, CallOutcome]:
            await cur.execute(f"SELECT {_OUTCOME_COLUMNS} FROM voicekit_outcomes WHERE key = ANY(%s)", (list(keys),))
            return {row[1]: call_outcome(row) for row in await cur.fetchall()}

        return await self._outcome_tx(read, what="read the journal")

    async def unmatched_outcomes(self) -> list[CallOutcome]:
        """The outcomes kept without a row (release events to match by number and time)."""

        async def read(cur: Any) -> list[CallOutcome]:
            await cur.execute(f"SELECT {_OUTCOME_COLUMNS} FROM voicekit_outcomes WHERE key IS NULL")
            return [call_outcome(row) for row in await cur.fetchall()]

        return await self._outcome_tx(read, what="read the journal")

    async def outcome_counts(self) -> dict[str, int]:
        """``{"answered": n, "missed": n, "awaiting": n}`` (awaiting: placed, no outcome yet)."""

        async def read(cur: Any) -> dict[str, int]:
            await cur.execute(
                "SELECT count(*) FILTER (WHERE o.answered), count(*) FILTER (WHERE NOT o.answered), "
                "count(*) FILTER (WHERE c.state = 'placed' AND o.vendor_id IS NULL) "
                "FROM voicekit_calls c LEFT JOIN voicekit_outcomes o ON o.key = c.key"
            )
            answered, missed, awaiting = await cur.fetchone()
            return {"answered": int(answered), "missed": int(missed), "awaiting": int(awaiting)}

        return await self._outcome_tx(read, what="read the journal")

    async def numbers(self, keys: Sequence[str]) -> dict[str, str]:
        """The number each of `keys` dials (from the spec stored with it)."""

        async def read(cur: Any) -> list[tuple[str, str]]:
            await cur.execute(
                "SELECT key, spec FROM voicekit_calls WHERE spec IS NOT NULL AND key = ANY(%s)", (list(keys),)
            )
            return list(await cur.fetchall())

        found = {}
        for key, spec in await self._tx(read, what="read the journal"):
            number = dialed_number(spec_from_json(self.campaign.vendor, spec))
            if number is not None:
                found[key] = number
        return found

    async def sent_times(self, keys: Sequence[str]) -> dict[str, float]:
        """When each of `keys` was last claimed (epoch seconds), for those that were."""

        async def read(cur: Any) -> dict[str, float]:
            await cur.execute(
                "SELECT key, extract(epoch FROM sent) FROM voicekit_calls WHERE sent IS NOT NULL AND key = ANY(%s)",
                (list(keys),),
            )
            return {key: float(sent) for key, sent in await cur.fetchall()}

        return await self._outcome_tx(read, what="read the journal")

    async def resolve(
        self,
        placed: Sequence[tuple[str, CallOutcome | None]],
        requeue: Sequence[str],
        notes: Sequence[tuple[str, str]],
    ) -> Resolution:
        """Apply a reconciliation in one transaction, to ``unknown`` rows only (see
        `voicekit.journal.Store.resolve`)."""

        async def resolve(cur: Any) -> Resolution:
            n_placed = n_requeued = n_noted = 0
            await _adopt(cur)
            for key, outcome in placed:
                if outcome is not None and not await _insert_outcome(cur, outcome, key):
                    await cur.execute(
                        "UPDATE voicekit_outcomes SET key = %s WHERE vendor_id = %s AND key IS NULL",
                        (key, outcome.vendor_id),
                    )
                await cur.execute(
                    "UPDATE voicekit_calls SET state = 'placed', request_id = coalesce(request_id, %s), "
                    "error_type = NULL, error = NULL, retryable = 0, updated = now() "
                    "WHERE key = %s AND state = 'unknown'",
                    (None if outcome is None else outcome.request_id, key),
                )
                n_placed += cur.rowcount
            for key in requeue:
                # Never a row the vendor has told about meanwhile: that call was placed.
                await cur.execute(
                    "UPDATE voicekit_calls c SET state = 'pending', holder = NULL, request_id = NULL, "
                    "error_type = NULL, error = NULL, retryable = 0, updated = now() "
                    "WHERE key = %s AND state = 'unknown' AND spec IS NOT NULL "
                    "AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes o WHERE o.key = c.key)",
                    (key,),
                )
                n_requeued += cur.rowcount
            for key, reason in notes:
                await cur.execute(
                    "UPDATE voicekit_calls SET error_type = 'Unreconciled', error = %s, updated = now() "
                    "WHERE key = %s AND state = 'unknown'",
                    (error_text(ValueError(reason)), key),
                )
                n_noted += cur.rowcount
            return Resolution(placed=n_placed, requeued=n_requeued, noted=n_noted)

        return await self._outcome_tx(resolve, what="apply the reconciliation")

    # -- reading ----------------------------------------------------------------------------------

    async def counts(self) -> dict[State, int]:
        """How many keys are in each state (every state present, zeros included)."""

        async def counts(cur: Any) -> dict[State, int]:
            result = dict.fromkeys(State, 0)
            await cur.execute("SELECT state, count(*) FROM voicekit_calls GROUP BY state")
            for state, n in await cur.fetchall():
                result[State(state)] = int(n)
            return result

        return await self._tx(counts, what="read the journal")

    async def total(self) -> int:
        """How many keys the journal holds."""
        return sum((await self.counts()).values())

    async def summary(self) -> Summary:
        """The counts, the times, whether a worker is live, and each worker's counts."""

        async def summary(cur: Any) -> Summary:
            await cur.execute("SELECT value FROM voicekit_meta WHERE name = 'created'")
            created = float((await cur.fetchone())[0])
            await cur.execute("SELECT extract(epoch FROM max(updated)) FROM voicekit_calls")
            last = (await cur.fetchone())[0]
            await cur.execute("SELECT state, count(*) FROM voicekit_calls GROUP BY state")
            counts = dict.fromkeys(State, 0)
            for state, n in await cur.fetchall():
                counts[State(state)] = int(n)
            await cur.execute(
                "SELECT id, state = 'live' AND expires > clock_timestamp() FROM voicekit_workers ORDER BY started"
            )
            workers = {wid: (bool(live), dict.fromkeys(State, 0)) for wid, live in await cur.fetchall()}
            await cur.execute(
                "SELECT holder, state, count(*) FROM voicekit_calls WHERE holder IS NOT NULL GROUP BY holder, state"
            )
            for holder, state, n in await cur.fetchall():
                if holder in workers:
                    workers[holder][1][State(state)] = int(n)
            await cur.execute("SELECT value FROM voicekit_meta WHERE name = 'loaded'")
            loaded = (await cur.fetchone())[0] == "1"
            return Summary(
                campaign=self.campaign,
                counts=counts,
                started=utc(created),
                updated=utc(float(last) if last is not None else created),
                loaded=loaded,
                running=any(live for live, _ in workers.values()),
                workers=[WorkerCount(worker=w, live=live, counts=c) for w, (live, c) in workers.items()],
            )

        return await self._tx(summary, what="read the journal")

    async def get(self, key: str) -> Entry | None:
        """The entry of `key`, or None."""

        async def get(cur: Any) -> Entry | None:
            await cur.execute(f"SELECT {_COLUMNS} FROM voicekit_calls WHERE key = %s", (key,))
            row = await cur.fetchone()
            return None if row is None else _entry(row)

        return await self._tx(get, what="read the journal")

    async def entries(self, states: Iterable[State] | None = None, *, chunk: int = 1000) -> AsyncIterator[Entry]:
        """Every entry (or those in `states`), in campaign order, read in chunks."""
        wanted = None if states is None else [str(s) for s in states]
        after: tuple[int, str] | None = (-1, "")
        while after is not None:
            page, after = await self.entries_page(wanted, after, chunk)
            for entry in page:
                yield entry

    async def entries_page(
        self, states: Sequence[str] | None, after: tuple[int, str], chunk: int
    ) -> tuple[list[Entry], tuple[int, str] | None]:
        """One chunk of `entries`: the entries after the position `after`, and the position of
        the next chunk (None at the end)."""

        async def page(cur: Any) -> list[Any]:
            await cur.execute(
                f"SELECT {_COLUMNS}, coalesce(row, 0) FROM voicekit_calls "
                "WHERE (coalesce(row, 0), key) > (%s, %s) AND (%s::text[] IS NULL OR state = ANY(%s)) "
                "ORDER BY coalesce(row, 0), key LIMIT %s",
                (after[0], after[1], states, states, chunk),
            )
            return list(await cur.fetchall())

        rows = await self._tx(page, what="read the journal")
        if not rows:
            return [], None
        return [_entry(row[:-1]) for row in rows], (rows[-1][-1], rows[-1][0])


class PostgresJournal(BlockingClient[AsyncPostgresJournal]):
    """The blocking twin of `AsyncPostgresJournal`: the same journal, for code without an event
    loop (``voicekit dial status``, ``report``, ``reconcile``; thread-safe).

    Its async core runs on voicekit's background event loop, as the blocking clients' does, and
    each method is one call there. Inside async code, use `AsyncPostgresJournal`.
    """

    @classmethod
    def open(
        cls,
        url: str,
        campaign: Campaign,
        *,
        lease: float = DEFAULT_LEASE,
        reconnect: float = DEFAULT_RECONNECT,
    ) -> PostgresJournal:
        """Join (or create) the campaign's journal at `url` (see `AsyncPostgresJournal.open`)."""
        return cls(call(lambda: AsyncPostgresJournal.open(url, campaign, lease=lease, reconnect=reconnect)))

    @classmethod
    def read(cls, url: str, *, reconnect: float = 0.0) -> PostgresJournal:
        """Open the journal at `url` to look at it (see `AsyncPostgresJournal.read`)."""
        return cls(call(lambda: AsyncPostgresJournal.read(url, reconnect=reconnect)))

    @property
    def path(self) -> str:
        return self._async.path

    @property
    def campaign(self) -> Campaign:
        return self._async.campaign

    @property
    def worker(self) -> str | None:
        return self._async.worker

    @property
    def lease(self) -> float:
        return self._async.lease

    @property
    def transactions(self) -> int:
        return self._async.transactions

    @property
    def loaded(self) -> bool:
        return call(self._async.is_loaded)

    def load(self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None) -> int:
        return call(lambda: self._async.load(rows, on_problem=on_problem))

    def recover(self) -> int:
        return call(self._async.recover)

    def reap(self) -> int:
        return call(self._async.reap)

    def requeue(self, *, unknown: bool = False, retryable: bool = True) -> int:
        return call(lambda: self._async.requeue(unknown=unknown, retryable=retryable))

    def reserve(self, n: int) -> list[Dial | Notify]:
        return call(self._async.reserve, n)

    def held_elsewhere(self) -> int:
        return call(self._async.held_elsewhere)

    def pending(self, keys: Sequence[str]) -> set[str]:
        return call(self._async.pending, keys)

    def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        return call(self._async.claim, keys, outcomes)

    def record(self, outcomes: Sequence[Outcome[Any]]) -> None:
        call(self._async.record, outcomes)

    def finish(self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]) -> None:
        call(self._async.finish, outcomes, unsent, unfinished)

    def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts:
        return call(self._async.add_outcomes, outcomes)

    def outcomes(self, keys: Sequence[str]) -> dict[str, CallOutcome]:
        return call(self._async.outcomes, keys)

    def unmatched_outcomes(self) -> Iterator[CallOutcome]:
        yield from call(self._async.unmatched_outcomes)

    def outcome_counts(self) -> dict[str, int]:
        return call(self._async.outcome_counts)

    def numbers(self, keys: Sequence[str]) -> dict[str, str]:
        return call(self._async.numbers, keys)

    def sent_times(self, keys: Sequence[str]) -> dict[str, float]:
        return call(self._async.sent_times, keys)

    def resolve(
        self,
        placed: Sequence[tuple[str, CallOutcome | None]],
        requeue: Sequence[str],
        notes: Sequence[tuple[str, str]],
    ) -> Resolution:
        return call(self._async.resolve, placed, requeue, notes)

    def counts(self) -> dict[State, int]:
        return call(self._async.counts)

    def total(self) -> int:
        return call(self._async.total)

    def summary(self) -> Summary:
        return call(self._async.summary)

    def get(self, key: str) -> Entry | None:
        return call(self._async.get, key)

    def entries(self, states: Iterable[State] | None = None, *, chunk: int = 1000) -> Iterator[Entry]:
        """Every entry (or those in `states`), in campaign order, read in chunks."""
        wanted = None if states is None else [str(s) for s in states]
        after: tuple[int, str] | None = (-1, "")
        while after is not None:
            page, after = call(self._async.entries_page, wanted, after, chunk)
            yield from page


# The statements on every call's path, with named parameters: `worker`, `lease`, and the
# outcomes' columns (`_outcome_params`).
_RENEW: Final = (
    "UPDATE voicekit_workers SET expires = clock_timestamp() + make_interval(secs => %(lease)s) "
    "WHERE id = %(worker)s AND state = 'live' AND expires > clock_timestamp()"
)
# A late outcome also corrects "unknown" (the lease expired while the call was out): it is what
# the vendor said, and the row is still this worker's.
_RECORD: Final = (
    "UPDATE voicekit_calls c SET state = o.state, request_id = o.request_id, error_type = o.error_type, "
    "error = o.error, retryable = o.retryable, updated = now() "
    "FROM unnest(%(o_key)s::text[], %(o_state)s::text[], %(o_request_id)s::text[], %(o_error_type)s::text[], "
    "%(o_error)s::text[], %(o_retryable)s::int[]) AS o(key, state, request_id, error_type, error, retryable) "
    "WHERE c.key = o.key AND c.holder = %(worker)s AND c.state IN ('sending', 'unknown')"
)
# Data-modifying CTEs all run, once, on one snapshot: the outcomes (rows that are sending) and
# the claim (rows that are pending) never touch the same row.
_CLAIM: Final = (
    f"WITH renew AS ({_RENEW} RETURNING 1), rec AS ({_RECORD} RETURNING 1), "
    "took AS (UPDATE voicekit_calls SET state = 'sending', token = %(token)s, updated = now(), sent = now() "
    "WHERE key = ANY(%(keys)s) AND holder = %(worker)s "
    "AND (state = 'pending' OR (state = 'sending' AND token = %(token)s)) "
    "AND EXISTS (SELECT 1 FROM renew) RETURNING key) "
    "SELECT EXISTS (SELECT 1 FROM renew), ARRAY(SELECT key FROM took)"
)
_OUTCOME_FIELDS: Final = ("o_key", "o_state", "o_request_id", "o_error_type", "o_error", "o_retryable")


def _outcome_params(outcomes: Sequence[Outcome[Any]]) -> dict[str, list[Any]]:
    """The outcomes as the columns `_RECORD` unnests."""
    columns: list[list[Any]] = [[] for _ in _OUTCOME_FIELDS]
    for outcome in outcomes:
        for column, value in zip(columns, outcome_row(outcome), strict=True):
            column.append(value)
    return dict(zip(_OUTCOME_FIELDS, columns, strict=True))


_COLUMNS: Final = "key, row, state, request_id, error_type, error, extract(epoch FROM updated), holder"
_NO_CAMPAIGN: Final = Campaign(path="", size=0, sha256="", vendor="telecmi", columns=())


def _entry(row: Sequence[Any]) -> Entry:
    key, number, state, request_id, error_type, error, updated, holder = row
    return Entry(
        key=key,
        row=number,
        state=State(state),
        request_id=request_id,
        error_type=error_type,
        error=error,
        updated=utc(float(updated)),
        worker=holder,
    )


async def _migrate(cur: Any) -> None:
    """Add the outcome tables and columns to a journal that lacks them (under the setup lock)."""
    # Checked first: ALTER TABLE takes the table's strongest lock even when it changes nothing,
    # and workers of a running campaign hold row locks on it.
    await cur.execute(
        "SELECT to_regclass('voicekit_outcomes') IS NOT NULL AND EXISTS (SELECT 1 FROM information_schema.columns "
        "WHERE table_schema = current_schema() AND table_name = 'voicekit_calls' AND column_name = 'sent')"
    )
    if (await cur.fetchone())[0]:
        return
    for statement in _OUTCOME_SCHEMA:
        await cur.execute(statement)


async def _insert_outcome(cur: Any, outcome: CallOutcome, key: str | None) -> bool:
    """Keep `outcome` (under `key`); False when it is known already (a resend)."""
    await cur.execute(
        "INSERT INTO voicekit_outcomes (vendor_id, key, answered, request_id, number, time, billed_seconds, rate, "
        "hangup_reason, source, received) VALUES (%s, %s, %s, %s, %s, %s, %s, %s, %s, %s, now()) "
        "ON CONFLICT DO NOTHING",
        (
            outcome.vendor_id,
            key,
            outcome.answered,
            outcome.request_id,
            outcome.number,
            outcome.time,
            outcome.billed_seconds,
            outcome.rate,
            outcome.hangup_reason,
            outcome.source,
        ),
    )
    return bool(cur.rowcount)


async def _mark_placed(cur: Any, key: str, request_id: str | None) -> None:
    # The vendor saw the call (see the SQLite store): never dialable again; "sending" is its run's.
    await cur.execute(
        "UPDATE voicekit_calls SET state = 'placed', holder = CASE WHEN state = 'pending' THEN NULL ELSE holder END, "
        "request_id = coalesce(request_id, %s), error_type = NULL, error = NULL, retryable = 0, updated = now() "
        "WHERE key = %s AND state IN ('pending', 'unknown', 'failed')",
        (request_id, key),
    )


async def _adopt(cur: Any) -> None:
    """Give unmatched outcomes whose request id a row has since recorded to that row."""
    await cur.execute(
        "SELECT DISTINCT ON (c.key) o.vendor_id, c.key, o.request_id FROM voicekit_outcomes o "
        "JOIN voicekit_calls c ON c.request_id = o.request_id WHERE o.key IS NULL AND o.request_id IS NOT NULL "
        "AND NOT EXISTS (SELECT 1 FROM voicekit_outcomes x WHERE x.key = c.key)"
    )
    for vendor_id, key, request_id in await cur.fetchall():
        await cur.execute("UPDATE voicekit_outcomes SET key = %s WHERE vendor_id = %s", (key, vendor_id))
        await _mark_placed(cur, key, request_id)


def _clean(exc: BaseException, password: str | None) -> str:
    """An error's text on one line, with the URL's password taken out (should a driver ever
    echo it)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text.replace(password, "***") if password else text


async def _open_pool(url: str) -> Any:
    """A connection pool on `url`, once one connection proved the server, the credentials and
    the access right; otherwise one clear error (without the password)."""
    psycopg, psycopg_pool = _import_psycopg()
    shown = redact_url(url)
    try:
        conn = await psycopg.AsyncConnection.connect(url, connect_timeout=_CONNECT_TIMEOUT)
        async with conn:
            await conn.execute("SELECT 1")
    except psycopg.Error as exc:
        raise JournalError(f"cannot use the journal {shown}: {_diagnose(exc, _password(url))}") from None
    pool = psycopg_pool.AsyncConnectionPool(
        url,
        min_size=1,
        max_size=4,
        open=False,
        name="voicekit-journal",
        timeout=_CONNECT_TIMEOUT,
        kwargs={"connect_timeout": _CONNECT_TIMEOUT, "autocommit": True},
    )
    try:
        await pool.open(wait=True, timeout=_CONNECT_TIMEOUT)
    except Exception as exc:  # noqa: BLE001 - told as one clear error
        await pool.close()
        raise JournalError(f"cannot use the journal {shown}: {_diagnose(exc, _password(url))}") from None
    return pool


def _check_seconds(name: str, value: float, *, positive: bool = False) -> None:
    """A number of seconds: finite, not negative (or positive), not a bool."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise JournalError(
            f"the {name} must be a {'positive' if positive else 'non-negative'} number of seconds, got {value!r}"
        )


def _password(url: str) -> str | None:
    try:
        return urlsplit(url).password
    except ValueError:
        return None


def _diagnose(exc: BaseException, password: str | None) -> str:
    text = _clean(exc, password)
    lowered = text.lower()
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return "the server refused the user name or password (check the URL, PGPASSWORD or ~/.pgpass)"
    if "permission denied" in lowered:
        return f"the user may not use this database ({text}); ask for CONNECT and CREATE on it"
    if "does not exist" in lowered:
        return f"{text} (create the database first, e.g. createdb)"
    if "connection refused" in lowered or "timeout" in lowered or "could not" in lowered:
        return f"the server cannot be reached ({text}); is PostgreSQL running there?"
    return text
