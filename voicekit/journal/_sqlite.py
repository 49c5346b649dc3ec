"""The SQLite executor: a journal in one file, run by one process at a time.

Writes go through one writer thread and its connection, in order; reads have a thread and a
connection of their own (WAL mode), so that a read never waits for a commit. A transaction's
first statement carries its ``BEGIN IMMEDIATE``; a claim is one statement, so one commit.
Commits are durable (``synchronous = FULL``) except where the caller says a crash may lose them
(outcomes: the key stays "sending", which the next run reports as unknown, never re-sends).

The run lock: the process that runs a journal holds a lock on ``<file>.lock`` (``flock``, and
an open-file-description lock where the system has them, so that `is_running` can *test* it
without taking it: a `voicekit dial status` never makes a run's open fail).
"""

from __future__ import annotations

import asyncio
import os
import queue
import sqlite3
import struct
import threading
from collections.abc import Awaitable, Callable, Iterable
from typing import IO, Any, Final, TypeVar

import orjson

from .._tasks import settle
from ..errors import JournalBusyError, JournalError
from ._db import Tx
from ._sql import Dialect, queries, statements

try:
    import fcntl
except ImportError:  # pragma: no cover - not on Windows
    fcntl = None  # type: ignore[assignment]

__all__ = ["MIN_SQLITE", "SQLiteDatabase", "check_sqlite"]

T = TypeVar("T")

#: The oldest SQLite whose SQL the journal uses: ``->>`` (3.38), ``RETURNING`` (3.35),
#: ``UPDATE ... FROM`` (3.33).
MIN_SQLITE: Final = (3, 38, 0)
_BUSY_TIMEOUT: Final = 30.0
_PUT_BATCH: Final = 5000


def check_sqlite() -> None:
    """Refuse an SQLite older than the SQL the journal uses, naming both versions."""
    found = tuple(sqlite3.sqlite_version_info)
    if found < MIN_SQLITE:
        raise JournalError(
            f"the journal needs SQLite {'.'.join(map(str, MIN_SQLITE))} or newer; this Python uses SQLite "
            f"{'.'.join(map(str, found))} (use a Python built against a newer SQLite)"
        )


def _encode(params: dict[str, Any]) -> dict[str, Any]:
    """Lists (and `Records`) as JSON text, booleans as 0 and 1; the rest as it is."""
    out = {}
    for name, value in params.items():
        if isinstance(value, list | tuple | set | frozenset):
            value = orjson.dumps(list(value)).decode()
        elif isinstance(value, bool):
            value = int(value)
        out[name] = value
    return out


class _Thread:
    """A thread that owns one connection and runs jobs on it, in order."""

    def __init__(self, conn: sqlite3.Connection, name: str) -> None:
        self.conn = conn
        self._jobs: queue.SimpleQueue[tuple[Callable[[sqlite3.Connection], Any], asyncio.Future[Any]] | None] = (
            queue.SimpleQueue()
        )
        self._thread = threading.Thread(target=self._serve, name=name, daemon=True)
        self._thread.start()

    def _serve(self) -> None:
        while True:
            job = self._jobs.get()
            if job is None:
                self.conn.close()
                return
            fn, future = job
            error: BaseException | None = None
            result = None
            try:
                result = fn(self.conn)
            except BaseException as exc:  # noqa: BLE001 - handed to the awaiting task
                error = exc
            try:
                future.get_loop().call_soon_threadsafe(settle, future, result, error)
            except RuntimeError:  # the loop is closed: nobody waits for this any more
                pass

    def do(self, fn: Callable[[sqlite3.Connection], T]) -> asyncio.Future[T]:
        """Run ``fn(conn)`` after the jobs already asked for; its result, on the running loop."""
        future: asyncio.Future[T] = asyncio.get_running_loop().create_future()
        self._jobs.put((fn, future))
        return future

    def stop(self) -> None:
        """Close the connection once the jobs already asked for are done."""
        self._jobs.put(None)

    def join(self) -> None:
        self._thread.join()


