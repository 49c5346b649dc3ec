"""`AsyncPostgresJournal`: `AsyncJournal` on PostgreSQL only."""

from __future__ import annotations

from ._core import AsyncJournal

__all__ = ["AsyncPostgresJournal"]


class AsyncPostgresJournal(AsyncJournal):
    """`AsyncJournal` on a PostgreSQL database (``postgresql://`` URLs only): one campaign
    among many in the database, shared by any number of workers on any machines."""

    postgres_only = True
