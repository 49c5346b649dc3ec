"""The PostgreSQL executor: a journal shared by any number of workers, on any machines.

It runs on the event loop that uses it, over psycopg 3's async connection pool (connections in
autocommit: a statement on every call's path is a transaction of its own, with no BEGIN and
COMMIT round trips around it). While the database is unreachable, every transaction is retried
whole, one try every half second, for `reconnect` seconds at most; then
`voicekit.errors.JournalUnavailableError`. The URL's password (in the user info or a
``password=`` parameter) never appears in errors, reprs or logs.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Iterable
from typing import TYPE_CHECKING, Any, Final, TypeVar

import orjson

from .._redact import redact_text, redact_url, url_secrets
from ..errors import JournalError, JournalUnavailableError
from ._db import Tx
from ._sql import Dialect, Records, queries

if TYPE_CHECKING:  # imported when a PostgreSQL journal is opened, not before (see `_require_psycopg`)
    import psycopg
    import psycopg_pool
    from psycopg.rows import TupleRow

    #: A pooled connection: autocommit, rows as tuples.
    Connection = psycopg.AsyncConnection[TupleRow]
    Cursor = psycopg.AsyncCursor[TupleRow]
    Pool = psycopg_pool.AsyncConnectionPool[Connection]

__all__ = ["DEFAULT_RECONNECT", "PostgresDatabase", "is_postgres_url", "redact_url"]

log = logging.getLogger("voicekit")

T = TypeVar("T")

#: Seconds a worker waits for the database to come back before it gives up.
DEFAULT_RECONNECT: Final = 60.0
_RETRY_PAUSE: Final = 0.5
_CONNECT_TIMEOUT: Final = 10


def is_postgres_url(target: str) -> bool:
    """Whether a ``--journal`` names a PostgreSQL database rather than an SQLite file."""
    return target.startswith(("postgresql://", "postgres://"))


def _require_psycopg() -> None:
    """Import psycopg and its pool, which only a PostgreSQL journal needs (the callers then import
    them by name, typed, from the modules already loaded); a clear error if they are missing."""
    try:
        import psycopg  # noqa: F401
        import psycopg_pool  # noqa: F401
    except ImportError:
        raise JournalError(
            'a PostgreSQL journal needs psycopg 3 and its pool: pip install "psycopg[binary]" psycopg-pool '
            "(or the postgres extra of voicekit)"
        ) from None


def _encode(params: dict[str, Any]) -> dict[str, Any]:
    """`Records` as JSON text, sets as lists, booleans as 0 and 1; lists stay lists (arrays)."""
    out = {}
    for name, value in params.items():
        if isinstance(value, Records):
            value = orjson.dumps(value).decode()
        elif isinstance(value, set | frozenset | tuple):
            value = list(value)
        elif isinstance(value, bool):
            value = int(value)
        out[name] = value
    return out


class _PostgresTx:
    def __init__(self, db: PostgresDatabase, cur: Cursor) -> None:
        self._db = db
        self._cur = cur

    async def all(self, query: str, /, **params: Any) -> list[tuple[Any, ...]]:
        await self._cur.execute(self._db._sql[query], _encode(params))
        return list(await self._cur.fetchall()) if self._cur.description is not None else []

    async def one(self, query: str, /, **params: Any) -> tuple[Any, ...] | None:
        await self._cur.execute(self._db._sql[query], _encode(params))
        return await self._cur.fetchone() if self._cur.description is not None else None

    async def run(self, query: str, /, **params: Any) -> int:
        await self._cur.execute(self._db._sql[query], _encode(params))
        return int(self._cur.rowcount)

    async def put(self, query: str, rows: Iterable[tuple[Any, ...]]) -> None:
        async with self._cur.copy(self._db._sql[query]) as copy:
            for row in rows:
                await copy.write_row(row)

    async def script(self, statements: Iterable[str], params: dict[str, Any]) -> None:
        args = _encode(params)
        for statement in statements:
            used = {k: v for k, v in args.items() if f"%({k})s" in statement}
            await self._cur.execute(statement, used or None)


class PostgresDatabase:
    """The executor of a journal in PostgreSQL (see the module)."""

    dialect: Dialect = "postgres"
    shared = True

    def __init__(self, url: str, pool: Pool, *, reconnect: float) -> None:
        import psycopg  # loaded already: `connect` made the pool
        import psycopg_pool

        self.path = redact_url(url)
        self._secrets = url_secrets(url)
        self.reconnect = reconnect
        self.transactions = 0
        self._sql = queries("postgres")
        # What a failed transaction raised: the database away (retried), or any other error.
        self._unreachable: tuple[type[Exception], ...] = (psycopg.OperationalError, psycopg_pool.PoolTimeout)
        self._error: type[psycopg.Error] = psycopg.Error
        self._pool = pool

    def __repr__(self) -> str:
        return f"PostgresDatabase({self.path!r})"

    @classmethod
    async def connect(cls, url: str, *, reconnect: float = DEFAULT_RECONNECT) -> PostgresDatabase:
        """A pool on `url`, once one connection proved the server, the credentials and the
        access right; otherwise one clear `JournalError` (without the password)."""
        _require_psycopg()
        import psycopg
        import psycopg_pool

        shown, password = redact_url(url), url_secrets(url)
        try:
            conn = await psycopg.AsyncConnection.connect(url, connect_timeout=_CONNECT_TIMEOUT)
            async with conn:
                await conn.execute("SELECT 1")
        except (psycopg.Error, ValueError) as exc:  # ValueError: a URL libpq cannot parse
            raise JournalError(f"cannot use the journal {shown}: {_diagnose(exc, password, url)}") from None
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
            raise JournalError(f"cannot use the journal {shown}: {_diagnose(exc, password, url)}") from None
        return cls(url, pool, reconnect=reconnect)

    def _clean(self, exc: BaseException) -> str:
        return _clean(exc, self._secrets)

    async def _retrying(self, fn: Callable[[Connection], Awaitable[T]], what: str, patience: float | None) -> T:
        deadline = time.monotonic() + (self.reconnect if patience is None else patience)
        while True:
            try:
                # Waiting for a connection counts against the same patience: a database that is
                # away must not hold a caller for the pool's own timeout on every try.
                wait = max(deadline - time.monotonic(), _RETRY_PAUSE)
                async with self._pool.connection(timeout=min(wait, _CONNECT_TIMEOUT)) as conn:
                    result = await fn(conn)
                self.transactions += 1
                return result
            except JournalError:
                raise
            except self._unreachable as exc:
                if time.monotonic() >= deadline:
                    raise JournalUnavailableError(
                        f"cannot {what} in {self.path}: the database is unreachable ({self._clean(exc)})"
                    ) from None
                log.warning("journal %s: the database is unreachable (%s); retrying", self.path, self._clean(exc))
                await asyncio.sleep(_RETRY_PAUSE)
            except self._error as exc:
                raise JournalError(f"cannot {what} in {self.path}: {self._clean(exc)}") from None

    async def transaction(
        self, fn: Callable[[Tx], Awaitable[T]], *, what: str, durable: bool = True, patience: float | None = None
    ) -> T:
        async def run(conn: Connection) -> T:
            async with conn.transaction(), conn.cursor() as cur:
                return await fn(_PostgresTx(self, cur))

        return await self._retrying(run, what, patience)

    async def statement(
        self, name: str, params: dict[str, Any], *, what: str, durable: bool = True
    ) -> list[tuple[Any, ...]]:
        sql, args = self._sql[name], _encode(params)

        async def run(conn: Connection) -> list[tuple[Any, ...]]:
            async with conn.cursor() as cur:
                await cur.execute(sql, args)
                return list(await cur.fetchall()) if cur.description is not None else []

        return await self._retrying(run, what, None)

    async def read(self, name: str, params: dict[str, Any], *, what: str) -> list[tuple[Any, ...]]:
        return await self.statement(name, params, what=what)

    def is_running(self) -> bool | None:
        return None

    async def aclose(self) -> None:
        await self._pool.close()


def _clean(exc: BaseException, secrets: tuple[str, ...]) -> str:
    """An error's text on one line, with the URL's secrets taken out (libpq echoes a URL it
    cannot parse, and the parts it stumbled on)."""
    text = " ".join(str(exc).split()) or type(exc).__name__
    return redact_text(text, secrets)


def _diagnose(exc: BaseException, password: tuple[str, ...], url: str) -> str:
    text = _clean(exc, password)
    if url in text:  # a driver echoing the URL whole (a malformed one)
        text = text.replace(url, redact_url(url))
    lowered = text.lower()
    if isinstance(exc, ValueError) or "invalid dsn" in lowered or "invalid connection option" in lowered:
        return f"the URL cannot be read ({_first_line(text)}); check its form: postgresql://USER@HOST:PORT/DATABASE"
    if "password authentication failed" in lowered or "no password supplied" in lowered:
        return "the server refused the user name or password (check the URL, PGPASSWORD or ~/.pgpass)"
    if "permission denied" in lowered:
        return f"the user may not use this database ({text}); ask for CONNECT and CREATE on it"
    if "does not exist" in lowered:
        return f"{text} (create the database first, e.g. createdb)"
    if "connection refused" in lowered or "timeout" in lowered or "could not" in lowered:
        return f"the server cannot be reached ({text}); is PostgreSQL running there?"
    return text


def _first_line(text: str) -> str:
    return text.split(":")[0] if len(text) > 120 else text
