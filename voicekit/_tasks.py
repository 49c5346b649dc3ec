"""Task housekeeping shared by the paginator, the bulk sender and the journal."""

from __future__ import annotations

import asyncio
from collections.abc import Collection
from typing import Any

__all__ = ["cancel_and_wait", "settle"]


async def cancel_and_wait(tasks: Collection[asyncio.Future[Any]]) -> None:
    """Cancel `tasks` and wait until each has finished, so none outlives its owner."""
    for task in tasks:
        task.cancel()
    if tasks:
        await asyncio.gather(*tasks, return_exceptions=True)


def settle(future: asyncio.Future[Any], result: Any, error: BaseException | None) -> None:
    """Give `future` its result (or `error`) unless it is done already (e.g. cancelled)."""
    if future.done():
        return
    if error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)
