"""Remembering which webhooks were already delivered, so vendor resends reach the callback once."""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Protocol

from ..errors import ValidationError

__all__ = ["InMemorySeenStore", "SeenStore"]


class SeenStore(Protocol):
    """Where a webhook handler records the keys it has delivered.

    Implement it over a shared store (Redis ``SET NX EX``, a unique database index) when several
    processes receive the same webhooks. `add` must be atomic: of two concurrent calls with one
    key, only one may return ``True``.
    """

    async def add(self, key: str) -> bool:
        """Record `key`; return ``True`` if it was new, ``False`` if it was already recorded."""
        ...

    async def discard(self, key: str) -> None:
        """Forget `key` (the delivery failed and the vendor's resend must get through)."""
        ...


class InMemorySeenStore:
    """A `SeenStore` in this process's memory: keys expire after `ttl` seconds, at most `max_entries`.

    When full, the oldest key is forgotten first. Use it from one event loop; it does not survive
    a restart and is not shared between processes.

    Args:
        ttl: seconds a key is remembered. The default hour covers TeleCMI's resends (the last at
            +15 minutes).
        max_entries: the most keys held at once, bounding memory.
        clock: a monotonic clock in seconds; tests pass a fake one.

    Raises:
        ValidationError: `ttl` is not positive or `max_entries` is below 1.
    """

    def __init__(
        self,
        *,
        ttl: float = 3600.0,
        max_entries: int = 100_000,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        if not ttl > 0:
            raise ValidationError("ttl", "must be a positive number of seconds")
        if max_entries < 1:
            raise ValidationError("max_entries", "must be at least 1")
        self._ttl = ttl
        self._max_entries = max_entries
        self._clock = clock
        self._expiry: OrderedDict[str, float] = OrderedDict()  # oldest first

    def __len__(self) -> int:
        return len(self._expiry)

    async def add(self, key: str) -> bool:
        """Record `key`; return ``True`` if it was new or had expired."""
        now = self._clock()
        self._evict_expired(now)
        if key in self._expiry:
            return False
        self._expiry[key] = now + self._ttl
        if len(self._expiry) > self._max_entries:
            self._expiry.popitem(last=False)
        return True

    async def discard(self, key: str) -> None:
        """Forget `key`; unknown keys are ignored."""
        self._expiry.pop(key, None)

    def _evict_expired(self, now: float) -> None:
        # Every key gets the same ttl, so insertion order is expiry order.
        while self._expiry:
            key, expires = next(iter(self._expiry.items()))
            if expires > now:
                break
            del self._expiry[key]
