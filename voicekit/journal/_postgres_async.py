"""`AsyncPostgresJournal`: `AsyncJournal` on PostgreSQL only."""

from __future__ import annotations

import os
from typing import Self

from .._campaign import Campaign
from ..errors import JournalError
from ._core import DEFAULT_LEASE, AsyncJournal
from ._postgres import DEFAULT_RECONNECT, is_postgres_url

__all__ = ["AsyncPostgresJournal"]


class AsyncPostgresJournal(AsyncJournal):
    """`AsyncJournal` on a PostgreSQL database (``postgresql://`` URLs only): one campaign
    among many in the database, shared by any number of workers on any machines."""

    @classmethod
    async def open(
        cls,
        target: str | os.PathLike[str],
        campaign: Campaign,
        *,
        lease: float = DEFAULT_LEASE,
        reconnect: float = DEFAULT_RECONNECT,
    ) -> Self:
        _require_url(target)
        return await super().open(target, campaign, lease=lease, reconnect=reconnect)

    @classmethod
    async def read(cls, target: str | os.PathLike[str], *, campaign: str | None = None, reconnect: float = 0.0) -> Self:
        _require_url(target)
        return await super().read(target, campaign=campaign, reconnect=reconnect)


def _require_url(target: str | os.PathLike[str]) -> None:
    if not is_postgres_url(os.fspath(target)):
        raise JournalError("a PostgreSQL journal is a postgresql:// URL (use AsyncJournal for an SQLite file)")
