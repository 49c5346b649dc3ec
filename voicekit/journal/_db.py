"""What the journal's logic needs of a database: named statements, transactions, a dialect.

`voicekit.journal.AsyncJournal` holds the journal's logic once; below it, one small executor
per dialect runs the named statements of ``sql/<dialect>/queries.sql``: `SQLiteDatabase` (its
own writer and reader threads) and `PostgresDatabase` (psycopg's async pool).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from typing import Any, Protocol, TypeVar

from ._sql import Dialect

__all__ = ["Database", "Tx"]

T = TypeVar("T")


class Tx(Protocol):
    """One transaction: each method runs the named statement with keyword parameters."""

    async def all(self, query: str, /, **params: Any) -> list[tuple[Any, ...]]:
        """Every row the statement gives."""
        ...

    async def one(self, query: str, /, **params: Any) -> tuple[Any, ...] | None:
        """The first row the statement gives, or None."""
        ...

    async def run(self, query: str, /, **params: Any) -> int:
        """Run it; how many rows it changed."""
        ...

    async def put(self, query: str, rows: Iterable[tuple[Any, ...]]) -> None:
        """Feed `rows` to a bulk-load statement (``COPY`` on PostgreSQL, a batch insert on SQLite)."""
        ...

    async def script(self, statements: Iterable[str], params: dict[str, Any]) -> None:
        """Run raw statements (a schema, a migration), each with the `params` it names."""
        ...


class Database(Protocol):
    """A journal's database: where it is (fit to show), its dialect, and how to run statements.

    Every failure is a `voicekit.errors.JournalError` naming `what` was being done.
    """

    dialect: Dialect
    #: Whether many workers on many machines share it (leases matter), or one process runs it.
    shared: bool
    path: str
    #: How many write transactions this object has committed.
    transactions: int

    async def transaction(
        self, fn: Callable[[Tx], Awaitable[T]], *, what: str, durable: bool = True, patience: float | None = None
    ) -> T:
        """Run `fn` in one transaction (retried whole while the database is away, on a shared one)."""
        ...

    async def statement(
        self, name: str, params: dict[str, Any], *, what: str, durable: bool = True
    ) -> list[tuple[Any, ...]]:
        """Run one statement as a transaction of its own; its rows (``RETURNING``)."""
        ...

    async def read(self, name: str, params: dict[str, Any], *, what: str) -> list[tuple[Any, ...]]:
        """Run one reading statement (never delayed by a write in progress, where the dialect allows)."""
        ...

    def is_running(self) -> bool | None:
        """Whether another process runs this journal now (None: the dialect tells by leases)."""
        ...

    async def aclose(self) -> None: ...