class _SQLiteTx:
    def __init__(self, db: SQLiteDatabase, durable: bool) -> None:
        self._db = db
        self._begin: str | None = "BEGIN IMMEDIATE"
        self._durable = durable

    def _job(self, fn: Callable[[sqlite3.Connection], T]) -> Awaitable[T]:
        begin, self._begin = self._begin, None
        if begin is None:
            return self._db._writer.do(fn)
        durable = self._durable

        def first(conn: sqlite3.Connection) -> T:
            if not durable:
                conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute(begin)
            return fn(conn)

        return self._db._writer.do(first)

    async def all(self, query: str, /, **params: Any) -> list[tuple[Any, ...]]:
        steps, args = self._db._steps[query], _encode(params)
        return await self._job(lambda conn: _steps(conn, steps, args).fetchall())

    async def one(self, query: str, /, **params: Any) -> tuple[Any, ...] | None:
        steps, args = self._db._steps[query], _encode(params)
        return await self._job(lambda conn: _steps(conn, steps, args).fetchone())

    async def run(self, query: str, /, **params: Any) -> int:
        steps, args = self._db._steps[query], _encode(params)
        return await self._job(lambda conn: _steps(conn, steps, args).rowcount)

    async def put(self, query: str, rows: Iterable[tuple[Any, ...]]) -> None:
        sql = self._db._sql[query]
        await self._job(lambda conn: conn.executemany(sql, rows))

    async def script(self, statements: Iterable[str], params: dict[str, Any]) -> None:
        args = _encode(params)

        def run(conn: sqlite3.Connection) -> None:
            for statement in statements:
                conn.execute(statement, {k: v for k, v in args.items() if f":{k}" in statement})

        await self._job(run)


class SQLiteDatabase:
    """The executor of a journal file (see the module)."""

    dialect: Dialect = "sqlite"
    shared = False

    def __init__(self, path: str, *, lock: bool) -> None:
        check_sqlite()
        self.path = path
        self.transactions = 0
        self._sql = queries("sqlite")
        # A named query may be several statements, run in order as one (the last one's rows).
        self._steps = {name: statements(sql) for name, sql in self._sql.items()}
        self._lock_file = _RunLock.take(path) if lock else None
        try:
            writer = _connect(path)
            try:
                _configure(writer, path)
            except BaseException:
                writer.close()
                raise
            reader = _connect(path)
        except BaseException:
            if self._lock_file is not None:
                self._lock_file.release()
            raise
        self._writer = _Thread(writer, "voicekit-journal")
        self._reader = _Thread(reader, "voicekit-journal-read")
        self._busy = asyncio.Lock()
        self._closed = False

    def __repr__(self) -> str:
        return f"SQLiteDatabase({self.path!r})"

    def _failed(self, what: str, exc: sqlite3.Error) -> JournalError:
        text = str(exc)
        if isinstance(exc, sqlite3.DatabaseError) and "file is not a database" in text:
            return JournalError(f"{self.path} is not a voicekit journal ({text})")
        return JournalError(f"cannot {what} in {self.path}: {text}")

    async def transaction(
        self, fn: Callable[[Tx], Awaitable[T]], *, what: str, durable: bool = True, patience: float | None = None
    ) -> T:
        async with self._busy:
            tx = _SQLiteTx(self, durable)
            try:
                result = await fn(tx)
            except BaseException as exc:
                # Queued after every statement of the transaction, even one still running.
                await _uncancelled(self._writer.do(_end("ROLLBACK", durable)))
                if isinstance(exc, sqlite3.Error):
                    raise self._failed(what, exc) from None
                raise
            try:
                await _uncancelled(self._writer.do(_end("COMMIT", durable)))
            except sqlite3.Error as exc:
                await _uncancelled(self._writer.do(_end("ROLLBACK", durable)))
                raise self._failed(what, exc) from None
            self.transactions += 1
            return result

    async def statement(
        self, name: str, params: dict[str, Any], *, what: str, durable: bool = True
    ) -> list[tuple[Any, ...]]:
        steps, args = self._steps[name], _encode(params)

        def run(conn: sqlite3.Connection) -> list[tuple[Any, ...]]:
            if not durable:
                conn.execute("PRAGMA synchronous = NORMAL")
            try:
                if len(steps) == 1:
                    return conn.execute(steps[0], args).fetchall()  # its own transaction (autocommit)
                conn.execute("BEGIN IMMEDIATE")
                try:
                    rows = _steps(conn, steps, args).fetchall()
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
                conn.execute("COMMIT")
                return rows
            finally:
                if not durable:
                    conn.execute("PRAGMA synchronous = FULL")

        async with self._busy:
            try:
                rows = await asyncio.shield(self._writer.do(run))
            except sqlite3.Error as exc:
                raise self._failed(what, exc) from None
            self.transactions += 1
            return rows

    async def read(self, name: str, params: dict[str, Any], *, what: str) -> list[tuple[Any, ...]]:
        sql, args = self._sql[name], _encode(params)
        try:
            return await self._reader.do(lambda conn: conn.execute(sql, args).fetchall())
        except sqlite3.Error as exc:
            raise self._failed(what, exc) from None

    def is_running(self) -> bool | None:
        return self._lock_file is not None or _RunLock.held(self.path)

    async def aclose(self) -> None:
        if self._closed:
            return
        self._closed = True
        for thread in (self._writer, self._reader):
            thread.stop()
        for thread in (self._writer, self._reader):
            await asyncio.to_thread(thread.join)
        if self._lock_file is not None:
            self._lock_file.release()
            self._lock_file = None


