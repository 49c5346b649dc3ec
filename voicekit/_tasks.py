"""Task housekeeping shared by the paginator and the bulk sender."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

__all__ = ["cancel_and_wait"]


async def cancel_and_wait(tasks: Collection[asyncio.Future[Any]]) -> None:
    """Cancel `tasks` and wait until each has finished, so none outlives its owner."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)
