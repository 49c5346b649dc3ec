"""The journal's logic, once, for every store: `AsyncJournal`.

Below it, one executor per dialect (`SQLiteDatabase`, `PostgresDatabase`) runs the named
statements of ``sql/<dialect>/queries.sql``; everything a journal decides (which rows a worker
takes, what an outcome changes, how a reconciliation is applied) is decided here.

A journal's database holds campaigns (a PostgreSQL database any number, an SQLite file one),
each under a name, with its rows, the outcomes of its calls and its workers::

    pending ──reserve/pending──> pending, held by W ──claim──> sending (W) ──outcome──> placed | failed | unknown
                                                                  │
                               W is gone (crash, lease expired) ──┴──> unknown   (it may have been dialed)

Every worker registers itself; a claim renews its lease (PostgreSQL: a worker silent longer
than its lease has its sending rows made unknown by the others, judged by the database's clock
only); an SQLite journal is run by one process at a time (its file lock), so at open every
earlier worker is gone. Each campaign has an id (random, made when it is created) that every
TeleCMI call carries in ``extra_params`` (``voicekit_campaign``, beside ``voicekit_key``), so
that a webhook or a record is a row's only when campaign, key and number agree.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import os
import socket
import time
import uuid
from collections.abc import AsyncGenerator, AsyncIterator, Callable, Iterable, Sequence
from types import TracebackType
from typing import Any, ClassVar, Final, Self

import attrs

from .. import _observe
from .._bulk import Outcome
from .._campaign import Campaign, CampaignRow, dialed_number, spec_from_json, spec_to_json
from .._policy import Policy, normalize_number
from ..errors import CampaignMismatchError, JournalError, JournalNotFoundError, LeaseLostError, ValidationError
from ..huawei import Notify
from ..telecmi import Dial
from ._db import Database, Tx
from ._postgres import DEFAULT_RECONNECT, PostgresDatabase, is_postgres_url
from ._sql import SCHEMA_VERSION, Records, migrations, schema
from ._sqlite import SQLiteDatabase
from ._store import (
    INTERRUPTED,
    STOPPED_IN_FLIGHT,
    Attempt,
    CallOutcome,
    CampaignInfo,
    Entry,
    OutcomeCounts,
    Resolution,
    State,
    Summary,
    Waiting,
    WorkerCount,
    call_outcome,
    error_text,
    outcome_row,
    utc,
)

__all__ = [
    "DEFAULT_LEASE",
    "AsyncJournal",
    "archive_campaign",
    "drop_campaign",
    "list_campaigns",
    "numbers_agree",
    "upgrade_journal",
]

log = logging.getLogger("voicekit")

#: Seconds a silent worker keeps its claims (a shared journal).
DEFAULT_LEASE: Final = 30.0
_LEASE_EXPIRED: Final = "the worker sending this call stopped renewing its lease; it may have been placed"
_NUMBER_BATCH: Final = 1000


def _new_id() -> str:
    return uuid.uuid4().hex[:16]


def numbers_agree(a: str | None, b: str | None) -> bool:
    """Whether two phone numbers name the same line: their digits are equal, or one is the other
    with a country prefix (the shorter, of 7 digits or more, ends the longer). A missing number
    contradicts nothing."""
    if not a or not b:
        return True
    da, db = "".join(c for c in a if c.isdigit()), "".join(c for c in b if c.isdigit())
    if not da or not db:
        return a.strip() == b.strip()
    short, long = sorted((da, db), key=len)
    return short == long or (len(short) >= 7 and long.endswith(short))


async def _database(target: str | os.PathLike[str], *, run: bool, reconnect: float) -> Database:
    """The executor for `target`: a ``postgresql://`` URL, or an SQLite file (taken with its
    run lock when `run`; when only reading, it must exist)."""
    text = os.fspath(target)
    if is_postgres_url(text):
        return await PostgresDatabase.connect(text, reconnect=reconnect)
    return await asyncio.to_thread(_sqlite_database, text, run)


def _sqlite_database(text: str, run: bool) -> SQLiteDatabase:
    path = os.path.abspath(text)
    if not run and not os.path.isfile(path):
        raise JournalNotFoundError(f"no journal at {path}")
    return SQLiteDatabase(path, lock=run)


class AsyncJournal:
    """The journal of one campaign, in an SQLite file or a PostgreSQL database (the async core).

    Open it with `AsyncJournal.open` to run the campaign (as one worker among any number, on
    PostgreSQL), or `AsyncJournal.read` to look at it, on the event loop that uses it.
    `voicekit.journal.Journal` and `voicekit.journal.PostgresJournal` are its blocking twins.

    Attributes:
        path: the file, or the URL without its password.
        campaign: the campaign it runs (its file's identity and its name).
        campaign_id: the campaign's id in the journal (every TeleCMI call carries it).
        worker: this worker's id (``host:pid:random``), or None when only reading.
        lease: seconds a silent worker keeps its claims (a shared journal).
        shared: whether many workers may run it at once (PostgreSQL).
    """

    #: Whether this class opens PostgreSQL journals only (`AsyncPostgresJournal`).
    postgres_only: ClassVar[bool] = False

    path: str
    campaign: Campaign
    campaign_id: str
    worker: str | None
    lease: float
    shared: bool

    def __init__(self, db: Database, campaign: Campaign, campaign_id: str, *, worker: str | None, lease: float) -> None:
        self._db = db
        self.path = db.path
        self.campaign = campaign
        self.campaign_id = campaign_id
        self.worker = worker
        self.lease = lease
        self.shared = db.shared
        self._lost = False
        self._closed = False
        self._heart: asyncio.Task[None] | None = None
        # Campaign ids seen in this database: a campaign, once created, is known (one dropped
        # since has no rows left, so its outcomes are foreign all the same).
        self._known: set[str] = {campaign_id}
        # Whether outcomes without a row may wait here for a row to record their request id.
        self._unmatched = True
        # The time zones of the rows this worker holds, for the calling window (see `claim`).
        self._zones: dict[str, tuple[str, ...]] = {}
        # Per zones: (the minute of UTC it was judged in, open then, when it opens if closed).
        self._window_cache: dict[str, tuple[int, bool, float | None]] = {}
        #: No call is claimed at or after this moment (epoch seconds; see `run_campaign`'s `until`).
        self.until: float | None = None
        # The policies of this database's campaigns (redials follow each one's own).
        self._policies: dict[str, Policy | None] = {campaign_id: campaign.policy}
        #: With redials, how long a run whose rows are all sent waits for the outcomes that may
        #: redial some (seconds; see `run_campaign`'s `await_outcomes`).
        self.await_outcomes = 0.0

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r}, campaign={self.campaign.name!r}, worker={self.worker!r})"

    @property
    def transactions(self) -> int:
        """How many write transactions this object has committed."""
        return self._db.transactions

    @property
    def dialect(self) -> str:
        return self._db.dialect

    # -- opening ------------------------------------------------------------------------------

    @classmethod
    async def open(
        cls,
        target: str | os.PathLike[str],
        campaign: Campaign,
        *,
        lease: float = DEFAULT_LEASE,
        reconnect: float = DEFAULT_RECONNECT,
    ) -> Self:
        """Run `campaign` with the journal at `target` (an SQLite file, created if missing, or a
        ``postgresql://`` URL), as a new worker; a journal of an older voicekit is upgraded first.

        Raises:
            CampaignMismatchError: the journal holds another campaign under this name (or, an
                SQLite file, any other campaign); or this campaign under another name.
            JournalBusyError: another process runs this SQLite journal.
            JournalError: the journal cannot be used (unreachable, refused, not a journal, made
                by a newer voicekit).
        """
        cls._check_target(target)
        check_seconds("lease", lease, positive=True)
        check_seconds("reconnect", reconnect)
        db = await _database(target, run=True, reconnect=reconnect)
        worker = f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:8]}"
        try:
            campaign_id, stored = await db.transaction(
                lambda tx: _setup(tx, db, campaign, worker, lease), what="set up the journal"
            )
            self = cls(db, stored, campaign_id, worker=worker, lease=lease)
            await self._fill_numbers()
            if db.shared:
                self._heart = asyncio.create_task(self._beat(), name="voicekit-journal-lease")
        except BaseException:
            await db.aclose()
            raise
        if stored.path != campaign.path:
            log.info("journal %s: the campaign file moved from %s to %s", db.path, stored.path, campaign.path)
            self.campaign = attrs.evolve(stored, path=campaign.path)
        return self

    @classmethod
    def _check_target(cls, target: str | os.PathLike[str]) -> None:
        if cls.postgres_only and not is_postgres_url(os.fspath(target)):
            raise JournalError("a PostgreSQL journal is a postgresql:// URL (use AsyncJournal for an SQLite file)")

    @classmethod
    async def read(cls, target: str | os.PathLike[str], *, campaign: str | None = None, reconnect: float = 0.0) -> Self:
        """Open the journal at `target` to look at it (and to write what webhooks and
        reconciliations tell), from any machine, while workers run it. Reading never changes
        the schema: a journal of an older voicekit must be upgraded first.

        Args:
            campaign: the campaign's name; needed when the database holds several.

        Raises:
            JournalError: no journal there, one to upgrade first, or no such campaign.
        """
        cls._check_target(target)
        check_seconds("reconnect", reconnect)
        db = await _database(target, run=False, reconnect=reconnect)
        try:
            await _check_version(db)
            found = await _campaigns(db)
            info = _choose(db.path, found, campaign)
        except BaseException:
            await db.aclose()
            raise
        return cls(db, info.campaign, info.id, worker=None, lease=DEFAULT_LEASE)

    async def aclose(self) -> None:
        """Stop renewing the lease, let this worker's unsent rows go, and close the database."""
        if self._closed:
            return
        self._closed = True
        heart, self._heart = self._heart, None
        if heart is not None:
            heart.cancel()
            await asyncio.wait([heart])
        if self.worker is not None and not self._lost:
            try:
                await self._db.transaction(self._leave, what="leave the campaign", patience=2.0)
            except JournalError as exc:  # its lease expires anyway: the rows are freed then
                log.warning("journal %s: %s", self.path, exc)
        await self._db.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.aclose()

    def _params(self, **more: Any) -> dict[str, Any]:
        return {"campaign": self.campaign_id, "worker": self.worker, **more}

    async def _leave(self, tx: Tx) -> None:
        await tx.run("release_held", **self._params())
        await tx.run("worker_done", worker=self.worker)

    async def _fill_numbers(self) -> None:
        """Give every row with a spec the number it dials (rows migrated from voicekit 0.1.0's
        PostgreSQL store have none), in batches."""
        while True:
            rows = await self._db.read("rows_without_number", self._params(n=_NUMBER_BATCH), what="read the journal")
            found = [(key, dialed_number(self._spec(spec))) for key, spec in rows]
            numbered = Records((key, number) for key, number in found if number is not None)
            if numbered:
                await self._db.statement("rows_set_number", self._params(numbers=numbered), what="update the journal")
            if len(rows) < _NUMBER_BATCH or not numbered:
                return

    # -- the lease --------------------------------------------------------------------------------

    def _lease_lost(self) -> LeaseLostError:
        self._lost = True
        return LeaseLostError(
            f"this worker's lease on {self.path} expired (it was silent for more than {self.lease:g} s); "
            "its calls in flight are now unknown and it sends nothing more. Run it again to rejoin."
        )

    async def _renew(self, tx: Tx) -> None:
        if await tx.one("worker_renew", worker=self.worker, lease=self.lease) is None:
            raise self._lease_lost()

    async def _beat(self) -> None:
        interval = max(self.lease / 3, 0.05)
        while True:
            await asyncio.sleep(interval)
            if self._lost:
                return
            try:
                await self._db.transaction(self._renew, what="renew the lease", patience=0.0)
                if _observe.sink is not None:
                    _observe.sink.lease("renewed")
                await self.reap(patience=0.0)
            except LeaseLostError:
                if _observe.sink is not None:
                    _observe.sink.lease("lost")
                return
            except JournalError as exc:  # the database is away: the next beat tries again
                log.warning("journal %s: %s", self.path, exc)

    async def reap(self, *, patience: float | None = None) -> int:
        """Mark the rows of the campaign's workers that are gone: ``sending`` -> ``unknown``
        (they may have been dialed), reserved ``pending`` rows free again. Returns how many
        became unknown."""

        async def reap(tx: Tx) -> int:
            await tx.run("workers_expire", **self._params())
            error_type, error = ("LeaseExpired", _LEASE_EXPIRED) if self.shared else ("Interrupted", INTERRUPTED)
            rows = await tx.all("reap", campaign=self.campaign_id, error_type=error_type, error=error)
            return sum(1 for (state,) in rows if state == State.UNKNOWN)

        return await self._db.transaction(reap, what="check the other workers' leases", patience=patience)

    async def recover(self) -> int:
        """Mark the rows a dead run (or worker) left ``sending`` ``unknown``; return how many.
        Rows of live workers are theirs: they are left alone. Call it when a run starts."""
        return await self.reap()

    # -- loading ----------------------------------------------------------------------------------

    async def is_loaded(self) -> bool:
        """Whether every row of the campaign is in the journal, with its spec."""
        rows = await self._db.read("campaign_loaded", self._params(), what="read the journal")
        return bool(rows and rows[0][0])

    async def load(
        self, rows: Iterable[CampaignRow], *, on_problem: Callable[[CampaignRow], None] | None = None
    ) -> int:
        """Add every row (with its spec) as ``pending`` (a row with a `problem` as ``failed``),
        once: the first worker loads, the others starting at the same time wait for it and load
        nothing. A row already there keeps its state. A row that repeats an earlier row's key
        is failed under the key ``"<key>@row<N>"``. `on_problem` sees each failed row.
        Returns the number of keys."""
        problems: list[CampaignRow] = []
        replayable = iter(rows) is not rows
        tried = False

        policy = self.campaign.policy

        def staged() -> Iterable[tuple[Any, ...]]:
            for row in rows:
                spec = row.spec
                number = dialed_number(spec)
                zones: tuple[str, ...] = ()
                if policy is not None and spec is not None and row.problem is None:
                    try:
                        zones = policy.zones(number, row.tz)
                    except ValidationError as exc:  # never guessed: the row is not called
                        row = attrs.evolve(row, problem=f"{exc.rule} (number {number})")
                if row.problem is not None:
                    problems.append(row)
                yield (
                    row.key,
                    row.number,
                    None if spec is None else spec_to_json(spec),
                    number,
                    row.problem,
                    ",".join(zones) or None,
                )

        async def load(tx: Tx) -> None:
            nonlocal tried
            if tried and not replayable:
                # The database went away mid-load (the transaction rolled back, nothing is
                # loaded) and the rows read so far are gone: never mark a partial load "loaded".
                raise JournalError(
                    f"the connection to {self.path} was lost while the campaign was loading; nothing was "
                    "loaded: run again"
                )
            problems.clear()
            await tx.run("lock_setup")
            found = await tx.one("campaign_loaded", **self._params())
            if found is not None and found[0]:
                return
            await tx.run("load_stage_create")
            tried = True
            await tx.put("load_stage_put", staged())
            await tx.run("load_rows", **self._params())
            duplicates = await tx.all("load_duplicates", **self._params())
            problems.extend(CampaignRow(number=n, key=k, problem=e) for k, n, e in duplicates)
            await tx.run("load_stage_drop")
            await tx.run("campaign_mark_loaded", **self._params())

        await self._db.transaction(load, what="load the campaign")
        if on_problem is not None:
            for row in sorted(problems, key=lambda r: r.number):
                on_problem(row)
        return await self.total()

    # -- running ----------------------------------------------------------------------------------

    def _spec(self, text: str) -> Dial | Notify:
        spec = spec_from_json(self.campaign.vendor, text)
        return attrs.evolve(spec, campaign=self.campaign_id) if isinstance(spec, Dial) else spec

    async def requeue(
        self, *, unknown: bool = False, retryable: bool = True, failed: bool | Iterable[str] = False
    ) -> int:
        """Make rows ``pending`` again; return how many.

        Args:
            unknown: the ``unknown`` rows (they may have been dialed already: reconcile first).
            retryable: the failed rows whose error proved the call was not placed (connection
                refused, 429, bad credentials, a proxy or an answer that was not the vendor's).
            failed: every failed row that became a call (True), or those failed by the error
                classes named (e.g. ``["NotFoundError"]``): a failure placed no call.
        """
        classes = None if isinstance(failed, bool) else sorted(set(failed))
        rows = await self._db.statement(
            "requeue",
            self._params(
                unknown=unknown, retryable=retryable, failed=bool(failed) if classes is None else True, classes=classes
            ),
            what="requeue rows",
        )
        return len(rows)

    async def failed_classes(self) -> dict[str, int]:
        """The failed rows that could be dialed again (`requeue` ``failed=``), by error class."""
        rows = await self._db.read("failed_classes", self._params(), what="read the journal")
        return {str(kind): int(n) for kind, n in rows}

    async def reserve(self, n: int) -> list[Dial | Notify]:
        """Hold the next `n` free pending rows for this worker; return their specs, in row order.

        Raises:
            LeaseLostError: this worker's lease expired.
        """

        async def reserve(tx: Tx) -> list[tuple[Any, ...]]:
            await self._renew(tx)
            now = time.time()
            await tx.run("undefer", **self._params(now=now))
            rows = await tx.all("reserve", **self._params(n=n))
            closed = self._closed_rows(((key, zones) for _, key, _, zones in rows), now)
            if closed:  # their window is closed: back for later, in the same transaction
                await tx.run("defer", **self._params(rows=Records(closed)))
                shut = {key for key, _ in closed}
                rows = [row for row in rows if row[1] not in shut]
            return rows

        rows = await self._db.transaction(reserve, what="take rows")
        return [self._spec(spec) for _, _, spec, _ in sorted(rows, key=lambda r: (r[0] or 0, r[1]))]

    def _closed_rows(self, rows: Iterable[tuple[str, str | None]], now: float) -> list[tuple[str, float]]:
        """Remember the zones of `rows` (key, zones); return those whose calling window is closed
        at `now`, with the moment it opens (a row whose zones never share an open moment waits
        a day, and is looked at again then)."""
        policy = self.campaign.policy
        if policy is None or policy.window is None:
            return []
        closed = []
        minute = math.floor(now / 60)
        for key, text in rows:
            zones = tuple(text.split(",")) if text else ()
            self._zones[key] = zones
            if not zones:
                continue
            # A window's edges are whole minutes of local time, and every zone's offset today is
            # whole minutes: within one minute of UTC, whether it is open (and when it opens
            # next, if closed) is the same for every row of these zones.
            cached = self._window_cache.get(text or "")
            if cached is None or cached[0] != minute:
                opens = None if policy.is_open(zones, now) else policy.next_open(zones, now)
                cached = (minute, opens is None, opens)
                if len(self._window_cache) >= 4096:
                    self._window_cache.clear()
                self._window_cache[text or ""] = cached
            _, is_open, opens = cached
            if not is_open:
                closed.append((key, opens if opens is not None else now + 86400.0))
        return closed

    async def held_elsewhere(self) -> int:
        """How many pending rows other workers hold (they may come free if a worker dies)."""
        return (await self.left())[1]

    async def left(self) -> tuple[int, int, int]:
        """The campaign's rows not done, from one snapshot: (pending rows nobody holds, pending
        rows other workers hold, rows other workers are sending)."""
        rows = await self._db.read("rows_left", self._params(), what="read the journal")
        free, held, sending = rows[0] if rows else (0, 0, 0)
        return int(free or 0), int(held or 0), int(sending or 0)

    async def specs(
        self, batch: int = 64, *, on_wait: Callable[[Waiting], None] | None = None
    ) -> AsyncIterator[Dial | Notify]:
        """The rows this worker sends: free pending rows, taken `batch` at a time as it needs
        them, until none is left (waiting, bounded, for rows another worker holds to be sent
        or, if it died, freed when its lease expires).

        When the only rows left wait (for their calling window, or while the campaign is
        paused), it waits too, telling `on_wait` why and until when, as long as `until` allows;
        a cancelled campaign, or `until` reached, ends it."""
        async with contextlib.aclosing(self.spec_batches(batch, on_wait=on_wait)) as batches:
            async for specs in batches:
                for spec in specs:
                    yield spec

    async def spec_batches(
        self, batch: int = 64, *, on_wait: Callable[[Waiting], None] | None = None
    ) -> AsyncGenerator[list[Dial | Notify], None]:
        """`specs`, a reservation at a time: a consumer takes each list as it comes, and never
        waits for more rows to fill a batch while the source waits (for a window, a redial)."""
        idle_since: float | None = None
        reconnect = getattr(self._db, "reconnect", 0.0)
        told: Waiting | None = None
        while True:
            if self.until is not None and time.time() >= self.until:
                return
            specs = await self.reserve(batch)
            if specs:
                idle_since = told = None
                yield specs
                continue
            if await self.schedule_redials():
                continue
            waiting = await self.waiting()
            if waiting.state == "cancelled" or waiting.state == "archived":
                return
            if waiting.state == "paused" or waiting.rows:
                until = self.until
                if waiting.state != "paused" and waiting.next_at is not None and until is not None:
                    if waiting.next_at >= until:
                        return  # nothing opens before the deadline
                if told is None or (told.state, told.next_at) != (waiting.state, waiting.next_at):
                    told = waiting
                    if on_wait is not None:
                        on_wait(waiting)
                pause = 1.0 if waiting.next_at is None else min(1.0, waiting.next_at - time.time())
                await asyncio.sleep(max(pause, 0.05))
                if waiting.state == "paused":  # rows refused while paused are free again for any worker
                    await self._db.statement("release_held", self._params(), what="free rows")
                continue
            if not await self.held_elsewhere():
                if await self._awaiting_redials(idle_since, on_wait):
                    idle_since = idle_since if idle_since is not None else time.monotonic()
                    continue
                return
            now = time.monotonic()
            idle_since = now if idle_since is None else idle_since
            if now - idle_since > 3 * self.lease + reconnect:
                return  # the rows others hold did not move in that long: leave them to them
            await asyncio.sleep(min(self.lease / 4, 1.0))
            await self.reap()

    async def schedule_redials(self) -> int:
        """Make the campaign's placed rows whose call was missed pending again, not before their
        delay (the policy's redials; a webhook written while its row was being recorded is
        caught here). Returns how many. Runs are doing it as they go."""
        policy = self.campaign.policy
        if policy is None or policy.max_attempts < 2 or not policy.retry:
            return 0
        params = self._params(max_attempts=policy.max_attempts)
        due = await self._db.read("redials_due", params, what="read the journal")
        if not due:
            return 0
        candidates = [
            (
                (self.campaign_id, key),
                int(attempts or 0),
                CallOutcome(vendor_id=vendor_id, answered=False, hangup_reason=reason),
            )
            for key, attempts, vendor_id, reason in due
        ]
        redials = _redials(candidates, {vid for _, _, vid, _ in due}, {self.campaign_id: policy})
        return await self._db.transaction(lambda tx: _schedule_redials(tx, redials), what="schedule redials")

    async def _awaiting_redials(self, idle_since: float | None, on_wait: Callable[[Waiting], None] | None) -> bool:
        """With redials and `await_outcomes`: whether to wait (a second) for the outcomes of
        placed calls that may redial them, since the rows ran out at `idle_since`."""
        policy = self.campaign.policy
        if policy is None or policy.max_attempts < 2 or not policy.retry or self.await_outcomes <= 0:
            return False
        if idle_since is not None and time.monotonic() - idle_since > self.await_outcomes:
            return False
        params = self._params(max_attempts=policy.max_attempts)
        awaiting = int((await self._db.read("rows_awaiting", params, what="read the journal"))[0][0] or 0)
        if not awaiting:
            return False
        if idle_since is None and on_wait is not None:
            on_wait(Waiting(state="active", outcomes=awaiting))
        await asyncio.sleep(1.0)
        return True

    async def pending(self, keys: Sequence[str]) -> set[str]:
        """The keys among `keys` this worker may claim: pending, and free or held by it (free
        ones are taken for it now). Keys the journal does not hold are not pending."""
        rows = await self._db.statement("pending", self._params(keys=list(keys), now=time.time()), what="take rows")
        policy = self.campaign.policy
        if policy is not None and policy.window is not None:  # only a window needs the zones at the claim
            for key, zones in rows:
                self._zones[key] = tuple(zones.split(",")) if zones else ()
        return {key for key, _ in rows}

    async def claim(self, keys: Sequence[str], outcomes: Sequence[Outcome[Any]] = ()) -> set[str]:
        """Renew the lease and mark the pending `keys` that are free or held by this worker
        ``sending`` (and this worker's), writing `outcomes` of keys sent earlier too, in one
        statement; return the keys claimed (never a key another claim returned).

        The campaign's policy is applied here, right before the requests leave: nothing is
        claimed at or after `until`, nor while the campaign is paused or cancelled, nor a row
        whose calling window is closed now (it waits for its window, free for any worker).

        Raises:
            LeaseLostError: the lease expired: nothing is claimed.
        """
        now = time.time()
        closed: list[tuple[str, float]] = []
        if self.until is not None and now >= self.until:
            keys = []
        elif self._zones:
            closed = self._closed_rows(((key, ",".join(self._zones.get(key, ()))) for key in keys), now)
            if closed:
                shut = {key for key, _ in closed}
                keys = [key for key in keys if key not in shut]
        # A retry after a lost commit finds the keys this claim took by its token.
        params = self._params(
            lease=self.lease,
            token=uuid.uuid4().hex,
            keys=list(keys),
            outcomes=Records(outcome_row(o) for o in outcomes),
        )
        rows = await self._db.statement("claim", params, what="claim keys")
        claimed = set()
        for key, state in rows:
            if state == "lost":
                raise self._lease_lost()
            if state == State.SENDING:
                claimed.add(key)
        for key in keys:
            self._zones.pop(key, None)
        if closed:
            await self._db.statement("defer", self._params(rows=Records(closed)), what="defer rows")
        return claimed

    async def record(self, outcomes: Sequence[Outcome[Any]]) -> None:
        """Write the outcomes of sent keys (one statement). Not fsynced on SQLite: a power cut
        may lose it, and the key stays ``sending``: the next run reports it unknown."""
        if outcomes:
            params = self._params(outcomes=Records(outcome_row(o) for o in outcomes))
            await self._db.statement("record", params, what="record outcomes", durable=False)

    async def finish(self, outcomes: Sequence[Outcome[Any]], unsent: Iterable[str], unfinished: Iterable[str]) -> None:
        """End a run: write `outcomes`, put `unsent` claims (whose request never left) back to
        ``pending``, mark `unfinished` ones (whose request may have left) ``unknown``, and let
        the rows this worker held but did not send go to the others."""
        unsent, unfinished = list(unsent), list(unfinished)

        async def finish(tx: Tx) -> None:
            if outcomes:
                await tx.run("record", **self._params(outcomes=Records(outcome_row(o) for o in outcomes)))
            if unsent:
                await tx.run("release_unsent", **self._params(keys=unsent))
            if unfinished:
                await tx.run("mark_interrupted", **self._params(keys=unfinished, error=STOPPED_IN_FLIGHT))
            await tx.run("release_held", **self._params())

        await self._db.transaction(finish, what="end the run")

    # -- the campaign's policy ----------------------------------------------------------------------

    async def waiting(self) -> Waiting:
        """The campaign's state, and its pending rows that wait for a later moment."""
        rows = await self._db.read("rows_waiting", self._params(now=time.time()), what="read the journal")
        if not rows:
            raise JournalError(f"the campaign {self.campaign.name!r} is no longer in {self.path}")
        state, n, next_at = rows[0]
        return Waiting(state=str(state), rows=int(n or 0), next_at=None if next_at is None else float(next_at))

    async def suppress(self, numbers: Iterable[str | int]) -> tuple[int, int]:
        """Add `numbers` to the campaign's do-not-call list (compared as E.164 digits): every
        worker's next claim honours them, and their pending rows become ``suppressed`` now.
        Returns (numbers new to the list, rows suppressed now).

        Raises:
            ValidationError: one of `numbers` is not a phone number (nothing is added).
        """
        digits = sorted({normalize_number(n) for n in numbers})

        async def suppress(tx: Tx) -> tuple[int, int]:
            added = len(await tx.all("suppress_add", **self._params(numbers=digits))) if digits else 0
            rows = await tx.all("suppress_rows", **self._params())
            return added, len(rows)

        return await self._db.transaction(suppress, what="suppress numbers")

    async def control(self, action: str) -> tuple[str, int]:
        """Pause, resume or cancel the campaign, for every worker on any machine (they stop
        claiming at once: a claim checks the campaign's state). ``"cancel"`` ends it: its
        pending rows become ``cancelled``; calls in flight finish and are recorded. Returns
        (the state before, the rows cancelled).

        Raises:
            JournalError: the campaign cannot go there (resuming a cancelled campaign, pausing
                an archived one).
        """
        target = {"pause": "paused", "resume": "active", "cancel": "cancelled"}.get(action)
        if target is None:
            raise ValueError(f"unknown action {action!r}: pause, resume or cancel")

        async def control(tx: Tx) -> tuple[str, int]:
            found = await tx.one("campaign_by_id", **self._params())
            if found is None:
                raise JournalError(f"the campaign {self.campaign.name!r} is no longer in {self.path}")
            before = str(found[3])
            if before in ("cancelled", "archived") and before != target:
                raise JournalError(f"the campaign {self.campaign.name!r} is {before}: it cannot be {action}d")
            if before != target:
                await tx.run("campaign_set_state", **self._params(state=target))
            cancelled = len(await tx.all("cancel_rows", **self._params())) if target == "cancelled" else 0
            return before, cancelled

        return await self._db.transaction(control, what=f"{action} the campaign")

    # -- how calls ended ---------------------------------------------------------------------------

    async def add_outcomes(self, outcomes: Sequence[CallOutcome]) -> OutcomeCounts:
        """Write how calls ended, in one write, for any campaign of this journal's database; a
        resend changes nothing.

        An outcome is a row's when campaign, key and number agree (or, carrying no key, when
        its request id is the row's): the row, if ``unknown`` or ``failed``, becomes ``placed``
        (the vendor saw the call); a ``sending`` row is left to its run, and a ``pending`` row is
        never moved. An outcome whose campaign this database holds but whose key, state or
        number does not match, or that carries no key and names no known request, is kept
        unmatched (for `reconcile`); one of a campaign this database does not hold is ignored.
        """
        if not outcomes:
            return OutcomeCounts()
        unique = list({o.vendor_id: o for o in outcomes}.values())
        what = "record how calls ended"
        # Two round trips: what the rows named say (a read), then one write that keeps the new
        # outcomes and marks their rows placed (it checks each row's state again as it writes).
        unseen = sorted({o.campaign for o in unique if o.campaign is not None} - self._known)
        if unseen:
            found = await self._db.read("campaigns_known", {"campaigns": unseen}, what=what)
            self._known.update(c for (c,) in found)
        known = self._known
        named = Records((o.campaign, o.key) for o in unique if o.key is not None and o.campaign in known)
        request_ids = [o.request_id for o in unique if o.request_id]
        rows = await self._db.read("outcome_targets", {"named": named, "request_ids": request_ids}, what=what)
        by_key = {(c, k): (state, number, rid, n) for c, k, state, number, rid, n in rows}
        by_request = {rid: (c, k, state) for c, k, state, _, rid, _ in rows if rid}
        stored: list[tuple[Any, ...]] = []
        targets: dict[str, tuple[str, str]] = {}
        foreign: list[str] = []
        stale = 0
        for o in unique:
            target: tuple[str, str] | None = None
            if o.key is not None:
                row = by_key.get((o.campaign, o.key)) if o.campaign in known else None
                if row is None:
                    foreign.append(o.key if o.campaign in known else f"{o.campaign}/{o.key}")
                    continue
                state, number, row_request, attempts = row
                if attempts > 1 and o.request_id and row_request and o.request_id != row_request:
                    stale += 1  # an earlier attempt's call, told again: never this attempt's outcome
                    continue
                if state != State.PENDING and numbers_agree(o.number, number):
                    target = (str(o.campaign), o.key)
            elif o.request_id is not None and o.request_id in by_request:
                campaign, key, state = by_request[o.request_id]
                if state != State.PENDING:
                    target = (campaign, key)
            if target is not None:
                targets[o.vendor_id] = target
            stored.append(_outcome_record(o, target))
        new: set[str] = set()
        if stored:
            attempts_of = {(c, k): int(n or 0) for c, k, _, _, _, n in rows}
            candidates = [
                (targets[o.vendor_id], attempts_of.get(targets[o.vendor_id], 0), o)
                for o in unique
                if o.vendor_id in targets and not o.answered
            ]
            policies = await self._policies_of({target[0] for target, _, _ in candidates})
            if any(p is not None and p.max_attempts > 1 and p.retry for p in policies.values()):

                async def write(tx: Tx) -> set[str]:
                    fresh = {vid for (vid,) in await tx.all("outcomes_write", outcomes=Records(stored))}
                    await _schedule_redials(tx, _redials(candidates, fresh, policies))
                    return fresh

                new = await self._db.transaction(write, what=what)
            else:
                written_rows = await self._db.statement("outcomes_write", {"outcomes": Records(stored)}, what=what)
                new = {vid for (vid,) in written_rows}
        written = len(new & targets.keys())
        if len(new) > written:
            self._unmatched = True
        if self._unmatched:
            self._unmatched = await self._db.transaction(_adopt, what=what)
        return OutcomeCounts(
            written=written,
            unmatched=len(new) - written,
            duplicate=len(stored) - len(new) + (len(outcomes) - len(unique)) + stale,
            foreign=len(foreign),
            foreign_keys=tuple(foreign),
        )

    async def _policies_of(self, campaign_ids: Iterable[str]) -> dict[str, Policy | None]:
        """The policies of these campaigns (read once per campaign, then kept)."""
        for campaign_id in set(campaign_ids) - self._policies.keys():
            found = await self._db.read("campaign_by_id", {"campaign": campaign_id}, what="read the journal")
            self._policies[campaign_id] = Campaign._from_json(found[0][2]).policy if found else None
        return {c: self._policies.get(c) for c in campaign_ids}

    async def attempts(self, keys: Sequence[str]) -> dict[str, list[Attempt]]:
        """The earlier calls of each of `keys` that was dialed again, oldest first (a row's last
        call is the row itself)."""
        rows = await self._db.read("attempts_of", self._params(keys=list(keys)), what="read the journal")
        found: dict[str, list[Attempt]] = {}
        for key, attempt, request_id, answered, reason, at in rows:
            found.setdefault(key, []).append(
                Attempt(
                    attempt=int(attempt),
                    request_id=request_id,
                    answered=None if answered is None else bool(answered),
                    hangup_reason=reason,
                    time=None if at is None else float(at),
                )
            )
        return found

    async def outcomes(self, keys: Sequence[str]) -> dict[str, CallOutcome]:
        """The outcomes of the rows among `keys` that have one."""
        rows = await self._db.read("outcomes_of", self._params(keys=list(keys)), what="read the journal")
        return {row[1]: call_outcome(row) for row in rows}

    async def unmatched_outcomes(self) -> list[CallOutcome]:
        """The outcomes kept without a row (e.g. release events to match by number and time)."""
        rows = await self._db.read("outcomes_unmatched", {}, what="read the journal")
        return [call_outcome(row) for row in rows]

    async def outcome_counts(self) -> dict[str, int]:
        """``{"answered": n, "missed": n, "awaiting": n}`` (awaiting: placed, no outcome yet)."""
        rows = await self._db.read("outcome_counts", self._params(), what="read the journal")
        answered, missed, awaiting = rows[0]
        return {"answered": int(answered or 0), "missed": int(missed or 0), "awaiting": int(awaiting or 0)}

    async def numbers(self, keys: Sequence[str]) -> dict[str, str]:
        """The number each of `keys` dials (for those with a spec)."""
        rows = await self._db.read("numbers", self._params(keys=list(keys)), what="read the journal")
        return {key: number for key, number in rows}

    async def sent_times(self, keys: Sequence[str]) -> dict[str, float]:
        """When each of `keys` was last claimed (epoch seconds), for those that were."""
        rows = await self._db.read("sent_times", self._params(keys=list(keys)), what="read the journal")
        return {key: float(sent) for key, sent in rows}

    async def dialers(self, numbers: Sequence[str]) -> list[tuple[str, str, str, State, float | None]]:
        """Every row, of any campaign in this database, dialing one of `numbers`:
        ``(number, campaign id, key, state, when it was last sent)``."""
        rows = await self._db.read("dialers", {"numbers": list(numbers)}, what="read the journal")
        return [
            (number, campaign, key, State(state), None if sent is None else float(sent))
            for number, campaign, key, state, sent in rows
        ]

    async def specs_of(self, keys: Sequence[str]) -> list[Dial | Notify]:
        """The specs of the rows among `keys` that have one."""
        rows = await self._db.read("specs_of", self._params(keys=list(keys)), what="read the journal")
        return [self._spec(spec) for _, spec in rows]

    async def resolve(
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

        policy = self.campaign.policy

        async def resolve(tx: Tx) -> Resolution:
            await _adopt(tx)
            found = [(key, o) for key, o in placed if o is not None]
            if found:
                new = {
                    vid
                    for (vid,) in await tx.all(
                        "outcomes_insert",
                        outcomes=Records(_outcome_record(o, (self.campaign_id, key)) for key, o in found),
                    )
                }
                taken = Records((o.vendor_id, self.campaign_id, key) for key, o in found if o.vendor_id not in new)
                if taken:  # known already (e.g. an unmatched release event): this row's now
                    await tx.run("outcomes_take", taken=taken)
            n_placed = n_requeued = n_noted = 0
            if placed:
                marks = Records((key, None if o is None else o.request_id) for key, o in placed)
                n_placed = len(await tx.all("resolve_placed", **self._params(placed=marks)))
            missed = [(key, o) for key, o in found if not o.answered]
            if missed and policy is not None and policy.max_attempts > 1 and policy.retry:
                named = Records((self.campaign_id, key) for key, _ in missed)
                rows = await tx.all("outcome_targets", named=named, request_ids=[])
                attempts = {(c, k): int(n or 0) for c, k, _, _, _, n in rows}
                candidates = [
                    ((self.campaign_id, key), attempts.get((self.campaign_id, key), 0), o) for key, o in missed
                ]
                vendor_ids = {o.vendor_id for _, o in missed}
                await _schedule_redials(tx, _redials(candidates, vendor_ids, {self.campaign_id: policy}))
            if requeue:
                n_requeued = len(await tx.all("resolve_requeue", **self._params(keys=list(requeue))))
            if notes:
                reasons = Records((key, error_text(ValueError(reason))) for key, reason in notes)
                n_noted = len(await tx.all("resolve_note", **self._params(notes=reasons)))
            return Resolution(placed=n_placed, requeued=n_requeued, noted=n_noted)

        return await self._db.transaction(resolve, what="apply the reconciliation")

    # -- reading ----------------------------------------------------------------------------------

    async def counts(self) -> dict[State, int]:
        """How many rows are in each state (every state present, zeros included)."""
        counts = dict.fromkeys(State, 0)
        for state, n in await self._db.read("counts", self._params(), what="read the journal"):
            counts[State(state)] = int(n)
        return counts

    async def total(self) -> int:
        """How many rows the campaign has."""
        return sum((await self.counts()).values())

    async def summary(self) -> Summary:
        """The counts per state, when it started and was last written, whether a run holds it
        (and, on a shared journal, each worker's counts)."""
        info = next((c for c in await _campaigns(self._db) if c.id == self.campaign_id), None)
        if info is None:
            raise JournalError(f"the campaign {self.campaign.name!r} is no longer in {self.path}")
        last = (await self._db.read("last_update", self._params(), what="read the journal"))[0][0]
        workers: list[WorkerCount] = []
        running = self._db.is_running()
        if self.shared:
            live = {wid: bool(ok) for wid, ok in await self._db.read("workers_of", self._params(), what="read")}
            per = {wid: dict.fromkeys(State, 0) for wid in live}
            for holder, state, n in await self._db.read("counts_by_worker", self._params(), what="read the journal"):
                if holder in per:
                    per[holder][State(state)] = int(n)
            workers = [WorkerCount(worker=w, live=live[w], counts=per[w]) for w in live]
            running = any(live.values())
        suppressed = (await self._db.read("suppressed_count", self._params(), what="read the journal"))[0][0]
        return Summary(
            waiting=await self.waiting(),
            suppressed_numbers=int(suppressed or 0),
            campaign=self.campaign,
            counts=info.counts,
            started=utc(info.created),
            updated=utc(float(last) if last is not None else info.created),
            loaded=info.loaded,
            running=bool(running),
            workers=workers,
            campaign_id=self.campaign_id,
            state=info.state,
        )

    async def get(self, key: str) -> Entry | None:
        """The entry of `key`, or None."""
        rows = await self._db.read("entry", self._params(key=key), what="read the journal")
        return _entry(rows[0]) if rows else None

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
        rows = await self._db.read(
            "entries_page",
            self._params(states=states, row=after[0], key=after[1], n=chunk),
            what="read the journal",
        )
        if not rows:
            return [], None
        return [_entry(row[:-1]) for row in rows], (int(rows[-1][-1]), rows[-1][0])


# -- set-up, migrations, campaigns -----------------------------------------------------------------


async def _setup(tx: Tx, db: Database, campaign: Campaign, worker: str, lease: float) -> tuple[str, Campaign]:
    """Upgrade the schema if it is older, find or create the campaign, register the worker."""
    await tx.run("lock_setup")  # workers starting together
    await _migrate(tx, db)
    rows = await tx.all("campaigns_all")
    found = [_info(row) for row in rows]
    same_name = next((c for c in found if c.campaign.name == campaign.name), None)
    if not db.shared and found:
        # An SQLite journal holds one campaign: another file is another journal.
        same_name = found[0]
        if not same_name.campaign.same_as(campaign):
            raise CampaignMismatchError(_mismatch(db.path, same_name.campaign, campaign, db.shared))
    if same_name is not None:
        if not same_name.campaign.same_as(campaign):
            raise CampaignMismatchError(_mismatch(db.path, same_name.campaign, campaign, db.shared))
        if same_name.state == "archived":
            raise JournalError(
                f"the campaign {campaign.name!r} in {db.path} is archived; give this run another --campaign name"
            )
        campaign_id, stored = same_name.id, same_name.campaign
    else:
        twin = next((c for c in found if c.state != "archived" and c.campaign.same_as(campaign)), None)
        if twin is not None:
            raise CampaignMismatchError(
                f"{db.path} already holds this campaign file as {twin.campaign.name!r}: run it under that name "
                f"(--campaign {twin.campaign.name}) so that nobody is dialed twice, or archive that one first"
            )
        campaign_id, stored = _new_id(), campaign
        await tx.run("campaign_insert", campaign=campaign_id, name=campaign.name, identity=campaign._to_json())
    await tx.run(
        "worker_join",
        worker=worker,
        campaign=campaign_id,
        host=socket.gethostname(),
        pid=os.getpid(),
        lease=lease,
    )
    return campaign_id, stored


async def _migrate(tx: Tx, db: Database) -> None:
    """Bring the schema to `SCHEMA_VERSION`: a new journal from ``schema.sql``; one of an older
    voicekit by its remaining migrations (0.1.0's first completed to its last shape), each
    recorded in the ledger. Runs under the set-up lock, in the set-up transaction."""
    ledger, legacy, other = await tx.one("inspect") or (False, False, False)
    steps = migrations(db.dialect)
    params: dict[str, Any] = {}
    if ledger:
        version = int((await tx.one("ledger_version") or (0,))[0])
    elif legacy:
        meta = dict(await tx.all("legacy_meta"))
        if meta.get("schema") != "1" or "campaign" not in meta:
            raise JournalError(f"{db.path} is not a voicekit journal of a version this voicekit reads")
        live = (await tx.one("legacy_live_workers") or (0,))[0]
        if live:
            raise JournalError(
                f"{live} worker(s) of an older voicekit are running the campaign in {db.path}; stop them (or let "
                "them finish) before this version upgrades the journal"
            )
        await tx.run("ledger_create")
        columns = {name for (name,) in await tx.all("v1_columns")}
        for column in ("sent", "number"):
            if column not in columns:
                await tx.run(f"v1_add_{column}")
        await tx.script(steps[0].statements, {})
        await tx.run("ledger_add", version=1, name=steps[0].name)
        version = 1
        old = Campaign._from_json(meta["campaign"])
        params = {"campaign_id": _new_id(), "campaign_name": old.name}
        log.info("journal %s: upgrading the journal of voicekit 0.1.0 to schema %d", db.path, SCHEMA_VERSION)
    elif other:
        raise JournalError(f"{db.path} is a database but not a voicekit journal")
    else:
        await tx.script(schema(db.dialect), {})
        for step in steps:
            await tx.run("ledger_add", version=step.version, name=step.name)
        return
    if version > SCHEMA_VERSION:
        raise JournalError(f"{db.path} was written by a newer voicekit (schema {version}); upgrade voicekit")
    for step in steps[version:]:
        await tx.script(step.statements, {"campaign_id": _new_id(), "campaign_name": "campaign", **params})
        await tx.run("ledger_add", version=step.version, name=step.name)


async def _check_version(db: Database) -> None:
    """Refuse to read a journal whose schema is not this voicekit's (reading never upgrades)."""
    ledger, legacy, other = (await db.read("inspect", {}, what="read the journal"))[0]
    if ledger:
        version = int((await db.read("ledger_version", {}, what="read the journal"))[0][0])
        if version == SCHEMA_VERSION:
            return
        if version > SCHEMA_VERSION:
            raise JournalError(f"{db.path} was written by a newer voicekit (schema {version}); upgrade voicekit")
    elif not legacy:
        if other:
            raise JournalError(f"{db.path} is a database but not a voicekit journal")
        raise JournalNotFoundError(f"there is no voicekit journal in {db.path} yet")
    raise JournalError(
        f"{db.path} was written by an older voicekit; upgrade it first: `voicekit dial upgrade {db.path}` "
        "(a run of its campaign upgrades it too)"
    )


def _info(row: Sequence[Any], counts: dict[State, int] | None = None, live: int = 0) -> CampaignInfo:
    campaign_id, name, identity, state, loaded, created = row
    return CampaignInfo(
        id=campaign_id,
        campaign=Campaign._from_json(identity, name=name),
        state=state,
        loaded=bool(loaded),
        created=float(created),
        counts=counts if counts is not None else dict.fromkeys(State, 0),
        live_workers=live,
    )


async def _campaigns(db: Database) -> list[CampaignInfo]:
    rows = await db.read("campaigns_all", {}, what="read the journal")
    counts: dict[str, dict[State, int]] = {row[0]: dict.fromkeys(State, 0) for row in rows}
    for campaign_id, state, n in await db.read("counts_by_campaign", {}, what="read the journal"):
        if campaign_id in counts:
            counts[campaign_id][State(state)] = int(n)
    live = {c: int(n) for c, n in await db.read("live_workers_by_campaign", {}, what="read the journal")}
    return [_info(row, counts[row[0]], live.get(row[0], 0)) for row in rows]


def _choose(path: str, found: Sequence[CampaignInfo], name: str | None) -> CampaignInfo:
    if name is not None:
        for info in found:
            if info.campaign.name == name:
                return info
        known = ", ".join(repr(c.campaign.name) for c in found) or "none"
        raise JournalNotFoundError(f"there is no campaign {name!r} in {path} (campaigns: {known})")
    if not found:
        raise JournalNotFoundError(f"there is no campaign in {path} yet")
    if len(found) > 1:
        names = ", ".join(c.campaign.name for c in found)
        raise JournalError(f"{path} holds {len(found)} campaigns ({names}); name one with --campaign NAME")
    return found[0]


async def list_campaigns(target: str | os.PathLike[str]) -> list[CampaignInfo]:
    """The campaigns of the journal at `target`, with their counts and live workers."""
    db = await _database(target, run=False, reconnect=0.0)
    try:
        await _check_version(db)
        return await _campaigns(db)
    finally:
        await db.aclose()


async def archive_campaign(target: str | os.PathLike[str], name: str) -> CampaignInfo:
    """Mark the campaign `name` archived: no worker runs it again (its rows stay, for reports).

    Raises:
        JournalError: no such campaign, or workers are running it.
    """
    return await _change_campaign(target, name, drop=False)


async def drop_campaign(target: str | os.PathLike[str], name: str) -> CampaignInfo:
    """Delete the campaign `name` and everything the journal holds of it.

    Raises:
        JournalError: no such campaign, or workers are running it.
    """
    return await _change_campaign(target, name, drop=True)


async def _change_campaign(target: str | os.PathLike[str], name: str, *, drop: bool) -> CampaignInfo:
    db = await _database(target, run=not is_postgres_url(os.fspath(target)), reconnect=0.0)
    try:
        await _check_version(db)
        info = _choose(db.path, await _campaigns(db), name)
        if db.shared and info.live_workers:  # an SQLite journal: its run lock, taken above, says none runs
            raise JournalError(
                f"{info.live_workers} worker(s) are running the campaign {name!r}; stop them (or let them finish) first"
            )

        async def change(tx: Tx) -> None:
            if drop:
                for statement in (
                    "drop_outcomes",
                    "drop_workers",
                    "drop_suppressed",
                    "drop_attempts",
                    "drop_rows",
                    "drop_campaign",
                ):
                    await tx.run(statement, campaign=info.id)
            else:
                await tx.run("campaign_set_state", campaign=info.id, state="archived")

        await db.transaction(change, what="drop the campaign" if drop else "archive the campaign")
        return info
    finally:
        await db.aclose()


async def upgrade_journal(target: str | os.PathLike[str]) -> tuple[int, int]:
    """Bring the journal at `target` to this voicekit's schema (as a run would, under its lock);
    return (the version found, the version now)."""
    db = await _database(target, run=True, reconnect=0.0)
    try:

        async def upgrade(tx: Tx) -> int:
            await tx.run("lock_setup")
            ledger, legacy, _ = await tx.one("inspect") or (False, False, False)
            before = int((await tx.one("ledger_version") or (0,))[0]) if ledger else (1 if legacy else 0)
            if before == 0:
                raise JournalError(f"there is no voicekit journal in {db.path}")
            await _migrate(tx, db)
            return before

        before = await db.transaction(upgrade, what="upgrade the journal")
        return before, SCHEMA_VERSION
    finally:
        await db.aclose()


def _redials(
    candidates: Iterable[tuple[tuple[str, str], int, CallOutcome]],
    fresh: set[str],
    policies: dict[str, Policy | None],
) -> list[tuple[str, str, str, float, int]]:
    """The redials that new unanswered outcomes call for, by their campaign's policy:
    (campaign, key, vendor id, not before, max attempts)."""
    now = time.time()
    redials = []
    for (campaign, key), attempts, outcome in candidates:
        policy = policies.get(campaign)
        if policy is None or outcome.vendor_id not in fresh or attempts >= policy.max_attempts:
            continue
        delay = policy.redial_after(outcome.answered, outcome.hangup_reason)
        if delay is not None:
            redials.append((campaign, key, outcome.vendor_id, now + delay, policy.max_attempts))
    return redials


async def _schedule_redials(tx: Tx, redials: Sequence[tuple[str, str, str, float, int]]) -> int:
    """Keep each redialed row's last attempt among its earlier ones and make it pending, not
    before its moment (the statements check the row again: placed, attempts left, not
    suppressed, its campaign not ended)."""
    if not redials:
        return 0
    kept = await tx.all("attempts_archive", redials=Records(redials))
    if kept:
        await tx.run("outcomes_release", vendor_ids=[vendor_id for _, _, vendor_id in kept])
        when = {(c, k): t for c, k, _, t, _ in redials}
        await tx.run("rows_redial", redials=Records((c, k, when[(c, k)]) for c, k, _ in kept))
    return len(kept)


async def _adopt(tx: Tx) -> bool:
    """Give unmatched outcomes whose request id a row has recorded since to that row; whether
    outcomes without a row are left (waiting for theirs)."""
    adopted = await tx.all("outcomes_adopt")
    if adopted:
        await tx.all("rows_mark_placed", placed=Records(tuple(row) for row in adopted))
    return await tx.one("outcomes_waiting") is not None


def _outcome_record(outcome: CallOutcome, target: tuple[str, str] | None) -> tuple[Any, ...]:
    campaign, key = target if target is not None else (None, None)
    return (
        outcome.vendor_id,
        campaign,
        key,
        int(outcome.answered),
        outcome.request_id,
        outcome.number,
        outcome.time,
        outcome.billed_seconds,
        outcome.rate,
        outcome.hangup_reason,
        outcome.source,
    )


def _entry(row: Sequence[Any]) -> Entry:
    key, number, state, request_id, error_type, error, updated, holder, attempts = row
    return Entry(
        attempts=int(attempts or 0),
        key=key,
        row=number,
        state=State(state),
        request_id=request_id,
        error_type=error_type,
        error=error,
        updated=utc(float(updated)),
        worker=holder,
    )


def _mismatch(path: str, stored: Campaign, given: Campaign, shared: bool) -> str:
    if attrs.evolve(given, policy=stored.policy).same_as(stored):
        # The same file, another policy: every worker of a campaign must apply one policy.
        def policy(c: Campaign) -> str:
            return c.policy.describe() if c.policy is not None else "no calling window"

        return (
            f"the campaign {stored.name!r} in {path} runs with {policy(stored)}; this run was started with "
            f"{policy(given)}. Start every worker of a campaign with the same --window, --tz and --tz-default."
        )
    what = [
        name
        for name in ("sha256", "size", "vendor", "columns", "shard")
        if getattr(stored, name) != getattr(given, name)
    ]
    where = "give this campaign another --campaign name" if shared else "give this campaign a new --journal file"
    return (
        f"the journal {path} holds another campaign{'' if not shared else ' named ' + repr(stored.name)}: "
        f"{stored.describe()}; this run is {given.describe()} (different {', '.join(what)}). Run the original "
        f"campaign file with this journal, or {where}."
    )


def check_seconds(name: str, value: float, *, positive: bool = False) -> None:
    """A number of seconds: finite, not negative (or positive), not a bool."""
    ok = isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
    if not ok or value < 0 or (positive and value == 0):
        raise JournalError(
            f"the {name} must be a {'positive' if positive else 'non-negative'} number of seconds, got {value!r}"
        )