def _steps(conn: sqlite3.Connection, steps: tuple[str, ...], args: dict[str, Any]) -> sqlite3.Cursor:
    """Run a named query's statements in order; the last one's cursor."""
    for step in steps[:-1]:
        conn.execute(step, {k: v for k, v in args.items() if f":{k}" in step})
    return conn.execute(steps[-1], {k: v for k, v in args.items() if f":{k}" in steps[-1]})


async def _uncancelled(job: asyncio.Future[T]) -> T:
    """Wait for `job` to the end even if this task is cancelled meanwhile (then re-raise that)."""
    cancelled = False
    while True:
        try:
            result = await asyncio.shield(job)
        except asyncio.CancelledError:
            if job.done():
                raise
            cancelled = True
            continue
        if cancelled:
            raise asyncio.CancelledError
        return result


def _end(verb: str, durable: bool) -> Callable[[sqlite3.Connection], None]:
    """End the transaction in progress, if one is (a cancelled one may never have begun)."""

    def end(conn: sqlite3.Connection) -> None:
        try:
            if conn.in_transaction:
                conn.execute(verb)
        finally:
            if not durable:
                conn.execute("PRAGMA synchronous = FULL")

    return end


def _connect(path: str) -> sqlite3.Connection:
    try:
        return sqlite3.connect(path, isolation_level=None, check_same_thread=False, timeout=_BUSY_TIMEOUT)
    except sqlite3.Error as exc:
        raise JournalError(f"cannot open the journal {path}: {exc}") from None


def _configure(conn: sqlite3.Connection, path: str) -> None:
    try:
        conn.execute("PRAGMA journal_mode = WAL")
        # FULL: a commit is on disk before it returns, so "sending" survives a power cut too.
        conn.execute("PRAGMA synchronous = FULL")
    except sqlite3.DatabaseError as exc:
        raise JournalError(f"{path} is not a voicekit journal ({exc})") from None


class _RunLock:
    """The lock of the process that runs a journal, on ``<file>.lock``."""

    def __init__(self, handle: IO[str]) -> None:
        self._handle: IO[str] | None = handle

    @classmethod
    def take(cls, path: str) -> _RunLock | None:
        if fcntl is None:  # pragma: no cover
            return None
        folder = os.path.dirname(path)
        if not os.path.isdir(folder):
            raise JournalError(f"cannot create the journal {path}: the folder {folder} does not exist")
        try:
            handle = open(path + ".lock", "a")  # held until release()
        except OSError as exc:
            raise JournalError(f"cannot create the journal's lock file {path}.lock: {exc.strerror}") from None
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)  # what voicekit 0.1.0 takes
            if _OFD:
                fcntl.fcntl(handle, fcntl.F_OFD_SETLK, _flock_struct(fcntl.F_WRLCK))
        except OSError:
            handle.close()
            raise JournalBusyError(
                f"another process is running the journal {path}; wait for it to finish, or stop it (Ctrl-C) and "
                "run again"
            ) from None
        return cls(handle)

    @staticmethod
    def held(path: str) -> bool:
        """Whether a process holds the lock of the journal at `path`; tested without taking it
        where the system allows (open-file-description locks), else by a try."""
        if fcntl is None or not os.path.exists(path + ".lock"):  # pragma: no cover
            return False
        with open(path + ".lock") as handle:
            if _OFD:
                answer = fcntl.fcntl(handle, fcntl.F_OFD_GETLK, _flock_struct(fcntl.F_WRLCK))
                return bool(struct.unpack(_FLOCK, answer)[0] != fcntl.F_UNLCK)
            try:  # pragma: no cover - systems without OFD locks
                fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)
            except OSError:
                return True
            return False

    def release(self) -> None:
        handle, self._handle = self._handle, None
        if handle is not None:
            handle.close()  # closing releases both locks


# struct flock on Linux: l_type, l_whence (short), l_start, l_len (off_t), l_pid (pid_t), padded.
_FLOCK: Final = "hhqqi4x"
_OFD: Final = fcntl is not None and hasattr(fcntl, "F_OFD_GETLK") and struct.calcsize(_FLOCK) == 32


def _flock_struct(kind: int) -> bytes:
    return struct.pack(_FLOCK, kind, os.SEEK_SET, 0, 0, 0)
